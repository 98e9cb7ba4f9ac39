// `tanzhen serve` with the reference models, over real HTTP: every route's answers (checked
// against the pipelines run in-process on the same texts) and every error code.
#include <chrono>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "server_process.h"
#include "tanzhen/tasks/fill_mask.h"
#include "tanzhen/tasks/ner.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Reference sentences (MSRA / CLUENER) and edge cases from the shared inputs.
std::vector<std::string> reference_texts(const std::string& source_prefix, size_t n) {
  std::ifstream in(shared_dir() + "/reference/texts.jsonl");
  std::vector<std::string> out;
  std::string line;
  while (out.size() < n && std::getline(in, line)) {
    json r = json::parse(line);
    if (r["source"].get<std::string>().rfind(source_prefix, 0) == 0 && !r["text"].get<std::string>().empty())
      out.push_back(r["text"]);
  }
  return out;
}

size_t count_cp(const std::string& s) { return decode_utf8(s).size(); }

const NerPipeline& ner_pipeline() {
  static auto p = NerPipeline::load(reference_model("tiny-bert-ner"));
  return *p;
}
const FillMaskPipeline& fill_mask_pipeline() {
  static auto p = FillMaskPipeline::load(reference_model("tiny-bert-mlm"));
  return *p;
}

// The pipeline's entities in the API's JSON shape (code-point offsets).
json expected_entities(const std::string& text, const NerOptions& opts = {}, int shift = 0) {
  json out = json::array();
  const std::vector<NerResult> results = ner_pipeline().run({text}, opts);
  for (const Entity& e : results[0].entities)
    out.push_back({{"type", e.type}, {"start", e.start + shift}, {"end", e.end + shift}, {"text", e.text},
                   {"score", e.score}});
  return out;
}

void expect_same_entities(const json& got, const json& want, const std::string& context) {
  ASSERT_EQ(got.size(), want.size()) << context << "\ngot " << got.dump() << "\nwant " << want.dump();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["type"], want[i]["type"]) << context;
    EXPECT_EQ(got[i]["start"], want[i]["start"]) << context;
    EXPECT_EQ(got[i]["end"], want[i]["end"]) << context;
    EXPECT_EQ(got[i]["text"], want[i]["text"]) << context;
    EXPECT_NEAR(got[i]["score"].get<double>(), want[i]["score"].get<double>(), 1e-6) << context;
  }
}

class ServerApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--max-text-chars", "2000", "--max-batch-texts", "8", "--max-body-bytes", "20000"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static HttpReply post(const std::string& target, const json& body) {
    return http(server_->port(), "POST", target, body.dump());
  }
  static HttpReply post_raw(const std::string& target, const std::string& body) {
    return http(server_->port(), "POST", target, body);
  }
  static void expect_error(const HttpReply& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    json b = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(b.is_object()) << r.body;
    EXPECT_EQ(b["error"]["code"], code) << r.body;
    EXPECT_TRUE(b["error"]["message"].is_string()) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
  }
  static ServerProcess* server_;
};
ServerProcess* ServerApi::server_ = nullptr;

TEST_F(ServerApi, NerSingleTextMatchesThePipeline) {
  int with_entities = 0;
  for (const std::string& text : reference_texts("msra", 6)) {
    HttpReply r = post("/v1/ner", {{"text", text}});
    ASSERT_EQ(r.status, 200) << r.body;
    json b = json::parse(r.body);
    const json want = expected_entities(text);
    with_entities += !want.empty();
    expect_same_entities(b["results"][0]["entities"], want, text);
    expect_same_entities(b["entities"], want, text);
    EXPECT_GE(b["timing_ms"].get<double>(), 0);
    EXPECT_FALSE(r.header("x-request-id").empty());
  }
  EXPECT_GT(with_entities, 0) << "the reference sentences should have entities";
}

TEST_F(ServerApi, NerManyTextsAndAggregationOptions) {
  const std::vector<std::string> texts = reference_texts("cluener", 5);
  for (const char* agg : {"simple", "first", "average", "max"}) {
    HttpReply r = post("/v1/ner", {{"texts", texts}, {"aggregation", agg}});
    ASSERT_EQ(r.status, 200) << r.body;
    json b = json::parse(r.body);
    ASSERT_EQ(b["results"].size(), texts.size());
    EXPECT_FALSE(b.contains("entities")) << "top-level entities only for a single text";
    NerOptions o;
    o.aggregation = parse_aggregation(agg);
    for (size_t i = 0; i < texts.size(); ++i)
      expect_same_entities(b["results"][i]["entities"], expected_entities(texts[i], o), texts[i] + " / " + agg);
  }
}

TEST_F(ServerApi, NerWindowAndStrideReachThePipeline) {
  std::string text;
  for (const auto& t : reference_texts("msra", 12)) text += t;
  NerOptions o;
  o.window = 32;
  o.stride = 10;
  HttpReply r = post("/v1/ner", {{"text", text}, {"window", 32}, {"stride", 10}});
  ASSERT_EQ(r.status, 200) << r.body;
  expect_same_entities(json::parse(r.body)["entities"], expected_entities(text, o), "window 32 stride 10");
}

// Offsets in code points, UTF-8 bytes or UTF-16 units, after characters of 1 to 4 bytes.
TEST_F(ServerApi, NerOffsetUnits) {
  const std::string text = "😀é " + reference_texts("msra", 1)[0];
  const json cp = json::parse(post("/v1/ner", {{"text", text}, {"offsets", "codepoint"}}).body)["entities"];
  const json u8 = json::parse(post("/v1/ner", {{"text", text}, {"offsets", "utf8"}}).body)["entities"];
  const json u16 = json::parse(post("/v1/ner", {{"text", text}, {"offsets", "utf16"}}).body)["entities"];
  ASSERT_FALSE(cp.empty()) << text;
  ASSERT_EQ(cp.size(), u8.size());
  ASSERT_EQ(cp.size(), u16.size());
  const std::u32string cps = decode_utf8(text);
  for (size_t i = 0; i < cp.size(); ++i) {
    const int s = cp[i]["start"], e = cp[i]["end"];
    EXPECT_EQ(encode_utf8(cps.substr(s, e - s)), cp[i]["text"]);
    // UTF-8: the bytes at [start, end) are the entity's text.
    const int bs = u8[i]["start"], be = u8[i]["end"];
    EXPECT_EQ(text.substr(bs, be - bs), u8[i]["text"]);
    // UTF-16: the emoji before the entities is a surrogate pair, one unit more than code points.
    EXPECT_EQ(u16[i]["start"].get<int>(), s + 1);
    EXPECT_EQ(u16[i]["end"].get<int>(), e + 1);
  }
}

TEST_F(ServerApi, NerDropInRouteTakesOneText) {
  const std::string text = reference_texts("msra", 2)[1];
  HttpReply r = post("/ner", {{"text", text}});
  ASSERT_EQ(r.status, 200) << r.body;
  expect_same_entities(json::parse(r.body)["entities"], expected_entities(text), text);
  const HttpReply texts = post("/ner", {{"texts", {text}}});
  expect_error(texts, 400, "invalid_request");
  EXPECT_NE(texts.body.find("takes one \\\"text\\\""), std::string::npos) << texts.body;
}

TEST_F(ServerApi, NerStreamSendsOneLinePerPieceWithWholeTextOffsets) {
  // Three paragraphs; the middle one longer than a 512-token window, so it is cut at sentences.
  const std::vector<std::string> sents = reference_texts("msra", 40);
  std::string longp;
  for (const auto& s : sents)
    if (count_cp(longp) < 700) longp += s;
  std::string doc = sents[0] + "\n\n" + longp + "\n" + sents[1];
  HttpReply r = post("/v1/ner?stream=true", {{"text", doc}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/x-ndjson");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  const std::u32string cps = decode_utf8(doc);
  std::istringstream lines(r.body);
  std::string line;
  std::vector<json> pieces;
  json done;
  while (std::getline(lines, line)) {
    json v = json::parse(line);
    if (v.contains("done")) done = v;
    else pieces.push_back(v);
  }
  ASSERT_TRUE(done.is_object()) << "a last line says done";
  EXPECT_EQ(done["segments"].get<size_t>(), pieces.size());
  ASSERT_GE(pieces.size(), 4u) << "2 short paragraphs + a long one in at least 2 pieces";
  size_t entities = 0;
  std::vector<bool> seen(pieces.size());
  for (const json& p : pieces) {
    const int s = p["start"], e = p["end"];
    EXPECT_LE(e - s, 510);
    seen.at(p["segment"].get<size_t>()) = true;
    const std::string piece = encode_utf8(cps.substr(s, e - s));
    // Each piece is tagged on its own; its entities are shifted into the whole text.
    expect_same_entities(p["entities"], expected_entities(piece, {}, s), piece);
    for (const json& ent : p["entities"]) {
      const int es = ent["start"], ee = ent["end"];
      EXPECT_EQ(encode_utf8(cps.substr(es, ee - es)), ent["text"]);
    }
    entities += p["entities"].size();
  }
  for (bool b : seen) EXPECT_TRUE(b);
  EXPECT_EQ(done["entities"].get<size_t>(), entities);
  EXPECT_GT(entities, 0u);
}

TEST_F(ServerApi, FillMaskMatchesThePipeline) {
  const std::string text = "北京是中国的[MASK]都，上海是[MASK]大城市。";
  HttpReply r = post("/v1/fill-mask", {{"text", text}, {"top_k", 3}});
  ASSERT_EQ(r.status, 200) << r.body;
  json b = json::parse(r.body);
  FillMaskOptions o;
  o.top_k = 3;
  const FillMaskResult want = fill_mask_pipeline().run({text}, o)[0];
  ASSERT_EQ(b["masks"].size(), want.masks.size());
  ASSERT_EQ(want.masks.size(), 2u);
  std::string filled = text;
  for (size_t m = 0; m < want.masks.size(); ++m) {
    const json& got = b["masks"][m]["candidates"];
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(b["masks"][m]["position"], want.masks[m].position);
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(got[k]["token"], want.masks[m].candidates[k].token);
      EXPECT_EQ(got[k]["id"], want.masks[m].candidates[k].id);
      EXPECT_NEAR(got[k]["score"].get<double>(), want.masks[m].candidates[k].score, 1e-6);
    }
    filled.replace(filled.find("[MASK]"), 6, want.masks[m].candidates[0].token);
  }
  EXPECT_EQ(b["filled"], filled);
  EXPECT_EQ(b["results"][0]["masks"], b["masks"]);
}

TEST_F(ServerApi, FillMaskTargetsAndPerTextErrors) {
  HttpReply r = post("/v1/fill-mask", {{"texts", {"我爱[MASK]京。", "没有掩码。"}}, {"targets", {"北", "南", "东"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  json b = json::parse(r.body);
  const json& cands = b["results"][0]["masks"][0]["candidates"];
  ASSERT_EQ(cands.size(), 3u);
  std::set<std::string> tokens;
  for (const json& c : cands) tokens.insert(c["token"]);
  EXPECT_EQ(tokens, (std::set<std::string>{"北", "南", "东"}));
  EXPECT_EQ(b["results"][1]["error"]["code"], "no_mask") << "one bad text does not fail the others";
  // A single text without a mask is the request's error.
  expect_error(post("/v1/fill-mask", {{"text", "没有掩码。"}}), 400, "no_mask");
}

TEST_F(ServerApi, FillMaskTruncationCutsLongTexts) {
  // 600 more characters (a token each) after the mask: past the model's 512 positions.
  std::string text = "北京是中国的[MASK]都。";
  for (int i = 0; i < 600; ++i) text += "天";
  HttpReply refused = post("/v1/fill-mask", {{"text", text}});
  expect_error(refused, 400, "too_long");
  HttpReply r = post("/v1/fill-mask", {{"text", text}, {"truncation", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  FillMaskOptions o;
  o.truncate = true;
  const FillMaskResult want = fill_mask_pipeline().run({text}, o)[0];
  ASSERT_TRUE(want.ok()) << want.error_message;
  const json b = json::parse(r.body);
  ASSERT_EQ(b["masks"].size(), 1u);
  EXPECT_EQ(b["masks"][0]["candidates"][0]["token"], want.masks[0].candidates[0].token);
  // The cached refusal is not served to the truncating request, nor the reverse.
  expect_error(post("/v1/fill-mask", {{"text", text}, {"truncation", false}}), 400, "too_long");
  expect_error(post("/v1/fill-mask", {{"text", text}, {"truncation", "yes"}}), 400, "bad_option");
}

TEST_F(ServerApi, PredictDropInRoute) {
  const std::string text = "今天天气很[MASK]。";
  HttpReply r = post("/predict", {{"text", text}});
  ASSERT_EQ(r.status, 200) << r.body;
  json b = json::parse(r.body);
  const FillMaskResult want = fill_mask_pipeline().run({text}, {})[0];
  ASSERT_EQ(b["results"].size(), 5u);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(b["results"][k]["token"], want.masks[0].candidates[k].token);
    EXPECT_NEAR(b["results"][k]["score"].get<double>(), want.masks[0].candidates[k].score, 1e-6);
    EXPECT_EQ(b["results"][k].size(), 2u) << "token and score only";
  }
  expect_error(post("/predict", {{"text", "没有掩码。"}}), 400, "no_mask");
}

TEST_F(ServerApi, ModelsHealthReadiness) {
  HttpReply r = http(server_->port(), "GET", "/v1/models");
  ASSERT_EQ(r.status, 200);
  json b = json::parse(r.body);
  ASSERT_EQ(b["models"].size(), 2u);
  EXPECT_EQ(b["models"][0]["task"], "ner");
  EXPECT_EQ(b["models"][0]["name"], "tiny-bert-ner");
  EXPECT_EQ(b["models"][0]["labels"], json(ner_pipeline().config().labels));
  EXPECT_EQ(b["models"][1]["task"], "fill-mask");
  EXPECT_EQ(b["models"][1]["name"], "tiny-bert-mlm");
  r = http(server_->port(), "GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "ok");
  r = http(server_->port(), "GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "ready");
}

TEST_F(ServerApi, MetricsCountRequestsByRouteAndStatus) {
  post("/v1/ner", {{"text", "张三"}});
  post_raw("/v1/ner", "{");
  // A request is counted when its connection finishes (error answers close after a lingering
  // read), which can be just after the client has its answer: poll briefly for the counts.
  HttpReply r;
  for (int attempt = 0; attempt < 100; ++attempt) {
    r = http(server_->port(), "GET", "/metrics");
    if (r.status == 200 &&
        metric(r.body, R"(tanzhen_http_requests_total{route="/v1/ner",status="400"})") >= 1 &&
        metric(r.body, R"(tanzhen_http_request_duration_seconds_count{route="/v1/ner"})") >= 2)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_GE(metric(r.body, R"(tanzhen_http_requests_total{route="/v1/ner",status="200"})"), 1);
  EXPECT_GE(metric(r.body, R"(tanzhen_http_requests_total{route="/v1/ner",status="400"})"), 1);
  EXPECT_GE(metric(r.body, R"(tanzhen_http_request_duration_seconds_count{route="/v1/ner"})"), 2);
  EXPECT_GE(metric(r.body, R"(tanzhen_batch_size_count{task="ner"})"), 1);
  EXPECT_GE(metric(r.body, R"(tanzhen_batch_tokens_count{task="ner"})"), 1);
  EXPECT_EQ(metric(r.body, R"(tanzhen_queue_depth{task="ner"})"), 0);
  EXPECT_GE(metric(r.body, R"(tanzhen_cache_misses_total{task="ner"})"), 1);
  EXPECT_GT(metric(r.body, "process_resident_memory_bytes"), 1e6);
}

TEST_F(ServerApi, WebUiAndOpenApi) {
  HttpReply r = http(server_->port(), "GET", "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<html"), std::string::npos);
  r = http(server_->port(), "GET", "/openapi.json");
  ASSERT_EQ(r.status, 200);
  json spec = json::parse(r.body);
  EXPECT_EQ(spec["openapi"].get<std::string>().substr(0, 2), "3.");
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/v1/ner", "post"},   {"/v1/fill-mask", "post"}, {"/ner", "post"},     {"/predict", "post"},
      {"/v1/models", "get"}, {"/healthz", "get"},       {"/readyz", "get"},   {"/metrics", "get"},
      {"/openapi.json", "get"}, {"/", "get"}};
  for (const auto& [path, method] : routes) {
    ASSERT_TRUE(spec["paths"].contains(path)) << path;
    EXPECT_TRUE(spec["paths"][path].contains(method)) << path << " " << method;
  }
  // Every error code the server can answer is documented.
  for (const char* code : {"invalid_json", "invalid_utf8", "invalid_request", "text_too_long", "too_many_texts",
                           "bad_option", "body_too_large", "unsupported_encoding", "queue_full",
                           "deadline_exceeded", "not_found", "method_not_allowed", "model_unavailable", "no_mask",
                           "shutting_down"})
    EXPECT_NE(r.body.find(code), std::string::npos) << code;
}

TEST_F(ServerApi, HeadIsGetWithoutTheBody) {
  HttpReply get = http(server_->port(), "GET", "/");
  HttpReply head = http(server_->port(), "HEAD", "/");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.header("content-length"), std::to_string(get.body.size()));
  EXPECT_EQ(http(server_->port(), "HEAD", "/healthz").status, 200);
  // The connection stays usable: a HEAD answer must not carry a body.
  EXPECT_EQ(http(server_->port(), "GET", "/healthz").status, 200);
}

TEST_F(ServerApi, RequestErrors) {
  expect_error(post_raw("/v1/ner", "{\"text\": "), 400, "invalid_json");
  expect_error(post_raw("/v1/ner", ""), 400, "invalid_json");
  expect_error(post_raw("/v1/ner", "{\"text\": \"\xff\xfe\"}"), 400, "invalid_utf8");
  expect_error(post_raw("/v1/fill-mask", "{\"text\": \"\xc0\xaf[MASK]\"}"), 400, "invalid_utf8");
  expect_error(post_raw("/v1/ner", "[\"text\"]"), 400, "invalid_request");
  expect_error(post("/v1/ner", json::object()), 400, "invalid_request");
  expect_error(post("/v1/ner", {{"text", 5}}), 400, "invalid_request");
  expect_error(post("/v1/ner", {{"text", "a"}, {"texts", {"b"}}}), 400, "invalid_request");
  expect_error(post("/v1/ner", {{"texts", json::array()}}), 400, "invalid_request");
  expect_error(post("/v1/ner", {{"texts", {"a", 1}}}), 400, "invalid_request");
  expect_error(post("/v1/ner", {{"texts", std::vector<std::string>(9, "张三")}}), 400, "too_many_texts");
  expect_error(post("/v1/ner", {{"text", std::string(2001, 'x')}}), 400, "text_too_long");
  // The limit counts characters, not bytes: 2000 Chinese characters (6000 bytes) are fine.
  std::string zh;
  for (int i = 0; i < 2000; ++i) zh += "中";
  EXPECT_EQ(post("/v1/ner", {{"text", zh}}).status, 200);
  expect_error(post("/v1/ner", {{"text", "a"}, {"aggregation", "median"}}), 400, "bad_option");
  expect_error(post("/v1/ner", {{"text", "a"}, {"offsets", "bytes"}}), 400, "bad_option");
  expect_error(post("/v1/ner", {{"text", "a"}, {"window", 2}}), 400, "bad_option");
  expect_error(post("/v1/ner", {{"text", "a"}, {"window", 513}}), 400, "bad_option");
  expect_error(post("/v1/ner", {{"text", "a"}, {"stride", "2"}}), 400, "bad_option");
  expect_error(post("/v1/fill-mask", {{"text", "[MASK]"}, {"top_k", 0}}), 400, "bad_option");
  expect_error(post("/v1/fill-mask", {{"text", "[MASK]"}, {"targets", "北"}}), 400, "bad_option");
  expect_error(post_raw("/v1/ner", "{\"text\": \"" + std::string(20001, 'x') + "\"}"), 413, "body_too_large");
  // A compressed body is named as such, not reported as "invalid JSON"; identity is no encoding.
  const std::string body = "{\"text\": \"张三\"}";
  expect_error(http(server_->port(), "POST", "/v1/ner", body, {{"Content-Encoding", "gzip"}}), 415,
               "unsupported_encoding");
  expect_error(http(server_->port(), "POST", "/predict", "{\"text\": \"[MASK]\"}", {{"Content-Encoding", "br"}}),
               415, "unsupported_encoding");
  EXPECT_EQ(http(server_->port(), "POST", "/v1/ner", body, {{"Content-Encoding", "Identity"}}).status, 200);
  // ?stream takes true / false (1 / 0) on /v1/ner only: a client asking to stream elsewhere, or
  // with a value we do not know, is told rather than answered with one JSON body.
  expect_error(post("/v1/ner?stream=yes", {{"text", "张三"}}), 400, "bad_option");
  expect_error(post("/v1/fill-mask?stream=true", {{"text", "[MASK]"}}), 400, "bad_option");
  expect_error(post("/ner?stream=true", {{"text", "张三"}}), 400, "bad_option");
  EXPECT_EQ(post("/v1/ner?stream=false", {{"text", "张三"}}).status, 200);
  EXPECT_EQ(post("/v1/ner?stream=0&x=1", {{"text", "张三"}}).status, 200);
  expect_error(http(server_->port(), "GET", "/nope"), 404, "not_found");
  expect_error(http(server_->port(), "DELETE", "/v1/ner"), 405, "method_not_allowed");
  HttpReply r = http(server_->port(), "GET", "/v1/ner");
  expect_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("allow"), "POST");
  // The server is still fine after all that.
  EXPECT_EQ(post("/v1/ner", {{"text", "张三"}}).status, 200);
}

TEST_F(ServerApi, KeepAliveServesManyRequestsOnOneConnection) {
  namespace beast = boost::beast;
  namespace bhttp = beast::http;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server_->port()));
  for (int i = 0; i < 5; ++i) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/ner", 11};
    req.set(bhttp::field::host, "x");
    req.body() = json{{"text", "张三在北京" + std::to_string(i)}}.dump();
    req.prepare_payload();
    bhttp::write(stream, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buf, res);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(ServerApi, RequestIdsAreEchoedOrGenerated) {
  HttpReply r = http(server_->port(), "GET", "/healthz", "", {{"X-Request-Id", "test-id.42"}});
  EXPECT_EQ(r.header("x-request-id"), "test-id.42");
  r = http(server_->port(), "GET", "/healthz", "", {{"X-Request-Id", "bad id with spaces"}});
  EXPECT_FALSE(r.header("x-request-id").empty());
  EXPECT_NE(r.header("x-request-id"), "bad id with spaces");
}

TEST_F(ServerApi, ExpectContinueIsAnswered) {
  int fd = raw_connect(server_->port());
  ASSERT_GE(fd, 0);
  const std::string body = json{{"text", "张三"}}.dump();
  const std::string head = "POST /v1/ner HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                           "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  char buf[64] = {};
  ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n).rfind("HTTP/1.1 100 Continue", 0), 0u);
  ::send(fd, body.data(), body.size(), 0);
  const std::string rest = raw_read_all(fd, 5s);
  EXPECT_NE(rest.find("HTTP/1.1 200"), std::string::npos) << rest;
  ::close(fd);
}

TEST_F(ServerApi, MalformedHttpGets400) {
  int fd = raw_connect(server_->port());
  ASSERT_GE(fd, 0);
  const std::string junk = "THIS IS NOT HTTP\r\n\r\n";
  ::send(fd, junk.data(), junk.size(), 0);
  bool closed = false;
  const std::string reply = raw_read_all(fd, 5s, &closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_TRUE(closed);
  ::close(fd);
}

}  // namespace
}  // namespace tanzhen::testing
