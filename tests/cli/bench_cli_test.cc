// `tanzhen bench`: engine timings and FLOP counts on a reference model, cost figures worked out
// by hand, and the service mode against a small HTTP/1.1 server run by the test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "cli_runner.h"
#include "tanzhen/kernels/linear.h"

namespace tanzhen {
namespace {

using nlohmann::json;
using testing::CliRun;
using testing::reference_model;
using testing::run_cli;

const std::string kNer = reference_model("tiny-bert-ner");

TEST(BenchCli, EngineRowsCountFlopsAsDocumented) {
  CliRun r = run_cli({"bench", "-m", kNer, "--shape", "1x8,2x16", "--iters", "3", "--warmup", "1", "--threads", "1",
                      "--gemm-peak", "100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = r.lines();
  ASSERT_EQ(rows.size(), 2u);
  // tiny-bert-ner: 2 layers, H = 64, I = 256, 7 labels. FLOPs of BxL:
  //   2 layers x [2·B·L·(4·64² + 2·64·256) + 4·B·L²·64] + 2·B·L·64·7
  //   1x8:  2 x [16·49152 + 4·64·64]    + 16·448 = 2 x (786432 + 16384)    + 7168  = 1612800
  //   2x16: 2 x [64·49152 + 8·256·64]   + 64·448 = 2 x (3145728 + 131072)  + 28672 = 6582272
  const double flops[] = {1612800, 6582272};
  const int batch[] = {1, 2}, length[] = {8, 16};
  for (int i = 0; i < 2; ++i) {
    const json& row = rows[i];
    EXPECT_EQ(row["dtype"], "fp32");
    EXPECT_EQ(row["batch"], batch[i]);
    EXPECT_EQ(row["length"], length[i]);
    EXPECT_EQ(row["threads"], 1);
    EXPECT_EQ(row["iters"], 3);
    const double min = row["min_ms"], median = row["median_ms"], p95 = row["p95_ms"];
    EXPECT_GT(min, 0);
    EXPECT_LE(min, median);
    EXPECT_LE(median, p95);
    EXPECT_NEAR(row["gflop_per_call"].get<double>(), flops[i] / 1e9, 1e-15);
    EXPECT_NEAR(row["gflops"].get<double>(), flops[i] / 1e9 / (median / 1000), 1e-9);
    EXPECT_DOUBLE_EQ(row["peak_gflops"].get<double>(), 100);
    EXPECT_NEAR(row["pct_of_peak"].get<double>(), row["gflops"].get<double>(), 1e-9);  // peak 100
    // Memory and load time: the process holds at least the model (~100 KB here) and the peak
    // since loading is at least what is resident now.
    EXPECT_GT(row["load_ms"].get<double>(), 0);
    EXPECT_GT(row["loaded_rss_mib"].get<double>(), 1);
    EXPECT_GT(row["rss_mib"].get<double>(), 1);
    EXPECT_GE(row["peak_rss_mib"].get<double>(), row["rss_mib"].get<double>() - 0.01);
    ASSERT_TRUE(row.contains("dtype_peak_gflops"));  // an f32 matmul exists on every CPU
    EXPECT_GT(row["dtype_peak_gflops"].get<double>(), 0);
    EXPECT_NEAR(row["pct_of_dtype_peak"].get<double>(),
                100 * row["gflops"].get<double>() / row["dtype_peak_gflops"].get<double>(), 1e-9);
  }
}

TEST(BenchCli, MeasuresTheGemmPeakAndPrintsATable) {
  CliRun r = run_cli({"bench", "-m", kNer, "--shape", "1x8", "--iters", "2", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GEMM peak"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("measured"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1x8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("median_ms"), std::string::npos) << r.out;
}

TEST(BenchCli, LowerPrecisionsReportTheirOwnMatmulPeak) {
  for (const char* dtype : {"bf16", "int8"}) {
    CliRun r = run_cli({"bench", "-m", kNer, "--dtype", dtype, "--shape", "1x8", "--iters", "2", "--threads", "1",
                        "--gemm-peak", "100", "--json"});
    if (std::string(dtype) == "bf16" && !kernels::bf16_gemm_supported()) {
      EXPECT_NE(r.exit_code, 0);  // a CPU without bf16 GEMMs: a clear refusal
      EXPECT_NE(r.err.find("--dtype fp32"), std::string::npos) << r.err;
      continue;
    }
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json row = r.lines().at(0);
    EXPECT_EQ(row["dtype"], dtype);
    EXPECT_NEAR(row["gflop_per_call"].get<double>(), 1612800 / 1e9, 1e-15);  // FLOPs do not change
    if (row.contains("dtype_peak_gflops")) {  // present where this CPU has such a oneDNN kernel
      EXPECT_NEAR(row["pct_of_dtype_peak"].get<double>(),
                  100 * row["gflops"].get<double>() / row["dtype_peak_gflops"].get<double>(), 1e-9);
    }
  }
  CliRun r = run_cli({"bench", "-m", kNer, "--dtype", "fp16"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--dtype"), std::string::npos) << r.err;
}

// A pre-quantized folder runs at its stored precision whatever --dtype says; the rows must be
// labelled with what ran (they once said fp32 for int8 timings), and the user is told.
TEST(BenchCli, PreQuantizedModelIsReportedAtItsStoredPrecision) {
  const std::string out = testing::make_temp_dir("tanzhen-bench-q") + "/int8";
  CliRun q = run_cli({"quantize", "-m", kNer, "-o", out, "--dtype", "int8"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  for (const std::vector<std::string>& dtype :
       {std::vector<std::string>{}, std::vector<std::string>{"--dtype", "fp32"}, std::vector<std::string>{"--dtype", "int8"}}) {
    std::vector<std::string> args = {"bench", "-m", out, "--shape", "1x8", "--iters", "2", "--threads", "1",
                                     "--gemm-peak", "100", "--json"};
    args.insert(args.end(), dtype.begin(), dtype.end());
    CliRun r = run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.lines().at(0)["dtype"], "int8");
    // Only a --dtype that asked for something else gets the note.
    const bool noted = r.err.find("runs at its stored int8; --dtype fp32 does not apply") != std::string::npos;
    EXPECT_EQ(noted, !dtype.empty() && dtype[1] == "fp32") << r.err;
  }
  // A bf16 folder where this CPU has no bf16 matrix multiply runs at fp32 (its weights widened),
  // and says so; where it has one, at bf16.
  const std::string bf16 = testing::make_temp_dir("tanzhen-bench-q") + "/bf16";
  ASSERT_EQ(run_cli({"quantize", "-m", kNer, "-o", bf16, "--dtype", "bf16"}).exit_code, 0);
  CliRun r = run_cli({"bench", "-m", bf16, "--shape", "1x8", "--iters", "2", "--threads", "1", "--gemm-peak", "100",
                      "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const bool widened = !kernels::bf16_gemm_supported();
  EXPECT_EQ(r.lines().at(0)["dtype"], widened ? "fp32" : "bf16");
  EXPECT_EQ(r.err.find("is stored as bf16, which this CPU cannot multiply") != std::string::npos, widened) << r.err;
}

TEST(BenchCli, BadShapesAreOneLineErrors) {
  for (const char* shape : {"1x", "x8", "0x8", "1x8,", "1x9999", "axb"}) {
    CliRun r = run_cli({"bench", "-m", kNer, "--shape", shape, "--gemm-peak", "1"});
    EXPECT_NE(r.exit_code, 0) << shape;
    EXPECT_EQ(testing::count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("--shape"), std::string::npos) << r.err;
  }
}

TEST(BenchCli, CostFromGivenFigures) {
  CliRun r = run_cli({"bench", "--cost", "--price-per-hour", "2", "--qps", "100", "--latency-ms", "50", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = r.lines();
  ASSERT_EQ(rows.size(), 1u);
  // 2 per hour / 3600 s / 100 requests/s = 5.556e-6 per request -> 0.05556 per 10,000;
  // SPI = 100 / (2 x 0.050) = 1000.
  EXPECT_NEAR(rows[0]["cost_per_10k"].get<double>(), 2.0 / 3600 / 100 * 10000, 1e-12);
  EXPECT_NEAR(rows[0]["spi"].get<double>(), 1000, 1e-9);
  CliRun bad = run_cli({"bench", "--cost", "--qps", "100", "--latency-ms", "50"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--price-per-hour"), std::string::npos) << bad.err;
}

TEST(BenchCli, CostFromTheEngineRun) {
  CliRun r = run_cli({"bench", "-m", kNer, "--shape", "4x8", "--iters", "2", "--threads", "1", "--gemm-peak", "1",
                      "--cost", "--price-per-hour", "3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json row = r.lines().at(0);
  const double median_s = row["median_ms"].get<double>() / 1000;
  EXPECT_NEAR(row["qps"].get<double>(), 4 / median_s, 1e-6);
  EXPECT_NEAR(row["spi"].get<double>(), (4 / median_s) / (3 * median_s), 1e-6 * row["spi"].get<double>());
}

// ---------------------------------------------------------------------------------------------
// Service mode

// A minimal HTTP/1.1 server on 127.0.0.1: answers every POST with `status` (and a small JSON body
// sent with Content-Length, or chunked), keeps connections open, counts requests/connections.
class TestServer {
 public:
  TestServer(int status, bool chunked) : status_(status), chunked_(chunked) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("test server: cannot listen");
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : handlers_) t.join();
    ::close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/ner"; }
  long long requests() const { return requests_; }
  long long connections() const { return connections_; }
  bool bodies_ok() const { return bodies_ok_; }
  size_t distinct_bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_.size();
  }

 private:
  // Waits for input on fd for up to 50 ms; false when stopping.
  bool readable(int fd) {
    for (;;) {
      if (stop_) return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
  }
  void accept_loop() {
    while (readable(listen_fd_)) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      handlers_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    std::string buf;
    char chunk[4096];
    for (;;) {
      size_t head_end;
      while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!readable(fd)) return (void)::close(fd);
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return (void)::close(fd);
        buf.append(chunk, n);
      }
      const size_t cl = buf.find("Content-Length: ");
      const size_t body_len = cl < head_end ? std::stoul(buf.substr(cl + 16)) : 0;
      while (buf.size() < head_end + 4 + body_len) {
        if (!readable(fd)) return (void)::close(fd);
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return (void)::close(fd);
        buf.append(chunk, n);
      }
      const std::string body = buf.substr(head_end + 4, body_len);
      if (buf.compare(0, 13, "POST /v1/ner ") != 0 || body.find("\"text\"") == std::string::npos) bodies_ok_ = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        bodies_.insert(body);
      }
      buf.erase(0, head_end + 4 + body_len);
      ++requests_;
      const std::string payload = R"({"entities":[]})";
      std::string reply = "HTTP/1.1 " + std::to_string(status_) + (status_ == 200 ? " OK" : " Error") +
                          "\r\nContent-Type: application/json\r\n";
      if (chunked_)
        reply += "Transfer-Encoding: chunked\r\n\r\n5\r\n" + payload.substr(0, 5) + "\r\n" +
                 hex(payload.size() - 5) + "\r\n" + payload.substr(5) + "\r\n0\r\n\r\n";
      else
        reply += "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
      ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }

  static std::string hex(size_t n) {  // chunk sizes are hexadecimal
    char buf[32];
    std::snprintf(buf, sizeof buf, "%zx", n);
    return buf;
  }

  int status_;
  bool chunked_;
  int listen_fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false}, bodies_ok_{true};
  std::atomic<long long> requests_{0}, connections_{0};
  std::mutex mu_;
  std::vector<std::thread> handlers_;
  std::set<std::string> bodies_;
  std::thread acceptor_;
};

std::vector<json> service_rows(const std::string& url, const std::string& levels, const std::string& duration,
                               const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"bench", "--url", url, "--concurrency", levels, "--duration", duration, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  CliRun r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.lines();
}

void expect_consistent(const json& row) {
  EXPECT_NEAR(row["qps"].get<double>(), row["requests"].get<double>() / row["seconds"].get<double>(), 1e-9);
  EXPECT_LE(row["p50_ms"].get<double>(), row["p90_ms"].get<double>());
  EXPECT_LE(row["p90_ms"].get<double>(), row["p99_ms"].get<double>());
  EXPECT_LE(row["p99_ms"].get<double>(), row["max_ms"].get<double>());
}

TEST(BenchCli, ServiceModeKeepsConnectionsAliveAndCountsEveryRequest) {
  for (bool chunked : {false, true}) {
    TestServer server(200, chunked);
    auto rows = service_rows(server.url(), "1,3", "0.5");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0]["concurrency"], 1);
    EXPECT_EQ(rows[1]["concurrency"], 3);
    long long total = 0;
    for (const json& row : rows) {
      EXPECT_EQ(row["errors"], 0) << row.dump();
      EXPECT_GT(row["requests"].get<long long>(), 0);
      expect_consistent(row);
      total += row["requests"].get<long long>();
    }
    EXPECT_EQ(total, server.requests());
    EXPECT_EQ(server.connections(), 1 + 3) << "one keep-alive connection per client";
    EXPECT_TRUE(server.bodies_ok());
  }
}

TEST(BenchCli, ServiceModeTextsAndUniqueBodies) {
  {
    TestServer server(200, false);
    service_rows(server.url(), "2", "0.3");
    EXPECT_GT(server.requests(), 2);
    EXPECT_EQ(server.distinct_bodies(), 1u) << "the same --text every time";
  }
  {
    TestServer server(200, false);
    auto rows = service_rows(server.url(), "2", "0.3", {"--unique"});
    EXPECT_GT(server.requests(), 2);
    EXPECT_EQ(server.distinct_bodies(), static_cast<size_t>(server.requests())) << "--unique: every body differs";
  }
  {
    const std::string path = testing::make_temp_dir("bench-texts") + "/texts.txt";
    testing::write_file(path, "北京\n上海\n广州\n");
    TestServer server(200, false);
    service_rows(server.url(), "2", "0.3", {"--texts", path});
    EXPECT_GT(server.requests(), 3);
    EXPECT_EQ(server.distinct_bodies(), 3u) << "three texts round robin";
  }
}

TEST(BenchCli, ServiceModeCountsErrorStatuses) {
  TestServer server(503, false);
  auto rows = service_rows(server.url(), "2", "0.3");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["requests"], 0);
  EXPECT_EQ(rows[0]["errors"].get<long long>(), server.requests());
  EXPECT_GT(server.requests(), 0);
  EXPECT_NE(rows[0]["first_error"].get<std::string>().find("503"), std::string::npos);
}

TEST(BenchCli, ServiceModeSurvivesAServerThatIsDown) {
  int port;
  {
    TestServer gone(200, false);  // a port that was just free, now closed again
    port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }
  auto rows = service_rows("http://127.0.0.1:" + std::to_string(port) + "/v1/ner", "2", "0.3");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["requests"], 0);
  EXPECT_GT(rows[0]["errors"].get<long long>(), 0);
  EXPECT_NE(rows[0]["first_error"].get<std::string>().find("connect"), std::string::npos);
}

TEST(BenchCli, BadUrlsAreErrors) {
  for (const char* url : {"https://x/v1/ner", "http://:80/", "http://host:99999/", "ftp://x"}) {
    CliRun r = run_cli({"bench", "--url", url, "--duration", "0.1"});
    EXPECT_NE(r.exit_code, 0) << url;
    EXPECT_NE(r.err.find("--url"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace tanzhen
