// Small AVX-512 building blocks for the element-wise kernels in src/kernels.
//
// Every function carries TANZHEN_AVX512 (a GCC target attribute) so that it compiles whatever
// -march the build uses; callers reach it only after cpu_has_avx512() said yes at run time.
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "tanzhen/kernels/cpu/erf_poly.h"

#define TANZHEN_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

namespace tanzhen::kernels::avx512 {

constexpr int kLanes = 16;

// Mask selecting the first n (< 16) lanes, for loop tails.
TANZHEN_AVX512 inline __mmask16 tail_mask(int n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

TANZHEN_AVX512 inline __m512 load_tail(const float* p, int n) {
  return _mm512_maskz_loadu_ps(tail_mask(n), p);
}

TANZHEN_AVX512 inline void store_tail(float* p, __m512 v, int n) {
  _mm512_mask_storeu_ps(p, tail_mask(n), v);
}

// Sum of the 16 lanes. Written with the zero-masked shuffles because GCC 12's unmasked ones
// (and _mm512_reduce_add_ps) use _mm512_undefined_ps, which trips -Wuninitialized.
TANZHEN_AVX512 inline float reduce_add(__m512 v) {
  constexpr __mmask16 all = 0xffff;
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(all, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(all, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(all, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(all, v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_cvtss_f32(v);
}

// e^x for x <= 0 (softmax after subtracting the row maximum), relative error
// ~2e-7: x = k ln2 + r with |r| <= ln2 / 2, e^r by its degree-6 Taylor polynomial, times 2^k
// through scalef (which also flushes to 0 far below). x is clamped at -87 (e^-87 ~ 1.6e-38).
TANZHEN_AVX512 inline __m512 exp_nonpositive(__m512 x) {
  constexpr __mmask16 all = 0xffff;  // masked forms: see reduce_add
  x = _mm512_maskz_max_ps(all, x, _mm512_set1_ps(-87.f));
  const __m512 k = _mm512_maskz_roundscale_ps(all, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504089f)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_maskz_scalef_ps(all, p, k);
}

// erf_poly: see erf_poly.h.

// GELU in its exact (erf) form, 0.5 x (1 + erf(x / sqrt 2)), |error| < 3e-7 * max(1, |x|): the
// epilogue of every GEMM followed by GELU (F32 panels, INT8 dequantization).
TANZHEN_AVX512 inline __m512 gelu_erf(__m512 x) {
  using namespace erf_poly;
  const __m512 z = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x, _mm512_set1_ps(kInvSqrt2)),
                                               _mm512_set1_ps(-kClamp)),
                                 _mm512_set1_ps(kClamp));
  const __m512 u = _mm512_mul_ps(z, z);
  __m512 p = _mm512_set1_ps(kP[5]), q = _mm512_set1_ps(kQ[5]);
  for (int i = 4; i >= 0; --i) {
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(kP[i]));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(kQ[i]));
  }
  // 1 / q by rcp14 plus one Newton step (relative error ~1e-8; a division costs 4x more).
  __m512 r = _mm512_rcp14_ps(q);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(2.f)));
  const __m512 erf = _mm512_mul_ps(_mm512_mul_ps(z, p), r);
  const __m512 half_x = _mm512_mul_ps(_mm512_set1_ps(0.5f), x);
  return _mm512_fmadd_ps(half_x, erf, half_x);
}

// e[i] = e^(x[i] - max(x)) for i < n (e may be x) and returns the sum of the e[i]: the first two
// passes of a softmax row. Needs the -Wuninitialized pragmas of the including file (reduce_max).
TANZHEN_AVX512 inline float exp_shifted_row(const float* x, int n, float* e) {
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
  if (int r = n - i) vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(vmax, tail_mask(r), x + i));
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512 sum = _mm512_setzero_ps();
  for (i = 0; i + kLanes <= n; i += kLanes) {
    const __m512 v = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
    _mm512_storeu_ps(e + i, v);
    sum = _mm512_add_ps(sum, v);
  }
  if (int r = n - i) {
    const __m512 v = _mm512_maskz_mov_ps(tail_mask(r), exp_nonpositive(_mm512_sub_ps(load_tail(x + i, r), m)));
    store_tail(e + i, v, r);
    sum = _mm512_add_ps(sum, v);
  }
  return reduce_add(sum);
}

// The 16 floats rounded to BF16 (nearest even; finite inputs), as 16 packed uint16.
TANZHEN_AVX512 inline __m256i to_bf16_rne(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  return _mm512_maskz_cvtepi32_epi16(0xffff, _mm512_srli_epi32(rounded, 16));
}

// Transposes a 16 x 16 matrix of 32-bit elements held as 16 row vectors: afterwards r[c] holds
// column c. Pairs of rows are interleaved (32-bit, then 64-bit), which leaves every 128-bit
// lane holding four rows of one column; two rounds of 128-bit lane shuffles then gather each
// column's four lanes. 64 shuffles for 256 elements, where the scalar transposes of the keys
// in attention took a store per element.
TANZHEN_AVX512 inline void transpose_16x16(__m512i (&r)[16]) {
  constexpr __mmask16 all = 0xffff;  // masked forms: see reduce_add
  constexpr __mmask8 all8 = 0xff;
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_epi32(all, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_epi32(all, r[i], r[i + 1]);
  }
  // u[4j + m], lane L: column 4L + m of rows 4j .. 4j + 3.
  for (int j = 0; j < 16; j += 4) {
    u[j] = _mm512_maskz_unpacklo_epi64(all8, t[j], t[j + 2]);
    u[j + 1] = _mm512_maskz_unpackhi_epi64(all8, t[j], t[j + 2]);
    u[j + 2] = _mm512_maskz_unpacklo_epi64(all8, t[j + 1], t[j + 3]);
    u[j + 3] = _mm512_maskz_unpackhi_epi64(all8, t[j + 1], t[j + 3]);
  }
  for (int m = 0; m < 4; ++m) {
    // Lanes 0 and 2 (0x88) or 1 and 3 (0xdd) of each operand.
    const __m512i a = _mm512_maskz_shuffle_i32x4(all, u[m], u[4 + m], 0x88);
    const __m512i b = _mm512_maskz_shuffle_i32x4(all, u[m], u[4 + m], 0xdd);
    const __m512i c = _mm512_maskz_shuffle_i32x4(all, u[8 + m], u[12 + m], 0x88);
    const __m512i d = _mm512_maskz_shuffle_i32x4(all, u[8 + m], u[12 + m], 0xdd);
    r[m] = _mm512_maskz_shuffle_i32x4(all, a, c, 0x88);
    r[8 + m] = _mm512_maskz_shuffle_i32x4(all, a, c, 0xdd);
    r[4 + m] = _mm512_maskz_shuffle_i32x4(all, b, d, 0x88);
    r[12 + m] = _mm512_maskz_shuffle_i32x4(all, b, d, 0xdd);
  }
}

}  // namespace tanzhen::kernels::avx512
