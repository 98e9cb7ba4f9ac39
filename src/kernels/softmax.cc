// Row-wise softmax of the attention scores (see kernels/ops.h).
//
// Our own rather than oneDNN's softmax primitive: at BERT-base shapes (12 heads x 300 x 300)
// that took ~0.8 ms per layer, 10% of the int8 encoder; this one makes the three passes over a
// row (max, exp + sum, scale) while the row (at most a few KB) sits in L1, and writes bf16
// probabilities directly for the reduced-precision attention.
// GCC 12's unmasked AVX-512 intrinsics (max, reduce_max) start from _mm512_undefined_*(),
// which -Wuninitialized reports at every inlined use; the values are fully defined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "tanzhen/kernels/cpu/vec_avx2.h"
#include "tanzhen/kernels/cpu/vec_avx512.h"
#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels {
namespace {

// Rows at least this large (in elements, all rows together) are split over threads.
constexpr int64_t kParallelMin = 65536;

TANZHEN_AVX512 void softmax_row_avx512(const float* x, int n, float* e, float* out_f32,
                                       uint16_t* out_bf16) {
  using namespace avx512;
  const __m512 inv = _mm512_set1_ps(1.f / exp_shifted_row(x, n, e));
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m512 p = _mm512_mul_ps(_mm512_loadu_ps(e + i), inv);
    if (out_f32) {
      _mm512_storeu_ps(out_f32 + i, p);
    } else {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out_bf16 + i), to_bf16_rne(p));
    }
  }
  if (int r = n - i) {
    const __m512 p = _mm512_mul_ps(load_tail(e + i, r), inv);
    if (out_f32) {
      store_tail(out_f32 + i, p, r);
    } else {
      _mm256_mask_storeu_epi16(out_bf16 + i, tail_mask(r), to_bf16_rne(p));
    }
  }
}

// F32 output only: bf16 probabilities are for the bf16 attention, which needs AVX-512.
TANZHEN_AVX2 void softmax_row_avx2(const float* x, int n, float* e, float* out) {
  using namespace avx2;
  const int whole = n / kLanes * kLanes;
  const __m256i tail = tail_mask(n - whole);
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (int i = 0; i < whole; i += kLanes) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float m = reduce_max(vmax);
  for (int i = whole; i < n; ++i) m = std::max(m, x[i]);
  const __m256 vm = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (int i = 0; i < whole; i += kLanes) {
    const __m256 v = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(e + i, v);
    sum = _mm256_add_ps(sum, v);
  }
  if (whole < n) {
    // Lanes past n load 0; whatever their exp is, the and-mask zeroes it out of the sum.
    const __m256 v = _mm256_and_ps(
        exp_nonpositive(_mm256_sub_ps(_mm256_maskload_ps(x + whole, tail), vm)),
        _mm256_castsi256_ps(tail));
    _mm256_maskstore_ps(e + whole, tail, v);
    sum = _mm256_add_ps(sum, v);
  }
  const __m256 inv = _mm256_set1_ps(1.f / reduce_add(sum));
  for (int i = 0; i < whole; i += kLanes) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(e + i), inv));
  if (whole < n) _mm256_maskstore_ps(out + whole, tail, _mm256_mul_ps(_mm256_maskload_ps(e + whole, tail), inv));
}

uint16_t bf16_rne(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

void softmax_row_portable(const float* x, int n, float* e, float* out_f32, uint16_t* out_bf16) {
  const float m = *std::max_element(x, x + n);
  float sum = 0.f;
  for (int i = 0; i < n; ++i) sum += e[i] = std::exp(x[i] - m);
  const float inv = 1.f / sum;
  for (int i = 0; i < n; ++i) {
    if (out_f32) {
      out_f32[i] = e[i] * inv;
    } else {
      out_bf16[i] = bf16_rne(e[i] * inv);
    }
  }
}

}  // namespace

void softmax_rows(const float* x, int64_t rows, int cols, float* out_f32, uint16_t* out_bf16) {
  static const bool avx512 = cpu_has_avx512();
  static const bool avx2 = cpu_has_avx2();
#pragma omp parallel if (rows * cols >= kParallelMin)
  {
    std::vector<float> e(static_cast<size_t>(cols));  // exps of one row (out_f32 may alias x)
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const size_t off = static_cast<size_t>(r) * cols;
      float* of = out_f32 ? out_f32 + off : nullptr;
      uint16_t* ob = out_f32 ? nullptr : out_bf16 + off;
      if (avx512) {
        softmax_row_avx512(x + off, cols, e.data(), of, ob);
      } else if (avx2 && of) {
        softmax_row_avx2(x + off, cols, e.data(), of);
      } else {
        softmax_row_portable(x + off, cols, e.data(), of, ob);
      }
    }
  }
}

}  // namespace tanzhen::kernels
