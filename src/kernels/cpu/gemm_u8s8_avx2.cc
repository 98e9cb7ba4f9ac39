// INT8 panel GEMM with the fused epilogue for AVX2 (see kernels/cpu/gemm_u8s8_avx2.h).
//
// Register tile: 5 rows x 16 columns, 10 s32 accumulators, 2 weight vectors, a broadcast of
// 4 activation bytes, the constant 1s of vpmaddwd and a temporary: 15 of 16 registers. Per
// group of 4 k and row: vpmaddubsw + vpmaddwd + vpaddd per 8 columns. The loops around it are
// panel_gemm_avx2.h's; partial sums wait in y (as s32) between k blocks.
// Unused accumulators of the smaller tiles are never read; GCC cannot see through the if (i < MR).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "tanzhen/kernels/cpu/gemm_u8s8_avx2.h"

#include <algorithm>
#include <cstring>

#include "panel_gemm_avx2.h"
#include "tanzhen/kernels/cpu/gemm_f32_avx2.h"
#include "tanzhen/kernels/cpu/int8_epilogue_avx2.h"
#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels::avx2 {
namespace {

constexpr int kTileRows = 5;
// BERT-base's whole K (48 KB of weights per panel block, from L2): the s32 partial sums of the
// 3072-k layer then make one pass instead of three through y. Interleaved A/B
// (tanzhen_kernel_bench Linear/int8:1, 2 threads, 60 calls each): 3072->768 medians 7-10% below
// 1024 at 32, 128 and 304 rows, the 768-k layers unchanged (one block either way); 512 was ~10%
// slower than 1024.
constexpr int kBlockK = 3072;
// x block up to 160 x kBlockK bytes (480 KB at K = 3072): L2. Up to 160 tokens take one pass
// over the weights. Against 96 rows (with kBlockK 1024), the same A/B: medians 1-3% lower at 128
// and 304 rows, level at 768->768. (The F32 kernel measured best with 320; 320 was not tried
// here with kBlockK 3072.)
constexpr int kBlockRows = 160;

// k rows per panel: in rounded up to a whole group of 4.
constexpr int64_t padded_k(int in) { return (in + 3) / 4 * 4; }

struct Tile {
  float* y;  // the tile's first row, the panel's first column (s32 partial sums until the last block)
  int64_t ldy;
  int valid;  // columns of the panel inside the output
  bool first, last;
  const Int8Epilogue* e;
  int64_t r0;  // the tile's first row (its x scale and zero point)
  int col0;    // the panel's first column
};

TANZHEN_AVX2 inline __m256i half_mask(int valid, int half) { return tail_mask(valid - half * kLanes); }

TANZHEN_AVX2 inline __m256i init_acc(const Tile& t, int i, int half) {
  if (t.first) return _mm256_setzero_si256();
  return _mm256_maskload_epi32(reinterpret_cast<const int*>(t.y + i * t.ldy) + half * kLanes,
                               half_mask(t.valid, half));
}

// One row of the tile: stored as s32 partial sums, or on the last block through the epilogue.
TANZHEN_AVX2 inline void store_row(const Tile& t, int i, __m256i c0, __m256i c1) {
  float* y = t.y + i * t.ldy;
  const __m256i m0 = half_mask(t.valid, 0), m1 = half_mask(t.valid, 1);
  if (!t.last) {
    _mm256_maskstore_epi32(reinterpret_cast<int*>(y), m0, c0);
    _mm256_maskstore_epi32(reinterpret_cast<int*>(y) + kLanes, m1, c1);
    return;
  }
  const Int8Epilogue& e = *t.e;
  const __m256i zp = _mm256_set1_epi32(e.x_zero_point[t.r0 + i]);
  const __m256 sx = _mm256_set1_ps(e.x_scale[t.r0 + i]);
  _mm256_maskstore_ps(y, m0, int8_epilogue(c0, zp, sx, e, t.col0, m0));
  _mm256_maskstore_ps(y + kLanes, m1, int8_epilogue(c1, zp, sx, e, t.col0 + kLanes, m1));
}

// The accumulators as named variables (see gemm_f32_avx2.cc: GCC 12 keeps an array in memory).
#define TZ_ROW_DECL(i) __m256i c##i##0, c##i##1;
#define TZ_ROW_INIT(i)         \
  if (i < MR) {                \
    c##i##0 = init_acc(t, i, 0); \
    c##i##1 = init_acc(t, i, 1); \
  }
#define TZ_ROW_STEP(i)                                                                  \
  if (i < MR) {                                                                         \
    int32_t xi;                                                                         \
    std::memcpy(&xi, x + i * ldx + k, sizeof(xi));                                      \
    const __m256i a = _mm256_set1_epi32(xi);                                            \
    c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b0), ones)); \
    c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b1), ones)); \
  }
#define TZ_ROW_STORE(i) \
  if (i < MR) store_row(t, i, c##i##0, c##i##1);

template <int MR>
TANZHEN_AVX2 void tile(const uint8_t* x, int64_t ldx, const int8_t* w, int kc, const Tile& t) {
  TZ_ROW_DECL(0) TZ_ROW_DECL(1) TZ_ROW_DECL(2) TZ_ROW_DECL(3) TZ_ROW_DECL(4)
  TZ_ROW_INIT(0) TZ_ROW_INIT(1) TZ_ROW_INIT(2) TZ_ROW_INIT(3) TZ_ROW_INIT(4)
  const __m256i ones = _mm256_set1_epi16(1);
  for (int k = 0; k < kc; k += 4) {
    const int8_t* wk = w + static_cast<int64_t>(k) * kPanelCols;
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk + 32));
    TZ_ROW_STEP(0) TZ_ROW_STEP(1) TZ_ROW_STEP(2) TZ_ROW_STEP(3) TZ_ROW_STEP(4)
  }
  TZ_ROW_STORE(0) TZ_ROW_STORE(1) TZ_ROW_STORE(2) TZ_ROW_STORE(3) TZ_ROW_STORE(4)
}

#undef TZ_ROW_DECL
#undef TZ_ROW_INIT
#undef TZ_ROW_STEP
#undef TZ_ROW_STORE

static_assert(kTileRows == 5, "tile() spells out five rows");
static_assert(kBlockK % 4 == 0, "k blocks are whole groups of 4");

using TileFn = void (*)(const uint8_t*, int64_t, const int8_t*, int, const Tile&);
constexpr TileFn kTiles[kTileRows + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>};

struct U8S8Kernel {
  static constexpr int kTileRows = avx2::kTileRows;
  static constexpr int kBlockRows = avx2::kBlockRows;
  static constexpr int kBlockK = avx2::kBlockK;
  using PackedX = void;  // tiles read x in place

  struct Args {
    int in, out;
    const PanelWeightsS8* w;
    const uint8_t* q;
    const Int8Epilogue* e;
    float* y;
  };

  TANZHEN_AVX2 static void tile(const Args& a, const panel::TileAt& at) {
    const Tile t{a.y + at.r0 * a.out + at.col0, a.out, at.valid, at.first, at.last, a.e, at.r0,
                 at.col0};
    kTiles[at.mr](a.q + at.r0 * a.in + at.k0, a.in, panel::block_weights(*a.w, at), at.kc, t);
  }
};

}  // namespace

std::vector<int8_t> pack_s8_panels(const int8_t* w, int out, int in) {
  const int64_t padded_in = padded_k(in);
  const int panels = (out + kPanelCols - 1) / kPanelCols;
  std::vector<int8_t> packed(static_cast<size_t>(panels * padded_in * kPanelCols), 0);
  for (int o = 0; o < out; ++o) {
    const int8_t* row = w + static_cast<int64_t>(o) * in;
    int8_t* panel = packed.data() + o / kPanelCols * padded_in * kPanelCols;
    for (int k = 0; k < in; ++k) panel[k / 4 * 4 * kPanelCols + o % kPanelCols * 4 + k % 4] = row[k];
  }
  return packed;
}

PanelWeightsS8 s8_panel_view(const std::vector<int8_t>& packed, int out, int in) {
  return {packed.data(), in, out, padded_k(in)};
}

void gemm_u8s8_panels(const uint8_t* q, int64_t rows, const PanelWeightsS8& w,
                      const Int8Epilogue& e, float* y) {
  panel::run<U8S8Kernel>({w.in, w.out, &w, q, &e, y}, rows);
}

bool gemm_u8s8_panels_supported() {
  static const bool ok = cpu_has_avx2() && activation_code_max() <= 127.f;
  return ok;
}

}  // namespace tanzhen::kernels::avx2
