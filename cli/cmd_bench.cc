// `tanzhen bench`: how fast, and at what cost.
//
// Engine mode (default): times the encoder plus its head (token logits for NER / CRF models,
// vocabulary logits at every position for masked-LM models) on synthetic batches of B sequences
// of L random token ids in [1000, vocab) (fixed seed), reports min / median / p95 ms per call,
// the achieved GFLOP/s and its share of a measured GEMM peak. FLOPs counted per layer:
// 2·B·L·(4H² + 2HI) for the QKV, output and FFN GEMMs plus 2·2·B·L²·H for the attention
// products (QKᵀ and PV), times the layers, plus the head (2·B·L·H·labels, or for MLM
// 2·B·L·(H² + H·V)); element-wise work (LayerNorm, GELU, softmax, embeddings) is not counted.
// The peak is the best of a few oneDNN sgemm calls of M=256, K=768, N=3072 on the same threads.
// The same shape is also timed as a oneDNN matmul with weights packed once, in the run's
// precision (f32, bf16 x bf16 or u8 x s8; F32 output): that is the encoder's own path and its
// real ceiling (sgemm re-packs B on every call, so at M=256 the encoder can beat it).
//
// Memory: the model's load time (reading the files and packing the weights, as a server's cold
// start less its HTTP set-up), the resident memory once loaded, and after each shape the
// resident memory now and its peak since the model was loaded (the model plus the buffers of
// the largest shape yet; the kernel's peak mark is reset after loading, so the GEMM-peak
// matrices do not count, where /proc/self/clear_refs accepts it).
//
// Cost mode (--cost --price-per-hour P): cost per 10,000 requests = P / 3600 / QPS · 10,000 and
// SPI = QPS / (P · latency_s), from --qps / --latency-ms, else from each engine shape (QPS =
// sequences per second of one stream, latency = median ms) or from each service level.
//
// Service mode (--url): QPS and latency percentiles of a running server against the number of
// concurrent keep-alive clients (bench_http.h), with the error count. The same text is sent
// over and over unless --texts or --unique say otherwise: with a server that caches results
// (tanzhen serve does by default) use --unique, or start the server without its cache, to
// measure the model rather than the cache.
#include <dnnl.h>

#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "bench_http.h"
#include "cli_common.h"
#include "command.h"
#include "tanzhen/model/quantized_checkpoint.h"
#include "tanzhen/error.h"
#include "tanzhen/kernels/threads.h"
#include "tanzhen/model/bert.h"
#include "tanzhen/model/checkpoint.h"
#include "tanzhen/tasks/eval.h"
#include "server/metrics.h"  // process_rss_bytes

namespace tanzhen::cli {
namespace {

struct BenchCliOptions {
  std::string model_dir;
  std::string dtype;  // "" = fp32 or a pre-quantized folder's own
  std::string shapes = "1x32,1x128,1x302,8x32,8x128";
  int iters = 20, warmup = 3, threads = 0;
  bool json_output = false;
  double gemm_peak = 0;
  // cost
  bool cost = false;
  double price_per_hour = 0, qps = 0, latency_ms = 0;
  // service
  std::string url;
  std::string concurrency = "1,4,8,16";
  double duration = 10, timeout = 30;
  std::string text = "据新华社北京电，国务院总理昨天在人民大会堂会见了来访的法国总统，双方就中法关系交换了意见。";
  std::string body;
  std::string texts_file;
  bool unique = false;
};

// ---------------------------------------------------------------------------------------------
// Small helpers

std::vector<int> parse_int_list(const std::string& spec, const char* what) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = std::min(spec.find(',', pos), spec.size());
    const std::string item = spec.substr(pos, comma - pos);
    if (item.empty() || item.size() > 6 || item.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(item) < 1)
      fail("invalid_option", std::string(what) + ": expected positive integers separated by commas, got \"" + spec + "\"");
    out.push_back(std::stoi(item));
    pos = comma + 1;
  }
  return out;
}

struct Shape {
  int batch = 0, length = 0;
};

// "1x32,8x128" -> shapes.
std::vector<Shape> parse_shapes(const std::string& spec) {
  std::vector<Shape> out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = std::min(spec.find(',', pos), spec.size());
    std::string item = spec.substr(pos, comma - pos);
    const size_t x = item.find_first_of("xX");
    const std::string b = item.substr(0, x), l = x == std::string::npos ? "" : item.substr(x + 1);
    auto positive = [](const std::string& n) {
      return !n.empty() && n.size() <= 6 && n.find_first_not_of("0123456789") == std::string::npos && std::stoi(n) > 0;
    };
    if (!positive(b) || !positive(l))
      fail("invalid_option", "--shape: expected BxL[,BxL...] with positive B and L, got \"" + spec + "\"");
    out.push_back({std::stoi(b), std::stoi(l)});
    pos = comma + 1;
  }
  return out;
}

double median_of_sorted(const std::vector<double>& v) {
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Nearest-rank percentile of a sorted, non-empty list.
double percentile_of_sorted(const std::vector<double>& v, double q) {
  const double rank = std::ceil(q / 100.0 * static_cast<double>(v.size()));
  return v[static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size()))) - 1];
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// ---------------------------------------------------------------------------------------------
// Cost

struct CostRow {
  double qps = 0, latency_ms = 0;
};

double cost_per_10k(double price_per_hour, double qps) { return price_per_hour / 3600.0 / qps * 10000.0; }
double spi(double price_per_hour, double qps, double latency_ms) { return qps / (price_per_hour * latency_ms / 1000.0); }

void add_cost(json& row, const BenchCliOptions& o, const CostRow& c) {
  row["price_per_hour"] = o.price_per_hour;
  row["qps"] = c.qps;
  row["latency_ms"] = c.latency_ms;
  row["cost_per_10k"] = cost_per_10k(o.price_per_hour, c.qps);
  row["spi"] = spi(o.price_per_hour, c.qps, c.latency_ms);
}

void print_cost(const std::string& label, const BenchCliOptions& o, const CostRow& c) {
  std::printf("%-10s price %.4f/h  QPS %.2f  latency %.2f ms  cost per 10k requests %.6f  SPI %.2f\n", label.c_str(),
              o.price_per_hour, c.qps, c.latency_ms, cost_per_10k(o.price_per_hour, c.qps),
              spi(o.price_per_hour, c.qps, c.latency_ms));
}

int run_cost_only(const BenchCliOptions& o) {
  const CostRow c{o.qps, o.latency_ms};
  if (o.json_output) {
    json row{{"mode", "cost"}};
    add_cost(row, o, c);
    std::printf("%s\n", dump_line(row).c_str());
  } else {
    print_cost("given", o, c);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Engine

// Fastest of up to `max_calls` timed calls of `run` (at least 5, and until 0.5 s have passed),
// after 3 untimed warm-up calls: the peak a GEMM reaches, not its average on a shared machine.
template <class Run>
double best_call_ms(const Run& run, int max_calls) {
  for (int i = 0; i < 3; ++i) run();
  double best_ms = 1e30, total_ms = 0;
  for (int i = 0; i < max_calls && (i < 5 || total_ms < 500); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const double ms = ms_since(t0);
    best_ms = std::min(best_ms, ms);
    total_ms += ms;
  }
  return best_ms;
}

// Best GFLOP/s of oneDNN's sgemm at M=256, K=768, N=3072 (the shape of BERT-base's FFN).
double measure_gemm_peak(int threads) {
  constexpr int M = 256, K = 768, N = 3072;
  kernels::set_compute_threads(threads);
  std::vector<float> a(static_cast<size_t>(M) * K, 0.01f), b(static_cast<size_t>(K) * N, 0.02f),
      c(static_cast<size_t>(M) * N);
  auto run = [&] {
    if (dnnl_sgemm('N', 'N', M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N) != dnnl_success)
      fail("internal", "oneDNN sgemm failed");
  };
  return 2.0 * M * N * K / (best_call_ms(run, 50) / 1000.0) / 1e9;
}

// Best GFLOP/s of a oneDNN matmul at M=256, K=768, N=3072 in `dtype` (fp32; bf16: bf16 x bf16;
// int8: u8 x s8; F32 output), weights packed beforehand in the layout oneDNN picks: a roof to
// read the model's GFLOP/s against, not the encoder's own GEMM (tanzhen's panel kernels run the
// F32 and INT8 layers where the CPU allows). 0 when this CPU has no such kernel.
double measure_matmul_peak(const std::string& dtype, int threads) {
  using dnnl::memory;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  constexpr int M = 256, K = 768, N = 3072;
  kernels::set_compute_threads(threads);
  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(eng);
    const dt src_type = dtype == "int8" ? dt::u8 : dtype == "bf16" ? dt::bf16 : dt::f32;
    const dt weight_type = dtype == "int8" ? dt::s8 : src_type;
    memory::desc src({M, K}, src_type, tag::ab), dst({M, N}, dt::f32, tag::ab);
    memory::desc weights_any({K, N}, weight_type, tag::any);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights_any, dst), eng);
    memory a(src, eng), b(pd.weights_desc(), eng), c(dst, eng);
    // Zeros: the values do not matter for timing, but uninitialised bf16 could hold denormals.
    std::memset(a.get_data_handle(), 0, src.get_size());
    std::memset(b.get_data_handle(), 0, pd.weights_desc().get_size());
    dnnl::matmul prim(pd);
    auto run = [&] {
      prim.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
      stream.wait();
    };
    return 2.0 * M * N * K / (best_call_ms(run, 100) / 1000.0) / 1e9;
  } catch (const dnnl::error&) {
    return 0;
  }
}

// FLOPs of one call on a batch x length shape (see the top of the file).
double forward_flops(const ModelConfig& c, int batch, int length) {
  const double tokens = static_cast<double>(batch) * length, h = c.hidden_size, i = c.intermediate_size;
  const double per_layer = 2 * tokens * (4 * h * h + 2 * h * i) + 2.0 * 2.0 * batch * double(length) * length * h;
  double head = 0;
  if (c.head == HeadKind::kTokenClassification || c.head == HeadKind::kCrf)
    head = 2 * tokens * h * static_cast<double>(c.labels.size());
  else if (c.head == HeadKind::kMaskedLM)
    head = 2 * tokens * (h * h + h * c.vocab_size);
  return c.num_layers * per_layer + head;
}

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

// The process's peak resident memory (VmHWM, in kB) since it started or since reset_peak_rss().
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0;
}

// Sets the peak mark to the resident memory now (Linux 4.0+; silently kept where not allowed).
void reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

struct EngineRow {
  Shape shape;
  double min_ms = 0, median_ms = 0, p95_ms = 0, gflop = 0;
};

int run_engine(const BenchCliOptions& o) {
  if (o.iters < 1 || o.warmup < 0) fail("invalid_option", "--iters must be at least 1 and --warmup at least 0");
  const std::vector<Shape> shapes = parse_shapes(o.shapes);
  const std::string dir = resolve_model_dir(o.model_dir, "zh-ner-small");
  const EncoderOptions opts = encoder_options(o.dtype, o.threads);
  auto load_start = std::chrono::steady_clock::now();
  const Checkpoint ckpt = load_any_checkpoint(dir);  // quantized folders too
  double load_ms = ms_since(load_start);
  const ModelConfig& cfg = ckpt.config;
  for (const Shape& s : shapes) {
    if (s.length > cfg.max_position_embeddings)
      fail("invalid_option", "--shape " + std::to_string(s.batch) + "x" + std::to_string(s.length) +
                                 ": the model takes at most " + std::to_string(cfg.max_position_embeddings) + " tokens");
    const double out_floats = double(s.batch) * s.length * (cfg.head == HeadKind::kMaskedLM ? cfg.vocab_size : cfg.hidden_size);
    if (double(s.batch) * s.length > (1 << 20) || out_floats * 4 > 8e9)
      fail("invalid_option", "--shape " + std::to_string(s.batch) + "x" + std::to_string(s.length) + " is too large");
  }
  const int threads = o.threads > 0 ? o.threads : kernels::available_cores();
  const bool peak_given = o.gemm_peak > 0;
  const double peak = peak_given ? o.gemm_peak : measure_gemm_peak(threads);
  load_start = std::chrono::steady_clock::now();
  BertEncoder encoder(ckpt, opts);
  load_ms += ms_since(load_start);
  const std::string dtype = effective_dtype(encoder, o.dtype, dir);  // what the rows are labelled
  const double dtype_peak = measure_matmul_peak(dtype, threads);
  const double loaded_rss_mib = mib(static_cast<double>(server::process_rss_bytes()));
  reset_peak_rss();

  if (!o.json_output) {
    std::printf("model %s: %s, %d layers, hidden %d, %d heads, FFN %d", dir.c_str(), head_kind_name(cfg.head),
                cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.intermediate_size);
    if (!cfg.labels.empty()) std::printf(", %zu labels", cfg.labels.size());
    std::printf("; dtype %s, threads %d, %d iterations after %d warm-up\n", dtype.c_str(), threads, o.iters, o.warmup);
    std::printf("GEMM peak %.1f GFLOP/s (%s)\n", peak,
                peak_given ? "--gemm-peak" : "measured: oneDNN sgemm M=256 K=768 N=3072");
    if (dtype_peak > 0)
      std::printf("%s matmul peak %.1f GFLOP/s (oneDNN matmul M=256 K=768 N=3072, weights packed once: a reference "
                  "roof; tanzhen's own panel kernels, where they run, may pass it; %%peak stays against sgemm)\n",
                  dtype.c_str(), dtype_peak);
    std::printf("loaded in %.0f ms; resident memory %.1f MiB once loaded\n", load_ms, loaded_rss_mib);
    std::printf("%-9s %9s %9s %9s %9s %8s %9s %9s\n", "shape", "min_ms", "median_ms", "p95_ms", "GFLOP/s", "%peak", "seq/s",
                "peak_MiB");
  }

  std::mt19937 rng(1234);
  const uint32_t lo = static_cast<uint32_t>(std::min(1000, cfg.vocab_size - 1));
  const uint32_t span = static_cast<uint32_t>(cfg.vocab_size) - lo;
  for (const Shape& s : shapes) {
    std::vector<std::vector<int32_t>> batch(s.batch, std::vector<int32_t>(s.length));
    for (auto& seq : batch)
      for (auto& id : seq) id = static_cast<int32_t>(lo + rng() % span);
    std::vector<std::vector<int>> positions;
    if (cfg.head == HeadKind::kMaskedLM) {
      positions.assign(s.batch, std::vector<int>(s.length));
      for (auto& p : positions)
        for (int t = 0; t < s.length; ++t) p[t] = t;
    }
    auto call = [&] {
      switch (cfg.head) {
        case HeadKind::kMaskedLM: return encoder.mlm_logits(batch, positions).size();
        case HeadKind::kNone: return encoder.encode(batch).size();
        default: return encoder.token_logits(batch).size();
      }
    };
    for (int i = 0; i < o.warmup; ++i) call();
    std::vector<double> ms;
    for (int i = 0; i < o.iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      call();
      ms.push_back(ms_since(t0));
    }
    std::sort(ms.begin(), ms.end());
    EngineRow r{s, ms.front(), median_of_sorted(ms), percentile_of_sorted(ms, 95), forward_flops(cfg, s.batch, s.length) / 1e9};
    const double gflops = r.gflop / (r.median_ms / 1000.0);
    const double seq_per_s = s.batch / (r.median_ms / 1000.0);
    const CostRow cost{seq_per_s, r.median_ms};
    if (o.json_output) {
      json row{{"dtype", dtype},
               {"batch", s.batch},
               {"length", s.length},
               {"min_ms", r.min_ms},
               {"median_ms", r.median_ms},
               {"p95_ms", r.p95_ms},
               {"gflops", gflops},
               {"gflop_per_call", r.gflop},
               {"peak_gflops", peak},
               {"pct_of_peak", 100 * gflops / peak},
               {"seq_per_s", seq_per_s},
               {"threads", threads},
               {"iters", o.iters},
               {"head", head_kind_name(cfg.head)},
               {"load_ms", load_ms},
               {"loaded_rss_mib", loaded_rss_mib},
               {"rss_mib", mib(static_cast<double>(server::process_rss_bytes()))},
               {"peak_rss_mib", peak_rss_mib()}};
      if (dtype_peak > 0) {
        row["dtype_peak_gflops"] = dtype_peak;
        row["pct_of_dtype_peak"] = 100 * gflops / dtype_peak;
      }
      if (o.cost) add_cost(row, o, cost);
      std::printf("%s\n", dump_line(row).c_str());
    } else {
      const std::string label = std::to_string(s.batch) + "x" + std::to_string(s.length);
      std::printf("%-9s %9.2f %9.2f %9.2f %9.1f %7.1f%% %9.1f %9.1f\n", label.c_str(), r.min_ms, r.median_ms, r.p95_ms,
                  gflops, 100 * gflops / peak, seq_per_s, peak_rss_mib());
      if (o.cost) print_cost("  cost", o, cost);
    }
    std::fflush(stdout);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Service

int run_service(const BenchCliOptions& o) {
  const HttpTarget target = parse_http_url(o.url);
  const std::vector<int> levels = parse_int_list(o.concurrency, "--concurrency");
  if (!(o.duration > 0 && o.duration <= 86400)) fail("invalid_option", "--duration must be in (0, 86400] seconds");
  if (!(o.timeout > 0)) fail("invalid_option", "--timeout must be positive");
  for (int c : levels)
    if (c > 4096) fail("invalid_option", "--concurrency: at most 4096 clients");
  // Texts sent round robin; --unique makes every request distinct so that a result cache in
  // the server cannot answer it.
  const std::vector<std::string> texts = o.texts_file.empty() ? std::vector<std::string>{o.text} : read_sentences(o.texts_file);
  if (texts.empty()) fail("bad_data", o.texts_file + " holds no texts");
  const BodyFn body = [&](uint64_t n) {
    if (!o.body.empty()) return o.body;
    std::string text = texts[n % texts.size()];
    if (o.unique) text += "（" + std::to_string(n) + "）";
    return json{{"text", text}}.dump();
  };
  if (!o.json_output)
    std::printf("%-11s %9s %7s %9s %9s %9s %9s %9s\n", "concurrency", "requests", "errors", "QPS", "p50_ms", "p90_ms",
                "p99_ms", "max_ms");
  for (int c : levels) {
    const LoadResult r = run_http_load(target, body, c, o.duration, o.timeout);
    const double max_ms = r.latencies_ms.empty() ? 0 : r.latencies_ms.back();
    const CostRow cost{r.qps(), r.percentile_ms(50)};
    if (o.json_output) {
      json row{{"mode", "service"},  {"url", o.url},
               {"concurrency", c},   {"seconds", r.seconds},
               {"requests", r.ok},   {"errors", r.errors},
               {"qps", r.qps()},     {"p50_ms", r.percentile_ms(50)},
               {"p90_ms", r.percentile_ms(90)}, {"p99_ms", r.percentile_ms(99)},
               {"max_ms", max_ms}};
      if (!r.first_error.empty()) row["first_error"] = r.first_error;
      if (o.cost && r.ok > 0) add_cost(row, o, cost);
      std::printf("%s\n", dump_line(row).c_str());
    } else {
      std::printf("%-11d %9lld %7lld %9.1f %9.2f %9.2f %9.2f %9.2f\n", c, static_cast<long long>(r.ok),
                  static_cast<long long>(r.errors), r.qps(), r.percentile_ms(50), r.percentile_ms(90),
                  r.percentile_ms(99), max_ms);
      if (!r.first_error.empty()) std::printf("  first error: %s\n", r.first_error.c_str());
      if (o.cost && r.ok > 0) print_cost("  cost", o, cost);
    }
    std::fflush(stdout);
  }
  return 0;
}

int run_bench(const BenchCliOptions& o) {
  if (o.cost && !(o.price_per_hour > 0)) fail("invalid_option", "--cost needs --price-per-hour > 0");
  const bool has_qps = o.qps > 0, has_latency = o.latency_ms > 0;
  if (has_qps != has_latency) fail("invalid_option", "--qps and --latency-ms go together");
  if (has_qps && !o.cost) fail("invalid_option", "--qps / --latency-ms are for --cost");
  if (!o.url.empty()) return run_service(o);
  if (has_qps) return run_cost_only(o);
  return run_engine(o);
}

const RegisterCommand kRegister{
    "bench", "Speed: encoder timings and GFLOP/s, serving cost, or QPS/latency of a running server",
    [](CLI::App& app) -> std::function<int()> {
      auto o = std::make_shared<BenchCliOptions>();
      app.add_option("-m,--model", o->model_dir, "Model folder (default: the default NER model, zh-ner-small)");
      add_dtype_option(app, &o->dtype);
      app.add_option("--shape", o->shapes, "Batch x length shapes (default 1x32,1x128,1x302,8x32,8x128)");
      app.add_option("--iters", o->iters, "Timed calls per shape (default 20)");
      app.add_option("--warmup", o->warmup, "Untimed calls per shape first (default 3)");
      add_threads_option(app, &o->threads);
      app.add_flag("--json", o->json_output, "One JSON object per shape (or concurrency level) per line");
      app.add_option("--gemm-peak", o->gemm_peak, "GEMM peak in GFLOP/s for %-of-peak (default: measured)");
      app.add_flag("--cost", o->cost, "Also report cost per 10,000 requests and SPI = QPS / (price x latency_s)");
      app.add_option("--price-per-hour", o->price_per_hour, "Machine price per hour (any currency) for --cost");
      app.add_option("--qps", o->qps, "--cost from these figures instead of a run: queries per second");
      app.add_option("--latency-ms", o->latency_ms, "--cost from these figures instead of a run: latency in ms");
      app.add_option("--url", o->url, "Service mode: POST to this URL, e.g. http://127.0.0.1:8080/v1/ner");
      app.add_option("--concurrency", o->concurrency, "Service mode: client counts to try (default 1,4,8,16)");
      app.add_option("--duration", o->duration, "Service mode: seconds per concurrency level (default 10)");
      app.add_option("--timeout", o->timeout, "Service mode: seconds before a request counts as failed (default 30)");
      app.add_option("--text", o->text, "Service mode: text to send as {\"text\": TEXT}");
      app.add_option("--texts", o->texts_file,
                     "Service mode: send these texts round robin (.jsonl \"text\" fields or plain lines)");
      app.add_flag("--unique", o->unique,
                   "Service mode: append a request number to each text, so a server-side result cache never hits");
      app.add_option("--body", o->body, "Service mode: raw JSON body to send instead of --text");
      return [o] { return run_bench(*o); };
    }};

}  // namespace
}  // namespace tanzhen::cli
