// The INT8 epilogue on 8 output columns for AVX2 CPUs, as int8_epilogue_avx512.h is for
// AVX-512 ones, shared by the register tiles of the AVX2 panel GEMM (gemm_u8s8_avx2.cc) and by
// dequantize_s32 / dequantize_s32_to_u8 (linear_quant.cc, for oneDNN's s32 accumulators under
// TANZHEN_GEMM=onednn), so that both paths compute the same values by construction.
#pragma once
#include "tanzhen/kernels/cpu/vec_avx2.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen::kernels::avx2 {

// Columns [n, n + 8) under lane mask m (tail_mask) of one row whose zero point and scale are
// broadcast in zp and sx: (acc - zp * colsum) * (sx * w_scale) + bias, then GELU, as
// Int8Epilogue describes. Masked-off lanes read nothing and give garbage, never stored.
TANZHEN_AVX2 inline __m256 int8_epilogue(__m256i acc, __m256i zp, __m256 sx,
                                         const Int8Epilogue& e, int n, __m256i m) {
  const __m256i v = _mm256_sub_epi32(acc, _mm256_mullo_epi32(zp, _mm256_maskload_epi32(e.colsum + n, m)));
  __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(v),
                           _mm256_mul_ps(sx, _mm256_maskload_ps(e.w_scale + n, m)));
  if (e.bias) y = _mm256_add_ps(y, _mm256_maskload_ps(e.bias + n, m));
  if (e.gelu) y = gelu_erf(y);
  return y;
}

// Eight s32 codes, already in [0, 255], as eight bytes at q.
TANZHEN_AVX2 inline void store_u8x8(uint8_t* q, __m256i codes) {
  const __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(codes), _mm256_extracti128_si256(codes, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(q), _mm_packus_epi16(w16, w16));
}

}  // namespace tanzhen::kernels::avx2
