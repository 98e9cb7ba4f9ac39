// The attention paths (the fused F32 kernel for short sequences, the fused bf16 kernel, and
// the oneDNN one) against a double-precision reference, on lengths that exercise whole and partial
// 16-key blocks and 4-query blocks, several head sizes, and batches of sequences that must not
// see each other.
#include <cmath>
#include <iostream>
#include <random>
#include <vector>

#include <dnnl.hpp>
#include <gtest/gtest.h>

#include "tanzhen/kernels/attention.h"
#include "tanzhen/kernels/attention_fused.h"
#include "tanzhen/kernels/cpu/vec_avx512.h"
#include "tanzhen/kernels/gemm.h"
#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels {
namespace {

// softmax(q kᵀ / sqrt(dh)) v per head, rows [len x 3H] -> [len x H].
std::vector<double> reference(const float* qkv, int len, int heads, int dh) {
  const int H = heads * dh;
  std::vector<double> out(static_cast<size_t>(len) * H);
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < len; ++i) {
      std::vector<double> s(len);
      double m = -1e300, sum = 0;
      for (int j = 0; j < len; ++j) {
        double d = 0;
        for (int c = 0; c < dh; ++c)
          d += double(qkv[i * 3 * H + h * dh + c]) * qkv[j * 3 * H + H + h * dh + c];
        s[j] = d / std::sqrt(double(dh));
        m = std::max(m, s[j]);
      }
      for (double& x : s) sum += x = std::exp(x - m);
      for (int c = 0; c < dh; ++c) {
        double o = 0;
        for (int j = 0; j < len; ++j) o += s[j] * qkv[j * 3 * H + 2 * H + h * dh + c];
        out[static_cast<size_t>(i) * H + h * dh + c] = o / sum;
      }
    }
  }
  return out;
}

std::vector<float> random_rows(size_t n, std::mt19937& rng) {
  // Scores of several units, so the softmax is far from uniform.
  std::normal_distribution<float> g(0.f, 1.5f);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

void expect_near_reference(const std::vector<float>& got, const std::vector<double>& want,
                           const char* what, int len, int dh) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LT(worst, 2e-5) << what << " len " << len << " head_dim " << dh;
}

// The oneDNN path of `mha` on one sequence's [len x 3H] rows -> [len x H] context.
std::vector<float> run_onednn(const MultiHeadAttention& mha, const dnnl::engine& engine,
                              dnnl::stream& stream, std::vector<float>& qkv, int len, int H) {
  std::vector<float> ctx(static_cast<size_t>(len) * H, NAN);
  std::vector<float> work(mha.work_floats(len));
  const MultiHeadAttention::Bound b = mha.bind(len, qkv.data(), work.data(), ctx.data());
  std::vector<uint8_t> scratch_bytes(std::max<size_t>(b.prims->scratch_bytes, 1));
  const dnnl::memory scratch = byte_memory(engine, scratch_bytes.data(), scratch_bytes.size());
  mha.run(b, stream, scratch);
  stream.wait();
  return ctx;
}

TEST(Attention, FusedKernelMatchesReference) {
  if (!fused_attention_supported(64)) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::mt19937 rng(11);
  for (int dh : {16, 48, 64, 128}) {
    const int heads = 3, H = heads * dh;
    // Up to 512 (BERT's positions): the F32 encoder runs this kernel at every length. 6-query
    // blocks and 16-key blocks with their tails: 1-7, 16-17, 31-33, 302 = 6 * 50 + 2.
    for (int len : {1, 2, 5, 6, 7, 16, 17, 31, 32, 33, 64, 100, 302, 512}) {
      std::vector<float> qkv = random_rows(static_cast<size_t>(len) * 3 * H, rng);
      std::vector<float> ctx(static_cast<size_t>(len) * H, NAN);
      fused_attention({{len, qkv.data(), ctx.data()}}, heads, dh);
      expect_near_reference(ctx, reference(qkv.data(), len, heads, dh), "fused", len, dh);
    }
  }
}

TEST(Attention, FusedKernelKeepsSequencesApart) {
  if (!fused_attention_supported(32)) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::mt19937 rng(12);
  const int heads = 4, dh = 32, H = heads * dh;
  const std::vector<int> lens = {7, 40, 1, 23, 64, 3};
  int total = 0;
  for (int l : lens) total += l;
  std::vector<float> qkv = random_rows(static_cast<size_t>(total) * 3 * H, rng);
  std::vector<float> ctx(static_cast<size_t>(total) * H, NAN);
  std::vector<AttentionRows> seqs;
  for (int i = 0, off = 0; i < static_cast<int>(lens.size()); off += lens[i++])
    seqs.push_back({lens[i], qkv.data() + off * 3 * H, ctx.data() + off * H});
  fused_attention(seqs, heads, dh);
  for (int i = 0, off = 0; i < static_cast<int>(lens.size()); off += lens[i++]) {
    std::vector<float> got(ctx.begin() + off * H, ctx.begin() + (off + lens[i]) * H);
    expect_near_reference(got, reference(qkv.data() + off * 3 * H, lens[i], heads, dh), "batch",
                          lens[i], dh);
  }
}

TEST(Attention, OneDnnPathMatchesReference) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::mt19937 rng(13);
  const int heads = 3, dh = 64, H = heads * dh;
  MultiHeadAttention mha(engine, heads, dh);
  for (int len : {1, 17, 65, 130}) {
    std::vector<float> qkv = random_rows(static_cast<size_t>(len) * 3 * H, rng);
    const std::vector<float> ctx = run_onednn(mha, engine, stream, qkv, len, H);
    expect_near_reference(ctx, reference(qkv.data(), len, heads, dh), "oneDNN", len, dh);
  }
}

// At L = 512 the scores of 12 heads (12 MiB) exceed one group: the strided views of each group
// must start at its own heads' columns of the QKV and context rows.
TEST(Attention, OneDnnPathSplitsHeadsIntoGroups) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::mt19937 rng(15);
  const int heads = 12, dh = 16, H = heads * dh, len = 512;
  MultiHeadAttention mha(engine, heads, dh);
  std::vector<float> qkv = random_rows(static_cast<size_t>(len) * 3 * H, rng);
  const std::vector<float> ctx = run_onednn(mha, engine, stream, qkv, len, H);
  expect_near_reference(ctx, reference(qkv.data(), len, heads, dh), "oneDNN groups", len, dh);
}

double max_error(const std::vector<float>& got, const std::vector<double>& want) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  return worst;
}

// With bf16 operands both paths round Q, K, V and the probabilities the same way; the fused
// kernel must be as close to the exact result as the oneDNN path it replaces.
TEST(Attention, FusedBf16KernelAsCloseAsOneDnnBf16) {
  if (!fused_attention_bf16_supported(64)) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::mt19937 rng(14);
  for (int dh : {32, 64}) {
    const int heads = 2, H = heads * dh;
    MultiHeadAttention mha(engine, heads, dh, /*bf16_operands=*/true);
    for (int len : {1, 2, 3, 16, 17, 33, 100, 302}) {
      std::vector<float> qkv = random_rows(static_cast<size_t>(len) * 3 * H, rng);
      const std::vector<double> want = reference(qkv.data(), len, heads, dh);
      std::vector<float> fused(static_cast<size_t>(len) * H, NAN);
      fused_attention_bf16({{len, qkv.data(), fused.data()}}, heads, dh);
      const std::vector<float> onednn = run_onednn(mha, engine, stream, qkv, len, H);
      const double e_fused = max_error(fused, want), e_onednn = max_error(onednn, want);
      EXPECT_LE(e_fused, 1.5 * e_onednn + 1e-3) << "len " << len << " head_dim " << dh;
      EXPECT_LT(e_fused, 0.05) << "len " << len << " head_dim " << dh;
      if (len == 302)
        std::cout << "[attention bf16] L 302, head_dim " << dh << ": max |error| fused " << e_fused
                  << ", oneDNN " << e_onednn << std::endl;
    }
  }
}

TEST(Attention, SequencesGoToTheFusedKernels) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  MultiHeadAttention mha(engine, 12, 64);
  const bool fused = fused_attention_supported(64);
  // F32 operands: every length, where the CPU has the F32 kernel.
  EXPECT_EQ(mha.runs_fused(32), fused);
  EXPECT_EQ(mha.runs_fused(302), fused);
  EXPECT_EQ(mha.runs_fused(512), fused);
  EXPECT_FALSE(MultiHeadAttention(engine, 2, 40).runs_fused(8));  // no kernel for 40 dims
  // With bf16 operands: short ones to the F32 kernel, the rest where the CPU has the bf16 one.
  const MultiHeadAttention bf16(engine, 12, 64, true);
  EXPECT_EQ(bf16.runs_fused(32), fused);
  EXPECT_EQ(bf16.runs_fused(302), fused_attention_bf16_supported(64));
  if (!fused_attention_bf16_supported(64)) return;  // the split below needs both kernels
  MultiHeadAttention::FusedBatch batch;
  bf16.add_fused(batch, {32, nullptr, nullptr});
  bf16.add_fused(batch, {302, nullptr, nullptr});
  EXPECT_EQ(batch.f32.size(), 1u);
  EXPECT_EQ(batch.bf16.size(), 1u);
}

// The register transpose both fused kernels pack their keys with.
TANZHEN_AVX512 void transpose_through_registers(const int32_t* in, int32_t* out) {
  __m512i r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(in + 16 * i);
  avx512::transpose_16x16(r);
  for (int c = 0; c < 16; ++c) _mm512_storeu_si512(out + 16 * c, r[c]);
}

TEST(FusedAttention, KeyTransposeIs16x16Transpose) {
  if (!cpu_has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::vector<int32_t> in(256), out(256, -1);
  for (int i = 0; i < 256; ++i) in[i] = 1000 + i * 7;
  transpose_through_registers(in.data(), out.data());
  for (int i = 0; i < 16; ++i)
    for (int c = 0; c < 16; ++c) EXPECT_EQ(out[c * 16 + i], in[i * 16 + c]) << "row " << i << " col " << c;
}

}  // namespace
}  // namespace tanzhen::kernels
