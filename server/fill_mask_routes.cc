// POST /v1/fill-mask and POST /predict (drop-in: the first [MASK]'s candidates).
#include "server/routes.h"
#include "server/text_jobs.h"

namespace tanzhen::server {
namespace {

constexpr int kMaxTopK = 100;
constexpr size_t kMaxTargets = 100;

FillMaskOptions read_fill_mask_options(const json& body, std::string& group) {
  FillMaskOptions o;
  o.top_k = read_int(body, "top_k", 5, 1, kMaxTopK);
  if (body.contains("targets")) {
    const json& t = body["targets"];
    if (!t.is_array() || t.empty() || t.size() > kMaxTargets)
      throw ApiError(400, "bad_option",
                     "\"targets\" must be a non-empty array of at most " + std::to_string(kMaxTargets) + " strings");
    for (const json& s : t) {
      if (!s.is_string() || s.get<std::string>().empty() || s.get<std::string>().size() > 100)
        throw ApiError(400, "bad_option", "\"targets\" must hold non-empty strings of at most 100 bytes");
      o.targets.push_back(s.get<std::string>());
    }
  }
  // Hugging Face's tokenizer_kwargs={"truncation": True}: a text past the model's positions is
  // cut there (masks beyond the cut are not answered) instead of refused as too_long.
  o.truncate = read_bool(body, "truncation", false);
  group = "top_k=" + std::to_string(o.top_k) + ";targets=" + json(o.targets).dump() +
          ";truncation=" + (o.truncate ? "1" : "0");
  return o;
}

// A vocabulary token as text: WordPiece continuations lose their "##".
std::string surface(const std::string& token) { return token.rfind("##", 0) == 0 ? token.substr(2) : token; }

}  // namespace

void Api::fill_mask(HttpRequest& req, const std::shared_ptr<Responder>& responder, bool drop_in) {
  if (!fill_mask_)
    throw ApiError(503, "model_unavailable", "no fill-mask model is loaded (start the server with --fill-mask DIR)");
  const json body = parse_json_body(req);
  read_stream_flag(req, /*route_streams=*/false);
  const TextsInput in = read_texts(body, opts_.limits, !drop_in);
  std::string group;
  const FillMaskOptions options = read_fill_mask_options(body, group);

  auto texts = std::make_shared<std::vector<std::string>>(in.texts);
  // A text's result as cached: every mask's candidates, and the text with each [MASK] replaced
  // by its best candidate.
  auto to_json = [texts](const FillMaskResult& r) -> json {
    if (!r.ok()) return {{"error", {{"code", r.error_code}, {"message", r.error_message}}}};
    json masks = json::array();
    for (const MaskResult& m : r.masks) {
      json cands = json::array();
      for (const MaskCandidate& c : m.candidates)
        cands.push_back({{"token", c.token}, {"id", c.id}, {"score", json_float(c.score)}});
      masks.push_back({{"position", m.position}, {"candidates", std::move(cands)}});
    }
    return {{"masks", std::move(masks)}};
  };
  TextJobContext ctx{cache_.get(), metrics_, "fill_mask", fill_mask_->model_id, group,
                     req.received + opts_.deadline, responder->cancelled(), draining_};
  const auto received = req.received;
  const bool single = in.single;
  run_texts_collected<FillMaskBatcher>(
      *fill_mask_batcher_, ctx, options, in.texts, to_json,
      responder, single, [=](CollectedResults& got) {
        json results = json::array();
        for (size_t i = 0; i < got.items.size(); ++i) {
          json& item = got.items[i];
          if (item.contains("error")) {
            results.push_back(std::move(item));
            continue;
          }
          // The filled sentence: "[MASK]"s of the original text, in order, get the best tokens.
          std::string filled;
          const std::string& text = (*texts)[i];
          size_t pos = 0, k = 0;
          static const std::string kMask = "[MASK]";
          for (size_t at; (at = text.find(kMask, pos)) != std::string::npos; pos = at + kMask.size(), ++k) {
            filled += text.substr(pos, at - pos);
            const json& masks = item["masks"];
            if (k < masks.size() && !masks[k]["candidates"].empty())
              filled += surface(masks[k]["candidates"][0]["token"].get<std::string>());
            else
              filled += kMask;
          }
          filled += text.substr(pos);
          item["filled"] = std::move(filled);
          item["cached"] = static_cast<bool>(got.cached[i]);
          results.push_back(std::move(item));
        }
        if (drop_in) {  // {"results": [{"token", "score"}]} for the first mask
          if (results[0]["masks"].empty())
            return responder->send(error_response(400, "no_mask", "the text has no [MASK] token"));
          json cands = json::array();
          for (const json& c : results[0]["masks"][0]["candidates"])
            cands.push_back({{"token", c["token"]}, {"score", c["score"]}});
          return responder->send(json_response(200, {{"results", cands}}));
        }
        json out = {{"results", results}};
        if (single) {
          out["masks"] = results[0]["masks"];
          out["filled"] = results[0]["filled"];
        }
        out["timing_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - received).count();
        responder->send(json_response(200, out));
      });
}

}  // namespace tanzhen::server
