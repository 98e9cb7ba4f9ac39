// Test helpers: run `tanzhen serve` (or redis-server) as a child process on a free loopback
// port, and talk HTTP to it with Boost.Beast (or raw sockets, for malformed requests).
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_paths.h"

namespace tanzhen::testing {

// A port that was free a moment ago (bound to port 0, then released); for redis-server, which
// has no "pick one and tell me" mode.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A child process with its stdout on a pipe and stderr in a log file.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { kill_now(); }

  void start(const std::vector<std::string>& argv, const std::string& log_path,
             const std::map<std::string, std::string>& env = {}) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    log_path_ = log_path;
    pid_ = ::fork();
    if (pid_ == 0) {
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::dup2(out[1], 1);
      int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 2);
      ::close(out[0]);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::perror("execvp");
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_ = ::fdopen(out[0], "r");
  }

  // The next stdout line (without the newline), or "" at EOF.
  std::string read_line() {
    char buf[4096];
    if (!stdout_ || !std::fgets(buf, sizeof buf, stdout_)) return "";
    std::string s(buf);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // Waits for the exit (at most `timeout`); returns the exit status, or -1 if it had to be killed,
  // or 128 + signal when a signal ended it.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (pid_ <= 0) return exit_status_;
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_status_;
      }
      if (std::chrono::steady_clock::now() > until) {
        kill_now();
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }

  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (stdout_) {
      std::fclose(stdout_);
      stdout_ = nullptr;
    }
  }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
  FILE* stdout_ = nullptr;
  std::string log_path_;
};

// `tanzhen serve --port 0 ...` with the reference models unless the arguments say otherwise.
class ServerProcess {
 public:
  // default_models: --ner/--fill-mask with the reference models; otherwise the arguments choose,
  // and TANZHEN_MODELS points nowhere so that no default model folder can be found.
  explicit ServerProcess(std::vector<std::string> extra_args = {}, bool default_models = true) {
    std::vector<std::string> argv = {tanzhen_binary(), "serve", "--port", "0", "--log-level", "info"};
    if (default_models) {
      argv.insert(argv.end(), {"--ner", reference_model("tiny-bert-ner"), "--fill-mask",
                               reference_model("tiny-bert-mlm")});
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    const std::string dir = make_temp_dir("tanzhen-serve");
    std::map<std::string, std::string> env;
    if (!default_models) env["TANZHEN_MODELS"] = dir + "/no-models-here";
    proc_.start(argv, dir + "/server.log", env);
    const std::string line = proc_.read_line();
    std::smatch m;
    static const std::regex re(R"(listening on http://([^:]+):(\d+))");
    if (!std::regex_search(line, m, re))
      throw std::runtime_error("server did not start; stdout: '" + line + "'; log:\n" + proc_.log());
    port_ = std::stoi(m[2]);
  }
  int port() const { return port_; }
  ChildProcess& process() { return proc_; }
  std::string log() const { return proc_.log(); }

 private:
  ChildProcess proc_;
  int port_ = 0;
};

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// One HTTP/1.1 request on a fresh connection (Beast client).
inline HttpReply http(int port, const std::string& method, const std::string& target, const std::string& body = "",
                      const std::map<std::string, std::string>& headers = {}) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  stream.expires_after(std::chrono::seconds(60));
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  if (method == "HEAD") parser.skip(true);  // headers only, whatever Content-Length says
  http::read(stream, buffer, parser);
  HttpReply r;
  r.status = parser.get().result_int();
  for (const auto& f : parser.get()) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  r.body = parser.get().body();
  beast::error_code ec;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  return r;
}

// A connected raw TCP socket to 127.0.0.1:port (for malformed, slow or abandoned requests).
inline int raw_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the peer sends until it closes or `timeout` passes.
inline std::string raw_read_all(int fd, std::chrono::milliseconds timeout, bool* closed = nullptr) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  const auto until = std::chrono::steady_clock::now() + timeout;
  if (closed) *closed = false;
  while (std::chrono::steady_clock::now() < until) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
      if (closed) *closed = true;
      break;
    }
    if (n < 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The value of one sample in Prometheus text: `series` is the metric name with its labels exactly
// as rendered, e.g. tanzhen_batch_size_count{task="ner"}. -1 when absent.
inline double metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

}  // namespace tanzhen::testing
