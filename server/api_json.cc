#include "server/api_json.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

#include "tanzhen/text/utf8.h"

namespace tanzhen::server {

json parse_json_body(const HttpRequest& req) {
  std::string encoding = req.header("content-encoding");
  for (char& c : encoding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!encoding.empty() && encoding != "identity")
    throw ApiError(415, "unsupported_encoding",
                   "Content-Encoding \"" + encoding + "\" is not supported: send the JSON body uncompressed");
  const std::string& body = req.body;
  if (!is_valid_utf8(body)) throw ApiError(400, "invalid_utf8", "request body is not valid UTF-8");
  json value;
  try {
    value = json::parse(body);
  } catch (const json::parse_error& e) {
    throw ApiError(400, "invalid_json", std::string("request body is not valid JSON: ") + e.what());
  }
  if (!value.is_object()) throw ApiError(400, "invalid_request", "request body must be a JSON object");
  return value;
}

bool read_stream_flag(const HttpRequest& req, bool route_streams) {
  const std::string v = req.query_param("stream");
  if (v.empty()) return false;
  if (!route_streams) throw ApiError(400, "bad_option", "only POST /v1/ner streams (?stream=true)");
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw ApiError(400, "bad_option", "?stream must be true or false, not \"" + v + "\"");
}

size_t count_code_points(const std::string& utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

TextsInput read_texts(const json& body, const TextLimits& limits, bool allow_texts) {
  const bool has_text = body.contains("text");
  const bool has_texts = allow_texts && body.contains("texts");
  if (has_text == has_texts)
    throw ApiError(400, "invalid_request",
                   allow_texts ? "give exactly one of \"text\" (a string) or \"texts\" (an array of strings)"
                   : body.contains("texts") ? "this endpoint takes one \"text\" (a string), not \"texts\""
                                            : "give \"text\" (a string)");
  TextsInput in;
  if (has_text) {
    if (!body["text"].is_string()) throw ApiError(400, "invalid_request", "\"text\" must be a string");
    in.texts.push_back(body["text"].get<std::string>());
    in.single = true;
  } else {
    const json& arr = body["texts"];
    if (!arr.is_array() || arr.empty())
      throw ApiError(400, "invalid_request", "\"texts\" must be a non-empty array of strings");
    if (arr.size() > limits.max_batch_texts)
      throw ApiError(400, "too_many_texts",
                     "\"texts\" has " + std::to_string(arr.size()) + " items; the limit is " +
                         std::to_string(limits.max_batch_texts));
    for (const json& t : arr) {
      if (!t.is_string()) throw ApiError(400, "invalid_request", "\"texts\" must be an array of strings");
      in.texts.push_back(t.get<std::string>());
    }
  }
  for (size_t i = 0; i < in.texts.size(); ++i) {
    const size_t n = count_code_points(in.texts[i]);
    if (n > limits.max_text_chars)
      throw ApiError(400, "text_too_long",
                     (in.single ? std::string("text") : "texts[" + std::to_string(i) + "]") + " has " +
                         std::to_string(n) + " characters; the limit is " +
                         std::to_string(limits.max_text_chars));
  }
  return in;
}

int read_int(const json& body, const char* name, int fallback, int lo, int hi) {
  if (!body.contains(name)) return fallback;
  const json& v = body[name];
  if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
    throw ApiError(400, "bad_option",
                   std::string("\"") + name + "\" must be an integer from " + std::to_string(lo) + " to " +
                       std::to_string(hi));
  return static_cast<int>(v.get<long long>());
}

bool read_bool(const json& body, const char* name, bool fallback) {
  if (!body.contains(name)) return fallback;
  const json& v = body[name];
  if (!v.is_boolean()) throw ApiError(400, "bad_option", std::string("\"") + name + "\" must be true or false");
  return v.get<bool>();
}

std::string read_choice(const json& body, const char* name, const std::string& fallback,
                        const std::vector<std::string>& allowed) {
  if (!body.contains(name)) return fallback;
  const json& v = body[name];
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  if (v.is_string())
    for (const auto& a : allowed)
      if (v.get<std::string>() == a) return a;
  throw ApiError(400, "bad_option", std::string("\"") + name + "\" must be one of: " + list);
}

double json_float(float value) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf - 1, value);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

HttpResponse json_response(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

HttpResponse api_error_response(const ApiError& e) {
  HttpResponse r = error_response(e.status, e.code, e.what());
  if (e.status == 429) r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace tanzhen::server
