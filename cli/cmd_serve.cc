// tanzhen serve: the HTTP API and web UI (server/), with the NER and fill-mask models loaded once.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>

#include "cli_common.h"
#include "command.h"
#include "server/http_server.h"
#include "server/redis_cache.h"
#include "server/routes.h"
#include "tanzhen/error.h"
#include "tanzhen/tasks/fill_mask.h"
#include "tanzhen/tasks/ner.h"

namespace tanzhen::cli {
namespace {

namespace fs = std::filesystem;

struct ServeFlags {
  std::string ner_dir, fill_mask_dir;
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 0;
  std::string dtype;  // "" = fp32 or a pre-quantized folder's own
  int io_threads = 2;
  size_t max_batch_tokens = 4096;
  int max_wait_ms = 2;
  size_t queue_size = 256;
  size_t max_body_bytes = 1 << 20;
  size_t max_text_chars = 10000;
  size_t max_batch_texts = 64;
  int deadline_ms = 30000;
  size_t cache_size_mb = 64;
  int cache_ttl_s = 3600;
  std::string cache_url;
  bool no_batching = false;
  int idle_timeout_s = 30;
  int read_timeout_s = 10;
  std::string log_level = "info";
};

// Identifies a model's weights for cache keys shared through Redis: the folder name plus a hash
// of config.json and the sizes and times of its files, so that replacing the weights (or serving
// another model under the same name) never returns the old model's cached results.
std::string model_fingerprint(const std::string& dir) {
  std::ostringstream parts;
  std::ifstream config(fs::path(dir) / "config.json", std::ios::binary);
  parts << config.rdbuf();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    parts << '\n' << entry.path().filename().string() << ' ' << entry.file_size(ec) << ' '
          << entry.last_write_time(ec).time_since_epoch().count();
  }
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : parts.str()) h = (h ^ c) * 1099511628211ull;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return fs::path(dir).filename().string() + "@" + buf;
}

// The model folder: the flag when given (failing to load it is an error), else the default
// one (its absence only disables the task, with a warning).
std::string model_dir(const std::string& flag, const std::string& default_name, const char* task,
                      const char* flag_name) {
  if (!flag.empty()) return resolve_model_dir(flag, default_name);
  try {
    return resolve_model_dir("", default_name);
  } catch (const Error& e) {
    spdlog::warn("{} disabled (give its model folder with --{}): {}", task, flag_name, e.what());
    return "";
  }
}

server::json model_info(const std::string& dir, const ModelConfig& c) {
  return {{"path", fs::absolute(dir).string()},
          {"head", head_kind_name(c.head)},
          {"labels", c.labels},
          {"vocab_size", c.vocab_size},
          {"hidden_size", c.hidden_size},
          {"num_layers", c.num_layers},
          {"max_position_embeddings", c.max_position_embeddings}};
}

int serve(const ServeFlags& f) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("tanzhen"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(f.log_level));

  const EncoderOptions enc = encoder_options(f.dtype, f.threads);
  const std::string ner_dir = model_dir(f.ner_dir, "zh-ner-small", "NER", "ner");
  const std::string fm_dir = model_dir(f.fill_mask_dir, "zh-mlm-small", "fill-mask", "fill-mask");
  // The fill-mask model loads on its own thread while the NER model loads here: loading is
  // mostly single-threaded work (reading, converting, page faults), so the two overlap on two
  // cores (pre-quantized BERT-base INT8 NER plus the default fill-mask model, median of 5
  // starts: ready after 0.73-0.84 s instead of 0.89-0.95 s).
  std::future<std::unique_ptr<FillMaskPipeline>> fm_load;
  if (!fm_dir.empty()) {
    fm_load = std::async(std::launch::async, [&] { return FillMaskPipeline::load(fm_dir, enc); });
  }
  std::optional<server::NerService> ner;
  if (const std::string& dir = ner_dir; !dir.empty()) {
    std::shared_ptr<NerPipeline> p = NerPipeline::load(dir, enc);
    ner.emplace();
    ner->name = fs::path(dir).filename().string();
    ner->model_id = model_fingerprint(dir);
    ner->info = model_info(dir, p->config());
    ner->info["crf"] = p->is_crf();
    ner->info["dtype"] = effective_dtype(p->encoder(), f.dtype, dir);
    ner->max_tokens = p->config().max_position_embeddings;
    ner->run = [p](const std::vector<std::string>& texts, const NerOptions& o) { return p->run(texts, o); };
    spdlog::info("NER model {} loaded from {}", ner->name, dir);
  }
  std::optional<server::FillMaskService> fm;
  if (const std::string& dir = fm_dir; !dir.empty()) {
    std::shared_ptr<FillMaskPipeline> p = fm_load.get();
    fm.emplace();
    fm->name = fs::path(dir).filename().string();
    fm->model_id = model_fingerprint(dir);
    fm->info = model_info(dir, p->config());
    fm->info["dtype"] = effective_dtype(p->encoder(), f.dtype, dir);
    fm->run = [p](const std::vector<std::string>& texts, const FillMaskOptions& o) { return p->run(texts, o); };
    spdlog::info("fill-mask model {} loaded from {}", fm->name, dir);
  }
  if (!ner && !fm) spdlog::warn("no model loaded: only health, metrics and the UI will answer");

  auto cache = std::make_shared<server::ResultCache>();
  const std::chrono::seconds ttl(f.cache_ttl_s);
  if (f.cache_size_mb > 0) cache->add(std::make_shared<server::LruCache>(f.cache_size_mb << 20, ttl));
  if (!f.cache_url.empty()) {
    auto redis = std::make_shared<server::RedisCache>(server::parse_redis_url(f.cache_url), ttl);
    redis->check();  // a configured but unreachable Redis is a start-up error
    cache->add(redis);
    spdlog::info("Redis cache at {}", f.cache_url);
  }

  server::Metrics metrics;
  server::ApiOptions api_opts;
  api_opts.limits.max_text_chars = f.max_text_chars;
  api_opts.limits.max_batch_texts = f.max_batch_texts;
  api_opts.deadline = std::chrono::milliseconds(f.deadline_ms);
  api_opts.batcher.max_batch_tokens = f.max_batch_tokens;
  api_opts.batcher.max_wait = std::chrono::milliseconds(f.max_wait_ms);
  api_opts.batcher.queue_size = f.queue_size;
  api_opts.batcher.batching = !f.no_batching;
  server::Api api(api_opts, std::move(ner), std::move(fm), cache, &metrics);

  server::HttpServerOptions http;
  http.host = f.host;
  http.port = f.port;
  http.io_threads = f.io_threads;
  http.max_body_bytes = f.max_body_bytes;
  http.idle_timeout = std::chrono::seconds(f.idle_timeout_s);
  http.read_timeout = std::chrono::seconds(f.read_timeout_s);
  http.write_timeout = std::chrono::seconds(f.read_timeout_s);
  http.route_label = &server::Api::route_label;
  http.on_drain = [&api] { api.set_draining(true); };
  server::HttpServer srv(
      http, [&api](server::HttpRequest& req, std::string& route, std::shared_ptr<server::Responder> r) {
        api.handle(req, route, std::move(r));
      },
      &metrics);
  srv.listen();
  // Tests and scripts read this line to find the port (with --port 0).
  std::printf("listening on http://%s:%d\n", f.host.c_str(), srv.port());
  std::fflush(stdout);
  spdlog::info("listening on http://{}:{} (batching {}, max wait {} ms, {} tokens per batch)", f.host, srv.port(),
               f.no_batching ? "off" : "on", f.max_wait_ms, f.max_batch_tokens);
  srv.run();
  api.stop();  // requests are answered by now; stop the batch workers
  spdlog::info("stopped");
  return 0;
}

const RegisterCommand kServe{
    "serve", "HTTP API + web UI for NER and fill-mask, with dynamic batching and a result cache",
    [](CLI::App& app) {
      auto f = std::make_shared<ServeFlags>();
      app.add_option("--ner", f->ner_dir, "NER model folder (default: zh-ner-small in the model dirs)");
      app.add_option("--fill-mask", f->fill_mask_dir, "fill-mask model folder (default: zh-mlm-small)");
      app.add_option("--host", f->host, "address to listen on")->capture_default_str();
      app.add_option("--port", f->port, "port (0 = any free port; printed on stdout)")
          ->capture_default_str()
          ->check(CLI::Range(0, 65535));
      add_dtype_option(app, &f->dtype);
      add_threads_option(app, &f->threads);
      app.add_option("--io-threads", f->io_threads, "HTTP I/O threads")->capture_default_str()->check(CLI::Range(1, 64));
      app.add_option("--max-batch-tokens", f->max_batch_tokens, "token budget of a batch (chars + 2 per text)")
          ->capture_default_str()
          ->check(CLI::Range(1, 1 << 20));
      app.add_option("--max-wait-ms", f->max_wait_ms, "how long a text may wait for a batch to fill")
          ->capture_default_str()
          ->check(CLI::Range(0, 60000));
      app.add_option("--queue-size", f->queue_size, "texts waiting per task before 429")
          ->capture_default_str()
          ->check(CLI::Range(1, 1 << 20));
      app.add_option("--max-body-bytes", f->max_body_bytes, "request body limit (413 beyond)")
          ->capture_default_str()
          ->check(CLI::Range(1, 1 << 30));
      app.add_option("--max-text-chars", f->max_text_chars, "characters per text (400 beyond)")
          ->capture_default_str()
          ->check(CLI::Range(1, 10'000'000));
      app.add_option("--max-batch-texts", f->max_batch_texts, "texts per request (400 beyond)")
          ->capture_default_str()
          ->check(CLI::Range(1, 100000));
      app.add_option("--deadline-ms", f->deadline_ms, "per-request deadline (504 when work is still queued)")
          ->capture_default_str()
          ->check(CLI::Range(1, 3'600'000));
      app.add_option("--cache-size-mb", f->cache_size_mb, "in-process result cache size (0 = off)")
          ->capture_default_str()
          ->check(CLI::Range(0, 1 << 20));
      app.add_option("--cache-ttl-s", f->cache_ttl_s, "result cache entry lifetime (0 = forever)")
          ->capture_default_str()
          ->check(CLI::NonNegativeNumber);
      app.add_option("--cache", f->cache_url, "shared result cache: redis://HOST:PORT[/DB]");
      app.add_flag("--no-batching", f->no_batching, "one text per model call (for comparison)");
      app.add_option("--idle-timeout-s", f->idle_timeout_s, "keep-alive idle timeout")
          ->capture_default_str()
          ->check(CLI::Range(1, 3600));
      app.add_option("--read-timeout-s", f->read_timeout_s, "time to receive a whole request (and to send one)")
          ->capture_default_str()
          ->check(CLI::Range(1, 3600));
      app.add_option("--log-level", f->log_level, "trace|debug|info|warn|error (info logs every request)")
          ->capture_default_str()
          ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
      return [f] { return serve(*f); };
    }};

}  // namespace
}  // namespace tanzhen::cli
