// The loop structure shared by the panel GEMMs (gemm_f32_avx512.cc, gemm_u8s8_avx512.cc):
// which thread computes what, in which order, and the software prefetch of the weights.
//
// Work is a list of (panel, row range) items split evenly over the threads; each item runs its
// K in blocks, and every block runs all of the item's row tiles (kTileRows x 64 outputs in 24
// registers) over the same weights, which stay in cache after the first tile. While a block
// runs, its tiles prefetch the thread's next block a line or two per k step, so that block's
// weights arrive from memory during compute instead of after it.
//
// A Kernel supplies: kBlockBytes (weight bytes per block), kRowBytes (weight bytes per k of a
// panel), kStepK (k per step of its tile loop), kRowSplitMinRows (0, or the rows per thread
// from which the threads split the rows instead of the panels), an `Args` struct with in,
// out, padded_in and weights (the first byte of panel 0; panel p starts padded_in * kRowBytes
// bytes later), and tile(args, r0, mr, panel, k0, kc, block, first_block, last_block, pf),
// `block` pointing at the weights of k0 in that panel.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "tanzhen/kernels/cpu/gemm_f32_avx512.h"
#include "tanzhen/kernels/cpu/vec_avx512.h"

namespace tanzhen::kernels::avx512::panel {

constexpr int kVecs = kPanelCols / kLanes;  // 4
// Rows per register tile: 6 x 4 accumulators, 4 weight vectors and a broadcast: 29 of 32.
constexpr int kTileRows = 6;
constexpr int kLineBytes = 64;

// Software prefetch of one weight block, spread over the k steps of the tiles that run while
// it is in flight. Into L1: measured faster than L2 here (M = 32: 15.4 vs 15.9 ms).
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

// Store masks of the four column vectors of a panel with `valid` columns left (the last panel
// of an output may be partial).
TANZHEN_AVX512 inline void column_masks(int valid, __mmask16* mask) {
  for (int j = 0; j < kVecs; ++j, valid -= kLanes) {
    mask[j] = valid >= kLanes ? __mmask16(0xffff) : valid <= 0 ? __mmask16(0) : tail_mask(valid);
  }
}

// Where a register tile's results go: rows of `ldy` floats from y (the tile's first row, the
// panel's first column), the panel's valid columns, and whether this K block starts or ends
// the sums.
struct TileDest {
  float* y;
  int64_t ldy;
  __mmask16 mask[kVecs];
  bool first_block;
  bool last_block;
};

TANZHEN_AVX512 inline void set_dest(TileDest& d, float* y, int out, int64_t r0, int col0,
                                    bool first_block, bool last_block) {
  d.y = y + r0 * out + col0;
  d.ldy = out;
  column_masks(out - col0, d.mask);
  d.first_block = first_block;
  d.last_block = last_block;
}

// The work of one call: items are (panel, part of the row tiles), in panel-major order, or in
// part-major order when the rows are split between the threads (by_rows).
struct Plan {
  int64_t rows, tiles;
  int panels, parts;
  int blocks, block_k;
  bool by_rows = false;
  int64_t items() const { return static_cast<int64_t>(panels) * parts; }
  int panel(int64_t item) const { return static_cast<int>(by_rows ? item % panels : item / parts); }
  int64_t part(int64_t item) const { return by_rows ? item / panels : item % parts; }
  int64_t first_tile(int64_t item) const { return tiles * part(item) / parts; }
  int64_t end_tile(int64_t item) const { return tiles * (part(item) + 1) / parts; }
};

template <class Kernel>
Plan make_plan(int64_t rows, int in, int out, int threads) {
  Plan p;
  p.rows = rows;
  p.tiles = (rows + kTileRows - 1) / kTileRows;
  p.panels = (out + kPanelCols - 1) / kPanelCols;
  // Enough items for every thread to get two, when the panels alone are too few (narrow
  // outputs, e.g. a classifier); otherwise whole panels, whose weights each thread reads once.
  const int64_t want = 2 * static_cast<int64_t>(threads);
  p.parts = p.panels >= want
                ? 1
                : static_cast<int>(std::min<int64_t>(p.tiles, (want + p.panels - 1) / p.panels));
  // With many rows, a kernel may ask for each thread to take all panels of its share of the
  // rows (Kernel::kRowSplitMinRows per thread or more) instead of all rows of its share of
  // the panels: every thread then streams all the weights, but its output rows stay in its own
  // cache for the per-row passes that follow (see gemm_u8s8_avx512.cc).
  if (Kernel::kRowSplitMinRows > 0 && threads > 1 &&
      rows >= static_cast<int64_t>(Kernel::kRowSplitMinRows) * threads) {
    p.parts = threads;
    p.by_rows = true;
  }
  const int max_k = std::max(Kernel::kStepK, Kernel::kBlockBytes / Kernel::kRowBytes);
  p.blocks = (in + max_k - 1) / max_k;
  p.block_k = (in + p.blocks - 1) / p.blocks;
  p.block_k = (p.block_k + Kernel::kStepK - 1) / Kernel::kStepK * Kernel::kStepK;
  return p;
}

template <class Kernel>
TANZHEN_AVX512 void run_items(const typename Kernel::Args& a, const Plan& plan, int64_t item_begin,
                              int64_t item_end) {
  const auto block_k = [&](int b) { return std::min(plan.block_k, a.in - b * plan.block_k); };
  const auto block_bytes = [&](int64_t item, int b) {
    return a.weights + (plan.panel(item) * a.padded_in + static_cast<int64_t>(b) * plan.block_k) *
                           Kernel::kRowBytes;
  };
  for (int64_t item = item_begin; item < item_end; ++item) {
    const int panel = plan.panel(item);
    const int64_t t0 = plan.first_tile(item), t1 = plan.end_tile(item);
    for (int b = 0; b < plan.blocks; ++b) {
      const int kc = block_k(b);
      const char* block = block_bytes(item, b);
      // The next block this thread reads (another panel's first, or this one's next), unless
      // the next item reuses these weights.
      Prefetch pf;
      const bool more_k = b + 1 < plan.blocks;
      if (more_k || (item + 1 < item_end && plan.panel(item + 1) != panel)) {
        const int nb = more_k ? b + 1 : 0;
        pf.next = block_bytes(more_k ? item : item + 1, nb);
        pf.end = pf.next + static_cast<int64_t>(block_k(nb)) * Kernel::kRowBytes;
        // The next block's lines spread over this block's k steps (all its tiles).
        const int64_t steps = (t1 - t0) * ((kc + Kernel::kStepK - 1) / Kernel::kStepK);
        const int64_t lines = (pf.end - pf.next) / kLineBytes;
        pf.lines_per_step = static_cast<int>(std::max<int64_t>(1, (lines + steps - 1) / steps));
      }
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t r0 = t * kTileRows;
        const int mr = static_cast<int>(std::min<int64_t>(kTileRows, plan.rows - r0));
        Kernel::tile(a, r0, mr, panel, b * plan.block_k, kc, block, b == 0, !more_k, pf);
      }
    }
  }
}

// Runs the whole GEMM on the calling thread's OpenMP team.
template <class Kernel>
void run(const typename Kernel::Args& a, int64_t rows) {
  if (rows <= 0 || a.out <= 0 || a.in <= 0) return;
  const int threads = omp_get_max_threads();
  const Plan plan = make_plan<Kernel>(rows, a.in, a.out, threads);
  const int64_t items = plan.items();
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(threads, items)))
  {
    const int64_t n = omp_get_num_threads(), t = omp_get_thread_num();
    run_items<Kernel>(a, plan, items * t / n, items * (t + 1) / n);
  }
}

}  // namespace tanzhen::kernels::avx512::panel
