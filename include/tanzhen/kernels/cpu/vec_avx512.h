// Small AVX-512 building blocks for the element-wise kernels in src/kernels.
//
// Every function carries TANZHEN_AVX512 (a GCC target attribute) so that it compiles whatever
// -march the build uses; callers reach it only after cpu_has_avx512() said yes at run time.
#pragma once
#include <immintrin.h>

#include <cstdint>

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

}  // namespace tanzhen::kernels::avx512
