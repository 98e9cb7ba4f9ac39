// POST /v1/ner, POST /ner (drop-in, one text) and POST /v1/ner?stream=true (NDJSON).
#include <spdlog/spdlog.h>

#include "server/routes.h"
#include "server/segment.h"
#include "server/text_jobs.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen::server {
namespace {

struct NerRequestOptions {
  NerOptions opts;
  OffsetUnit unit = OffsetUnit::kCodePoint;
  std::string group;  // batch group and cache key part: everything that changes the result
};

NerRequestOptions read_ner_options(const json& body, int max_tokens) {
  NerRequestOptions r;
  const std::string agg = read_choice(body, "aggregation", "first", {"simple", "first", "average", "max"});
  r.opts.aggregation = parse_aggregation(agg);
  r.unit = parse_offset_unit(read_choice(body, "offsets", "codepoint", {"codepoint", "utf8", "utf16"}));
  r.opts.window = read_int(body, "window", 0, 0, max_tokens);
  if (r.opts.window != 0 && r.opts.window < 3)
    throw ApiError(400, "bad_option", "\"window\" must be 0 (the model's maximum) or from 3 to " +
                                          std::to_string(max_tokens));
  const int content = (r.opts.window ? r.opts.window : max_tokens) - 2;
  r.opts.stride = read_int(body, "stride", 0, 0, content);
  r.group = "aggregation=" + agg + ";window=" + std::to_string(r.opts.window) +
            ";stride=" + std::to_string(r.opts.stride);
  return r;
}

// A text's result as cached: entities with code-point offsets (unit-independent).
json ner_result_json(const NerResult& r) {
  if (!r.ok()) return {{"error", {{"code", r.error_code}, {"message", r.error_message}}}};
  json ents = json::array();
  for (const Entity& e : r.entities)
    ents.push_back({{"type", e.type}, {"start", e.start}, {"end", e.end}, {"text", e.text},
                    {"score", json_float(e.score)}});
  return {{"entities", std::move(ents)}};
}

// Entities with offsets moved by `shift` code points and expressed in `unit`.
json convert_entities(const json& entities, const OffsetMap* map, OffsetUnit unit, int shift) {
  json out = json::array();
  for (const json& e : entities) {
    json c = e;
    const int start = e["start"].get<int>() + shift, end = e["end"].get<int>() + shift;
    c["start"] = map ? map->to(unit, start) : start;
    c["end"] = map ? map->to(unit, end) : end;
    out.push_back(std::move(c));
  }
  return out;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

void Api::ner(HttpRequest& req, const std::shared_ptr<Responder>& responder, bool drop_in) {
  if (!ner_) throw ApiError(503, "model_unavailable", "no NER model is loaded (start the server with --ner DIR)");
  const json body = parse_json_body(req);
  if (read_stream_flag(req, /*route_streams=*/!drop_in)) return ner_stream(req, responder, body);
  const TextsInput in = read_texts(body, opts_.limits, !drop_in);
  const NerRequestOptions o = read_ner_options(body, ner_->max_tokens);

  TextJobContext ctx{cache_.get(), metrics_, "ner", ner_->model_id, o.group,
                     req.received + opts_.deadline, responder->cancelled(), draining_};
  const auto received = req.received;
  auto texts = std::make_shared<std::vector<std::string>>(in.texts);
  run_texts_collected<NerBatcher>(
      *ner_batcher_, ctx, o.opts, in.texts, ner_result_json,
      responder, in.single, [texts, responder, received, unit = o.unit, single = in.single](CollectedResults& got) {
        json results = json::array();
        for (size_t i = 0; i < got.items.size(); ++i) {
          json& item = got.items[i];
          if (item.contains("error")) {
            results.push_back(std::move(item));
            continue;
          }
          std::optional<OffsetMap> map;
          if (unit != OffsetUnit::kCodePoint) map.emplace(decode_utf8((*texts)[i]));
          results.push_back({{"entities", convert_entities(item["entities"], map ? &*map : nullptr, unit, 0)},
                             {"cached", static_cast<bool>(got.cached[i])}});
        }
        json out = {{"results", results}};
        if (single) out["entities"] = results[0]["entities"];
        out["timing_ms"] = ms_since(received);
        responder->send(json_response(200, out));
      });
}

// The document is cut into paragraphs / sentence runs that fit one model window; each piece is
// one NDJSON line, sent as soon as it is tagged (pieces of one document may share batches with
// each other and with other requests), with offsets into the whole text. A last line says done.
void Api::ner_stream(HttpRequest& req, const std::shared_ptr<Responder>& responder, const json& body) {
  const TextsInput in = read_texts(body, opts_.limits, /*allow_texts=*/false);
  const NerRequestOptions o = read_ner_options(body, ner_->max_tokens);
  auto text = std::make_shared<std::u32string>(decode_utf8(in.texts[0]));
  auto map = std::make_shared<OffsetMap>(*text);
  const int window = o.opts.window ? o.opts.window : ner_->max_tokens;
  const std::vector<Segment> segments = split_segments(*text, window - 2);
  std::vector<std::string> pieces;
  for (const Segment& s : segments) pieces.push_back(encode_utf8(std::u32string_view(*text).substr(s.start, s.end - s.start)));

  TextJobContext ctx{cache_.get(), metrics_, "ner", ner_->model_id, o.group,
                     req.received + opts_.deadline, responder->cancelled(), draining_};
  struct Progress {
    bool begun = false;
    size_t entities = 0;
  };
  auto progress = std::make_shared<Progress>();
  const auto received = req.received;
  const OffsetUnit unit = o.unit;
  auto begin = [progress, responder] {
    if (progress->begun) return;
    progress->begun = true;
    responder->begin_stream(200, "application/x-ndjson");
  };
  auto line = [](const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; };
  run_texts<NerBatcher>(
      *ner_batcher_, ctx, o.opts, pieces, ner_result_json,
      [=](size_t i, json&& item, bool cached) {
        begin();
        const Segment& s = segments[i];
        json out = {{"segment", i}, {"start", map->to(unit, s.start)}, {"end", map->to(unit, s.end)}};
        if (item.contains("error")) {
          out["error"] = item["error"];
        } else {
          out["entities"] = convert_entities(item["entities"], map.get(), unit, s.start);
          out["cached"] = cached;
          progress->entities += out["entities"].size();
        }
        responder->write_chunk(line(out));
      },
      [=](int status, const std::string& code, const std::string& message) {
        if (!progress->begun && (status == 429 || status == 503))
          return responder->send(api_error_response(ApiError(status, code, message)));
        begin();
        json done = {{"done", true}, {"segments", segments.size()}, {"entities", progress->entities},
                     {"timing_ms", ms_since(received)}};
        if (status != 200) done["error"] = {{"code", code}, {"message", message}};
        responder->write_chunk(line(done));
        responder->end_stream();
      });
}

}  // namespace tanzhen::server
