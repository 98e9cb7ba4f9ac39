// Fused attention on AVX512-BF16 dot products (see kernels/attention_fused.h).
//
// vdpbf16ps multiplies pairs: lane l accumulates a[2l] b[2l] + a[2l+1] b[2l+1]. So both
// products are laid out with the summed index in pairs:
//   scores  S[i, j] = Σ_d Q[i, d] K[j, d]: lanes are 16 keys, pairs run over d, so K is stored
//           as kp[d/2][j][d%2] and every query row's (d, d+1) pair is broadcast;
//   context O[i, d] = Σ_j P[i, j] V[j, d]: lanes are 16 dims, pairs run over j, so V is stored
//           as vp[j/2][d][j%2] and every probability pair (j, j+1) is broadcast.
// Q is rounded to bf16 after the 1/sqrt(dh) scale, K, V and the probabilities are rounded to
// bf16 as the oneDNN path rounds them; every sum is F32. The probabilities are the
// unnormalised e^(s - max) (at most 1); the context is divided by their F32 sum at the end.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tanzhen/kernels/attention_fused.h"
#include "attention_tasks.h"
#include "tanzhen/kernels/cpu/vec_avx512.h"
#include "tanzhen/kernels/ops.h"

#define TANZHEN_AVX512_BF16 \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16,fma")))

namespace tanzhen::kernels {
namespace {

using namespace avx512;

constexpr int kRows = 6;                 // queries per block
constexpr int kBlockKeys = 32;           // keys per block of the probabilities' layout (pb)

TANZHEN_AVX512_BF16 inline __m512 dot2(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b));
}

// The 32-bit word holding bf16 elements 2p and 2p + 1 of a row.
inline int32_t pair_at(const uint16_t* row, int p) {
  int32_t w;
  std::memcpy(&w, row + 2 * p, 4);
  return w;
}

// K -> kp (as 32-bit pairs: kp32[p * lp + j] = (K[j, 2p], K[j, 2p + 1])), keys past len zero.
// Each key's 32 dims round to 16 pairs in one vector; 16 keys' vectors are then transposed in
// registers (transpose_16x16) instead of a store per pair: one layer's attention at L = 302
// went from 0.725 to 0.695 ms (kernel bench), bit-identical.
template <int C>
TANZHEN_AVX512_BF16 void pack_keys(const float* k, int64_t stride, int len, int lp, uint32_t* kp32) {
  for (int j0 = 0; j0 < lp; j0 += 16) {
    for (int p0 = 0; p0 < 8 * C; p0 += 16) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const float* ki = k + (j0 + i) * stride + 2 * p0;
        // cvtne2ps_pbh(b, a): elements 0-15 from a, 16-31 from b (nearest even, as to_bf16_rne).
        r[i] = j0 + i < len ? reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(ki + 16), _mm512_loadu_ps(ki)))
                            : _mm512_setzero_si512();
      }
      transpose_16x16(r);
      for (int c = 0; c < 16; ++c) _mm512_storeu_si512(kp32 + static_cast<size_t>(p0 + c) * lp + j0, r[c]);
    }
  }
}

// V -> vp[j/2][d][j%2], an odd last key paired with zeros.
template <int C>
TANZHEN_AVX512_BF16 void pack_values(const float* v, int64_t stride, int len, uint16_t* vp) {
  // Interleaves two rows of 16 bf16: out[2i] = a[i], out[2i + 1] = b[i].
  alignas(64) static constexpr uint16_t kInterleave[32] = {
      0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i idx = _mm512_load_si512(kInterleave);
  for (int j = 0; j < len; j += 2) {
    for (int c = 0; c < C; ++c) {
      const __m512 a = _mm512_loadu_ps(v + j * stride + 16 * c);
      const __m512 b = j + 1 < len ? _mm512_loadu_ps(v + (j + 1) * stride + 16 * c) : _mm512_setzero_ps();
      // cvtne2ps_pbh(b, a): elements 0-15 from a, 16-31 from b (nearest even, as to_bf16_rne).
      const __m512i ab = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));
      _mm512_storeu_si512(vp + (static_cast<size_t>(j / 2) * 16 * C + 16 * c) * 2,
                          _mm512_permutexvar_epi16(idx, ab));
    }
  }
}

// Scores of the block's kRows queries (qb: their bf16 rows) against keys [j0, j0 + 16 B).
template <int C, int B>
TANZHEN_AVX512_BF16 inline void score_keys(const uint16_t* qb, const uint32_t* kp32, int lp, int j0,
                                           float* s) {
  __m512 acc[kRows][B];
  for (int r = 0; r < kRows; ++r)
    for (int b = 0; b < B; ++b) acc[r][b] = _mm512_setzero_ps();
  for (int p = 0; p < 8 * C; ++p) {
    __m512i kv[B];
    for (int b = 0; b < B; ++b) kv[b] = _mm512_loadu_si512(kp32 + p * lp + j0 + 16 * b);
    for (int r = 0; r < kRows; ++r) {
      const __m512i q = _mm512_set1_epi32(pair_at(qb + r * 16 * C, p));
      for (int b = 0; b < B; ++b) acc[r][b] = dot2(acc[r][b], q, kv[b]);
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int b = 0; b < B; ++b) _mm512_storeu_ps(s + r * lp + j0 + 16 * b, acc[r][b]);
}

// Adds one block of probability pairs times V to the block's context: N pairs (or n when
// N == 0, for the last, partial block). pblk is a pb block (row r's pair jj at
// pblk + r * kBlockKeys + 2 jj), so every broadcast is one base pointer plus a constant and the
// 24 accumulators, C V vectors and the broadcast stay in registers.
template <int C, int N>
TANZHEN_AVX512_BF16 inline void add_context(const uint16_t* pblk, const uint16_t* vblk, int n,
                                            __m512 (&o)[kRows][C]) {
  constexpr int dh = 16 * C;
  const int count = N > 0 ? N : n;
#pragma GCC unroll 16
  for (int jj = 0; jj < count; ++jj) {
    __m512i vv[C];
    for (int c = 0; c < C; ++c) vv[c] = _mm512_loadu_si512(vblk + (jj * dh + 16 * c) * 2);
    for (int r = 0; r < kRows; ++r) {
      const __m512i p = _mm512_set1_epi32(pair_at(pblk + r * kBlockKeys, jj));
      for (int c = 0; c < C; ++c) o[r][c] = dot2(o[r][c], p, vv[c]);
    }
  }
}

// One head of one sequence. Work space: kp (dh x lp bf16), vp (lp x dh bf16), s (kRows x lp
// F32), pb (kRows x lp rounded up to kBlockKeys, bf16).
template <int C>
TANZHEN_AVX512_BF16 void head_attention(const float* q, const float* k, const float* v, int64_t stride,
                                        int len, float* ctx, int64_t ctx_stride, uint16_t* work) {
  constexpr int dh = 16 * C;
  const int lp = (len + 15) / 16 * 16;
  auto* kp32 = reinterpret_cast<uint32_t*>(work);
  uint16_t* vp = work + static_cast<size_t>(dh) * lp;
  auto* s = reinterpret_cast<float*>(vp + static_cast<size_t>(dh) * lp);
  uint16_t* pb = reinterpret_cast<uint16_t*>(s + kRows * lp);
  alignas(64) uint16_t qb[kRows * dh];
  pack_keys<C>(k, stride, len, lp, kp32);
  pack_values<C>(v, stride, len, vp);
  const __m512 scale = _mm512_set1_ps(1.f / std::sqrt(static_cast<float>(dh)));

  for (int i = 0; i < len; i += kRows) {
    // A last block of fewer queries repeats the last one; its extra rows are not stored.
    for (int r = 0; r < kRows; ++r) {
      const float* qr = q + std::min(i + r, len - 1) * stride;
      for (int c = 0; c < C; ++c)
        _mm256_store_si256(reinterpret_cast<__m256i*>(qb + r * dh + 16 * c),
                           to_bf16_rne(_mm512_mul_ps(_mm512_loadu_ps(qr + 16 * c), scale)));
    }
    // The next block's query rows, while this block computes: they were written by the QKV
    // GEMM, half of them on the other core, and their loads stalled the block's start.
    for (int r = kRows; r < 2 * kRows && i + r < len; ++r)
      for (int c = 0; c < C; ++c) _mm_prefetch(reinterpret_cast<const char*>(q + (i + r) * stride + 16 * c), _MM_HINT_T0);
    int j0 = 0;
    for (; j0 + 64 <= lp; j0 += 64) score_keys<C, 4>(qb, kp32, lp, j0, s);
    switch ((lp - j0) / 16) {
      case 3: score_keys<C, 3>(qb, kp32, lp, j0, s); break;
      case 2: score_keys<C, 2>(qb, kp32, lp, j0, s); break;
      case 1: score_keys<C, 1>(qb, kp32, lp, j0, s); break;
      default: break;
    }

    float inv[kRows];
    for (int r = 0; r < kRows; ++r) {
      float* sr = s + r * lp;
      inv[r] = 1.f / exp_shifted_row(sr, len, sr);
      // Keys [32 b, 32 b + 32) of row r go to pb + (b * kRows + r) * 32; past len: zeros (an
      // odd last key's partner must weigh nothing).
      for (int j = 0; j < lp; j += 16) {
        const __m512 e = j + 16 <= len ? _mm512_loadu_ps(sr + j)
                                       : _mm512_maskz_loadu_ps(tail_mask(std::max(len - j, 0)), sr + j);
        _mm256_store_si256(reinterpret_cast<__m256i*>(pb + ((j / kBlockKeys) * kRows + r) * kBlockKeys + j % kBlockKeys),
                           to_bf16_rne(e));
      }
    }

    __m512 o[kRows][C];
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < C; ++c) o[r][c] = _mm512_setzero_ps();
    const int pairs = (len + 1) / 2;
    int jp = 0;
    for (; jp + kBlockKeys / 2 <= pairs; jp += kBlockKeys / 2)
      add_context<C, kBlockKeys / 2>(pb + jp * 2 * kRows, vp + static_cast<size_t>(jp) * dh * 2, 0, o);
    if (jp < pairs)
      add_context<C, 0>(pb + jp * 2 * kRows, vp + static_cast<size_t>(jp) * dh * 2, pairs - jp, o);
    detail::store_context(o, inv, std::min(kRows, len - i), ctx + i * ctx_stride, ctx_stride);
  }
}

using HeadFn = void (*)(const float*, const float*, const float*, int64_t, int, float*, int64_t,
                        uint16_t*);

HeadFn head_fn(int head_dim) {
  switch (head_dim) {
    case 32: return head_attention<2>;
    case 64: return head_attention<4>;
    case 128: return head_attention<8>;
    default: return nullptr;
  }
}

bool cpu_has_avx512_bf16() {
  static const bool has = [] {
    __builtin_cpu_init();
    return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
  }();
  return has;
}

}  // namespace

bool fused_attention_bf16_supported(int head_dim) {
  return cpu_has_avx512_bf16() && head_fn(head_dim) != nullptr;
}

void fused_attention_bf16(const std::vector<AttentionRows>& seqs, int heads, int head_dim) {
  const HeadFn fn = head_fn(head_dim);
  const int H = heads * head_dim;
  const size_t lp = detail::padded_max_len(seqs);
  // kp + vp (bf16), s (F32), pb (bf16), in uint16 units.
  const size_t work = 2 * head_dim * lp + 2 * kRows * lp + kRows * (lp + kBlockKeys);
  detail::for_each_head<uint16_t>(seqs, heads, head_dim, work,
                                  [&](const AttentionRows& seq, int h, uint16_t* buf) {
                                    const float* q = seq.qkv + h * head_dim;
                                    fn(q, q + H, q + 2 * H, 3 * H, seq.len,
                                       seq.context + h * head_dim, H, buf);
                                  });
}

}  // namespace tanzhen::kernels
