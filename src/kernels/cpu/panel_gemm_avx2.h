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
// with `in`, `out` and the weights' PanelView `w`, and tile(args, at) for one TileAt. A Kernel
// whose PackedX is not void also supplies pack_x(args, r0, r1, k0, kc, dst) and
// worth_packing(args, panels): where the latter says so for the thread's panels, before the
// panels of a (row block, k block) the thread copies that x block into its own buffer, each row
// tile's values k-major (see gemm_f32_avx2.cc), and tiles get their part as TileAt::x_packed
// (else null: tiles read x in place).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

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
  const void* x_packed;  // the tile's rows of the packed x block, for kernels that pack
};

// The panel's weights from k0 on: both AVX2 layouts hold kPanelCols values per k.
template <class T>
const T* block_weights(const PanelView<T>& w, const TileAt& at) {
  return w.data + (static_cast<int64_t>(at.panel) * w.padded_in + at.k0) * kPanelCols;
}

template <class Kernel>
void run_panels(const typename Kernel::Args& a, int64_t rows, int p0, int p1) {
  using Packed = typename Kernel::PackedX;
  constexpr bool kPack = !std::is_void_v<Packed>;
  constexpr int kTileRows = Kernel::kTileRows;
  // This thread's packed x block, grown once to the largest block (then no allocation per call).
  using Buffer = std::vector<std::conditional_t<kPack, Packed, char>>;
  thread_local Buffer packed;
  if (p0 >= p1) return;
  bool pack = false;
  if constexpr (kPack) pack = Kernel::worth_packing(a, p1 - p0);
  for (int64_t r0 = 0; r0 < rows; r0 += Kernel::kBlockRows) {
    const int64_t r1 = std::min<int64_t>(rows, r0 + Kernel::kBlockRows);
    for (int k0 = 0; k0 < a.in; k0 += Kernel::kBlockK) {
      const int kc = std::min(Kernel::kBlockK, a.in - k0);
      const int64_t tile_size = static_cast<int64_t>(kTileRows) * kc;  // packed values per row tile
      if constexpr (kPack) {
        if (pack) {
          const size_t need = static_cast<size_t>((r1 - r0 + kTileRows - 1) / kTileRows * tile_size);
          if (packed.size() < need) packed.resize(need);
          Kernel::pack_x(a, r0, r1, k0, kc, packed.data());
        }
      }
      for (int p = p0; p < p1; ++p) {
        const int col0 = p * kPanelCols, valid = std::min(kPanelCols, a.out - col0);
        for (int64_t r = r0; r < r1; r += kTileRows) {
          const int mr = static_cast<int>(std::min<int64_t>(kTileRows, r1 - r));
          const void* x_packed = pack ? packed.data() + (r - r0) / kTileRows * tile_size : nullptr;
          Kernel::tile(a, TileAt{r, mr, p, col0, valid, k0, kc, k0 == 0, k0 + kc >= a.in, x_packed});
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
