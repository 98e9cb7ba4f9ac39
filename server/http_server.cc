#include "server/http_server.h"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <spdlog/spdlog.h>
#include <thread>

#include "server/metrics.h"
#include "tanzhen/error.h"

namespace tanzhen::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string HttpRequest::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpRequest::query_param(const std::string& name) const {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string_view part(query.data() + pos, amp - pos);
    size_t eq = part.find('=');
    if (part.substr(0, eq) == name) return eq == std::string_view::npos ? "" : std::string(part.substr(eq + 1));
    pos = amp + 1;
  }
  return "";
}

HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

namespace {

// A request id is echoed into logs and headers, so only a short, plain one is taken from clients.
bool sane_request_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A client-supplied string as a JSON string literal (quotes, escapes; bad UTF-8 replaced).
std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

class Session;

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions opts;
  Handler handler;
  Metrics* metrics;
  net::io_context ioc;
  net::strand<net::io_context::executor_type> strand{net::make_strand(ioc)};
  tcp::acceptor acceptor{strand};
  net::signal_set signals{strand};
  net::steady_timer drain_timer{strand};
  net::steady_timer accept_pause{strand};
  std::atomic<bool> draining{false};
  std::atomic<int> signal_count{0};
  int bound_port = 0;
  std::mutex mu;
  std::map<Session*, std::weak_ptr<Session>> sessions;
  std::atomic<uint64_t> next_request{0};
  std::string id_prefix;

  Impl(HttpServerOptions o, Handler h, Metrics* m) : opts(std::move(o)), handler(std::move(h)), metrics(m) {
    std::random_device rd;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%06x", rd() & 0xFFFFFF);
    id_prefix = buf;
  }

  std::string new_request_id() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s-%06llu", id_prefix.c_str(),
                  static_cast<unsigned long long>(++next_request));
    return buf;
  }

  void do_accept();
  void wait_signal();
  void begin_shutdown();
  void add_session(const std::shared_ptr<Session>& s);
  void session_ended(Session* s);
  void finish_drain();
};

namespace {

// One client connection. Everything runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    if (server_->metrics) server_->metrics->connection_opened();
  }
  ~Session() {
    if (server_->metrics) server_->metrics->connection_closed();
    server_->session_ended(this);
  }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_next(); });
  }

  // On shutdown: a connection waiting for its next request is closed now; one in the middle of
  // a request finishes it (with Connection: close).
  void close_if_idle() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::kIdle) self->close();
    });
  }

  // --- answering (called through SessionResponder, posted onto the strand) ---
  struct Out {
    enum Kind { kFull, kHead, kChunk, kEnd } kind;
    HttpResponse response;  // kFull; kHead uses status/content_type
    std::string data;       // kChunk
  };
  void enqueue(Out out) {
    if (state_ == State::kClosed) return;
    out_.push_back(std::move(out));
    if (!writing_) write_next();
  }
  net::any_io_executor executor() { return stream_.get_executor(); }

 private:
  enum class State { kIdle, kReading, kHandling, kClosed };

  void read_next() {
    if (state_ == State::kClosed) return;
    if (server_->draining) return close();
    state_ = State::kIdle;
    if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
    stream_.expires_after(server_->opts.idle_timeout);
    stream_.async_read_some(buffer_.prepare(8192),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->close();  // idle timeout, EOF, shutdown
                              self->read_header();
                            });
  }

  void read_header() {
    state_ = State::kReading;
    started_ = Clock::now();
    parser_.emplace();
    parser_->body_limit(server_->opts.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_->opts.max_header_bytes));
    stream_.expires_after(server_->opts.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    const auto& req = parser_->get();
    // curl and others wait (up to a second) for this before sending a larger body.
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_read({});
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void begin_request_info() {
    const auto& req = parser_->get();
    method_ = std::string(req.method_string());
    target_ = std::string(req.target());
    path_ = target_.substr(0, target_.find('?'));
    std::string id(req["x-request-id"]);
    request_id_ = sane_request_id(id) ? id : server_->new_request_id();
    route_ = server_->opts.route_label ? server_->opts.route_label(method_, path_) : "other";
    bytes_in_ = 0;
    bytes_out_ = 0;
    status_ = 0;
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::bad_descriptor)
      return close();
    const bool header_done = parser_ && parser_->is_header_done();
    if (header_done) begin_request_info();
    else {
      method_ = "-";
      target_ = path_ = "-";
      request_id_ = server_->new_request_id();
      route_ = "other";
    }
    keep_alive_ = false;  // the stream cannot be resynchronised after a broken request
    state_ = State::kHandling;
    if (ec == beast::error::timeout) {
      // A slow client: the request did not arrive in time. tcp_stream has closed the socket
      // already, so there is no one to send a 408 to; log it and let the connection go.
      status_ = 408;
      log_access();
      return close();
    }
    if (ec == http::error::body_limit)
      return enqueue({Out::kFull,
                      error_response(413, "body_too_large",
                                     "request body exceeds " + std::to_string(server_->opts.max_body_bytes) +
                                         " bytes"),
                      {}});
    if (ec == http::error::header_limit)
      return enqueue({Out::kFull, error_response(431, "headers_too_large", "request headers too large"), {}});
    enqueue({Out::kFull, error_response(400, "bad_request", "malformed HTTP request: " + ec.message()), {}});
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    begin_request_info();
    auto& req = parser_->get();
    HttpRequest request;
    request.method = method_;
    request.target = target_;
    request.path = path_;
    if (auto q = target_.find('?'); q != std::string::npos) request.query = target_.substr(q + 1);
    for (const auto& f : req) request.headers[lower(std::string_view(f.name_string().data(), f.name_string().size()))] = std::string(f.value());
    request.body = std::move(req.body());
    request.request_id = request_id_;
    request.remote = remote_;
    request.received = started_;
    bytes_in_ = request.body.size();
    keep_alive_ = req.keep_alive();
    parser_.reset();

    state_ = State::kHandling;
    answering_ = false;
    cancelled_ = std::make_shared<std::atomic<bool>>(false);
    stream_.expires_never();
    watch_disconnect();
    auto responder = make_responder();
    try {
      server_->handler(request, route_, responder);
    } catch (const std::exception& e) {
      spdlog::error("request {}: handler failed: {}", request_id_, e.what());
      responder->send(error_response(500, "internal", "internal error"));
    }
  }

  std::shared_ptr<Responder> make_responder();

  // While the handler works, a readable socket means either a pipelined request (left alone) or
  // EOF / reset: the client is gone, so its queued work can be dropped.
  void watch_disconnect() {
    const uint64_t gen = ++watch_gen_;
    stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), gen](beast::error_code ec) {
      // Once the answer is being written, a failed write reports a vanished client instead (and
      // a client that read its whole answer and hung up before this handler ran is no 499).
      if (ec || gen != self->watch_gen_ || self->state_ != State::kHandling || self->answering_) return;
      char c;
      const ssize_t r = ::recv(self->stream_.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r > 0) return;  // pipelined data: read after this response
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return self->watch_disconnect();
      self->cancelled_->store(true);
      spdlog::info(R"({{"event":"client_gone","id":"{}","path":{}}})", self->request_id_, json_string(self->path_));
      self->status_ = 499;  // nginx's "client closed request", for the log and metrics
      self->log_access();
      self->close();
    });
  }

  void write_next() {
    if (out_.empty() || state_ == State::kClosed) {
      writing_ = false;
      return;
    }
    writing_ = true;
    answering_ = true;
    Out out = std::move(out_.front());
    out_.pop_front();
    stream_.expires_after(server_->opts.write_timeout);
    auto self = shared_from_this();
    const bool keep = keep_alive_ && !server_->draining;
    switch (out.kind) {
      case Out::kFull: {
        status_ = out.response.status;
        full_ = std::make_shared<http::response<http::string_body>>(
            static_cast<http::status>(out.response.status), 11);
        set_common_fields(*full_, out.response.content_type, out.response.headers);
        full_->body() = std::move(out.response.body);
        full_->keep_alive(keep);
        full_->prepare_payload();
        if (method_ == "HEAD") {  // same headers as GET, no body
          const auto length = full_->body().size();
          full_->body().clear();
          full_->content_length(length);
        }
        keep_alive_ = keep;
        bytes_out_ += full_->body().size();
        http::async_write(stream_, *full_, [self](beast::error_code ec, size_t) { self->on_written(ec, true); });
        break;
      }
      case Out::kHead: {
        status_ = out.response.status;
        head_ = std::make_shared<http::response<http::empty_body>>(
            static_cast<http::status>(out.response.status), 11);
        set_common_fields(*head_, out.response.content_type, out.response.headers);
        head_->set(http::field::cache_control, "no-cache");
        head_->keep_alive(keep);
        head_->chunked(true);
        keep_alive_ = keep;
        serializer_.emplace(*head_);
        http::async_write_header(stream_, *serializer_,
                                 [self](beast::error_code ec, size_t) { self->on_written(ec, false); });
        break;
      }
      case Out::kChunk:
        chunk_ = std::move(out.data);
        bytes_out_ += chunk_.size();
        net::async_write(stream_, http::make_chunk(net::buffer(chunk_)),
                         [self](beast::error_code ec, size_t) { self->on_written(ec, false); });
        break;
      case Out::kEnd:
        net::async_write(stream_, http::make_chunk_last(),
                         [self](beast::error_code ec, size_t) { self->on_written(ec, true); });
        break;
    }
  }

  template <class Message>
  void set_common_fields(Message& m, const std::string& content_type,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
    m.set(http::field::server, "tanzhen/0.1.0");
    m.set(http::field::content_type, content_type);
    m.set("X-Request-Id", request_id_);
    for (const auto& [k, v] : extra) m.set(k, v);
  }

  void on_written(beast::error_code ec, bool final) {
    if (ec) {
      spdlog::info(R"({{"event":"write_failed","id":"{}","error":{}}})", request_id_, json_string(ec.message()));
      if (status_ != 499) log_access();
      out_.clear();
      writing_ = false;
      return close();
    }
    if (!final) return write_next();
    writing_ = false;
    log_access();
    // Stop watching for a disconnect; the watch's handler sees the new generation and returns.
    ++watch_gen_;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    full_.reset();
    head_.reset();
    serializer_.reset();
    chunk_.clear();
    if (!keep_alive_) return linger();
    read_next();
  }

  // Closing right after an error answer (e.g. 413 while the client is still sending its body)
  // would reset the connection and could destroy the answer before the client reads it; so stop
  // sending, read and discard what still comes (a second, a few MiB at most), then close.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!discard_) discard_ = std::make_unique<char[]>(kDiscardBytes);
    stream_.expires_after(std::chrono::seconds(1));
    drain();
  }
  void drain() {
    stream_.async_read_some(net::buffer(discard_.get(), kDiscardBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > (8u << 20)) return self->close();
                              self->drain();
                            });
  }

  void log_access() {
    const double ms = ms_between(started_, Clock::now());
    if (server_->metrics) server_->metrics->observe_request(route_, status_, ms / 1000.0);
    spdlog::info(
        R"({{"event":"access","id":"{}","remote":"{}","method":{},"path":{},"route":"{}","status":{},"ms":{:.3f},"bytes_in":{},"bytes_out":{}}})",
        request_id_, remote_, json_string(method_), json_string(path_), route_, status_, ms, bytes_in_,
        bytes_out_);
  }

  void close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    if (cancelled_) cancelled_->store(true);
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<HttpServer::Impl> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  State state_ = State::kIdle;
  std::string remote_;

  // The request being answered.
  Clock::time_point started_{};
  std::string method_, target_, path_, route_, request_id_;
  size_t bytes_in_ = 0, bytes_out_ = 0;
  int status_ = 0;
  bool keep_alive_ = true;
  CancelFlag cancelled_;
  uint64_t watch_gen_ = 0;
  bool answering_ = false;  // the response has started to go out

  // Writing.
  std::deque<Out> out_;
  bool writing_ = false;
  std::shared_ptr<http::response<http::string_body>> full_;
  std::shared_ptr<http::response<http::empty_body>> head_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::string chunk_;

  // Lingering close.
  static constexpr size_t kDiscardBytes = 4096;
  std::unique_ptr<char[]> discard_;
  size_t drained_ = 0;
};

// The handler's handle on a session. Calls hop onto the session's strand in call order (post on
// a strand is FIFO). A responder dropped without answering answers 500, so no client hangs.
class SessionResponder final : public Responder {
 public:
  SessionResponder(std::shared_ptr<Session> s, CancelFlag cancelled)
      : session_(std::move(s)), cancelled_(std::move(cancelled)) {}
  ~SessionResponder() override {
    if (!begun_) send(error_response(500, "internal", "the request was not answered"));
    else if (!ended_) end_stream();
  }
  void send(HttpResponse response) override {
    if (begun_) return;
    begun_ = ended_ = true;
    post({Session::Out::kFull, std::move(response), {}});
  }
  void begin_stream(int status, std::string content_type) override {
    if (begun_) return;
    begun_ = true;
    HttpResponse head;
    head.status = status;
    head.content_type = std::move(content_type);
    post({Session::Out::kHead, std::move(head), {}});
  }
  void write_chunk(std::string data) override {
    if (!begun_ || ended_ || data.empty()) return;
    post({Session::Out::kChunk, {}, std::move(data)});
  }
  void end_stream() override {
    if (!begun_ || ended_) return;
    ended_ = true;
    post({Session::Out::kEnd, {}, {}});
  }
  const CancelFlag& cancelled() const override { return cancelled_; }

 private:
  void post(Session::Out out) {
    net::post(session_->executor(), [s = session_, o = std::move(out)]() mutable { s->enqueue(std::move(o)); });
  }
  std::shared_ptr<Session> session_;
  CancelFlag cancelled_;
  bool begun_ = false, ended_ = false;
};

std::shared_ptr<Responder> Session::make_responder() {
  return std::make_shared<SessionResponder>(shared_from_this(), cancelled_);
}

}  // namespace

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(net::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !self->acceptor.is_open()) return;
      // E.g. out of file descriptors: retrying at once would spin, so pause a little.
      spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
      self->accept_pause.expires_after(std::chrono::milliseconds(100));
      self->accept_pause.async_wait([self](beast::error_code ec) {
        if (!ec && !self->draining) self->do_accept();
      });
      return;
    } else if (!self->draining) {
      auto s = std::make_shared<Session>(std::move(socket), self);
      self->add_session(s);
      s->start();
    }
    if (!self->draining) self->do_accept();
  });
}

void HttpServer::Impl::wait_signal() {
  signals.async_wait([self = shared_from_this()](beast::error_code ec, int sig) {
    if (ec) return;  // cancelled once drained
    if (++self->signal_count > 1) {
      spdlog::warn("second signal: stopping now");
      self->ioc.stop();
      return;
    }
    spdlog::info(R"({{"event":"signal","signal":{}}})", sig);
    self->begin_shutdown();
    self->wait_signal();
  });
}

void HttpServer::Impl::add_session(const std::shared_ptr<Session>& s) {
  std::lock_guard lk(mu);
  sessions[s.get()] = s;
}

void HttpServer::Impl::session_ended(Session* s) {
  bool last = false;
  {
    std::lock_guard lk(mu);
    sessions.erase(s);
    last = draining && sessions.empty();
  }
  if (last) net::post(strand, [self = shared_from_this()] { self->finish_drain(); });
}

void HttpServer::Impl::finish_drain() {
  beast::error_code ignored;
  drain_timer.cancel();
  accept_pause.cancel();
  signals.cancel(ignored);
}

void HttpServer::Impl::begin_shutdown() {
  net::dispatch(strand, [self = shared_from_this()] {
    if (self->draining.exchange(true)) return;
    // No format arguments: spdlog prints the text as it is, so its braces are single.
    spdlog::info(R"({"event":"shutdown","message":"draining: no new connections, finishing requests in progress"})");
    if (self->opts.on_drain) self->opts.on_drain();
    beast::error_code ignored;
    self->acceptor.close(ignored);
    self->drain_timer.expires_after(self->opts.drain_timeout);
    self->drain_timer.async_wait([self](beast::error_code ec) {
      if (ec) return;
      spdlog::warn("drain timeout: stopping with requests still in progress");
      self->ioc.stop();
    });
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lk(self->mu);
      for (auto& [p, w] : self->sessions)
        if (auto s = w.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) s->close_if_idle();
    live.clear();  // the last reference may be here: session_ended then sees an empty map
    std::lock_guard lk(self->mu);
    if (self->sessions.empty()) net::post(self->strand, [self] { self->finish_drain(); });
  });
}

HttpServer::HttpServer(HttpServerOptions opts, Handler handler, Metrics* metrics)
    : impl_(std::make_shared<Impl>(std::move(opts), std::move(handler), metrics)) {}

HttpServer::~HttpServer() {
  impl_->ioc.stop();
}

void HttpServer::listen() {
  beast::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  auto results = resolver.resolve(impl_->opts.host, std::to_string(impl_->opts.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty())
    fail("listen_failed", "cannot resolve host '" + impl_->opts.host + "': " + ec.message());
  const tcp::endpoint ep = results.begin()->endpoint();
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    fail("listen_failed", "cannot listen on " + impl_->opts.host + ":" + std::to_string(impl_->opts.port) +
                              ": " + ec.message());
  impl_->bound_port = a.local_endpoint().port();
}

int HttpServer::port() const { return impl_->bound_port; }

bool HttpServer::draining() const { return impl_->draining; }

void HttpServer::shutdown() { impl_->begin_shutdown(); }

void HttpServer::run() {
  auto impl = impl_;
  if (impl->opts.handle_signals) {
    impl->signals.add(SIGINT);
    impl->signals.add(SIGTERM);
    impl->wait_signal();
  }
  impl->do_accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < std::max(1, impl->opts.io_threads); ++i) threads.emplace_back([impl] { impl->ioc.run(); });
  impl->ioc.run();
  for (auto& t : threads) t.join();
}

}  // namespace tanzhen::server
