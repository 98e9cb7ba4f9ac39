// Dispatch and the small routes; NER and fill-mask live in ner_routes.cc / fill_mask_routes.cc.
#include "server/routes.h"

#include <spdlog/spdlog.h>

namespace tanzhen::server {
namespace {

// Reports batcher activity as Prometheus metrics.
class MetricsObserver : public BatchObserver {
 public:
  explicit MetricsObserver(Metrics* m) : m_(m) {}
  void on_queue_depth(const std::string& task, size_t depth) override { m_->set_queue_depth(task, depth); }
  void on_batch(const std::string& task, size_t texts, size_t tokens, double seconds) override {
    m_->observe_batch(task, texts, tokens, seconds);
  }
  void on_drop(const std::string& task, const std::string& reason) override { m_->dropped(task, reason); }

 private:
  Metrics* m_;
};

struct RouteInfo {
  const char* path;
  const char* method;
};
// Every API route with its method; anything else under these paths is 405, elsewhere 404.
const RouteInfo kRoutes[] = {
    {"/v1/ner", "POST"},   {"/v1/fill-mask", "POST"}, {"/ner", "POST"},          {"/predict", "POST"},
    {"/v1/models", "GET"}, {"/healthz", "GET"},       {"/readyz", "GET"},        {"/metrics", "GET"},
    {"/openapi.json", "GET"},
};

std::string content_type_for(const std::string& name) {
  auto ends = [&](const char* ext) {
    const std::string e(ext);
    return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".json")) return "application/json";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  return "application/octet-stream";
}

}  // namespace

Api::Api(ApiOptions opts, std::optional<NerService> ner, std::optional<FillMaskService> fill_mask,
         std::shared_ptr<ResultCache> cache, Metrics* metrics)
    : opts_(std::move(opts)),
      ner_(std::move(ner)),
      fill_mask_(std::move(fill_mask)),
      cache_(cache ? std::move(cache) : std::make_shared<ResultCache>()),
      metrics_(metrics),
      observer_(std::make_unique<MetricsObserver>(metrics)) {
  if (ner_) {
    ner_batcher_ = std::make_unique<NerBatcher>("ner", ner_->run, opts_.batcher, observer_.get());
    metrics_->set_queue_depth("ner", 0);
  }
  if (fill_mask_) {
    fill_mask_batcher_ =
        std::make_unique<FillMaskBatcher>("fill_mask", fill_mask_->run, opts_.batcher, observer_.get());
    metrics_->set_queue_depth("fill_mask", 0);
  }
}

Api::~Api() { stop(); }

void Api::stop() {
  if (ner_batcher_) ner_batcher_->stop();
  if (fill_mask_batcher_) fill_mask_batcher_->stop();
}


std::string Api::route_label(const std::string& method, const std::string& path) {
  for (const RouteInfo& r : kRoutes)
    if (path == r.path) return r.path;
  if (method == "GET" && (path == "/" || embedded_files().count(path.substr(1)))) return "/";
  return "other";
}

void Api::handle(HttpRequest& req, std::string& route, std::shared_ptr<Responder> responder) {
  route = route_label(req.method, req.path);
  try {
    const std::string& p = req.path;
    for (const RouteInfo& r : kRoutes) {
      if (p != r.path) continue;
      if (req.method != r.method && !(req.method == "HEAD" && std::string(r.method) == "GET")) {
        HttpResponse res = error_response(405, "method_not_allowed", std::string("use ") + r.method + " " + r.path);
        res.headers.emplace_back("Allow", r.method);
        return responder->send(std::move(res));
      }
      if (p == "/v1/ner") return ner(req, responder, false);
      if (p == "/ner") return ner(req, responder, true);
      if (p == "/v1/fill-mask") return fill_mask(req, responder, false);
      if (p == "/predict") return fill_mask(req, responder, true);
      if (p == "/v1/models") return models(responder);
      if (p == "/healthz") return responder->send(json_response(200, {{"status", "ok"}}));
      if (p == "/readyz") return ready(responder);
      if (p == "/metrics") {
        if (const LruCache* lru = cache_->memory()) metrics_->set_cache_bytes(lru->bytes(), lru->entries());
        HttpResponse res;
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        res.body = metrics_->render();
        return responder->send(std::move(res));
      }
      if (p == "/openapi.json") {
        HttpResponse res;
        res.body = embedded_files().at("openapi.json");
        return responder->send(std::move(res));
      }
    }
    if (serve_static(req, responder)) return;
    throw ApiError(404, "not_found", "no route for " + req.method + " " + req.path);
  } catch (const ApiError& e) {
    responder->send(api_error_response(e));
  }
}

bool Api::serve_static(const HttpRequest& req, const std::shared_ptr<Responder>& r) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  const std::string name = req.path == "/" ? "index.html" : req.path.substr(1);
  if (name == "openapi.json") return false;
  auto it = embedded_files().find(name);
  if (it == embedded_files().end()) return false;
  HttpResponse res;
  res.content_type = content_type_for(name);
  res.body = it->second;
  res.headers.emplace_back("Cache-Control", "no-cache");
  // The UI loads nothing from elsewhere (it works offline); say so to the browser too.
  res.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:");
  r->send(std::move(res));
  return true;
}

void Api::models(const std::shared_ptr<Responder>& r) {
  json list = json::array();
  if (ner_) {
    json m = ner_->info;
    m["task"] = "ner";
    m["name"] = ner_->name;
    m["routes"] = {"/v1/ner", "/ner"};
    list.push_back(m);
  }
  if (fill_mask_) {
    json m = fill_mask_->info;
    m["task"] = "fill-mask";
    m["name"] = fill_mask_->name;
    m["routes"] = {"/v1/fill-mask", "/predict"};
    list.push_back(m);
  }
  r->send(json_response(200, {{"models", list}}));
}

void Api::ready(const std::shared_ptr<Responder>& r) {
  json tasks = {{"ner", ner_.has_value()}, {"fill-mask", fill_mask_.has_value()}};
  if (draining_) return r->send(json_response(503, {{"status", "draining"}, {"tasks", tasks}}));
  if (!ner_ && !fill_mask_) return r->send(json_response(503, {{"status", "no models loaded"}, {"tasks", tasks}}));
  r->send(json_response(200, {{"status", "ready"}, {"tasks", tasks}}));
}

}  // namespace tanzhen::server
