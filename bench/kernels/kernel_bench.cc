// Kernel microbenchmarks (Google Benchmark) at BERT-base shapes: the figures behind the kernel
// notes in bench/README.md, reproducible instead of coming from throw-away programs.
//
//   build/bench/tanzhen_kernel_bench                       # 2 threads (TANZHEN_THREADS=n)
//   TANZHEN_GEMM=onednn build/bench/tanzhen_kernel_bench --benchmark_filter=Linear
//
// - Linear/<precision>/<rows>/<in>/<out>/<gelu>: one linear layer through kernels::Linear, as
//   the encoder calls it (INT8: the per-row u8 quantization of x is included). Counter GOP/s:
//   2 * rows * in * out per second.
// - VnniPeak: vpdpbusd on registers only, 24 independent accumulators, one thread: what one
//   core's VNNI units can do (GOP/s, 128 per instruction). The INT8 GEMM's ceiling is this
//   times the threads.
// - FusedAttention{F32,Bf16}/<len>: one layer's attention (12 heads of 64), one sequence, on
//   the fused kernel this CPU runs (AVX-512 only); AttentionOneDnnF32/<len> the same on the
//   oneDNN path (kernels/attention.h) with F32 operands, the path of CPUs without AVX-512.
// - GeluErf/<sigma>: avx512::gelu_erf over 64 Ki floats drawn from N(0, sigma).
// vec_avx512.h's unmasked intrinsics trip GCC 12's -Wuninitialized (see that header).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "tanzhen/kernels/attention.h"
#include "tanzhen/kernels/attention_fused.h"
#include "tanzhen/kernels/cpu/vec_avx512.h"
#include "tanzhen/kernels/gemm.h"
#include "tanzhen/kernels/linear.h"
#include "tanzhen/kernels/linear_quant.h"
#include "tanzhen/kernels/ops.h"
#include "tanzhen/kernels/threads.h"

namespace tanzhen::kernels {
namespace {

int bench_threads() {
  const char* t = std::getenv("TANZHEN_THREADS");
  return t ? std::atoi(t) : 2;
}

std::vector<float> normal(size_t n, float sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

enum Precision { kF32 = 0, kInt8 = 1 };

// args: precision, rows, in, out, gelu.
void Linear_(benchmark::State& state) {
  set_compute_threads(bench_threads());
  const auto precision = static_cast<Precision>(state.range(0));
  const int rows = static_cast<int>(state.range(1)), in = static_cast<int>(state.range(2)),
            out = static_cast<int>(state.range(3));
  const Activation act = state.range(4) ? Activation::kGelu : Activation::kNone;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  GemmCache cache(8);
  // BERT-like magnitudes: weights ~N(0, 0.02), inputs ~N(0, 1) (LayerNorm outputs).
  const std::vector<float> w = normal(static_cast<size_t>(out) * in, 0.02f, 1);
  const std::vector<float> bias = normal(out, 0.02f, 2);
  std::vector<float> x = normal(static_cast<size_t>(rows) * in, 1.f, 3);
  std::vector<float> y(static_cast<size_t>(rows) * out);
  Linear layer;
  if (precision == kInt8) {
    const QuantizedRows q = quantize_rows_s8(w.data(), out, in);
    layer = Linear::int8(engine, &cache, q.values.data(), q.scales.data(), bias.data(), out, in, act);
  } else {
    layer = Linear::f32(engine, &cache, w.data(), bias.data(), out, in, act);
  }
  const auto gemm = layer.primitive(rows);
  std::vector<uint8_t> scratch_bytes(gemm->scratch_bytes + 64);
  const dnnl::memory scratch = byte_memory(engine, scratch_bytes.data(), scratch_bytes.size());
  const dnnl::memory src = plain_memory(engine, rows, in, x.data());
  const dnnl::memory dst = plain_memory(engine, rows, out, y.data());
  for (auto _ : state) {
    layer.run(*gemm, stream, src, dst, scratch);
    stream.wait();
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GOP/s"] = benchmark::Counter(2.0 * rows * in * out,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(precision == kInt8 ? "int8" : "f32");
}

void LinearShapes(benchmark::internal::Benchmark* b) {
  // BERT-base per layer: QKV (768 -> 2304), attention output (768 -> 768), FFN in with GELU
  // (768 -> 3072), FFN out (3072 -> 768); at 32, 128, 302 (padded to 304) and 1024 (8 x 128) tokens.
  for (int p : {kF32, kInt8}) {
    for (int rows : {32, 128, 304, 1024}) {
      b->Args({p, rows, 768, 2304, 0});
      b->Args({p, rows, 768, 768, 0});
      b->Args({p, rows, 768, 3072, 1});
      b->Args({p, rows, 3072, 768, 0});
    }
  }
  b->ArgNames({"int8", "rows", "in", "out", "gelu"})->UseRealTime();
}
BENCHMARK(Linear_)->Name("Linear")->Apply(LinearShapes);

// 24 accumulators (zmm0-23) times 4 weight vectors (zmm24-27) and a broadcast (zmm28): the
// panel kernel's register tile without its loads.
__attribute__((target("avx512f,avx512vnni"))) void vnni_steps(int64_t n) {
#define TZ_ROW(a, b, c, d)                                                        \
  "vpdpbusd %%zmm24, %%zmm28, %%zmm" #a "\n vpdpbusd %%zmm25, %%zmm28, %%zmm" #b  \
  "\n vpdpbusd %%zmm26, %%zmm28, %%zmm" #c "\n vpdpbusd %%zmm27, %%zmm28, %%zmm" #d "\n"
  for (int64_t i = 0; i < n; ++i) {
    asm volatile(TZ_ROW(0, 1, 2, 3) TZ_ROW(4, 5, 6, 7) TZ_ROW(8, 9, 10, 11)
                     TZ_ROW(12, 13, 14, 15) TZ_ROW(16, 17, 18, 19) TZ_ROW(20, 21, 22, 23)
                 :
                 :
                 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
                   "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23");
  }
#undef TZ_ROW
}

void VnniPeak(benchmark::State& state) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512vnni")) {
    state.SkipWithError("no AVX512-VNNI");
    return;
  }
  constexpr int64_t kSteps = 1 << 16;
  for (auto _ : state) vnni_steps(kSteps);
  state.counters["GOP/s"] = benchmark::Counter(kSteps * 24.0 * 128,
                                               benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(VnniPeak);

// The FLOP counter of the attention benchmarks: QK^T and PV, 2 * 2 * len^2 * H operations.
void attention_flops(benchmark::State& state, int len, int H) {
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * len * len * H,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

template <bool kBf16>
void FusedAttention(benchmark::State& state) {
  set_compute_threads(bench_threads());
  constexpr int kHeads = 12, kHeadDim = 64, H = kHeads * kHeadDim;
  if (!(kBf16 ? fused_attention_bf16_supported(kHeadDim) : fused_attention_supported(kHeadDim))) {
    state.SkipWithError("not supported on this CPU");
    return;
  }
  const int len = static_cast<int>(state.range(0));
  const std::vector<float> qkv = normal(static_cast<size_t>(len) * 3 * H, 1.5f, 4);
  std::vector<float> ctx(static_cast<size_t>(len) * H);
  const std::vector<AttentionRows> seqs{{len, qkv.data(), ctx.data()}};
  for (auto _ : state) {
    if (kBf16) {
      fused_attention_bf16(seqs, kHeads, kHeadDim);
    } else {
      fused_attention(seqs, kHeads, kHeadDim);
    }
    benchmark::DoNotOptimize(ctx.data());
  }
  attention_flops(state, len, H);
}
BENCHMARK(FusedAttention<false>)->Name("FusedAttentionF32")->Arg(32)->Arg(128)->Arg(302)->UseRealTime();
BENCHMARK(FusedAttention<true>)->Name("FusedAttentionBf16")->Arg(32)->Arg(128)->Arg(302)->UseRealTime();

void AttentionOneDnn(benchmark::State& state) {
  set_compute_threads(bench_threads());
  constexpr int kHeads = 12, kHeadDim = 64, H = kHeads * kHeadDim;
  const int len = static_cast<int>(state.range(0));
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const MultiHeadAttention mha(engine, kHeads, kHeadDim);
  std::vector<float> qkv = normal(static_cast<size_t>(len) * 3 * H, 1.5f, 4);
  std::vector<float> ctx(static_cast<size_t>(len) * H), work(mha.work_floats(len));
  const MultiHeadAttention::Bound b = mha.bind(len, qkv.data(), work.data(), ctx.data());
  std::vector<uint8_t> scratch_bytes(std::max<size_t>(b.prims->scratch_bytes, 1));
  const dnnl::memory scratch = byte_memory(engine, scratch_bytes.data(), scratch_bytes.size());
  for (auto _ : state) {
    mha.run(b, stream, scratch);
    stream.wait();
    benchmark::DoNotOptimize(ctx.data());
  }
  attention_flops(state, len, H);
}
BENCHMARK(AttentionOneDnn)->Name("AttentionOneDnnF32")->Arg(32)->Arg(128)->Arg(302)->UseRealTime();

TANZHEN_AVX512 void gelu_all(const float* x, size_t n, float* y) {
  for (size_t i = 0; i + avx512::kLanes <= n; i += avx512::kLanes) {
    _mm512_storeu_ps(y + i, avx512::gelu_erf(_mm512_loadu_ps(x + i)));
  }
}

void GeluErf(benchmark::State& state) {
  if (!cpu_has_avx512()) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  const std::vector<float> x = normal(1 << 16, static_cast<float>(state.range(0)), 5);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    gelu_all(x.data(), x.size(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(x.size()));
}
BENCHMARK(GeluErf)->Arg(2)->Arg(10)->Arg(100);

}  // namespace
}  // namespace tanzhen::kernels

int main(int argc, char** argv) {
  // The OpenMP spin policy `tanzhen` itself runs with (kernels/threads.h).
  tanzhen::kernels::apply_default_wait_policy(argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
