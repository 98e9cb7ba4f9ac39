// AVX2 + FMA building blocks for CPUs without AVX-512 (the F32 panel GEMM's epilogue, the
// softmax).
//
// Every function carries TANZHEN_AVX2 (a GCC target attribute) so that it compiles whatever
// -march the build uses; callers reach it only after cpu_has_avx2() (kernels/ops.h) said yes at run time.
#pragma once
#include <immintrin.h>

#include "tanzhen/kernels/cpu/erf_poly.h"

#define TANZHEN_AVX2 __attribute__((target("avx2,fma")))

namespace tanzhen::kernels::avx2 {

constexpr int kLanes = 8;

// Lane mask (all bits set in lanes < n) for maskload / maskstore, 0 <= n <= 8.
TANZHEN_AVX2 inline __m256i tail_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// GELU in its exact (erf) form with erf_poly's rational erf, as avx512::gelu_erf but with a true
// division (AVX2's rcp has 12 bits; next to the GEMM that precedes it the division is cheap):
// |error| < 3e-7 * max(1, |x|).
TANZHEN_AVX2 inline __m256 gelu_erf(__m256 x) {
  using namespace erf_poly;
  const __m256 z = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, _mm256_set1_ps(kInvSqrt2)),
                                               _mm256_set1_ps(-kClamp)),
                                 _mm256_set1_ps(kClamp));
  const __m256 u = _mm256_mul_ps(z, z);
  __m256 p = _mm256_set1_ps(kP[5]), q = _mm256_set1_ps(kQ[5]);
  for (int i = 4; i >= 0; --i) {
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(kP[i]));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(kQ[i]));
  }
  const __m256 erf = _mm256_div_ps(_mm256_mul_ps(z, p), q);
  const __m256 half_x = _mm256_mul_ps(_mm256_set1_ps(0.5f), x);
  return _mm256_fmadd_ps(half_x, erf, half_x);
}

// Sum, maximum and minimum of the 8 lanes.
TANZHEN_AVX2 inline float reduce_add(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
TANZHEN_AVX2 inline float reduce_max(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
TANZHEN_AVX2 inline float reduce_min(__m256 v) {
  __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_min_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_min_ss(s, _mm_movehdup_ps(s)));
}

// e^x for x <= 0, as avx512::exp_nonpositive (x = k ln2 + r, degree-6 Taylor polynomial of e^r,
// relative error ~2e-7), with 2^k built in the exponent bits: x is clamped at -87, so k >= -126
// and 2^k is a normal float.
TANZHEN_AVX2 inline __m256 exp_nonpositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504089f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187e-06f), r);
  __m256 p = _mm256_set1_ps(1.f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i two_k = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(two_k));
}

}  // namespace tanzhen::kernels::avx2
