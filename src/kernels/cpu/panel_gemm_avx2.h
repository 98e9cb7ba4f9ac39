// The loops around the register tiles of the AVX2 panel GEMMs (gemm_f32_avx2.cc,
// gemm_u8s8_avx2.cc): which thread computes what, and in which order.
//
// Each thread takes a contiguous range of panels (kPanelCols output columns each), so it reads
// those weights alone, once per block of rows. Loops, outermost first: blocks of
// Kernel::kBlockRows rows (their slice of x stays in L2 or L3); blocks of Kernel::kBlockK k; the
// thread's panels; the row tiles of Kernel::kTileRows rows, which all reuse the same k block of
// one panel's weights from cache (L1 or L2: the block sizes were measured, see the kernels).
// Partial sums live in y between k blocks.
//
// A Kernel supplies kTileRows, kBlockRows, kBlockK (a multiple of its k step), an Args struct
// with `in`, `out` and the weights' PanelView `w`, and tile(args, at) for one TileAt.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "tanzhen/kernels/cpu/gemm_f32_avx2.h"  // kPanelCols, shared by both AVX2 layouts
#include "tanzhen/kernels/cpu/panel_weights.h"

namespace tanzhen::kernels::avx2::panel {

// One register tile's place in the GEMM: rows [r0, r0 + mr) of the output, the columns of one
// panel (`valid` of them inside the output: kPanelCols but in the last panel), and the k block
// [k0, k0 + kc); first and last say whether it is the first or last k block.
struct TileAt {
  int64_t r0;
  int mr;
  int panel, col0, valid;
  int k0, kc;
  bool first, last;
};

// The panel's weights from k0 on: both AVX2 layouts hold kPanelCols values per k.
template <class T>
const T* block_weights(const PanelView<T>& w, const TileAt& at) {
  return w.data + (static_cast<int64_t>(at.panel) * w.padded_in + at.k0) * kPanelCols;
}

template <class Kernel>
void run_panels(const typename Kernel::Args& a, int64_t rows, int p0, int p1) {
  for (int64_t r0 = 0; r0 < rows; r0 += Kernel::kBlockRows) {
    const int64_t r1 = std::min<int64_t>(rows, r0 + Kernel::kBlockRows);
    for (int k0 = 0; k0 < a.in; k0 += Kernel::kBlockK) {
      const int kc = std::min(Kernel::kBlockK, a.in - k0);
      for (int p = p0; p < p1; ++p) {
        const int col0 = p * kPanelCols, valid = std::min(kPanelCols, a.out - col0);
        for (int64_t r = r0; r < r1; r += Kernel::kTileRows) {
          const int mr = static_cast<int>(std::min<int64_t>(Kernel::kTileRows, r1 - r));
          Kernel::tile(a, TileAt{r, mr, p, col0, valid, k0, kc, k0 == 0, k0 + kc >= a.in});
        }
      }
    }
  }
}

// The whole GEMM on the calling thread's OpenMP team.
template <class Kernel>
void run(const typename Kernel::Args& a, int64_t rows) {
  if (rows <= 0 || a.out <= 0 || a.in <= 0) return;
  const int panels = (a.out + kPanelCols - 1) / kPanelCols;
  const int threads = std::min(omp_get_max_threads(), panels);
#pragma omp parallel num_threads(threads)
  {
    const int n = omp_get_num_threads(), t = omp_get_thread_num();
    run_panels<Kernel>(a, rows, panels * t / n, panels * (t + 1) / n);
  }
}

}  // namespace tanzhen::kernels::avx2::panel
