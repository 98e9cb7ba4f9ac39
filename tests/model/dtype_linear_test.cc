// Reduced-precision linear layers against an exact (double) reference on random data, and the
// quantization formats they rely on, checked by hand.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "bf16_support.h"
#include "tanzhen/kernels/linear.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen::kernels {
namespace {

struct Problem {
  int rows, in, out;
  std::vector<float> x, w, b;
};

Problem random_problem(int rows, int in, int out, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  Problem p{rows, in, out, {}, {}, {}};
  for (int i = 0; i < rows * in; ++i) p.x.push_back(n(rng));
  for (int i = 0; i < out * in; ++i) p.w.push_back(0.05f * n(rng));
  for (int i = 0; i < out; ++i) p.b.push_back(0.1f * n(rng));
  return p;
}

double gelu(double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }

std::vector<double> reference(const Problem& p, Activation act) {
  std::vector<double> y(static_cast<size_t>(p.rows) * p.out);
  for (int r = 0; r < p.rows; ++r) {
    for (int o = 0; o < p.out; ++o) {
      double s = p.b[o];
      for (int k = 0; k < p.in; ++k) s += static_cast<double>(p.x[r * p.in + k]) * p.w[o * p.in + k];
      y[r * p.out + o] = act == Activation::kGelu ? gelu(s) : s;
    }
  }
  return y;
}

std::vector<float> run(const Linear& lin, const dnnl::engine& engine, Problem& p) {
  std::vector<float> y(static_cast<size_t>(p.rows) * p.out, NAN);
  const auto gemm = lin.primitive(p.rows);
  std::vector<uint8_t> scratch(std::max<size_t>(gemm->scratch_bytes, 1) + 64);
  // 64-byte aligned view of the scratch bytes, as the encoder's buffers are.
  auto* aligned = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t{63});
  dnnl::stream stream(engine);
  const dnnl::memory m_scratch =
      byte_memory(engine, aligned, std::max<size_t>(gemm->scratch_bytes, 1));
  lin.run(*gemm, stream, plain_memory(engine, p.rows, p.in, p.x.data()),
          plain_memory(engine, p.rows, p.out, y.data()), m_scratch);
  stream.wait();
  return y;
}

// Relative RMS error of y against the reference.
double relative_rms(const std::vector<float>& y, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    num += (y[i] - ref[i]) * (y[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

class LinearPrecisionTest : public ::testing::TestWithParam<std::tuple<int, Activation>> {};

TEST_P(LinearPrecisionTest, MatchesExactReference) {
  const auto [rows, act] = GetParam();
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  GemmCache cache(64);
  Problem p = random_problem(rows, 96, 80, 7 + rows);
  const auto ref = reference(p, act);

  const QuantizedRows q = quantize_rows_s8(p.w.data(), p.out, p.in);
  const Linear l8 = Linear::int8(engine, &cache, q.values.data(), q.scales.data(), p.b.data(),
                                 p.out, p.in, act);
  const Linear l32 = Linear::f32(engine, &cache, p.w.data(), p.b.data(), p.out, p.in, act);
  EXPECT_EQ(l8.precision(), LinearPrecision::kInt8);
  const double e32 = relative_rms(run(l32, engine, p), ref);
  const double e8 = relative_rms(run(l8, engine, p), ref);
  std::cout << "[linear] rows " << rows << " act " << static_cast<int>(act) << ": rel rms f32 "
            << e32 << " int8 " << e8 << std::endl;
  EXPECT_LT(e32, 1e-6);
  // 8-bit operands: ~1/255 of the range per element; a wrong scale or zero point gives O(1).
  EXPECT_LT(e8, 2e-2);

  const std::vector<uint16_t> w16 = to_bf16(p.w.data(), p.w.size());
  TANZHEN_SKIP_WITHOUT_BF16([&] {
    Linear::bf16(engine, &cache, w16.data(), p.b.data(), p.out, p.in, act);
  });
  const Linear l16 = Linear::bf16(engine, &cache, w16.data(), p.b.data(), p.out, p.in, act);
  EXPECT_EQ(l16.precision(), LinearPrecision::kBF16);
  const double e16 = relative_rms(run(l16, engine, p), ref);
  std::cout << "[linear] rows " << rows << " act " << static_cast<int>(act) << ": rel rms bf16 "
            << e16 << std::endl;
  // bf16 operands carry 8 mantissa bits (relative 2^-9 per operand, averaging over K = 96).
  EXPECT_LT(e16, 4e-3);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearPrecisionTest,
                         ::testing::Combine(::testing::Values(1, 5, 64, 130),
                                            ::testing::Values(Activation::kNone, Activation::kGelu)));

TEST(LinearQuant, PerChannelSymmetricByHand) {
  const float w[] = {0.5f, -1.0f, 0.25f, 0.f, 0.f, 0.f, 2.54f, 1.27f, -0.01f};
  const QuantizedRows q = quantize_rows_s8(w, 3, 3);
  EXPECT_FLOAT_EQ(q.scales[0], 1.0f / 127);
  EXPECT_EQ(q.values[0], 64);  // 0.5 * 127 = 63.5 -> ties to even
  EXPECT_EQ(q.values[1], -127);
  EXPECT_EQ(q.values[2], 32);  // 31.75
  EXPECT_FLOAT_EQ(q.scales[1], 1.f);  // all-zero row
  EXPECT_EQ(q.values[3], 0);
  EXPECT_FLOAT_EQ(q.scales[2], 0.02f);
  EXPECT_EQ(q.values[6], 127);
  EXPECT_EQ(q.values[7], 64);  // 63.5 -> 64
  EXPECT_EQ(q.values[8], 0);   // -0.5 -> -0 (ties to even)
}

TEST(LinearQuant, ActivationsU8ByHand) {
  // Codes 0..255 with AVX512-VNNI, 0..127 without (activation_code_max); expected by hand for
  // both. Row 0, range [-1, 3] (0 included): scale 4/top, zero point round(top/4).
  // Row 1, all positive [0.5, 2]: the range is widened to [0, 2] (scale 2/top, zero point 0).
  const bool full = activation_code_max() == 255.f;
  ASSERT_TRUE(full || activation_code_max() == 127.f);
  const float top = activation_code_max();
  const int cols = 44;  // exercises the vector loop and the tail
  std::vector<float> x = {-1.f, 0.f, 3.f, 1.f};
  for (int i = 4; i < cols; ++i) x.push_back(0.5f);
  for (int i = 0; i < cols; ++i) x.push_back(i == 7 ? 2.f : 0.5f);
  std::vector<uint8_t> q(x.size());
  std::vector<float> scale(2);
  std::vector<int32_t> zp(2);
  quantize_rows_u8(x.data(), 2, cols, q.data(), scale.data(), zp.data());
  EXPECT_FLOAT_EQ(scale[0], 4.f / top);
  EXPECT_EQ(zp[0], full ? 64 : 32);   // 63.75 / 31.75 rounded
  EXPECT_EQ(q[0], 0);                 // -63.75 + 64 = 0.25 / -31.75 + 32 = 0.25 -> 0
  EXPECT_EQ(q[1], full ? 64 : 32);
  EXPECT_EQ(q[2], full ? 255 : 127);  // 191.25 + 64 / 95.25 + 32, clamped
  EXPECT_EQ(q[3], full ? 128 : 64);   // 127.75 / 63.75, rounded
  for (int i = 4; i < cols; ++i) EXPECT_EQ(q[i], full ? 96 : 48) << i;  // 95.875 / 47.875
  EXPECT_FLOAT_EQ(scale[1], 2.f / top);
  EXPECT_EQ(zp[1], 0);
  EXPECT_EQ(q[cols + 7], full ? 255 : 127);
  for (int i = 0; i < cols; ++i) {
    if (i != 7) {
      EXPECT_EQ(q[cols + i], full ? 64 : 32) << i;  // 63.75 / 31.75 -> rounded
    }
  }
  // An all-zero row (the GEMMs' padding rows) stays exactly zero.
  std::vector<float> zeros(cols, 0.f);
  float s0;
  int32_t z0;
  quantize_row_u8(zeros.data(), cols, q.data(), &s0, &z0);
  EXPECT_EQ(z0, 0);
  for (int i = 0; i < cols; ++i) EXPECT_EQ(q[i], 0);
}

TEST(LinearQuant, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);  // exactly half an ulp: ties to even
  EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);  // 1.5 ulp -> 2 ulp (even)
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  std::vector<float> x;
  for (int i = 0; i < 100; ++i) x.push_back(0.37f * i - 11.1f);
  std::vector<uint16_t> fast(x.size());
  convert_to_bf16(x.data(), x.size(), fast.data());
  EXPECT_EQ(fast, to_bf16(x.data(), x.size()));
}

TEST(LinearQuant, GeluErfMatchesStdErf) {
  // The INT8 epilogue's GELU, against 0.5 x (1 + erf(x / sqrt 2)) in double.
  for (float x = -12.f; x <= 12.f; x += 1e-4f) {
    const double ref = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    EXPECT_NEAR(gelu_erf(x), ref, 3e-7 * std::max(1.0, std::fabs(static_cast<double>(x)))) << x;
  }
  EXPECT_NEAR(gelu_erf(-100.f), 0.f, 1e-30);
  EXPECT_FLOAT_EQ(gelu_erf(100.f), 100.f);
}

TEST(LinearQuant, DequantizeS32ByHand) {
  // 2 rows x 19 columns (one full vector and a tail), in place as the layers use it.
  const int cols = 19;
  std::vector<int32_t> colsum(cols), acc(2 * cols);
  std::vector<float> w_scale(cols), bias(cols);
  const std::vector<float> x_scale = {1.f, 0.25f};
  const std::vector<int32_t> x_zp = {10, 3};
  for (int n = 0; n < cols; ++n) {
    colsum[n] = n;
    w_scale[n] = 0.5f + n;
    bias[n] = -1.f * n;
    acc[n] = 10 * n + 2;        // acc - 10 * colsum = 2
    acc[cols + n] = 3 * n - 4;  // acc - 3 * colsum = -4
  }
  Int8Epilogue e;
  e.colsum = colsum.data();
  e.w_scale = w_scale.data();
  e.x_scale = x_scale.data();
  e.x_zero_point = x_zp.data();
  e.bias = bias.data();
  std::vector<float> out(acc.size());
  std::memcpy(out.data(), acc.data(), acc.size() * 4);
  dequantize_s32(reinterpret_cast<const int32_t*>(out.data()), 2, cols, e, out.data());
  for (int n = 0; n < cols; ++n) {
    EXPECT_FLOAT_EQ(out[n], 2 * w_scale[n] + bias[n]);
    EXPECT_FLOAT_EQ(out[cols + n], -4 * 0.25f * w_scale[n] + bias[n]);
  }
  e.bias = nullptr;
  e.gelu = true;
  std::vector<float> g(cols);
  dequantize_s32(acc.data(), 1, cols, e, g.data());
  for (int n = 0; n < cols; ++n) EXPECT_FLOAT_EQ(g[n], gelu_erf(2 * w_scale[n]));

  // The fused form gives exactly what the epilogue followed by quantize_rows_u8 gives.
  std::vector<uint8_t> q_fused(2 * cols), q_plain(2 * cols);
  std::vector<float> s_fused(2), s_plain(2);
  std::vector<int32_t> z_fused(2), z_plain(2);
  dequantize_s32_to_u8(acc.data(), 2, cols, e, q_fused.data(), s_fused.data(), z_fused.data());
  std::vector<float> f(2 * cols);
  dequantize_s32(acc.data(), 2, cols, e, f.data());
  quantize_rows_u8(f.data(), 2, cols, q_plain.data(), s_plain.data(), z_plain.data());
  EXPECT_EQ(q_fused, q_plain);
  EXPECT_EQ(s_fused, s_plain);
  EXPECT_EQ(z_fused, z_plain);
}

// Linear::run_chain: FFN in (GELU) -> FFN out. INT8 layers skip the F32 intermediate and must
// give bit-identical results to two plain runs; other precisions run the plain way.
TEST(LinearChain, Int8ChainEqualsTwoRuns) {
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  GemmCache cache(64);
  for (int rows : {1, 7, 130}) {
    Problem p1 = random_problem(rows, 64, 160, 11 + rows);
    Problem p2 = random_problem(rows, 160, 48, 23 + rows);
    const QuantizedRows q1 = quantize_rows_s8(p1.w.data(), p1.out, p1.in);
    const QuantizedRows q2 = quantize_rows_s8(p2.w.data(), p2.out, p2.in);
    const Linear a = Linear::int8(engine, &cache, q1.values.data(), q1.scales.data(),
                                  p1.b.data(), p1.out, p1.in, Activation::kGelu);
    const Linear b = Linear::int8(engine, &cache, q2.values.data(), q2.scales.data(),
                                  p2.b.data(), p2.out, p2.in, Activation::kNone);
    const Linear b32 = Linear::f32(engine, &cache, p2.w.data(), p2.b.data(), p2.out, p2.in,
                                   Activation::kNone);
    // Two plain runs.
    p2.x = run(a, engine, p1);
    const std::vector<float> plain = run(b, engine, p2);
    const std::vector<float> plain_mixed = run(b32, engine, p2);
    // The chain, with one scratch for both layers, as the encoder does.
    const auto g1 = a.primitive(rows), g2 = b.primitive(rows), g32 = b32.primitive(rows);
    const size_t scratch_bytes =
        std::max({g1->scratch_bytes, g2->scratch_bytes, g32->scratch_bytes});
    std::vector<float> scratch(scratch_bytes / 4 + 16), mid(static_cast<size_t>(rows) * p1.out);
    std::vector<float> link(Linear::chain_link_bytes(a, b, rows) / 4 + 16);
    // On oneDNN's matmul (a real primitive) the chain hands u8 rows over through `link`; the
    // panel kernel (no primitive) writes F32 rows from its registers and needs no link.
    if (g1->prim) {
      EXPECT_GT(Linear::chain_link_bytes(a, b, rows), static_cast<size_t>(rows) * p1.out);
    } else {
      EXPECT_EQ(Linear::chain_link_bytes(a, b, rows), 0u);
    }
    EXPECT_EQ(Linear::chain_link_bytes(a, b32, rows), 0u);  // not a chain: no link needed
    std::vector<float> chained(static_cast<size_t>(rows) * p2.out, NAN);
    const dnnl::memory m_scratch = byte_memory(engine, scratch.data(), scratch_bytes);
    Linear::run_chain(a, *g1, b, *g2, stream, plain_memory(engine, rows, p1.in, p1.x.data()),
                      plain_memory(engine, rows, p1.out, mid.data()),
                      plain_memory(engine, rows, p2.out, chained.data()), m_scratch, link.data());
    stream.wait();
    EXPECT_EQ(chained, plain) << rows;
    // INT8 then F32: not a chain, mid holds the first layer's F32 output.
    std::vector<float> mixed(chained.size(), NAN);
    Linear::run_chain(a, *g1, b32, *g32, stream, plain_memory(engine, rows, p1.in, p1.x.data()),
                      plain_memory(engine, rows, p1.out, mid.data()),
                      plain_memory(engine, rows, p2.out, mixed.data()), m_scratch, link.data());
    stream.wait();
    EXPECT_EQ(mixed, plain_mixed) << rows;
    EXPECT_EQ(mid, p2.x) << rows;
  }
}

}  // namespace
}  // namespace tanzhen::kernels
