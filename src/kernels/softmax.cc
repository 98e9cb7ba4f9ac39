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
      } else {
        softmax_row_portable(x + off, cols, e.data(), of, ob);
      }
    }
  }
}

}  // namespace tanzhen::kernels
