// The loops around the register tiles of the AVX2 panel GEMMs (gemm_f32_avx2.cc,
// gemm_u8s8_avx2.cc): which thread computes what, and in which order.
//
// Each thread takes a contiguous range of panels (kPanelCols output columns each), so it reads
// those weights alone, once per block of rows. Loops, outermost first: blocks of
// Kernel::kBlockRows rows (their slice of x stays in L2); blocks of Kernel::kBlockK k; the
// thread's panels; the row tiles of Kernel::kTileRows rows, which all reuse the same k block of
// one panel's weights from L1. Partial sums live in y between k blocks.
//
// A Kernel supplies kTileRows, kBlockRows, kBlockK (a multiple of its k step), an Args struct
// with `in` and `out`, and tile(args, r0, mr, panel, k0, kc, first_block, last_block).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace tanzhen::kernels::avx2::panel {

template <class Kernel>
void run_panels(const typename Kernel::Args& a, int64_t rows, int p0, int p1) {
  for (int64_t r0 = 0; r0 < rows; r0 += Kernel::kBlockRows) {
    const int64_t r1 = std::min<int64_t>(rows, r0 + Kernel::kBlockRows);
    for (int k0 = 0; k0 < a.in; k0 += Kernel::kBlockK) {
      const int kc = std::min(Kernel::kBlockK, a.in - k0);
      for (int p = p0; p < p1; ++p) {
        for (int64_t r = r0; r < r1; r += Kernel::kTileRows) {
          const int mr = static_cast<int>(std::min<int64_t>(Kernel::kTileRows, r1 - r));
          Kernel::tile(a, r, mr, p, k0, kc, k0 == 0, k0 + kc >= a.in);
        }
      }
    }
  }
}

// The whole GEMM on the calling thread's OpenMP team.
template <class Kernel>
void run(const typename Kernel::Args& a, int64_t rows, int panel_cols) {
  if (rows <= 0 || a.out <= 0 || a.in <= 0) return;
  const int panels = (a.out + panel_cols - 1) / panel_cols;
  const int threads = std::min(omp_get_max_threads(), panels);
#pragma omp parallel num_threads(threads)
  {
    const int n = omp_get_num_threads(), t = omp_get_thread_num();
    run_panels<Kernel>(a, rows, panels * t / n, panels * (t + 1) / n);
  }
}

}  // namespace tanzhen::kernels::avx2::panel
