// AVX2 + FMA building blocks for CPUs without AVX-512 (the F32 panel GEMM's epilogue).
//
// Every function carries TANZHEN_AVX2 (a GCC target attribute) so that it compiles whatever
// -march the build uses; callers reach it only after cpu_has_avx2() said yes at run time.
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

}  // namespace tanzhen::kernels::avx2
