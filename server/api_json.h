// Reading API requests: the JSON body, "text" | "texts" with their limits, typed options.
// Anything wrong becomes an ApiError with the HTTP status and error code the API documents.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/http_server.h"

namespace tanzhen::server {

// Ordered, so that responses keep fields in the documented order (type, start, end, ...).
using json = nlohmann::ordered_json;

struct ApiError : std::runtime_error {
  ApiError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status(status), code(std::move(code)) {}
  int status;
  std::string code;
};

// The request's body as a JSON object. 415 unsupported_encoding when the client compressed it
// (Content-Encoding other than identity: the bytes would only fail as "invalid JSON"), 400
// invalid_utf8 when the bytes are not UTF-8 (checked first, so that the client learns which of
// the two is wrong), 400 invalid_json when they do not parse, 400 invalid_request when the value
// is not an object.
json parse_json_body(const HttpRequest& req);

struct TextLimits {
  size_t max_text_chars = 10000;  // code points per text
  size_t max_batch_texts = 64;    // texts per request
};

struct TextsInput {
  std::vector<std::string> texts;
  bool single = false;  // the request had "text", not "texts"
};

// Exactly one of "text" (a string) or "texts" (a non-empty array of strings). 400 too_many_texts
// / text_too_long past the limits. `allow_texts` = false for routes that take one text only.
TextsInput read_texts(const json& body, const TextLimits& limits, bool allow_texts = true);

// Optional integer field in [lo, hi] (400 bad_option otherwise).
int read_int(const json& body, const char* name, int fallback, int lo, int hi);
// Optional boolean field (400 bad_option for any other type).
bool read_bool(const json& body, const char* name, bool fallback);

// The ?stream= query flag: true for "true" or "1", false for "false", "0" or none. 400
// bad_option for any other value, and for any value on a route that does not stream
// (`route_streams` false): a client that asked to stream is never handed one JSON body instead.
bool read_stream_flag(const HttpRequest& req, bool route_streams);
// Optional string field, one of `allowed` (400 bad_option otherwise).
std::string read_choice(const json& body, const char* name, const std::string& fallback,
                        const std::vector<std::string>& allowed);

// Code points in valid UTF-8.
size_t count_code_points(const std::string& utf8);

// A float as the shortest decimal that reads back as the same float, so scores print as
// 0.9871 rather than 0.98710000514984131.
double json_float(float value);

HttpResponse json_response(int status, const json& body);
HttpResponse api_error_response(const ApiError& e);

}  // namespace tanzhen::server
