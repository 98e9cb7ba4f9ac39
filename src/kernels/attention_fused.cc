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

// Queries per block: their scores against all keys (4 rows of at most 512 floats) stay in L1,
// and the context loop reuses every V row it loads for all four.
constexpr int kRows = 4;

// K of one head transposed, kt[d * lp + j] = k_j[d], keys [len, lp) zero: the score loop then
// reads 16 keys of one dimension with one load.
void transpose_keys(const float* k, int64_t stride, int len, int lp, int dh, float* kt) {
  for (int j = 0; j < len; ++j) {
    const float* kj = k + j * stride;
    for (int d = 0; d < dh; ++d) kt[static_cast<size_t>(d) * lp + j] = kj[d];
  }
  for (int d = 0; d < dh; ++d) std::fill(kt + static_cast<size_t>(d) * lp + len, kt + static_cast<size_t>(d + 1) * lp, 0.f);
}

// scores[r][j0, j0 + 16 * B) = q_r · k_j * scale for the block's kRows queries.
template <int B>
TANZHEN_AVX512 inline void score_keys(const float* const* q, const float* kt, int lp, int dh,
                                      int j0, float scale, float* s) {
  __m512 acc[kRows][B];
  for (int r = 0; r < kRows; ++r)
    for (int b = 0; b < B; ++b) acc[r][b] = _mm512_setzero_ps();
  for (int d = 0; d < dh; ++d) {
    __m512 kd[B];
    for (int b = 0; b < B; ++b) kd[b] = _mm512_loadu_ps(kt + static_cast<size_t>(d) * lp + j0 + 16 * b);
    for (int r = 0; r < kRows; ++r) {
      const __m512 qd = _mm512_set1_ps(q[r][d]);
      for (int b = 0; b < B; ++b) acc[r][b] = _mm512_fmadd_ps(qd, kd[b], acc[r][b]);
    }
  }
  const __m512 vs = _mm512_set1_ps(scale);
  for (int r = 0; r < kRows; ++r)
    for (int b = 0; b < B; ++b) _mm512_storeu_ps(s + r * lp + j0 + 16 * b, _mm512_mul_ps(acc[r][b], vs));
}

// One head of one sequence; C = head_dim / 16. kt: head_dim x lp floats, s: kRows x lp.
template <int C>
TANZHEN_AVX512 void head_attention(const float* q, const float* k, const float* v, int64_t stride,
                                   int len, float* ctx, int64_t ctx_stride, float* kt, float* s) {
  constexpr int dh = 16 * C;
  const int lp = (len + 15) / 16 * 16;
  const float scale = 1.f / std::sqrt(static_cast<float>(dh));
  transpose_keys(k, stride, len, lp, dh, kt);
  for (int i = 0; i < len; i += kRows) {
    // A last block of fewer queries repeats the last one; its extra rows are not stored.
    const float* qr[kRows];
    for (int r = 0; r < kRows; ++r) qr[r] = q + std::min(i + r, len - 1) * stride;
    int j0 = 0;
    for (; j0 + 32 <= lp; j0 += 32) score_keys<2>(qr, kt, lp, dh, j0, scale, s);
    if (j0 < lp) score_keys<1>(qr, kt, lp, dh, j0, scale, s);
    float inv[kRows];
    for (int r = 0; r < kRows; ++r) inv[r] = 1.f / exp_shifted_row(s + r * lp, len, s + r * lp);

    __m512 o[kRows][C];
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < C; ++c) o[r][c] = _mm512_setzero_ps();
    for (int j = 0; j < len; ++j) {
      __m512 vj[C];
      for (int c = 0; c < C; ++c) vj[c] = _mm512_loadu_ps(v + j * stride + 16 * c);
      for (int r = 0; r < kRows; ++r) {
        const __m512 p = _mm512_set1_ps(s[r * lp + j]);
        for (int c = 0; c < C; ++c) o[r][c] = _mm512_fmadd_ps(p, vj[c], o[r][c]);
      }
    }
    detail::store_context(o, inv, std::min(kRows, len - i), ctx + i * ctx_stride, ctx_stride);
  }
}

using HeadFn = void (*)(const float*, const float*, const float*, int64_t, int, float*, int64_t,
                        float*, float*);

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
  // kt (head_dim x lp) and the block's scores (kRows x lp).
  detail::for_each_head<float>(seqs, heads, head_dim, (head_dim + kRows) * lp,
                               [&](const AttentionRows& seq, int h, float* work) {
                                 const float* q = seq.qkv + h * head_dim;
                                 fn(q, q + H, q + 2 * H, 3 * H, seq.len, seq.context + h * head_dim,
                                    H, work, work + head_dim * lp);
                               });
}

}  // namespace tanzhen::kernels
