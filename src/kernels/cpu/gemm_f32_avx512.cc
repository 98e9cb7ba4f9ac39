// FP32 panel GEMM (see kernels/cpu/gemm_f32_avx512.h).
//
// Work is a list of (panel, row range) items split evenly over the threads; each item runs its
// K in blocks of at most kBlockK rows, and every block runs all of the item's row tiles
// (kTileRows x 64 outputs in 24 registers) over the same weights, which stay in L2 after the
// first tile. While a block runs, its tiles prefetch the thread's next block a few lines per
// k step, so that block's weights arrive from memory during compute instead of after it.
//
// GCC 12's unmasked AVX-512 intrinsics start from _mm512_undefined_*(), which -Wuninitialized
// reports at every inlined use; the values are fully defined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "tanzhen/kernels/cpu/gemm_f32_avx512.h"

#include <omp.h>

#include <algorithm>

#include "tanzhen/kernels/cpu/vec_avx512.h"

namespace tanzhen::kernels::avx512 {
namespace {

constexpr int kVecs = kPanelCols / kLanes;  // 4
// Rows per register tile: 6 x 4 accumulators, 4 weight vectors and a broadcast: 29 of 32.
constexpr int kTileRows = 6;
// K rows per block: 192 KB of weights, which fit in L2 beside the next block and the x rows.
constexpr int kBlockK = 768;
constexpr int kLineBytes = 64;

// Software prefetch of one weight block, spread over the k steps of the tiles that run while
// it is in flight.
struct Prefetch {
  const char* next = nullptr;
  const char* end = nullptr;
  int lines_per_step = 0;

  TANZHEN_AVX512 inline void step() {
    for (int i = 0; i < lines_per_step && next < end; ++i, next += kLineBytes) {
      _mm_prefetch(next, _MM_HINT_T0);
    }
  }
};

// Where one tile's results go: `cols` valid columns (the last panel may be partial), and on
// the last K block the bias and GELU.
struct TileOut {
  float* y;
  int64_t ldy;
  __mmask16 mask[kVecs];
  bool first_block;
  bool last_block;
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

// The work of one call: items are (panel, part of the row tiles), in panel-major order.
struct Plan {
  int64_t rows, tiles;
  int panels, parts;
  int blocks, block_k;
  int64_t items() const { return static_cast<int64_t>(panels) * parts; }
  int panel(int64_t item) const { return static_cast<int>(item / parts); }
  int64_t first_tile(int64_t item) const { return tiles * (item % parts) / parts; }
  int64_t end_tile(int64_t item) const { return tiles * (item % parts + 1) / parts; }
};

Plan make_plan(int64_t rows, const PanelWeights& w, int threads) {
  Plan p;
  p.rows = rows;
  p.tiles = (rows + kTileRows - 1) / kTileRows;
  p.panels = (w.out + kPanelCols - 1) / kPanelCols;
  // Enough items for every thread to get two, when the panels alone are too few (narrow
  // outputs, e.g. a classifier); otherwise whole panels, whose weights each thread reads once.
  const int64_t want = 2 * static_cast<int64_t>(threads);
  p.parts = p.panels >= want ? 1 : static_cast<int>(std::min<int64_t>(p.tiles, (want + p.panels - 1) / p.panels));
  p.blocks = (w.in + kBlockK - 1) / kBlockK;
  p.block_k = (w.in + p.blocks - 1) / p.blocks;
  return p;
}

TANZHEN_AVX512 __mmask16 cols_mask(int valid) {
  return valid >= kLanes ? __mmask16(0xffff) : valid <= 0 ? __mmask16(0) : tail_mask(valid);
}

TANZHEN_AVX512 void run_items(const float* x, const PanelWeights& w, const float* bias, bool gelu,
                              float* y, const Plan& plan, int64_t item_begin, int64_t item_end) {
  const int64_t panel_floats = w.padded_in * kPanelCols;
  auto block_weights = [&](int64_t item, int b) {
    return w.data + plan.panel(item) * panel_floats + static_cast<int64_t>(b) * plan.block_k * kPanelCols;
  };
  auto block_k = [&](int b) { return std::min(plan.block_k, w.in - b * plan.block_k); };
  for (int64_t item = item_begin; item < item_end; ++item) {
    const int panel = plan.panel(item);
    const int col0 = panel * kPanelCols;
    TileOut o{};
    o.ldy = w.out;
    for (int j = 0; j < kVecs; ++j) o.mask[j] = cols_mask(w.out - col0 - j * kLanes);
    o.bias = bias ? bias + col0 : nullptr;
    o.gelu = gelu;
    const int64_t t0 = plan.first_tile(item), t1 = plan.end_tile(item);
    for (int b = 0; b < plan.blocks; ++b) {
      const int kc = block_k(b);
      const float* wb = block_weights(item, b);
      // The next block this thread reads (another panel's first, or this one's next), unless
      // the next item reuses these weights.
      Prefetch pf;
      const bool more_k = b + 1 < plan.blocks;
      if (more_k || (item + 1 < item_end && plan.panel(item + 1) != panel)) {
        const int nb = more_k ? b + 1 : 0;
        pf.next = reinterpret_cast<const char*>(block_weights(more_k ? item : item + 1, nb));
        pf.end = pf.next + static_cast<int64_t>(block_k(nb)) * kPanelCols * sizeof(float);
        // The next block's lines spread over this block's k steps (all its tiles).
        const int64_t steps = (t1 - t0) * kc;
        const int64_t lines = (pf.end - pf.next) / kLineBytes;
        pf.lines_per_step = static_cast<int>(std::max<int64_t>(1, (lines + steps - 1) / steps));
      }
      o.first_block = b == 0;
      o.last_block = b + 1 == plan.blocks;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t r0 = t * kTileRows;
        const int mr = static_cast<int>(std::min<int64_t>(kTileRows, plan.rows - r0));
        o.y = y + r0 * w.out + col0;
        kTiles[mr](x + r0 * w.in + static_cast<int64_t>(b) * plan.block_k, w.in, wb, kc, o, pf);
      }
    }
  }
}

}  // namespace

void gemm_f32_panels(const float* x, int64_t rows, const PanelWeights& w, const float* bias,
                     bool gelu, float* y) {
  if (rows <= 0 || w.out <= 0 || w.in <= 0) return;
  const int threads = omp_get_max_threads();
  const Plan plan = make_plan(rows, w, threads);
  const int64_t items = plan.items();
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(threads, items)))
  {
    const int64_t n = omp_get_num_threads(), t = omp_get_thread_num();
    run_items(x, w, bias, gelu, y, plan, items * t / n, items * (t + 1) / n);
  }
}

}  // namespace tanzhen::kernels::avx512
