// FP32 panel GEMM for AVX2 + FMA (see kernels/cpu/gemm_f32_avx2.h).
//
// Register tile: 6 rows x 16 columns, 12 accumulators, 2 weight vectors and a broadcast (15 of
// 16 registers), the classic AVX2 SGEMM shape: per k, 2 weight loads and 6 broadcasts feed 12
// FMAs. The loops around it are panel_gemm_avx2.h's (the x block, kBlockRows x kBlockK floats,
// stays in L2/L3, the kBlockK x 16 weight block of a panel in L2). Partial sums live in y between k
// blocks; the last one adds the bias and applies GELU.
//
// Large layers pack x first (pack_x): each row tile's 6 rows k-major, so that the broadcasts of
// a tile read one contiguous stream rather than six rows 3-12 KB apart. The sums are unchanged.
// Measured with the same interleaved A/B as below (2 threads, 4 x 15 calls per variant in
// rotation, a control differing by under 3%): 2-8% faster on most BERT-base layer shapes at
// 32-1024 rows, 11-14% on 768 -> 2304 at 304 rows, 3-7% slower on 768 -> 2304 at 32 rows. But
// every thread copies the whole block, about one cycle per value, against out / threads / 16
// cycles of FMAs per value: with 8 panels a thread (out = 256) packing was 7-12% slower, and
// with in = 256 (rows 1 KB apart) it gained nothing (the shipped small model's shapes, 46 and
// 1,500 rows). Hence worth_packing.
// Unused accumulators of the smaller tiles are never read; GCC cannot see through the if (i < MR).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "tanzhen/kernels/cpu/gemm_f32_avx2.h"

#include <algorithm>

#include "panel_gemm_avx2.h"
#include "tanzhen/kernels/cpu/vec_avx2.h"

namespace tanzhen::kernels::avx2 {
namespace {

constexpr int kTileRows = 6;
// BERT-base's hidden size: 48 KB of weights per panel block (from L2), the whole K of the
// 768-k layers. Interleaved A/B in one process (tanzhen_kernel_bench Linear, 2 threads, 60 calls
// each; a control with the same value in every slot differed by under 1%): 384 was 2-4% faster
// than 256 on all four BERT-base shapes at 128 and 304 rows, 768 3-7% faster than 384 on the
// 768-k layers at 32-304 rows, 1536 the same as 768.
constexpr int kBlockK = 768;
// Rows of one x block share each weight block read: with 320, up to 320 tokens take one pass
// over the weights (with 96, 128 tokens took two and 302 four). The block (up to 960 KB) spills
// from L2 into L3, yet measured best, with the same A/B: 160 rows were 2-5% faster than 96 at
// 128 and 304 rows (with kBlockK 256, and again 3-6% with 768), and 320 another ~2-3% faster
// than 160 at 304 rows (12 of 12 repetitions on 768->2304) and 1-2% at 1024.
constexpr int kBlockRows = 320;

struct Tile {
  float* y;         // the tile's first row, the panel's first column
  int64_t ldy;
  int valid;        // columns of the panel inside the output (16 but in the last panel)
  bool first, last;
  const float* bias;  // the panel's first bias entry, or null
  bool gelu;
};

TANZHEN_AVX2 inline __m256 load_cols(const float* p, int valid, int half) {
  if (valid >= (half + 1) * kLanes) return _mm256_loadu_ps(p + half * kLanes);
  return _mm256_maskload_ps(p + half * kLanes, tail_mask(valid - half * kLanes));
}

TANZHEN_AVX2 inline void store_cols(float* p, int valid, int half, __m256 v) {
  if (valid >= (half + 1) * kLanes) {
    _mm256_storeu_ps(p + half * kLanes, v);
  } else {
    _mm256_maskstore_ps(p + half * kLanes, tail_mask(valid - half * kLanes), v);
  }
}

// The accumulators as named variables, not an array: GCC 12 kept an acc[MR][2] array in memory
// and stored all 12 every k step (measured 56 GFLOP/s instead of ~130).
#define TZ_ROW_DECL(i) __m256 c##i##0, c##i##1;
#define TZ_ROW_INIT(i)                                                                  \
  if (i < MR) {                                                                         \
    c##i##0 = t.first ? _mm256_setzero_ps() : load_cols(t.y + i * t.ldy, t.valid, 0); \
    c##i##1 = t.first ? _mm256_setzero_ps() : load_cols(t.y + i * t.ldy, t.valid, 1); \
  }
#define TZ_ROW_STEP(i)                                                                   \
  if (i < MR) {                                                                          \
    const __m256 a = _mm256_broadcast_ss(kPacked ? x + k * kTileRows + i : x + i * ldx + k); \
    c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0);            \
    c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);            \
  }
#define TZ_ROW_STORE(i) \
  if (i < MR) store_row(t, i, c##i##0, c##i##1);

// Stores one row of a tile; on the last k block after adding the bias and GELU.
TANZHEN_AVX2 inline void store_row(const Tile& t, int i, __m256 v0, __m256 v1) {
  if (t.last) {
    if (t.bias) {
      v0 = _mm256_add_ps(v0, load_cols(t.bias, t.valid, 0));
      v1 = _mm256_add_ps(v1, load_cols(t.bias, t.valid, 1));
    }
    if (t.gelu) {
      v0 = gelu_erf(v0);
      v1 = gelu_erf(v1);
    }
  }
  store_cols(t.y + i * t.ldy, t.valid, 0, v0);
  store_cols(t.y + i * t.ldy, t.valid, 1, v1);
}

// x: the tile's rows, packed (x[k * kTileRows + i] = row i, column k of the k block) or in place
// (x[i * ldx + k]).
template <int MR, bool kPacked>
TANZHEN_AVX2 void tile(const float* x, int64_t ldx, const float* w, int kc, const Tile& t) {
  TZ_ROW_DECL(0) TZ_ROW_DECL(1) TZ_ROW_DECL(2) TZ_ROW_DECL(3) TZ_ROW_DECL(4) TZ_ROW_DECL(5)
  TZ_ROW_INIT(0) TZ_ROW_INIT(1) TZ_ROW_INIT(2) TZ_ROW_INIT(3) TZ_ROW_INIT(4) TZ_ROW_INIT(5)
  for (int k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(w + k * kPanelCols);
    const __m256 b1 = _mm256_load_ps(w + k * kPanelCols + kLanes);
    TZ_ROW_STEP(0) TZ_ROW_STEP(1) TZ_ROW_STEP(2) TZ_ROW_STEP(3) TZ_ROW_STEP(4) TZ_ROW_STEP(5)
  }
  TZ_ROW_STORE(0) TZ_ROW_STORE(1) TZ_ROW_STORE(2) TZ_ROW_STORE(3) TZ_ROW_STORE(4) TZ_ROW_STORE(5)
}

#undef TZ_ROW_DECL
#undef TZ_ROW_INIT
#undef TZ_ROW_STEP
#undef TZ_ROW_STORE

static_assert(kTileRows == 6, "tile() spells out six rows");

using TileFn = void (*)(const float*, int64_t, const float*, int, const Tile&);
template <bool kPacked>
constexpr TileFn kTiles[kTileRows + 1] = {nullptr,           tile<1, kPacked>, tile<2, kPacked>, tile<3, kPacked>,
                                          tile<4, kPacked>, tile<5, kPacked>, tile<6, kPacked>};

struct F32Kernel {
  static constexpr int kTileRows = avx2::kTileRows;
  static constexpr int kBlockRows = avx2::kBlockRows;
  static constexpr int kBlockK = avx2::kBlockK;
  using PackedX = float;

  struct Args {
    int in, out;
    const PanelWeights* w;
    const float* x;
    const float* bias;
    bool gelu;
    float* y;
  };

  TANZHEN_AVX2 static void tile(const Args& a, const panel::TileAt& at) {
    const Tile t{a.y + at.r0 * a.out + at.col0, a.out, at.valid, at.first, at.last,
                 a.bias ? a.bias + at.col0 : nullptr, a.gelu};
    const float* w = panel::block_weights(*a.w, at);
    if (at.x_packed) {
      kTiles<true>[at.mr](static_cast<const float*>(at.x_packed), 0, w, at.kc, t);
    } else {
      kTiles<false>[at.mr](a.x + at.r0 * a.in + at.k0, a.in, w, at.kc, t);
    }
  }

  // Packing pays where the thread's panels share the copy and x's rows are far apart (see the
  // measurements at the top): BERT-base's layers (in 768 or 3072; 24-96 panels a thread with
  // 2 threads), not the small default model's (in 256 or 1024 with 8 panels).
  static bool worth_packing(const Args& a, int panels) { return a.in >= 512 && panels >= 16; }

  // Rows [r0, r1), columns [k0, k0 + kc) of x into dst, row tile by row tile: tile j's value of
  // row i, column k at dst[(j * kc + k) * kTileRows + i]. A last, shorter tile leaves its unused
  // rows unwritten; its tile<MR> never reads them.
  TANZHEN_AVX2 static void pack_x(const Args& a, int64_t r0, int64_t r1, int k0, int kc, float* dst) {
    for (int64_t r = r0; r < r1; r += kTileRows, dst += static_cast<int64_t>(kTileRows) * kc) {
      const int mr = static_cast<int>(std::min<int64_t>(kTileRows, r1 - r));
      const float* src = a.x + r * a.in + k0;
      int k = 0;
      if (mr == kTileRows) k = pack_full_tile(src, a.in, kc, dst);
      for (int i = 0; i < mr; ++i) {
        for (int kk = k; kk < kc; ++kk) dst[kk * kTileRows + i] = src[i * a.in + kk];
      }
    }
  }

  // A full tile's columns [0, kc - kc % 4) of the 6 rows at src (ld apart), 4 k at a time: rows
  // 0-3 transposed in registers, rows 4-5 interleaved, then 6 values per k written in order.
  // A scalar copy wrote one value per store; this one 24 values in 8 stores (BERT-base layers,
  // same A/B as above: 2-4% faster than the scalar packing). Returns the columns done.
  TANZHEN_AVX2 static int pack_full_tile(const float* src, int64_t ld, int kc, float* dst) {
    static_assert(kTileRows == 6, "four rows transposed, two interleaved");
    int k = 0;
    for (; k + 4 <= kc; k += 4) {
      __m128 r0 = _mm_loadu_ps(src + k), r1 = _mm_loadu_ps(src + ld + k);
      __m128 r2 = _mm_loadu_ps(src + 2 * ld + k), r3 = _mm_loadu_ps(src + 3 * ld + k);
      const __m128 r4 = _mm_loadu_ps(src + 4 * ld + k), r5 = _mm_loadu_ps(src + 5 * ld + k);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // r_j now holds column k + j of rows 0-3
      const __m128 lo = _mm_unpacklo_ps(r4, r5), hi = _mm_unpackhi_ps(r4, r5);  // rows 4-5, k..k+3
      float* d = dst + static_cast<int64_t>(k) * kTileRows;
      _mm_storeu_ps(d, r0);
      _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), lo);
      _mm_storeu_ps(d + 6, r1);
      _mm_storeh_pi(reinterpret_cast<__m64*>(d + 10), lo);
      _mm_storeu_ps(d + 12, r2);
      _mm_storel_pi(reinterpret_cast<__m64*>(d + 16), hi);
      _mm_storeu_ps(d + 18, r3);
      _mm_storeh_pi(reinterpret_cast<__m64*>(d + 22), hi);
    }
    return k;
  }
};

}  // namespace

void gemm_f32_panels(const float* x, int64_t rows, const PanelWeights& w, const float* bias,
                     bool gelu, float* y) {
  panel::run<F32Kernel>({w.in, w.out, &w, x, bias, gelu, y}, rows);
}

}  // namespace tanzhen::kernels::avx2
