// Prometheus text exposition of the server's metrics.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include "server_process.h"

namespace tanzhen::server {
namespace {

using testing::metric;

TEST(Metrics, CountersAndHistogramsRenderInTheTextFormat) {
  Metrics m;
  m.observe_request("/v1/ner", 200, 0.003);
  m.observe_request("/v1/ner", 200, 0.2);
  m.observe_request("/v1/ner", 429, 0.0001);
  m.observe_batch("ner", 3, 40, 0.01);
  m.observe_batch("ner", 1, 10, 0.01);
  m.cache_hit("ner", "memory");
  m.cache_miss("ner");
  m.cache_miss("ner");
  const std::string text = m.render();
  EXPECT_EQ(metric(text, R"(tanzhen_http_requests_total{route="/v1/ner",status="200"})"), 2);
  EXPECT_EQ(metric(text, R"(tanzhen_http_requests_total{route="/v1/ner",status="429"})"), 1);
  // Buckets are cumulative: 0.0001 and 0.003 are <= 0.005, all three are <= 0.25.
  EXPECT_EQ(metric(text, R"(tanzhen_http_request_duration_seconds_bucket{route="/v1/ner",le="0.005"})"), 2);
  EXPECT_EQ(metric(text, R"(tanzhen_http_request_duration_seconds_bucket{route="/v1/ner",le="0.25"})"), 3);
  EXPECT_EQ(metric(text, R"(tanzhen_http_request_duration_seconds_bucket{route="/v1/ner",le="+Inf"})"), 3);
  EXPECT_EQ(metric(text, R"(tanzhen_http_request_duration_seconds_count{route="/v1/ner"})"), 3);
  EXPECT_EQ(metric(text, R"(tanzhen_batch_size_bucket{task="ner",le="1"})"), 1);
  EXPECT_EQ(metric(text, R"(tanzhen_batch_size_bucket{task="ner",le="4"})"), 2);
  EXPECT_EQ(metric(text, R"(tanzhen_batch_size_sum{task="ner"})"), 4);
  EXPECT_EQ(metric(text, R"(tanzhen_batch_tokens_sum{task="ner"})"), 50);
  EXPECT_EQ(metric(text, R"(tanzhen_cache_hits_total{task="ner",backend="memory"})"), 1);
  EXPECT_EQ(metric(text, R"(tanzhen_cache_misses_total{task="ner"})"), 2);
  EXPECT_GT(metric(text, "process_resident_memory_bytes"), 1e6);
  EXPECT_NE(text.find("# TYPE tanzhen_batch_size histogram"), std::string::npos);
  EXPECT_NE(text.find("# TYPE tanzhen_http_requests_total counter"), std::string::npos);
}

TEST(Metrics, LabelValuesAreEscaped) {
  Metrics m;
  m.dropped("ner", "a\"b\\c\nd");
  EXPECT_NE(m.render().find(R"(reason="a\"b\\c\nd")"), std::string::npos);
}

}  // namespace
}  // namespace tanzhen::server
