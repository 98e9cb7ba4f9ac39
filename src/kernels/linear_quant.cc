// Weight and activation conversions of the reduced-precision linear layers (see linear_quant.h).
// The per-call activation kernels run on every GEMM input (up to tokens x 3072 floats), so
// they are AVX-512 where the build allows it; the portable loops compute the same values.
#include "tanzhen/kernels/linear_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX512F__) && defined(__AVX512BW__)
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

void min_max(const float* x, size_t n, float* lo_out, float* hi_out) {
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

}  // namespace

ActivationQuant quantize_activations_u8(const float* x, size_t n, uint8_t* q) {
  float lo, hi;
  min_max(x, n, &lo, &hi);
  ActivationQuant a;
  a.scale = hi > lo ? (hi - lo) / 255.f : 1.f;
  a.zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(-lo / a.scale), 0.f, 255.f));
  const float inv = 1.f / a.scale, zp = static_cast<float>(a.zero_point);
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
  return a;
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
