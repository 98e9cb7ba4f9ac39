// The INT8 epilogue on 16 output columns, shared by dequantize_s32 (linear_quant.cc) and the
// register tiles of the VNNI panel GEMM (gemm_u8s8_avx512.cc), so that both paths compute the
// same values by construction.
#pragma once
#include "tanzhen/kernels/cpu/vec_avx512.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen::kernels::avx512 {

// Columns [n, n + 16) under mask m of one row whose zero point and scale are broadcast in zp
// and sx: (acc - zp * colsum) * (sx * w_scale) + bias, then GELU, as Int8Epilogue describes.
TANZHEN_AVX512 inline __m512 int8_epilogue(__m512i acc, __m512i zp, __m512 sx,
                                           const Int8Epilogue& e, int n, __mmask16 m) {
  const __m512i v =
      _mm512_sub_epi32(acc, _mm512_mullo_epi32(zp, _mm512_maskz_loadu_epi32(m, e.colsum + n)));
  __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(v),
                           _mm512_mul_ps(sx, _mm512_maskz_loadu_ps(m, e.w_scale + n)));
  if (e.bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, e.bias + n));
  if (e.gelu) y = gelu_erf(y);
  return y;
}

}  // namespace tanzhen::kernels::avx512
