// Weight and activation conversions of the reduced-precision linear layers (see linear_quant.h).
// The per-call activation kernels run on every GEMM input (up to tokens x 3072 floats), so
// they are AVX-512 where the build allows it, else AVX2 where it allows that (CPUs without
// AVX-512); the portable loops compute the same values.
#include "tanzhen/kernels/linear_quant.h"
#include "tanzhen/kernels/cpu/int8_epilogue_avx2.h"
#include "tanzhen/kernels/cpu/int8_epilogue_avx512.h"
#include "tanzhen/kernels/cpu/vec_avx512.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__AVX512F__) && defined(__AVX512BW__)
// GCC 12's unmasked AVX-512 intrinsics start from _mm512_undefined_*(), which -Wuninitialized
// reports at every inlined use; the values are fully defined (see vec_avx512.h).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define TANZHEN_LINEAR_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__)
#define TANZHEN_LINEAR_AVX2 1
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

void dequantize_rows_s8(const int8_t* values, const float* scales, int64_t rows, int64_t cols,
                        float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = values[r * cols + c] * scales[r];
  }
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

// Small work runs on one thread: waking the OpenMP team costs more than it saves below ~64k
// elements.
constexpr int64_t kParallelMin = 65536;

// Range of one row, always containing 0.
void row_min_max(const float* x, int n, float* lo_out, float* hi_out) {
  float lo = 0.f, hi = 0.f;
  int i = 0;
#ifdef TANZHEN_LINEAR_AVX512
  __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    vlo = _mm512_min_ps(vlo, v);
    vhi = _mm512_max_ps(vhi, v);
  }
  lo = _mm512_reduce_min_ps(vlo);
  hi = _mm512_reduce_max_ps(vhi);
#elif defined(TANZHEN_LINEAR_AVX2)
  __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    vlo = _mm256_min_ps(vlo, v);
    vhi = _mm256_max_ps(vhi, v);
  }
  lo = avx2::reduce_min(vlo);
  hi = avx2::reduce_max(vhi);
#endif
  for (; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  *lo_out = lo;
  *hi_out = hi;
}

}  // namespace

float activation_code_max() {
  // VNNI (vpdpbusd) adds the four u8 x s8 products of a group in 32 bits: exact for any u8.
  // Without it oneDNN's int8 kernels add pairs of products into a saturating int16
  // (vpmaddubsw): 255 * 127 * 2 = 64,770 overflows it, 127 * 127 * 2 = 32,258 does not.
  static const float m = __builtin_cpu_supports("avx512vnni") ? 255.f : 127.f;
  return m;
}

void quantize_row_u8(const float* x, int n, uint8_t* q, float* scale, int32_t* zero_point) {
  float lo, hi;
  row_min_max(x, n, &lo, &hi);
  const float top = activation_code_max();
  const float s = hi > lo ? (hi - lo) / top : 1.f;
  const int32_t zp = static_cast<int32_t>(std::clamp(std::nearbyint(-lo / s), 0.f, top));
  *scale = s;
  *zero_point = zp;
  const float inv = 1.f / s, zpf = static_cast<float>(zp);
  int i = 0;
#ifdef TANZHEN_LINEAR_AVX512
  const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zpf);
  const __m512 vmin = _mm512_setzero_ps(), vmax = _mm512_set1_ps(top);
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), vinv, vzp);
    v = _mm512_min_ps(_mm512_max_ps(v, vmin), vmax);
    // cvtps rounds to nearest even, like nearbyint below.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
  }
#elif defined(TANZHEN_LINEAR_AVX2)
  const __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(zpf);
  const __m256 vmin = _mm256_setzero_ps(), vmax = _mm256_set1_ps(top);
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), vinv, vzp);
    v = _mm256_min_ps(_mm256_max_ps(v, vmin), vmax);
    avx2::store_u8x8(q + i, _mm256_cvtps_epi32(v));  // rounds to nearest even, as nearbyint
  }
#endif
  for (; i < n; ++i) {
    const float v = std::clamp(std::fmaf(x[i], inv, zpf), 0.f, top);
    q[i] = static_cast<uint8_t>(std::nearbyint(v));
  }
}

void quantize_rows_u8(const float* x, int64_t rows, int cols, uint8_t* q, float* scale,
                      int32_t* zero_point) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row_u8(x + r * cols, cols, q + r * cols, scale + r, zero_point + r);
  }
}

float gelu_erf(float x) {
#ifdef TANZHEN_LINEAR_AVX512
  return _mm512_cvtss_f32(avx512::gelu_erf(_mm512_set1_ps(x)));
#else
  using namespace erf_poly;
  const float z = std::min(std::max(x * kInvSqrt2, -kClamp), kClamp), u = z * z;
  float p = kP[5], q = kQ[5];
  for (int i = 4; i >= 0; --i) {
    p = p * u + kP[i];
    q = q * u + kQ[i];
  }
  return 0.5f * x * (1.f + z * p / q);
#endif
}

namespace {

// One row of the INT8 epilogue (see Int8Epilogue); `o` may alias `a`.
void epilogue_row(const int32_t* a, int cols, const Int8Epilogue& e, int64_t r, float* o) {
  const int32_t zp = e.x_zero_point[r];
  const float sx = e.x_scale[r];
  int n = 0;
#ifdef TANZHEN_LINEAR_AVX512
  const __m512i vzp = _mm512_set1_epi32(zp);
  const __m512 vsx = _mm512_set1_ps(sx);
  for (; n < cols; n += 16) {
    // Masked tail: the same code for the last partial vector.
    const __mmask16 m = cols - n >= 16 ? __mmask16(0xffff) : __mmask16((1u << (cols - n)) - 1u);
    _mm512_mask_storeu_ps(
        o + n, m, avx512::int8_epilogue(_mm512_maskz_loadu_epi32(m, a + n), vzp, vsx, e, n, m));
  }
#elif defined(TANZHEN_LINEAR_AVX2)
  const __m256i vzp = _mm256_set1_epi32(zp);
  const __m256 vsx = _mm256_set1_ps(sx);
  for (; n < cols; n += 8) {
    const __m256i m = avx2::tail_mask(cols - n);  // all lanes but in the last partial vector
    _mm256_maskstore_ps(
        o + n, m, avx2::int8_epilogue(_mm256_maskload_epi32(a + n, m), vzp, vsx, e, n, m));
  }
#endif
  for (; n < cols; ++n) {
    float y = static_cast<float>(a[n] - zp * e.colsum[n]) * (sx * e.w_scale[n]);
    if (e.bias) y += e.bias[n];
    o[n] = e.gelu ? gelu_erf(y) : y;
  }
}

}  // namespace

void dequantize_s32(const int32_t* acc, int64_t rows, int cols, const Int8Epilogue& e,
                    float* out) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) epilogue_row(acc + r * cols, cols, e, r, out + r * cols);
}

void dequantize_s32_to_u8(const int32_t* acc, int64_t rows, int cols, const Int8Epilogue& e,
                          uint8_t* q, float* q_scale, int32_t* q_zero_point) {
#pragma omp parallel if (rows * cols >= kParallelMin)
  {
    // The row's F32 values live only here, in L1, between the epilogue and the quantization.
    std::vector<float> row(static_cast<size_t>(cols));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      epilogue_row(acc + r * cols, cols, e, r, row.data());
      quantize_row_u8(row.data(), cols, q + r * cols, q_scale + r, q_zero_point + r);
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
