// The HTTP API: routes, request validation, result cache, batching and response JSON.
//   POST /v1/ner, /v1/ner?stream=true (NDJSON), /v1/fill-mask
//   POST /ner, /predict            drop-in single-text routes
//   GET  /v1/models /healthz /readyz /metrics /openapi.json, and the web UI at /
// The models are reached through plain functions (NerService::run, FillMaskService::run) so
// that tests can serve fakes.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/api_json.h"
#include "server/batcher.h"
#include "server/cache.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "tanzhen/tasks/fill_mask.h"
#include "tanzhen/tasks/ner.h"

namespace tanzhen::server {

struct NerService {
  std::string name;      // shown in /v1/models
  std::string model_id;  // identifies the weights in cache keys (shared through Redis)
  json info = json::object();  // extra fields for /v1/models (labels, sizes, ...)
  int max_tokens = 512;  // the model's max_position_embeddings: the largest window
  std::function<std::vector<NerResult>(const std::vector<std::string>&, const NerOptions&)> run;
};

struct FillMaskService {
  std::string name, model_id;
  json info = json::object();
  std::function<std::vector<FillMaskResult>(const std::vector<std::string>&, const FillMaskOptions&)> run;
};

struct ApiOptions {
  TextLimits limits;
  std::chrono::milliseconds deadline{30'000};  // per request, from arrival to answer
  BatcherOptions batcher;
};

class Api {
 public:
  Api(ApiOptions opts, std::optional<NerService> ner, std::optional<FillMaskService> fill_mask,
      std::shared_ptr<ResultCache> cache, Metrics* metrics);
  ~Api();

  // The HttpServer's Handler.
  void handle(HttpRequest& req, std::string& route, std::shared_ptr<Responder> responder);
  // The route template for metrics ("other" for unknown paths).
  static std::string route_label(const std::string& method, const std::string& path);

  // Set while the server drains (readyz answers 503).
  void set_draining(bool d) { draining_ = d; }
  // Runs what is queued, then stops the batch workers (after the HTTP server has drained).
  void stop();

 private:
  using NerBatcher = Batcher<NerOptions, NerResult>;
  using FillMaskBatcher = Batcher<FillMaskOptions, FillMaskResult>;

  void ner(HttpRequest& req, const std::shared_ptr<Responder>& r, bool drop_in);
  void ner_stream(HttpRequest& req, const std::shared_ptr<Responder>& r, const json& body);
  void fill_mask(HttpRequest& req, const std::shared_ptr<Responder>& r, bool drop_in);
  void models(const std::shared_ptr<Responder>& r);
  void ready(const std::shared_ptr<Responder>& r);
  bool serve_static(const HttpRequest& req, const std::shared_ptr<Responder>& r);

  ApiOptions opts_;
  std::optional<NerService> ner_;
  std::optional<FillMaskService> fill_mask_;
  std::shared_ptr<ResultCache> cache_;
  Metrics* metrics_;
  std::unique_ptr<BatchObserver> observer_;
  std::unique_ptr<NerBatcher> ner_batcher_;
  std::unique_ptr<FillMaskBatcher> fill_mask_batcher_;
  std::atomic<bool> draining_{false};
};

// The files built into the binary (web/* and server/openapi.json), by file name ("index.html");
// defined in the .cc that CMake generates with server/embed_files.cmake.
const std::map<std::string, std::string>& embedded_files();

}  // namespace tanzhen::server
