#include "bench_http.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include "tanzhen/error.h"

namespace tanzhen::cli {

using Clock = std::chrono::steady_clock;

HttpTarget parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    fail("invalid_option", "--url must start with http:// (got " + url + ")");
  std::string rest = url.substr(scheme.size());
  HttpTarget t;
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    t.path = rest.substr(slash);
    rest.resize(slash);
  }
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos) fail("invalid_option", "--url: unterminated [ in " + url);
    t.host = rest.substr(1, close - 1);
    rest.erase(0, close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') fail("invalid_option", "--url: expected :port after ] in " + url);
      t.port = rest.substr(1);
    }
  } else {
    const size_t colon = rest.rfind(':');
    t.host = rest.substr(0, colon);
    if (colon != std::string::npos) t.port = rest.substr(colon + 1);
  }
  const bool port_ok = !t.port.empty() && t.port.size() <= 5 &&
                       std::all_of(t.port.begin(), t.port.end(), [](unsigned char c) { return std::isdigit(c); }) &&
                       std::stoi(t.port) > 0 && std::stoi(t.port) < 65536;
  if (t.host.empty() || !port_ok) fail("invalid_option", "--url: expected http://host[:port][/path], got " + url);
  return t;
}

double LoadResult::percentile_ms(double q) const {
  if (latencies_ms.empty()) return 0;
  const double rank = std::ceil(q / 100.0 * static_cast<double>(latencies_ms.size()));
  const size_t i = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(latencies_ms.size()))) - 1;
  return latencies_ms[i];
}

namespace {

// One keep-alive connection. Every operation has a deadline; failures are reported as strings.
class Connection {
 public:
  Connection(const HttpTarget& t, double timeout_s) : target_(t), timeout_s_(timeout_s) {}
  ~Connection() { close(); }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

  // Sends one request and reads its response; returns the HTTP status or throws std::string.
  int round_trip(const std::string& request) {
    deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s_));
    if (fd_ < 0) connect();
    send_all(request);
    return read_response();
  }

 private:
  void connect() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(target_.host.c_str(), target_.port.c_str(), &hints, &res); rc != 0)
      throw std::string("cannot resolve ") + target_.host + ": " + gai_strerror(rc);
    std::string why = "no address";
    for (addrinfo* a = res; a; a = a->ai_next) {
      // Non-blocking, so that connecting obeys the deadline too (send/recv poll first anyway).
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      int err = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
      if (err == EINPROGRESS) {
        fd_ = fd;
        try {
          wait_for(POLLOUT);
        } catch (const std::string&) {
          fd_ = -1;
          ::close(fd);
          freeaddrinfo(res);
          throw "cannot connect to " + target_.host + ":" + target_.port + ": timed out";
        }
        fd_ = -1;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      }
      if (err == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fd_ = fd;
        break;
      }
      why = std::strerror(err);
      ::close(fd);
    }
    freeaddrinfo(res);
    if (fd_ < 0) throw "cannot connect to " + target_.host + ":" + target_.port + ": " + why;
  }

  // Waits until the socket is ready for `events` or the deadline passes.
  void wait_for(short events) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    if (left <= 0) throw std::string("timed out");
    pollfd p{fd_, events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (rc == 0) throw std::string("timed out");
    if (rc < 0 && errno != EINTR) throw std::string("poll: ") + std::strerror(errno);
  }

  void send_all(const std::string& data) {
    for (size_t sent = 0; sent < data.size();) {
      wait_for(POLLOUT);
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) throw std::string("send: ") + std::strerror(errno);
      sent += static_cast<size_t>(n);
    }
  }

  // Appends what the socket has to buffer_; false at end of stream.
  bool fill() {
    wait_for(POLLIN);
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n < 0) throw std::string("recv: ") + std::strerror(errno);
    buffer_.append(chunk, static_cast<size_t>(n));
    return n > 0;
  }

  // Removes and returns the buffer's first n bytes, reading more as needed.
  std::string take(size_t n) {
    while (buffer_.size() < n)
      if (!fill()) throw std::string("connection closed mid-response");
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }

  std::string take_line() {
    size_t eol;
    while ((eol = buffer_.find("\r\n")) == std::string::npos) {
      if (buffer_.size() > (1u << 20)) throw std::string("response line too long");
      if (!fill()) throw std::string("connection closed mid-response");
    }
    std::string line = buffer_.substr(0, eol);
    buffer_.erase(0, eol + 2);
    return line;
  }

  int read_response() {
    const std::string status_line = take_line();
    // "HTTP/1.1 200 OK"
    if (status_line.compare(0, 5, "HTTP/") != 0 || status_line.size() < 12)
      throw "bad status line: " + status_line.substr(0, 80);
    const int status = std::atoi(status_line.c_str() + 9);
    long long content_length = -1;
    bool chunked = false, close_after = status_line.compare(0, 8, "HTTP/1.0") == 0;
    for (std::string h; !(h = take_line()).empty();) {
      std::string name = h.substr(0, h.find(':'));
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string value = h.find(':') == std::string::npos ? "" : h.substr(h.find(':') + 1);
      std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
      if (name == "content-length") content_length = std::atoll(value.c_str());
      if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
      if (name == "connection" && value.find("close") != std::string::npos) close_after = true;
      if (name == "connection" && value.find("keep-alive") != std::string::npos) close_after = false;
    }
    if (chunked) {
      for (;;) {
        const long long size = std::strtoll(take_line().c_str(), nullptr, 16);
        if (size < 0) throw std::string("bad chunk size");
        if (size == 0) {
          while (!take_line().empty()) {}  // trailers
          break;
        }
        take(static_cast<size_t>(size));
        take_line();
      }
    } else if (content_length >= 0) {
      take(static_cast<size_t>(content_length));
    } else if (status != 204 && status != 304 && status >= 200) {
      while (fill()) {}  // body until the server closes
      close_after = true;
    }
    if (close_after) close();
    return status;
  }

  HttpTarget target_;
  double timeout_s_;
  int fd_ = -1;
  std::string buffer_;
  Clock::time_point deadline_;
};

}  // namespace

LoadResult run_http_load(const HttpTarget& target, const BodyFn& body, int concurrency, double duration_s,
                         double timeout_s) {
  if (concurrency < 1) fail("invalid_option", "concurrency must be at least 1");
  const std::string host_header = target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
  const std::string head = "POST " + target.path + " HTTP/1.1\r\nHost: " + host_header + ":" + target.port +
                           "\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: ";
  std::atomic<uint64_t> next_request{0};
  LoadResult result;
  result.concurrency = concurrency;
  std::mutex mu;
  const auto start = Clock::now();
  const auto stop = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));

  auto client = [&] {
    Connection conn(target, timeout_s);
    std::vector<double> latencies;
    int64_t errors = 0;
    std::string first_error;
    auto note_error = [&](const std::string& what) {
      ++errors;
      if (first_error.empty()) first_error = what;
    };
    while (Clock::now() < stop) {
      const std::string b = body(next_request++);
      const std::string request = head + std::to_string(b.size()) + "\r\n\r\n" + b;
      const auto t0 = Clock::now();
      try {
        const int status = conn.round_trip(request);
        if (status >= 200 && status < 300)
          latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        else
          note_error("HTTP status " + std::to_string(status));
      } catch (const std::string& what) {
        note_error(what);
        conn.close();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    result.ok += static_cast<int64_t>(latencies.size());
    result.errors += errors;
    result.latencies_ms.insert(result.latencies_ms.end(), latencies.begin(), latencies.end());
    if (result.first_error.empty()) result.first_error = first_error;
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < concurrency; ++i) threads.emplace_back(client);
  for (auto& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  return result;
}

}  // namespace tanzhen::cli
