// The encoder's element-wise kernels against straightforward double-precision references,
// on row widths that exercise full AVX-512 vectors, tails, and both together.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels {
namespace {

std::vector<float> random_vector(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// LayerNorm of one row of doubles, as PyTorch defines it (biased variance).
std::vector<double> reference_norm(const std::vector<double>& v, const float* gamma,
                                   const float* beta, double eps) {
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  for (double x : v) var += (x - mean) * (x - mean);
  var /= v.size();
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    out[i] = (v[i] - mean) / std::sqrt(var + eps) * gamma[i] + beta[i];
  }
  return out;
}

TEST(EncoderKernels, AddLayerNormMatchesReference) {
  std::mt19937 rng(7);
  for (int cols : {1, 7, 15, 16, 17, 33, 64, 96, 100, 768}) {
    const int rows = 5;
    const auto x = random_vector(rows * cols, rng, -3.f, 5.f);
    const auto res = random_vector(rows * cols, rng, -2.f, 2.f);
    const auto gamma = random_vector(cols, rng, 0.5f, 1.5f);
    const auto beta = random_vector(cols, rng, -0.5f, 0.5f);
    for (bool with_residual : {true, false}) {
      std::vector<float> out(rows * cols), aliased = x;
      add_layer_norm(x.data(), with_residual ? res.data() : nullptr, gamma.data(), beta.data(),
                     out.data(), rows, cols, 1e-12f);
      add_layer_norm(aliased.data(), with_residual ? res.data() : nullptr, gamma.data(),
                     beta.data(), aliased.data(), rows, cols, 1e-12f);
      for (int r = 0; r < rows; ++r) {
        std::vector<double> sum(cols);
        for (int c = 0; c < cols; ++c) {
          sum[c] = x[r * cols + c] + (with_residual ? res[r * cols + c] : 0.f);
        }
        const auto want = reference_norm(sum, gamma.data(), beta.data(), 1e-12);
        for (int c = 0; c < cols; ++c) {
          // A 1-wide row normalises to exactly beta; otherwise float rounding only.
          EXPECT_NEAR(out[r * cols + c], want[c], 2e-5) << "cols " << cols << " row " << r;
          EXPECT_EQ(out[r * cols + c], aliased[r * cols + c]);
        }
      }
    }
  }
}

TEST(EncoderKernels, LayerNormEpsilonMatters) {
  // A constant row has zero variance: the output is beta, whatever eps (no NaN / inf).
  const int cols = 40;
  std::vector<float> x(cols, 3.25f), gamma(cols, 2.f), beta(cols), out(cols);
  for (int c = 0; c < cols; ++c) beta[c] = 0.01f * c;
  add_layer_norm(x.data(), nullptr, gamma.data(), beta.data(), out.data(), 1, cols, 1e-12f);
  for (int c = 0; c < cols; ++c) EXPECT_FLOAT_EQ(out[c], beta[c]);
  // With a large eps the normalised values shrink: (x - mean) / sqrt(var + eps).
  std::vector<float> y = {1.f, -1.f}, g = {1.f, 1.f}, b = {0.f, 0.f}, o(2);
  add_layer_norm(y.data(), nullptr, g.data(), b.data(), o.data(), 1, 2, 3.f);
  EXPECT_NEAR(o[0], 0.5f, 1e-6);
  EXPECT_NEAR(o[1], -0.5f, 1e-6);
}

TEST(EncoderKernels, EmbedLayerNormSumsWordPositionAndType) {
  std::mt19937 rng(11);
  const int cols = 40, vocab = 9, max_pos = 6;
  const auto word = random_vector(vocab * cols, rng, -1.f, 1.f);
  const auto pos = random_vector(max_pos * cols, rng, -1.f, 1.f);
  const auto type = random_vector(cols, rng, -1.f, 1.f);
  const auto gamma = random_vector(cols, rng, 0.5f, 1.5f);
  const auto beta = random_vector(cols, rng, -0.5f, 0.5f);
  const std::vector<int32_t> ids = {3, 0, 8, 3};
  std::vector<float> out(ids.size() * cols);
  embed_layer_norm(ids.data(), static_cast<int>(ids.size()), word.data(), pos.data(), type.data(),
                   gamma.data(), beta.data(), out.data(), cols, 1e-12f);
  for (size_t t = 0; t < ids.size(); ++t) {
    std::vector<double> sum(cols);
    for (int c = 0; c < cols; ++c) {
      sum[c] = static_cast<double>(word[ids[t] * cols + c]) + type[c] + pos[t * cols + c];
    }
    const auto want = reference_norm(sum, gamma.data(), beta.data(), 1e-12);
    for (int c = 0; c < cols; ++c) EXPECT_NEAR(out[t * cols + c], want[c], 2e-5);
  }
}

TEST(EncoderKernels, SoftmaxRowsF32AndBf16) {
  // Row lengths around the 16-lane vectors, and enough rows to take the threaded path.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-30.f, 30.f);
  for (int cols : {1, 15, 16, 17, 302}) {
    const int64_t rows = 65536 / cols + 3;
    std::vector<float> x(static_cast<size_t>(rows) * cols);
    for (float& v : x) v = u(rng);
    std::vector<float> f32 = x;  // in place
    std::vector<uint16_t> b16(x.size());
    softmax_rows(f32.data(), rows, cols, f32.data(), nullptr);
    softmax_rows(x.data(), rows, cols, nullptr, b16.data());
    for (int64_t r = 0; r < rows; r += 97) {
      const float* row = x.data() + r * cols;
      double m = row[0], sum = 0;
      for (int c = 0; c < cols; ++c) m = std::max(m, static_cast<double>(row[c]));
      for (int c = 0; c < cols; ++c) sum += std::exp(row[c] - m);
      for (int c = 0; c < cols; ++c) {
        const double want = std::exp(row[c] - m) / sum;
        const float got = f32[r * cols + c];
        // float (x - max) already carries ~1e-6 relative error into exp for far-off scores
        EXPECT_NEAR(got, want, 4e-6 * want + 1e-9) << cols << " " << r << " " << c;
        // BF16: the F32 result rounded to nearest even (one ulp of bf16 is 2^-8 relative).
        uint32_t bits = static_cast<uint32_t>(b16[r * cols + c]) << 16;
        float back;
        std::memcpy(&back, &bits, 4);
        EXPECT_NEAR(back, got, got / 256 + 1e-30) << cols << " " << r << " " << c;
      }
    }
  }
}

}  // namespace
}  // namespace tanzhen::kernels
