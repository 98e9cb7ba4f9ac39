// FP32 panel GEMM (see kernels/cpu/gemm_f32_avx512.h; the loops around the tiles are
// panel_gemm.h's).
//
// GCC 12's unmasked AVX-512 intrinsics start from _mm512_undefined_*(), which -Wuninitialized
// reports at every inlined use; the values are fully defined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "tanzhen/kernels/cpu/gemm_f32_avx512.h"

#include "panel_gemm.h"

namespace tanzhen::kernels::avx512 {
namespace {

using panel::kTileRows;
using panel::kVecs;
using panel::Prefetch;

// Where one tile's results go, and on the last K block the bias and GELU.
struct TileOut : panel::TileDest {
  const float* bias;  // this panel's 64 entries, or null
  bool gelu;
};

template <int MR>
TANZHEN_AVX512 void tile(const float* x, int64_t ldx, const float* w, int kc, const TileOut& o,
                         Prefetch& pf) {
  __m512 acc[MR][kVecs];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < kVecs; ++j) {
      acc[i][j] = o.first_block ? _mm512_setzero_ps()
                                : _mm512_maskz_loadu_ps(o.mask[j], o.y + i * o.ldy + j * kLanes);
    }
  }
  for (int k = 0; k < kc; ++k) {
    const float* wk = w + static_cast<int64_t>(k) * kPanelCols;
    const __m512 b0 = _mm512_load_ps(wk), b1 = _mm512_load_ps(wk + 16),
                 b2 = _mm512_load_ps(wk + 32), b3 = _mm512_load_ps(wk + 48);
    pf.step();
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(x[i * ldx + k]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(a, b2, acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(a, b3, acc[i][3]);
    }
  }
  for (int j = 0; j < kVecs; ++j) {
    const __m512 bias = o.last_block && o.bias ? _mm512_maskz_loadu_ps(o.mask[j], o.bias + j * kLanes)
                                               : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      __m512 v = acc[i][j];
      if (o.last_block) {
        v = _mm512_add_ps(v, bias);
        if (o.gelu) v = gelu_erf(v);
      }
      _mm512_mask_storeu_ps(o.y + i * o.ldy + j * kLanes, o.mask[j], v);
    }
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int, const TileOut&, Prefetch&);
constexpr TileFn kTiles[kTileRows + 1] = {nullptr,  tile<1>, tile<2>, tile<3>,
                                          tile<4>, tile<5>, tile<6>};

struct F32Kernel {
  static constexpr int kStepK = 1;
  static constexpr int kRowBytes = kPanelCols * sizeof(float);
  // 768 k: 192 KB of weights, which fit in L2 beside the next block and the x rows.
  static constexpr int kBlockBytes = 768 * kRowBytes;
  // Panels split between the threads at every size: splitting the rows measured no better.
  static constexpr int kRowSplitMinRows = 0;

  struct Args {
    int in, out;
    int64_t padded_in;
    const char* weights;
    const float* x;
    const float* bias;
    bool gelu;
    float* y;
  };

  TANZHEN_AVX512 static void tile(const Args& a, int64_t r0, int mr, int panel, int k0, int kc,
                                  const char* block, bool first_block, bool last_block,
                                  Prefetch& pf) {
    const int col0 = panel * kPanelCols;
    TileOut o{};
    panel::set_dest(o, a.y, a.out, r0, col0, first_block, last_block);
    o.bias = a.bias ? a.bias + col0 : nullptr;
    o.gelu = a.gelu;
    kTiles[mr](a.x + r0 * a.in + k0, a.in, reinterpret_cast<const float*>(block), kc, o, pf);
  }
};

}  // namespace

void gemm_f32_panels(const float* x, int64_t rows, const PanelWeights& w, const float* bias,
                     bool gelu, float* y) {
  panel::run<F32Kernel>(
      {w.in, w.out, w.padded_in, reinterpret_cast<const char*>(w.data), x, bias, gelu, y}, rows);
}

}  // namespace tanzhen::kernels::avx512
