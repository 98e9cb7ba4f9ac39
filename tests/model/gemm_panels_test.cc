// The F32 panel GEMMs (kernels/cpu/gemm_f32_avx512.h, gemm_f32_avx2.h) against an exact
// (double) reference, and the INT8 ones (gemm_u8s8_avx512.h on weights packed by hand in its
// documented layout, gemm_u8s8_avx2.h on pack_s8_panels') against exact integer sums through
// dequantize_s32, with every kind of tail: rows that are not a whole register tile, K that is
// not a multiple of 16 or spans several K blocks, output columns that end inside a panel. Each
// kernel runs wherever the CPU has its instructions (the AVX2 ones on AVX-512 CPUs too), so
// every backend is checked against the same references. And PackedLinear (a panel kernel on
// AVX-512 and on AVX2 CPUs) giving oneDNN's matmul's numbers.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tanzhen/kernels/cpu/gemm_f32_avx2.h"
#include "tanzhen/kernels/cpu/gemm_f32_avx512.h"
#include "tanzhen/kernels/cpu/gemm_u8s8_avx2.h"
#include "tanzhen/kernels/cpu/gemm_u8s8_avx512.h"
#include "tanzhen/kernels/gemm.h"
#include "tanzhen/kernels/linear_quant.h"
#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels {
namespace {

using avx512::kPanelCols;

struct Case {
  int rows, in, out;
  bool bias, gelu;
};

// "rows_in_out" plus _bias / _gelu: the test's name in ctest's list.
std::string case_name(const Case& c) {
  return std::to_string(c.rows) + "_" + std::to_string(c.in) + "_" + std::to_string(c.out) +
         (c.bias ? "_bias" : "") + (c.gelu ? "_gelu" : "");
}

double gelu(double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }

// Which F32 panel kernel a case runs: AVX-512 (64-column panels) or AVX2 (16-column panels).
enum class F32Kernel { kAvx512, kAvx2 };

class PanelGemmTest : public ::testing::TestWithParam<std::tuple<F32Kernel, Case>> {};

TEST_P(PanelGemmTest, MatchesExactReference) {
  const auto [kernel, c] = GetParam();
  const bool wide = kernel == F32Kernel::kAvx512;
  if (wide && !cpu_has_avx512()) GTEST_SKIP() << "CPU without AVX-512F";
  if (!wide && !cpu_has_avx2()) GTEST_SKIP() << "CPU without AVX2 + FMA";
  const int panel_cols = wide ? kPanelCols : avx2::kPanelCols;
  std::mt19937 rng(c.rows * 131 + c.in * 7 + c.out);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(c.rows) * c.in), w(static_cast<size_t>(c.in) * c.out),
      b(c.out);
  for (auto& v : x) v = n(rng);
  for (auto& v : w) v = 0.05f * n(rng);  // w[k * out + o]
  for (auto& v : b) v = 0.1f * n(rng);

  // Panels of 64 (16) columns, rows padded to a multiple of 16; padding filled with NaN, which
  // any read of it would carry into the results.
  const int64_t padded_in = (c.in + 15) / 16 * 16;
  const int panels = (c.out + panel_cols - 1) / panel_cols;
  std::vector<float> storage(panels * padded_in * panel_cols + 16, NAN);
  float* packed = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) & ~uintptr_t{63});
  for (int k = 0; k < c.in; ++k) {
    for (int o = 0; o < c.out; ++o) {
      packed[(o / panel_cols * padded_in + k) * panel_cols + o % panel_cols] = w[k * c.out + o];
    }
  }
  constexpr float kGuard = 12345.f;  // just past the output (padding results would be NaN)
  std::vector<float> y(static_cast<size_t>(c.rows) * c.out + 1, kGuard);
  const float* bias = c.bias ? b.data() : nullptr;
  if (wide) {
    avx512::gemm_f32_panels(x.data(), c.rows, {packed, c.in, c.out, padded_in}, bias, c.gelu, y.data());
  } else {
    avx2::gemm_f32_panels(x.data(), c.rows, {packed, c.in, c.out, padded_in}, bias, c.gelu, y.data());
  }
  EXPECT_EQ(y.back(), kGuard) << "wrote past the output";

  double worst = 0;
  for (int r = 0; r < c.rows; ++r) {
    for (int o = 0; o < c.out; ++o) {
      double s = c.bias ? b[o] : 0.0;
      double mag = std::fabs(s);
      for (int k = 0; k < c.in; ++k) {
        s += static_cast<double>(x[r * c.in + k]) * w[k * c.out + o];
        mag += std::fabs(static_cast<double>(x[r * c.in + k]) * w[k * c.out + o]);
      }
      const double ref = c.gelu ? gelu(s) : s;
      // F32 accumulation: error bounded by ~K ulps of the sum of magnitudes; GELU adds 3e-7.
      const double tol = 2e-7 * (c.in + 1) * mag + 1e-6 * std::max(1.0, std::fabs(ref));
      const double err = std::fabs(y[r * c.out + o] - ref);
      ASSERT_LE(err, tol) << "row " << r << " col " << o;
      worst = std::max(worst, err / std::max(1.0, std::fabs(ref)));
    }
  }
  std::cout << "[panels] " << (wide ? "avx512 " : "avx2 ") << c.rows << "x" << c.in << "->" << c.out << " worst rel error " << worst
            << std::endl;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PanelGemmTest,
    ::testing::Combine(
        ::testing::Values(F32Kernel::kAvx512, F32Kernel::kAvx2),
        ::testing::Values(Case{1, 16, 64, false, false}, Case{5, 40, 7, true, false},
                          Case{6, 768, 100, true, true}, Case{7, 64, 192, false, true},
                          Case{32, 768, 2304, true, false}, Case{13, 1600, 130, true, true},
                          Case{301, 3072, 64, true, false}, Case{64, 96, 384, true, true},
                          Case{101, 600, 40, true, true},
                          // More rows than one x block of the AVX2 kernel (320), K in 3 blocks:
                          // x read in place, and (64 panels, 16 or more a thread up to 4
                          // threads) packed per row tile (AVX2 worth_packing).
                          Case{333, 1600, 48, true, true}, Case{333, 1600, 1024, true, true},
                          // Packed, with K not a multiple of the packing's 4 columns.
                          Case{50, 602, 1024, true, false})),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) == F32Kernel::kAvx512 ? "avx512_" : "avx2_") +
             case_name(std::get<1>(info.param));
    });

// Which INT8 panel kernel a case runs: the AVX512-VNNI one on oneDNN's layout packed by hand,
// or the AVX2 one on pack_s8_panels' layout.
enum class U8S8Kernel { kAvx512Vnni, kAvx2 };

class PanelGemmU8S8Test : public ::testing::TestWithParam<std::tuple<U8S8Kernel, Case>> {};

// Integer products are exact, and the fused epilogue repeats dequantize_s32's arithmetic, so
// the outputs must equal dequantize_s32 applied to exact s32 sums (up to the last bit, allowed
// for a compiler contracting differently).
TEST_P(PanelGemmU8S8Test, MatchesExactSumsThroughTheEpilogue) {
  const auto [kernel, c] = GetParam();
  const bool vnni = kernel == U8S8Kernel::kAvx512Vnni;
  if (vnni && !avx512::gemm_u8s8_panels_supported()) GTEST_SKIP() << "CPU without AVX512-VNNI";
  // The AVX2 kernel runs in tanzhen only without VNNI (gemm_u8s8_panels_supported()), but it
  // is tested on every AVX2 CPU: the codes below stay within its 7 bits.
  if (!vnni && !cpu_has_avx2()) GTEST_SKIP() << "CPU without AVX2 + FMA";
  ASSERT_EQ(c.in % 4, 0);
  std::mt19937 rng(c.rows * 31 + c.in * 3 + c.out);
  // The largest codes the kernel is given: 255 with VNNI, 127 without (activation_code_max()).
  std::uniform_int_distribution<int> u8(0, vnni ? 255 : 127), s8(-127, 127);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<uint8_t> q(static_cast<size_t>(c.rows) * c.in);
  std::vector<int8_t> w(static_cast<size_t>(c.in) * c.out);  // w[k * out + o]
  for (auto& v : q) v = static_cast<uint8_t>(u8(rng));
  for (auto& v : w) v = static_cast<int8_t>(s8(rng));
  std::vector<float> x_scale(c.rows), w_scale(c.out), bias(c.out);
  std::vector<int32_t> zero_point(c.rows), colsum(c.out, 0);
  for (int r = 0; r < c.rows; ++r) {
    x_scale[r] = 0.01f + 0.001f * std::fabs(n(rng));
    zero_point[r] = u8(rng);
  }
  for (int o = 0; o < c.out; ++o) {
    w_scale[o] = 0.002f + 0.0005f * std::fabs(n(rng));
    bias[o] = 0.1f * n(rng);
    for (int k = 0; k < c.in; ++k) colsum[o] += w[k * c.out + o];
  }
  Int8Epilogue e;
  e.colsum = colsum.data();
  e.w_scale = w_scale.data();
  e.x_scale = x_scale.data();
  e.x_zero_point = zero_point.data();
  e.bias = c.bias ? bias.data() : nullptr;
  e.gelu = c.gelu;

  constexpr float kGuard = 12345.f;
  std::vector<float> y(static_cast<size_t>(c.rows) * c.out + 1, kGuard);
  if (vnni) {
    // Panels of 64 columns; k in groups of 4 (64 columns x 4 k each); rows padded to 64.
    const int64_t padded_in = (c.in + 63) / 64 * 64;
    const int panels = (c.out + kPanelCols - 1) / kPanelCols;
    std::vector<int8_t> storage(panels * padded_in * kPanelCols + 64, 99);
    int8_t* packed = reinterpret_cast<int8_t*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) & ~uintptr_t{63});
    for (int k = 0; k < c.in; ++k) {
      for (int o = 0; o < c.out; ++o) {
        packed[(o / kPanelCols * padded_in + k / 4 * 4) * kPanelCols + o % kPanelCols * 4 + k % 4] =
            w[k * c.out + o];
      }
    }
    avx512::gemm_u8s8_panels(q.data(), c.rows, {packed, c.in, c.out, padded_in}, e, y.data());
  } else {
    std::vector<int8_t> torch(w.size());  // [out][in], as checkpoints hold it
    for (int k = 0; k < c.in; ++k) {
      for (int o = 0; o < c.out; ++o) torch[static_cast<size_t>(o) * c.in + k] = w[k * c.out + o];
    }
    const std::vector<int8_t> packed = avx2::pack_s8_panels(torch.data(), c.out, c.in);
    avx2::gemm_u8s8_panels(q.data(), c.rows, avx2::s8_panel_view(packed, c.out, c.in), e, y.data());
  }
  EXPECT_EQ(y.back(), kGuard) << "wrote past the output";

  std::vector<int32_t> acc(static_cast<size_t>(c.rows) * c.out);
  for (int r = 0; r < c.rows; ++r) {
    for (int o = 0; o < c.out; ++o) {
      int64_t sum = 0;
      for (int k = 0; k < c.in; ++k) sum += int64_t{q[r * c.in + k]} * w[k * c.out + o];
      acc[r * c.out + o] = static_cast<int32_t>(sum);
    }
  }
  std::vector<float> ref(acc.size());
  dequantize_s32(acc.data(), c.rows, c.out, e, ref.data());
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_NEAR(y[i], ref[i], 1e-6f * std::max(1.f, std::fabs(ref[i]))) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PanelGemmU8S8Test,
    ::testing::Combine(
        ::testing::Values(U8S8Kernel::kAvx512Vnni, U8S8Kernel::kAvx2),
        ::testing::Values(Case{1, 4, 64, false, false}, Case{5, 40, 7, true, false},
                          Case{6, 768, 100, true, true}, Case{7, 64, 192, false, true},
                          Case{32, 768, 2304, true, false}, Case{13, 3200, 130, true, true},
                          Case{301, 3072, 64, true, false}, Case{64, 96, 384, true, true},
                          Case{101, 2052, 24, true, true},
                          // Three x blocks of the AVX2 kernel (160 rows), K in 2 blocks (3072).
                          Case{333, 3200, 48, true, true})),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) == U8S8Kernel::kAvx512Vnni ? "avx512vnni_" : "avx2_") +
             case_name(std::get<1>(info.param));
    });

// PackedLinear against oneDNN's own matmul (plain weights, exact-GELU post-op) on the same
// layer: the two backends agree to F32 rounding. And PackedLinear is batch-invariant: rows 0-7
// come out the same, bit for bit, in a call of 8 rows and in one of 1000.
// (in, out): K inside one k block of the AVX2 kernel (256) or across three; a partial last panel.
class PackedLinearBackends : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(PackedLinearBackends, AgreesWithOneDnnAndIsBatchInvariant) {
  const auto [in, out] = GetParam();
  const int big = 1000;
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(big) * in), w(static_cast<size_t>(out) * in), b(out);
  for (auto& v : x) v = n(rng);
  for (auto& v : w) v = 0.05f * n(rng);
  for (auto& v : b) v = 0.1f * n(rng);
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  GemmCache cache(16);
  const PackedLinear lin(engine, &cache, w.data(), b.data(), out, in, Activation::kGelu);
  auto run = [&](int rows) {
    const auto gemm = lin.primitive(rows);
    EXPECT_EQ(static_cast<bool>(gemm->prim), !f32_linear_batch_invariant())
        << "a panel kernel on AVX-512 and on AVX2 CPUs";
    std::vector<uint8_t> scratch(gemm->scratch_bytes + 1);
    const dnnl::memory m_scratch = byte_memory(engine, scratch.data(), scratch.size());
    std::vector<float> y(static_cast<size_t>(rows) * out);
    lin.run(*gemm, stream, plain_memory(engine, rows, in, x.data()),
            plain_memory(engine, rows, out, y.data()), m_scratch);
    stream.wait();
    return y;
  };
  const std::vector<float> small = run(8), large = run(big);
  // Bit-identical rows whatever the row count: the panel kernels' promise. oneDNN's kernels
  // (TANZHEN_GEMM=onednn, CPUs without AVX2) may block the sum differently for another count.
  for (int i = 0; i < 8 * out; ++i) {
    if (f32_linear_batch_invariant()) {
      ASSERT_EQ(small[i], large[i]) << i;
    } else {
      ASSERT_NEAR(small[i], large[i], 1e-5 * (1 + std::abs(large[i]))) << i;
    }
  }

  using dnnl::memory;
  const memory::desc xd({big, in}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc wd({in, out}, memory::data_type::f32, memory::format_tag::ba);  // W^T
  const memory::desc bd({1, out}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc yd({big, out}, memory::data_type::f32, memory::format_tag::ab);
  dnnl::primitive_attr attr = activation_attr(Activation::kGelu);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::library);
  const dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(xd, wd, bd, yd), attr, engine));
  std::vector<float> ref(static_cast<size_t>(big) * out);
  mm.execute(stream, {{DNNL_ARG_SRC, memory(xd, engine, x.data())},
                      {DNNL_ARG_WEIGHTS, memory(wd, engine, w.data())},
                      {DNNL_ARG_BIAS, memory(bd, engine, b.data())},
                      {DNNL_ARG_DST, memory(yd, engine, ref.data())}});
  stream.wait();
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_NEAR(large[i], ref[i], 2e-5 * std::max(1.f, std::fabs(ref[i]))) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PackedLinearBackends,
                         ::testing::Values(std::pair{200, 300}, std::pair{700, 45}));

}  // namespace
}  // namespace tanzhen::kernels
