// HTTP/1.1 server on Boost.Beast/Asio: keep-alive, idle/read/write timeouts, a body size limit,
// chunked streaming responses, client-disconnect detection while a request is being worked on,
// and graceful shutdown on SIGTERM/SIGINT. It knows nothing of the API: every request goes to
// one Handler (routes.h), which answers through a Responder, possibly later from another thread.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/batcher.h"  // CancelFlag, Clock

namespace tanzhen::server {

class Metrics;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path + query
  std::string path;    // target up to '?'
  std::string query;   // after '?', undecoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string request_id;  // X-Request-Id when the client sent a sane one, else generated
  std::string remote;      // "ip:port"
  Clock::time_point received;

  std::string header(const std::string& lower_name) const;
  // Value of a query parameter (percent-decoding not needed for our flags), or "" when absent.
  std::string query_param(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// How a handler answers: either send() once, or begin_stream(), write_chunk()..., end_stream().
// Thread-safe; calls are queued onto the connection's strand, in order.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void send(HttpResponse response) = 0;
  virtual void begin_stream(int status, std::string content_type) = 0;
  virtual void write_chunk(std::string data) = 0;
  virtual void end_stream() = 0;
  // Becomes true when the client disconnects before the answer is complete.
  virtual const CancelFlag& cancelled() const = 0;
};

// `route` (set by the handler before answering) labels the request in metrics and the log.
using Handler = std::function<void(HttpRequest& request, std::string& route,
                                   std::shared_ptr<Responder> responder)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port (see HttpServer::port())
  int io_threads = 2;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  // idle: a keep-alive connection waiting for its next request; read: from a request's first
  // byte to its last (so a slow client cannot hold a connection open by trickling bytes);
  // write: per write of a response.
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // After SIGTERM: how long in-flight requests get before the server stops anyway.
  std::chrono::milliseconds drain_timeout{30'000};
  bool handle_signals = true;
  // Names a request's route for metrics and the log before the handler runs (so that requests
  // refused by the HTTP layer, e.g. 413, are counted under their route too). Default: "other".
  std::function<std::string(const std::string& method, const std::string& path)> route_label;
  // Called once when draining starts (e.g. so that /readyz turns 503).
  std::function<void()> on_drain;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions opts, Handler handler, Metrics* metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (throws tanzhen::Error("listen_failed") when it cannot).
  void listen();
  int port() const;  // the bound port, after listen()

  // Serves on io_threads threads (this one included) until shutdown() has drained.
  void run();
  // Stops accepting, closes idle connections, lets requests in progress finish (their responses
  // say Connection: close), then makes run() return. Thread-safe, idempotent; SIGTERM/SIGINT
  // call it when handle_signals (a second signal stops at once).
  void shutdown();
  bool draining() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// JSON error body {"error":{"code","message"}} with a status code.
HttpResponse error_response(int status, const std::string& code, const std::string& message);

}  // namespace tanzhen::server
