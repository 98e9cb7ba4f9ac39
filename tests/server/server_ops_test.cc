// `tanzhen serve` under operational conditions: batching across connections, the result cache
// (in-process and Redis), a full queue, deadlines, abandoned requests, slow and idle clients,
// and SIGTERM draining.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "same_entities.h"
#include "server_process.h"

namespace tanzhen::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

HttpReply post(int port, const std::string& target, const json& body) {
  return http(port, "POST", target, body.dump());
}

std::string metrics_text(int port) { return http(port, "GET", "/metrics").body; }

// Polls /metrics until `series` reaches `value` (or 10 s pass); returns the last value seen.
double wait_for_metric(int port, const std::string& series, double value) {
  double v = -1;
  for (int i = 0; i < 500; ++i) {
    v = metric(metrics_text(port), series);
    if (v >= value) return v;
    std::this_thread::sleep_for(20ms);
  }
  return v;
}

TEST(ServerOps, ConcurrentRequestsShareBatches) {
  // Clients wait up to 500 ms for company, so 8 simultaneous requests must share batches.
  ServerProcess server({"--max-wait-ms", "500", "--cache-size-mb", "0"});
  const std::vector<std::string> texts = {"张三在北京工作。", "李四去了上海。", "王五在广州。", "赵六来自深圳。",
                                          "我爱北京天安门。", "小明在南京读书。", "他住在杭州。", "她去过成都。"};
  // The answer each text gets alone, to compare with the batched answers.
  std::vector<json> alone;
  for (const auto& t : texts) alone.push_back(json::parse(post(server.port(), "/v1/ner", {{"text", t}}).body)["entities"]);
  const double batches_before = metric(metrics_text(server.port()), R"(tanzhen_batch_size_count{task="ner"})");

  std::vector<std::future<HttpReply>> replies;
  for (const auto& t : texts)
    replies.push_back(std::async(std::launch::async, [&, t] { return post(server.port(), "/v1/ner", {{"text", t}}); }));
  for (size_t i = 0; i < texts.size(); ++i) {
    HttpReply r = replies[i].get();
    ASSERT_EQ(r.status, 200) << r.body;
    SCOPED_TRACE("batched results go back to their own request");
    expect_same_entities(json::parse(r.body)["entities"], alone[i]);
  }
  const std::string m = metrics_text(server.port());
  const double batches = metric(m, R"(tanzhen_batch_size_count{task="ner"})") - batches_before;
  const double singles = metric(m, R"(tanzhen_batch_size_bucket{task="ner",le="1"})") - batches_before;
  EXPECT_EQ(metric(m, R"(tanzhen_batch_size_sum{task="ner"})"), 16) << "8 alone + 8 together";
  EXPECT_LT(batches, 8) << "the 8 concurrent texts ran in fewer than 8 batches";
  EXPECT_LT(singles, batches + 0.5) << m;
  EXPECT_GT(batches - singles, 0) << "at least one batch held more than one text";
}

TEST(ServerOps, ResultCacheHitsAndMisses) {
  ServerProcess server;
  const json req = {{"text", "张三在北京工作。"}};
  HttpReply a = post(server.port(), "/v1/ner", req);
  HttpReply b = post(server.port(), "/v1/ner", req);
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  json ja = json::parse(a.body), jb = json::parse(b.body);
  EXPECT_FALSE(ja["results"][0]["cached"].get<bool>());
  EXPECT_TRUE(jb["results"][0]["cached"].get<bool>());
  EXPECT_EQ(ja["entities"], jb["entities"]);
  // Options are part of the key: another aggregation is a miss.
  HttpReply c = post(server.port(), "/v1/ner", {{"text", "张三在北京工作。"}, {"aggregation", "max"}});
  EXPECT_FALSE(json::parse(c.body)["results"][0]["cached"].get<bool>());
  // The offsets unit is applied after the cache: utf8 offsets of a cached result are converted.
  HttpReply d = post(server.port(), "/v1/ner", {{"text", "张三在北京工作。"}, {"offsets", "utf8"}});
  json jd = json::parse(d.body);
  EXPECT_TRUE(jd["results"][0]["cached"].get<bool>());
  for (size_t i = 0; i < jd["entities"].size(); ++i)
    EXPECT_EQ(jd["entities"][i]["start"].get<int>(), 3 * ja["entities"][i]["start"].get<int>());
  // Fill-mask has its own entries.
  post(server.port(), "/v1/fill-mask", {{"text", "我爱[MASK]京。"}});
  HttpReply f = post(server.port(), "/v1/fill-mask", {{"text", "我爱[MASK]京。"}});
  EXPECT_TRUE(json::parse(f.body)["results"][0]["cached"].get<bool>());
  const std::string m = metrics_text(server.port());
  EXPECT_EQ(metric(m, R"(tanzhen_cache_hits_total{task="ner",backend="memory"})"), 2);
  EXPECT_EQ(metric(m, R"(tanzhen_cache_misses_total{task="ner"})"), 2);
  EXPECT_EQ(metric(m, R"(tanzhen_cache_hits_total{task="fill_mask",backend="memory"})"), 1);
  EXPECT_EQ(metric(m, R"(tanzhen_cache_misses_total{task="fill_mask"})"), 1);
  EXPECT_EQ(metric(m, "tanzhen_cache_entries"), 3);
  EXPECT_GT(metric(m, "tanzhen_cache_bytes"), 0);
}

TEST(ServerOps, CacheCanBeTurnedOff) {
  ServerProcess server({"--cache-size-mb", "0"});
  post(server.port(), "/v1/ner", {{"text", "张三"}});
  HttpReply r = post(server.port(), "/v1/ner", {{"text", "张三"}});
  EXPECT_FALSE(json::parse(r.body)["results"][0]["cached"].get<bool>());
}

// A real redis-server on a free port (CI installs it; without it this test fails).
class RedisServer {
 public:
  RedisServer() : port_(free_port()) {
    const std::string dir = make_temp_dir("tanzhen-redis");
    proc_.start({"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", dir},
                dir + "/redis.log");
    for (int i = 0; i < 250; ++i) {
      if (redisContext* c = connect()) {
        redisReply* r = static_cast<redisReply*>(redisCommand(c, "PING"));
        const bool ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        redisFree(c);
        if (ok) return;
      }
      std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + ": " + proc_.log());
  }
  ~RedisServer() {
    proc_.signal(SIGTERM);
    proc_.wait(5s);
  }
  int port() const { return port_; }
  long long dbsize() {
    redisContext* c = connect();
    if (!c) return -1;
    redisReply* r = static_cast<redisReply*>(redisCommand(c, "DBSIZE"));
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    redisFree(c);
    return n;
  }

 private:
  redisContext* connect() {
    redisContext* c = redisConnect("127.0.0.1", port_);
    if (c && c->err) {
      redisFree(c);
      return nullptr;
    }
    return c;
  }
  int port_;
  ChildProcess proc_;
};

TEST(ServerOps, RedisCacheIsSharedBetweenServers) {
  RedisServer redis;
  const std::string url = "redis://127.0.0.1:" + std::to_string(redis.port());
  ServerProcess a({"--cache", url});
  ServerProcess b({"--cache", url});
  const json req = {{"texts", {"张三在北京工作。", "李四去了上海。"}}};
  HttpReply ra = post(a.port(), "/v1/ner", req);
  ASSERT_EQ(ra.status, 200) << ra.body;
  EXPECT_EQ(redis.dbsize(), 2) << "one Redis entry per text";
  // Server b has never seen these texts: its memory cache misses, Redis hits.
  HttpReply rb = post(b.port(), "/v1/ner", req);
  ASSERT_EQ(rb.status, 200);
  json ja = json::parse(ra.body), jb = json::parse(rb.body);
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(ja["results"][i]["cached"].get<bool>());
    EXPECT_TRUE(jb["results"][i]["cached"].get<bool>());
    EXPECT_EQ(ja["results"][i]["entities"], jb["results"][i]["entities"]);
  }
  EXPECT_EQ(metric(metrics_text(b.port()), R"(tanzhen_cache_hits_total{task="ner",backend="redis"})"), 2);
  EXPECT_EQ(metric(metrics_text(b.port()), R"(tanzhen_batch_size_count{task="ner"})"), -1)
      << "server b never ran the model";
  // ... and b's memory now holds them.
  post(b.port(), "/v1/ner", req);
  EXPECT_EQ(metric(metrics_text(b.port()), R"(tanzhen_cache_hits_total{task="ner",backend="memory"})"), 2);
}

TEST(ServerOps, UnreachableRedisIsAStartupError) {
  const int port = free_port();  // nothing listens there
  ChildProcess p;
  const std::string dir = make_temp_dir("tanzhen-serve");
  p.start({tanzhen_binary(), "serve", "--port", "0", "--ner", reference_model("tiny-bert-ner"), "--fill-mask",
           reference_model("tiny-bert-mlm"), "--cache", "redis://127.0.0.1:" + std::to_string(port)},
          dir + "/log");
  EXPECT_EQ(p.wait(30s), 1);
  EXPECT_NE(p.log().find("Redis"), std::string::npos) << p.log();
}

TEST(ServerOps, FullQueueAnswers429WithRetryAfter) {
  // Texts wait up to 5 s for company and the queue holds 2: the third text is refused.
  ServerProcess server({"--queue-size", "2", "--max-wait-ms", "5000", "--max-batch-tokens", "100000"});
  auto first = std::async(std::launch::async, [&] { return post(server.port(), "/v1/ner", {{"text", "张三"}}); });
  auto second = std::async(std::launch::async, [&] { return post(server.port(), "/v1/ner", {{"text", "李四"}}); });
  ASSERT_EQ(wait_for_metric(server.port(), R"(tanzhen_queue_depth{task="ner"})", 2), 2);
  HttpReply r = post(server.port(), "/v1/ner", {{"text", "王五"}});
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "queue_full");
  EXPECT_EQ(r.header("retry-after"), "1");
  // A request whose texts do not all fit is refused whole.
  EXPECT_EQ(post(server.port(), "/v1/ner", {{"texts", {"a", "b"}}}).status, 429);
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(second.get().status, 200);
  EXPECT_EQ(metric(metrics_text(server.port()), R"(tanzhen_rejected_total{task="ner"})"), 2);
  EXPECT_EQ(post(server.port(), "/v1/ner", {{"text", "王五"}}).status, 200) << "room again";
}

TEST(ServerOps, ExpiredWorkIsDroppedWith504) {
  ServerProcess server({"--deadline-ms", "300", "--max-wait-ms", "5000", "--max-batch-tokens", "100000"});
  const auto start = std::chrono::steady_clock::now();
  HttpReply r = post(server.port(), "/v1/ner", {{"text", "张三在北京。"}});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "deadline_exceeded");
  EXPECT_LT(took, 2s) << "answered at the deadline, not after the batch wait";
  const std::string m = metrics_text(server.port());
  EXPECT_EQ(metric(m, R"(tanzhen_dropped_total{task="ner",reason="expired"})"), 1);
  EXPECT_EQ(metric(m, R"(tanzhen_batch_size_count{task="ner"})"), -1) << "the model never ran it";
}

TEST(ServerOps, AbandonedRequestsAreDropped) {
  ServerProcess server({"--max-wait-ms", "4000", "--max-batch-tokens", "100000"});
  int fd = raw_connect(server.port());
  ASSERT_GE(fd, 0);
  const std::string body = json{{"text", "张三在北京。"}}.dump();
  const std::string req = "POST /v1/ner HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  ASSERT_EQ(wait_for_metric(server.port(), R"(tanzhen_queue_depth{task="ner"})", 1), 1);
  ::close(fd);  // the client gives up while its text waits
  EXPECT_EQ(wait_for_metric(server.port(), R"(tanzhen_dropped_total{task="ner",reason="cancelled"})", 1), 1);
  std::this_thread::sleep_for(4100ms);  // past the batch wait: had it not been dropped, it would run now
  const std::string m = metrics_text(server.port());
  EXPECT_EQ(metric(m, R"(tanzhen_batch_size_count{task="ner"})"), -1) << "the model never ran it";
  EXPECT_EQ(metric(m, R"(tanzhen_http_requests_total{route="/v1/ner",status="499"})"), 1);
}

TEST(ServerOps, SlowAndIdleClientsTimeOutWithoutBlockingOthers) {
  ServerProcess server({"--idle-timeout-s", "1", "--read-timeout-s", "1", "--io-threads", "1"});
  const auto start = std::chrono::steady_clock::now();
  int idle = raw_connect(server.port());
  int slow = raw_connect(server.port());
  ASSERT_GE(idle, 0);
  ASSERT_GE(slow, 0);
  const std::string partial = "POST /v1/ner HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"te";
  ::send(slow, partial.data(), partial.size(), 0);
  // With one I/O thread, others are still served while those two hang around.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post(server.port(), "/v1/ner", {{"text", "张三"}}).status, 200);
  bool idle_closed = false, slow_closed = false;
  raw_read_all(idle, 4s, &idle_closed);
  raw_read_all(slow, 4s, &slow_closed);
  EXPECT_TRUE(idle_closed) << "an idle connection is closed after --idle-timeout-s";
  EXPECT_TRUE(slow_closed) << "a request that does not arrive within --read-timeout-s is dropped";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  ::close(idle);
  ::close(slow);
  EXPECT_EQ(metric(metrics_text(server.port()), "tanzhen_http_connections_open"), 1) << "only /metrics' own";
}

TEST(ServerOps, SigtermFinishesInFlightRequestsThenExitsZero) {
  ServerProcess server({"--max-wait-ms", "1500", "--max-batch-tokens", "100000"});
  const int port = server.port();
  const std::string expected = post(port, "/v1/ner", {{"text", "李四去了上海。"}, {"aggregation", "max"}}).body;
  auto in_flight = std::async(std::launch::async, [&] { return post(port, "/v1/ner", {{"text", "李四去了上海。"}}); });
  ASSERT_EQ(wait_for_metric(port, R"(tanzhen_queue_depth{task="ner"})", 1), 1);
  // An idle keep-alive connection must not hold the shutdown up.
  int idle = raw_connect(port);
  ASSERT_GE(idle, 0);
  server.process().signal(SIGTERM);
  HttpReply r = in_flight.get();
  EXPECT_EQ(r.status, 200) << "the request in progress is answered";
  EXPECT_EQ(json::parse(r.body)["entities"], json::parse(expected)["entities"]);
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(server.process().wait(10s), 0) << server.log();
  EXPECT_LT(raw_connect(port), 0) << "no longer accepting";
  ::close(idle);
  // The shutdown event is one JSON object, like the access lines.
  const std::string log = server.log();
  const size_t at = log.find("\"event\":\"shutdown\"");
  ASSERT_NE(at, std::string::npos) << log;
  const size_t start = log.rfind('{', at), end = log.find('\n', at);
  const json event = json::parse(log.substr(start, end - start));
  EXPECT_EQ(event["event"], "shutdown");
}

TEST(ServerOps, NoBatchingRunsEveryTextAlone) {
  ServerProcess server({"--no-batching", "--max-wait-ms", "200", "--cache-size-mb", "0"});
  HttpReply r = post(server.port(), "/v1/ner", {{"texts", {"张三", "李四", "王五"}}});
  ASSERT_EQ(r.status, 200);
  const std::string m = metrics_text(server.port());
  EXPECT_EQ(metric(m, R"(tanzhen_batch_size_count{task="ner"})"), 3);
  EXPECT_EQ(metric(m, R"(tanzhen_batch_size_bucket{task="ner",le="1"})"), 3);
}

TEST(ServerOps, MissingModelsDisableTheirTasks) {
  // Only fill-mask given; no default NER model can be found.
  ServerProcess server({"--fill-mask", reference_model("tiny-bert-mlm")}, /*default_models=*/false);
  HttpReply r = post(server.port(), "/v1/ner", {{"text", "张三"}});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "model_unavailable");
  EXPECT_EQ(post(server.port(), "/predict", {{"text", "我爱[MASK]京"}}).status, 200);
  json models = json::parse(http(server.port(), "GET", "/v1/models").body)["models"];
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["task"], "fill-mask");
  EXPECT_EQ(models[0]["dtype"], "fp32");  // what the encoder runs at
  EXPECT_NE(server.log().find("NER disabled"), std::string::npos) << server.log();
  // No model at all: alive, but not ready.
  ServerProcess none({}, /*default_models=*/false);
  EXPECT_EQ(http(none.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http(none.port(), "GET", "/readyz").status, 503);
}

TEST(ServerOps, AccessLogHasOneStructuredLinePerRequest) {
  ServerProcess server;
  post(server.port(), "/v1/ner", {{"text", "张三"}});
  http(server.port(), "GET", "/healthz", "", {{"X-Request-Id", "log-check-1"}});
  server.process().signal(SIGTERM);
  ASSERT_EQ(server.process().wait(10s), 0);
  const std::string log = server.log();
  size_t pos = log.find("\"id\":\"log-check-1\"");
  ASSERT_NE(pos, std::string::npos) << log;
  const size_t line_start = log.rfind('\n', pos) + 1;
  const std::string line = log.substr(line_start, log.find('\n', pos) - line_start);
  json entry = json::parse(line.substr(line.find('{')));
  EXPECT_EQ(entry["event"], "access");
  EXPECT_EQ(entry["method"], "GET");
  EXPECT_EQ(entry["path"], "/healthz");
  EXPECT_EQ(entry["status"], 200);
  EXPECT_TRUE(entry["ms"].is_number());
  EXPECT_NE(log.find("\"route\":\"/v1/ner\",\"status\":200"), std::string::npos);
}

}  // namespace
}  // namespace tanzhen::testing
