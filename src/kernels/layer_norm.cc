// Residual add + LayerNorm and embedding sum + LayerNorm (see kernels/ops.h).
//
// One row is summed into `out` first (pass 1), then mean and variance are taken in two passes
// over that row (the centred variance loses no precision to cancellation), then the row is
// normalised in place. Rows are BERT hidden states (64..1024 floats), so they stay in L1.
#include <cmath>

#include "tanzhen/kernels/cpu/vec_avx512.h"
#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels {
namespace {

// out = LayerNorm((a + c) + b); b and c may be null. The (a + c) + b order is the one of
// BertEmbeddings (word + token_type, then + position), so sums round the same way.
TANZHEN_AVX512 void norm_row_avx512(const float* a, const float* b, const float* c,
                                    const float* gamma, const float* beta, float* out, int n,
                                    float eps) {
  using namespace avx512;
  __m512 acc = _mm512_setzero_ps();
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    __m512 v = _mm512_loadu_ps(a + i);
    if (c) v = _mm512_add_ps(v, _mm512_loadu_ps(c + i));
    if (b) v = _mm512_add_ps(v, _mm512_loadu_ps(b + i));
    _mm512_storeu_ps(out + i, v);
    acc = _mm512_add_ps(acc, v);
  }
  if (int r = n - i) {
    __m512 v = load_tail(a + i, r);
    if (c) v = _mm512_add_ps(v, load_tail(c + i, r));
    if (b) v = _mm512_add_ps(v, load_tail(b + i, r));
    store_tail(out + i, v, r);
    acc = _mm512_add_ps(acc, v);
  }
  const float mean = reduce_add(acc) / static_cast<float>(n);
  const __m512 vmean = _mm512_set1_ps(mean);

  acc = _mm512_setzero_ps();
  for (i = 0; i + kLanes <= n; i += kLanes) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(out + i), vmean);
    acc = _mm512_fmadd_ps(d, d, acc);
  }
  if (int r = n - i) {
    __m512 d = _mm512_maskz_sub_ps(tail_mask(r), load_tail(out + i, r), vmean);
    acc = _mm512_fmadd_ps(d, d, acc);
  }
  const float var = reduce_add(acc) / static_cast<float>(n);
  const __m512 vrstd = _mm512_set1_ps(1.0f / std::sqrt(var + eps));

  for (i = 0; i + kLanes <= n; i += kLanes) {
    __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(out + i), vmean), vrstd);
    _mm512_storeu_ps(out + i,
                     _mm512_fmadd_ps(d, _mm512_loadu_ps(gamma + i), _mm512_loadu_ps(beta + i)));
  }
  if (int r = n - i) {
    __m512 d = _mm512_mul_ps(_mm512_sub_ps(load_tail(out + i, r), vmean), vrstd);
    store_tail(out + i, _mm512_fmadd_ps(d, load_tail(gamma + i, r), load_tail(beta + i, r)), r);
  }
}

void norm_row_portable(const float* a, const float* b, const float* c, const float* gamma,
                       const float* beta, float* out, int n, float eps) {
  float sum = 0.f;
  for (int i = 0; i < n; ++i) {
    float v = a[i];
    if (c) v += c[i];
    if (b) v += b[i];
    out[i] = v;
    sum += v;
  }
  const float mean = sum / static_cast<float>(n);
  float sq = 0.f;
  for (int i = 0; i < n; ++i) sq += (out[i] - mean) * (out[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(n) + eps);
  for (int i = 0; i < n; ++i) out[i] = (out[i] - mean) * rstd * gamma[i] + beta[i];
}

void norm_row(const float* a, const float* b, const float* c, const float* gamma,
              const float* beta, float* out, int n, float eps) {
  static const bool avx512 = cpu_has_avx512();
  if (avx512) {
    norm_row_avx512(a, b, c, gamma, beta, out, n, eps);
  } else {
    norm_row_portable(a, b, c, gamma, beta, out, n, eps);
  }
}

}  // namespace

bool cpu_has_avx512() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }();
  return has;
}

bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
}

void add_layer_norm(const float* x, const float* residual, const float* gamma, const float* beta,
                    float* out, int64_t rows, int cols, float eps) {
  // Rows are independent: split over the compute threads when there are enough of them.
#pragma omp parallel for schedule(static) if (rows * cols >= 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const size_t off = static_cast<size_t>(r) * cols;
    norm_row(x + off, residual ? residual + off : nullptr, nullptr, gamma, beta, out + off, cols,
             eps);
  }
}

void embed_layer_norm(const int32_t* ids, int len, const float* word, const float* position,
                      const float* token_type, const float* gamma, const float* beta, float* out,
                      int cols, float eps) {
  for (int t = 0; t < len; ++t) {
    norm_row(word + static_cast<size_t>(ids[t]) * cols, position + static_cast<size_t>(t) * cols,
             token_type, gamma, beta, out + static_cast<size_t>(t) * cols, cols, eps);
  }
}

}  // namespace tanzhen::kernels
