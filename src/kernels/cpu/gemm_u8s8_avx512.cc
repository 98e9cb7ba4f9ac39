// INT8 panel GEMM with the fused epilogue (see kernels/cpu/gemm_u8s8_avx512.h; the loops
// around the tiles are panel_gemm.h's).
//
// The tile keeps its 24 accumulators in named variables: written as an array (as the F32 tile
// is), GCC 12 kept the vpdpbusd accumulators on the stack, which halved the speed.
//
// GCC 12's unmasked AVX-512 intrinsics start from _mm512_undefined_*(), which -Wuninitialized
// reports at every inlined use; the values are fully defined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "tanzhen/kernels/cpu/gemm_u8s8_avx512.h"

#include <cstring>

#include "panel_gemm.h"
#include "tanzhen/kernels/cpu/int8_epilogue_avx512.h"
#include "tanzhen/kernels/ops.h"

#define TANZHEN_AVX512_VNNI \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx512vnni")))

namespace tanzhen::kernels::avx512 {
namespace {

using panel::kTileRows;
using panel::kVecs;
using panel::Prefetch;

// y holds the s32 partial sums between K blocks (same size, same layout).
struct TileOut : panel::TileDest {
  const Int8Epilogue* e;
  int64_t r0;  // the tile's first row (its x scale and zero point)
  int col0;    // the panel's first column (weight scales, column sums, bias)
};

// One row's 4 accumulators through the epilogue, or stored as s32 before the last block.
TANZHEN_AVX512_VNNI inline void store_row(const TileOut& o, int i, __m512i c0, __m512i c1,
                                          __m512i c2, __m512i c3) {
  const __m512i acc[kVecs] = {c0, c1, c2, c3};
  float* y = o.y + i * o.ldy;
  if (!o.last_block) {
    for (int j = 0; j < kVecs; ++j) {
      _mm512_mask_storeu_epi32(y + j * kLanes, o.mask[j], acc[j]);
    }
    return;
  }
  const Int8Epilogue& e = *o.e;
  const __m512i zp = _mm512_set1_epi32(e.x_zero_point[o.r0 + i]);
  const __m512 sx = _mm512_set1_ps(e.x_scale[o.r0 + i]);
  for (int j = 0; j < kVecs; ++j) {
    _mm512_mask_storeu_ps(y + j * kLanes, o.mask[j],
                          int8_epilogue(acc[j], zp, sx, e, o.col0 + j * kLanes, o.mask[j]));
  }
}

// Accumulators c<row><vector>, the rows past MR unused (the compiler drops them).
#define TZ_ROW_DECL(i) __m512i c##i##0, c##i##1, c##i##2, c##i##3;
#define TZ_ROW_INIT(i)                                                      \
  if (i < MR) {                                                             \
    const int32_t* yi = reinterpret_cast<const int32_t*>(o.y + i * o.ldy); \
    c##i##0 = init_acc(o, yi, 0);                                           \
    c##i##1 = init_acc(o, yi, 1);                                           \
    c##i##2 = init_acc(o, yi, 2);                                           \
    c##i##3 = init_acc(o, yi, 3);                                           \
  }
#define TZ_ROW_STEP(i)                                                     \
  if (i < MR) {                                                            \
    int32_t xi;                                                            \
    std::memcpy(&xi, x + i * ldx + k, sizeof(xi));                         \
    const __m512i a = _mm512_set1_epi32(xi);                               \
    c##i##0 = _mm512_dpbusd_epi32(c##i##0, a, b0);                         \
    c##i##1 = _mm512_dpbusd_epi32(c##i##1, a, b1);                         \
    c##i##2 = _mm512_dpbusd_epi32(c##i##2, a, b2);                         \
    c##i##3 = _mm512_dpbusd_epi32(c##i##3, a, b3);                         \
  }
#define TZ_ROW_STORE(i) \
  if (i < MR) store_row(o, i, c##i##0, c##i##1, c##i##2, c##i##3);

// Accumulator j of a row: zero for the first K block, else the partial sums stored so far.
// A function, not a lambda in tile(): GCC does not give lambdas their enclosing function's
// target attribute, so AVX-512 intrinsics in one fail to compile without -mavx512f.
TANZHEN_AVX512_VNNI inline __m512i init_acc(const TileOut& o, const int32_t* yi, int j) {
  return o.first_block ? _mm512_setzero_si512()
                       : _mm512_maskz_loadu_epi32(o.mask[j], yi + j * kLanes);
}

template <int MR>
TANZHEN_AVX512_VNNI void tile(const uint8_t* x, int64_t ldx, const int8_t* w, int kc,
                              const TileOut& o, Prefetch& pf) {
  TZ_ROW_DECL(0) TZ_ROW_DECL(1) TZ_ROW_DECL(2) TZ_ROW_DECL(3) TZ_ROW_DECL(4) TZ_ROW_DECL(5)
  TZ_ROW_INIT(0) TZ_ROW_INIT(1) TZ_ROW_INIT(2) TZ_ROW_INIT(3) TZ_ROW_INIT(4) TZ_ROW_INIT(5)
  for (int k = 0; k < kc; k += 4) {
    const int8_t* wk = w + static_cast<int64_t>(k) * kPanelCols;
    const __m512i b0 = _mm512_load_si512(wk), b1 = _mm512_load_si512(wk + 64),
                  b2 = _mm512_load_si512(wk + 128), b3 = _mm512_load_si512(wk + 192);
    pf.step();
    TZ_ROW_STEP(0) TZ_ROW_STEP(1) TZ_ROW_STEP(2) TZ_ROW_STEP(3) TZ_ROW_STEP(4) TZ_ROW_STEP(5)
  }
  TZ_ROW_STORE(0) TZ_ROW_STORE(1) TZ_ROW_STORE(2) TZ_ROW_STORE(3) TZ_ROW_STORE(4) TZ_ROW_STORE(5)
}

#undef TZ_ROW_DECL
#undef TZ_ROW_INIT
#undef TZ_ROW_STEP
#undef TZ_ROW_STORE

static_assert(kTileRows == 6, "tile() spells out six rows");

using TileFn = void (*)(const uint8_t*, int64_t, const int8_t*, int, const TileOut&, Prefetch&);
constexpr TileFn kTiles[kTileRows + 1] = {nullptr,  tile<1>, tile<2>, tile<3>,
                                          tile<4>, tile<5>, tile<6>};

struct U8S8Kernel {
  static constexpr int kStepK = 4;
  static constexpr int kRowBytes = kPanelCols;  // one s8 per column per k
  // 3072 k: 192 KB of weights (BERT-base's K in one block).
  static constexpr int kBlockBytes = 3072 * kRowBytes;
  // From 128 rows per thread the threads split the rows: the next step reads each output row
  // whole (the u8 quantization of the next layer's input, LayerNorm), and with the panels
  // split half of every row sat in the other core's cache. BERT-base INT8, 2 threads, four
  // alternating rounds: 1x302 49.6-51.3 -> 48.5-49.6 ms, 1x256 40.9-42.2 -> 40.2-40.6 ms.
  static constexpr int kRowSplitMinRows = 128;

  struct Args {
    int in, out;
    int64_t padded_in;
    const char* weights;
    const uint8_t* q;
    const Int8Epilogue* e;
    float* y;
  };

  TANZHEN_AVX512_VNNI static void tile(const Args& a, int64_t r0, int mr, int panel, int k0,
                                       int kc, const char* block, bool first_block,
                                       bool last_block, Prefetch& pf) {
    TileOut o{};
    o.col0 = panel * kPanelCols;
    panel::set_dest(o, a.y, a.out, r0, o.col0, first_block, last_block);
    o.e = a.e;
    o.r0 = r0;
    kTiles[mr](a.q + r0 * a.in + k0, a.in, reinterpret_cast<const int8_t*>(block), kc, o, pf);
  }
};

}  // namespace

void gemm_u8s8_panels(const uint8_t* q, int64_t rows, const PanelWeightsS8& w,
                      const Int8Epilogue& e, float* y) {
  panel::run<U8S8Kernel>(
      {w.in, w.out, w.padded_in, reinterpret_cast<const char*>(w.data), q, &e, y}, rows);
}

bool gemm_u8s8_panels_supported() {
  static const bool ok = cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
  return ok;
}

}  // namespace tanzhen::kernels::avx512
