// Weight and activation conversions of the reduced-precision linear layers (see linear_quant.h).
// The per-call activation kernels run on every GEMM input (up to tokens x 3072 floats), so
// they are AVX-512 where the build allows it; the portable loops compute the same values.
#include "tanzhen/kernels/linear_quant.h"
#include "tanzhen/kernels/cpu/vec_avx512.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX512F__) && defined(__AVX512BW__)
// GCC 12's unmasked AVX-512 intrinsics start from _mm512_undefined_*(), which -Wuninitialized
// reports at every inlined use; the values are fully defined (see vec_avx512.h).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define TANZHEN_LINEAR_AVX512 1
#endif

namespace tanzhen::kernels {

QuantizedRows quantize_rows_s8(const float* w, int64_t rows, int64_t cols) {
  QuantizedRows q;
  q.values.resize(static_cast<size_t>(rows * cols));
  q.scales.resize(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    float amax = 0.f;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(row[c]));
    const float scale = amax > 0.f ? amax / 127.f : 1.f;
    q.scales[r] = scale;
    int8_t* out = q.values.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = std::nearbyint(row[c] / scale);
      out[c] = static_cast<int8_t>(std::clamp(v, -127.f, 127.f));
    }
  }
  return q;
}

std::vector<float> dequantize_rows_s8(const int8_t* values, const float* scales, int64_t rows,
                                      int64_t cols) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = values[r * cols + c] * scales[r];
  }
  return out;
}

uint16_t f32_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<uint16_t>(bits >> 16);
}

float bf16_to_f32(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<uint16_t> to_bf16(const float* x, size_t n) {
  std::vector<uint16_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(x[i]);
  return out;
}

std::vector<float> bf16_to_f32(const uint16_t* x, size_t n) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(x[i]);
  return out;
}

namespace {

// Elements per parallel block of the activation kernels: small work runs on one thread
// (waking the OpenMP team costs more than it saves below ~64k elements).
constexpr size_t kBlock = 16384;
constexpr size_t kParallelMin = 65536;

void min_max_block(const float* x, size_t n, float* lo_out, float* hi_out) {
  float lo = 0.f, hi = 0.f;  // the range always contains 0
  size_t i = 0;
#ifdef TANZHEN_LINEAR_AVX512
  __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    vlo = _mm512_min_ps(vlo, v);
    vhi = _mm512_max_ps(vhi, v);
  }
  lo = _mm512_reduce_min_ps(vlo);
  hi = _mm512_reduce_max_ps(vhi);
#endif
  for (; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  *lo_out = lo;
  *hi_out = hi;
}

void min_max(const float* x, size_t n, float* lo_out, float* hi_out) {
  const int64_t blocks = static_cast<int64_t>((n + kBlock - 1) / kBlock);
  float lo = 0.f, hi = 0.f;
#pragma omp parallel for schedule(static) reduction(min : lo) reduction(max : hi) if (n >= kParallelMin)
  for (int64_t b = 0; b < blocks; ++b) {
    float l, h;
    const size_t begin = static_cast<size_t>(b) * kBlock;
    min_max_block(x + begin, std::min(kBlock, n - begin), &l, &h);
    lo = std::min(lo, l);
    hi = std::max(hi, h);
  }
  *lo_out = lo;
  *hi_out = hi;
}

void quantize_block(const float* x, size_t n, float inv, float zp, uint8_t* q) {
  size_t i = 0;
#ifdef TANZHEN_LINEAR_AVX512
  const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zp);
  const __m512 vmin = _mm512_setzero_ps(), vmax = _mm512_set1_ps(255.f);
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), vinv, vzp);
    v = _mm512_min_ps(_mm512_max_ps(v, vmin), vmax);
    // cvtps rounds to nearest even, like nearbyint below.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
  }
#endif
  for (; i < n; ++i) {
    const float v = std::clamp(std::fmaf(x[i], inv, zp), 0.f, 255.f);
    q[i] = static_cast<uint8_t>(std::nearbyint(v));
  }
}

}  // namespace

ActivationQuant quantize_activations_u8(const float* x, size_t n, uint8_t* q) {
  float lo, hi;
  min_max(x, n, &lo, &hi);
  ActivationQuant a;
  a.scale = hi > lo ? (hi - lo) / 255.f : 1.f;
  a.zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(-lo / a.scale), 0.f, 255.f));
  const float inv = 1.f / a.scale, zp = static_cast<float>(a.zero_point);
  const int64_t blocks = static_cast<int64_t>((n + kBlock - 1) / kBlock);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t b = 0; b < blocks; ++b) {
    const size_t begin = static_cast<size_t>(b) * kBlock;
    quantize_block(x + begin, std::min(kBlock, n - begin), inv, zp, q + begin);
  }
  return a;
}

namespace {

// erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): with t = 1 / (1 + p|x|),
// erf(|x|) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^(-x^2).
constexpr float kErfP = 0.3275911f, kA1 = 0.254829592f, kA2 = -0.284496736f,
                kA3 = 1.421413741f, kA4 = -1.453152027f, kA5 = 1.061405429f;
constexpr float kInvSqrt2 = 0.70710678118654752f;

#ifdef TANZHEN_LINEAR_AVX512
__m512 gelu_erf_v(__m512 x) {
  const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(kInvSqrt2));
  const __m512 az = _mm512_abs_ps(z);
  // t = 1 / d by rcp14 plus one Newton step (relative error ~1e-8; a division costs 4x more).
  const __m512 d = _mm512_fmadd_ps(az, _mm512_set1_ps(kErfP), _mm512_set1_ps(1.f));
  __m512 t = _mm512_rcp14_ps(d);
  t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.f)));
  __m512 poly = _mm512_set1_ps(kA5);
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(kA4));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(kA3));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(kA2));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(kA1));
  poly = _mm512_mul_ps(poly, t);
  const __m512 e = avx512::exp_nonpositive(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), az), az));
  // erfc(|z|) = poly · e; 1 + erf(z) is 2 - erfc(|z|) for z >= 0 and erfc(|z|) for z < 0.
  const __m512 erfc_abs = _mm512_mul_ps(poly, e);
  const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 one_plus_erf = _mm512_mask_blend_ps(
      neg, _mm512_sub_ps(_mm512_set1_ps(2.f), erfc_abs), erfc_abs);
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), one_plus_erf);
}
#endif

}  // namespace

float gelu_erf(float x) {
#ifdef TANZHEN_LINEAR_AVX512
  return _mm512_cvtss_f32(gelu_erf_v(_mm512_set1_ps(x)));
#else
  const float z = x * kInvSqrt2, az = std::fabs(z);
  const float t = 1.f / (1.f + kErfP * az);
  const float erfc_abs = t * (kA1 + t * (kA2 + t * (kA3 + t * (kA4 + t * kA5)))) * std::exp(-az * az);
  return 0.5f * x * (z < 0 ? erfc_abs : 2.f - erfc_abs);
#endif
}

void dequantize_s32(const int32_t* acc, int64_t rows, int cols, const int32_t* zp_colsum,
                    const float* scales, const float* bias, bool gelu, float* out) {
#pragma omp parallel for schedule(static) if (rows * cols >= static_cast<int64_t>(kParallelMin))
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* a = acc + r * cols;
    float* o = out + r * cols;
    int n = 0;
#ifdef TANZHEN_LINEAR_AVX512
    for (; n < cols; n += 16) {
      // Masked tail: the same code for the last partial vector.
      const __mmask16 m = cols - n >= 16 ? __mmask16(0xffff) : __mmask16((1u << (cols - n)) - 1u);
      const __m512i v = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, a + n),
                                         _mm512_maskz_loadu_epi32(m, zp_colsum + n));
      __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_maskz_loadu_ps(m, scales + n));
      if (bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, bias + n));
      if (gelu) y = gelu_erf_v(y);
      _mm512_mask_storeu_ps(o + n, m, y);
    }
#endif
    for (; n < cols; ++n) {
      float y = static_cast<float>(a[n] - zp_colsum[n]) * scales[n];
      if (bias) y += bias[n];
      o[n] = gelu ? gelu_erf(y) : y;
    }
  }
}

void convert_to_bf16(const float* x, size_t n, uint16_t* out) {
  size_t i = 0;
#if defined(__AVX512BF16__) && defined(TANZHEN_LINEAR_AVX512)
  for (; i + 32 <= n; i += 32) {
    // cvtne2ps rounds to nearest even, like f32_to_bf16 (which also keeps NaNs NaN).
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(out + i, reinterpret_cast<const __m512i&>(v));
  }
#endif
  for (; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

}  // namespace tanzhen::kernels
