// Fused F32 attention for short sequences (see kernels/attention_fused.h).
//
// GCC 12's unmasked AVX-512 intrinsics (reduce_max) start from _mm512_undefined_*(), which
// -Wuninitialized reports at every inlined use; the values are fully defined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "tanzhen/kernels/attention_fused.h"
#include "attention_tasks.h"

#include <algorithm>
#include <cmath>

#include "tanzhen/kernels/cpu/vec_avx512.h"
#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels {
namespace {

using namespace avx512;

// Queries per block: 6 x 4 accumulators (a 64-dim head's context, or 64 keys' scores), 4
// loaded vectors and a broadcast fill 29 of the 32 registers.
constexpr int kRows = 6;
// Keys per block of the probabilities' layout (pb): pb[(j / 16) * kRows * 16 + r * 16 + j % 16]
// holds query r's probability of key j, so the context loop reaches every query's value from
// one pointer with constant offsets (with one pointer per query row, GCC 12 ran short of
// registers and spilled accumulators).
constexpr int kBlockKeys = 16;

// K of one head transposed, kt[d * lp + j] = k_j[d], keys [len, lp) zero: the score loop then
// reads 16 keys of one dimension with one load. Blocks of 16 keys x 16 dims go through
// registers (transpose_16x16).
TANZHEN_AVX512 void transpose_keys(const float* k, int64_t stride, int len, int lp, int dh, float* kt) {
  for (int j0 = 0; j0 < lp; j0 += 16) {
    for (int d0 = 0; d0 < dh; d0 += 16) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = j0 + i < len ? _mm512_loadu_si512(k + (j0 + i) * stride + d0) : _mm512_setzero_si512();
      transpose_16x16(r);
      for (int c = 0; c < 16; ++c) _mm512_storeu_si512(kt + static_cast<size_t>(d0 + c) * lp + j0, r[c]);
    }
  }
}

// scores[r][j0, j0 + 16 * B) = q_r · k_j * scale for the block's kRows queries (qb: their rows,
// dh floats each).
template <int B>
TANZHEN_AVX512 inline void score_keys(const float* qb, const float* kt, int lp, int dh, int j0,
                                      float scale, float* s) {
  __m512 acc[kRows][B];
  for (int r = 0; r < kRows; ++r)
    for (int b = 0; b < B; ++b) acc[r][b] = _mm512_setzero_ps();
  for (int d = 0; d < dh; ++d) {
    __m512 kd[B];
    for (int b = 0; b < B; ++b) kd[b] = _mm512_loadu_ps(kt + static_cast<size_t>(d) * lp + j0 + 16 * b);
    for (int r = 0; r < kRows; ++r) {
      const __m512 qd = _mm512_set1_ps(qb[r * dh + d]);
      for (int b = 0; b < B; ++b) acc[r][b] = _mm512_fmadd_ps(qd, kd[b], acc[r][b]);
    }
  }
  const __m512 vs = _mm512_set1_ps(scale);
  for (int r = 0; r < kRows; ++r)
    for (int b = 0; b < B; ++b) _mm512_storeu_ps(s + r * lp + j0 + 16 * b, _mm512_mul_ps(acc[r][b], vs));
}

// Adds keys [j0, j0 + n) of one pb block (N keys, or n when N == 0) times their V rows to the
// block's context.
template <int C, int N>
TANZHEN_AVX512 inline void add_context(const float* pblk, const float* v, int64_t stride, int n,
                                       __m512 (&o)[kRows][C]) {
  const int count = N > 0 ? N : n;
#pragma GCC unroll 4
  for (int jj = 0; jj < count; ++jj) {
    __m512 vj[C];
    for (int c = 0; c < C; ++c) vj[c] = _mm512_loadu_ps(v + jj * stride + 16 * c);
    for (int r = 0; r < kRows; ++r) {
      const __m512 p = _mm512_set1_ps(pblk[r * kBlockKeys + jj]);
      for (int c = 0; c < C; ++c) o[r][c] = _mm512_fmadd_ps(p, vj[c], o[r][c]);
    }
  }
}

// One head of one sequence; C = head_dim / 16. Work space: kt (head_dim x lp), s (kRows x lp),
// pb (kRows x lp), qb (kRows x head_dim) floats.
template <int C>
TANZHEN_AVX512 void head_attention(const float* q, const float* k, const float* v, int64_t stride,
                                   int len, float* ctx, int64_t ctx_stride, float* work) {
  constexpr int dh = 16 * C;
  const int lp = (len + 15) / 16 * 16;
  float* kt = work;
  float* s = kt + static_cast<size_t>(dh) * lp;
  float* pb = s + kRows * lp;
  float* qb = pb + kRows * lp;
  const float scale = 1.f / std::sqrt(static_cast<float>(dh));
  transpose_keys(k, stride, len, lp, dh, kt);
  for (int i = 0; i < len; i += kRows) {
    // A last block of fewer queries repeats the last one; its extra rows are not stored.
    for (int r = 0; r < kRows; ++r) {
      const float* qr = q + std::min(i + r, len - 1) * stride;
      for (int c = 0; c < C; ++c) _mm512_storeu_ps(qb + r * dh + 16 * c, _mm512_loadu_ps(qr + 16 * c));
    }
    // The next block's query rows, while this block computes (see attention_fused_bf16.cc).
    for (int r = kRows; r < 2 * kRows && i + r < len; ++r)
      for (int c = 0; c < C; ++c) _mm_prefetch(reinterpret_cast<const char*>(q + (i + r) * stride + 16 * c), _MM_HINT_T0);
    int j0 = 0;
    for (; j0 + 64 <= lp; j0 += 64) score_keys<4>(qb, kt, lp, dh, j0, scale, s);
    switch ((lp - j0) / 16) {
      case 3: score_keys<3>(qb, kt, lp, dh, j0, scale, s); break;
      case 2: score_keys<2>(qb, kt, lp, dh, j0, scale, s); break;
      case 1: score_keys<1>(qb, kt, lp, dh, j0, scale, s); break;
      default: break;
    }
    float inv[kRows];
    for (int r = 0; r < kRows; ++r) {
      float* sr = s + r * lp;
      inv[r] = 1.f / exp_shifted_row(sr, len, sr);
      for (int j = 0; j < lp; j += kBlockKeys) {
        _mm512_storeu_ps(pb + (j / kBlockKeys) * kRows * kBlockKeys + r * kBlockKeys, _mm512_loadu_ps(sr + j));
      }
    }

    __m512 o[kRows][C];
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < C; ++c) o[r][c] = _mm512_setzero_ps();
    int j = 0;
    for (; j + kBlockKeys <= len; j += kBlockKeys)
      add_context<C, kBlockKeys>(pb + j * kRows, v + j * stride, stride, 0, o);
    if (j < len) add_context<C, 0>(pb + j * kRows, v + j * stride, stride, len - j, o);
    detail::store_context(o, inv, std::min(kRows, len - i), ctx + i * ctx_stride, ctx_stride);
  }
}

using HeadFn = void (*)(const float*, const float*, const float*, int64_t, int, float*, int64_t,
                        float*);

HeadFn head_fn(int head_dim) {
  switch (head_dim) {
    case 16: return head_attention<1>;
    case 32: return head_attention<2>;
    case 48: return head_attention<3>;
    case 64: return head_attention<4>;
    case 80: return head_attention<5>;
    case 96: return head_attention<6>;
    case 112: return head_attention<7>;
    case 128: return head_attention<8>;
    default: return nullptr;
  }
}

}  // namespace

bool fused_attention_supported(int head_dim) {
  static const bool avx512 = cpu_has_avx512();
  return avx512 && head_fn(head_dim) != nullptr;
}

void fused_attention(const std::vector<AttentionRows>& seqs, int heads, int head_dim) {
  const HeadFn fn = head_fn(head_dim);
  const int H = heads * head_dim;
  const size_t lp = detail::padded_max_len(seqs);
  // kt (head_dim x lp), the block's scores and probabilities (kRows x lp each), its queries.
  detail::for_each_head<float>(seqs, heads, head_dim, (head_dim + 2 * kRows) * lp + kRows * head_dim,
                               [&](const AttentionRows& seq, int h, float* work) {
                                 const float* q = seq.qkv + h * head_dim;
                                 fn(q, q + H, q + 2 * H, 3 * H, seq.len, seq.context + h * head_dim,
                                    H, work);
                               });
}

}  // namespace tanzhen::kernels
