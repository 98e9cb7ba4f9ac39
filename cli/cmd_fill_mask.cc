// `tanzhen fill-mask`: top-k candidates for every [MASK] of a TEXT, of each line of stdin, or of
// each record of a JSONL file. Output: the record with "masks": [{position, candidates}] added.
#include <sstream>
#include <string>

#include "cli_common.h"
#include "command.h"
#include "tanzhen/tasks/fill_mask.h"

namespace tanzhen::cli {
namespace {

struct FillMaskCliOptions {
  std::string model_dir;
  IoOptions io;
  int top_k = 5, threads = 0;
  std::string dtype;  // "" = fp32 or a pre-quantized folder's own
  std::string targets;
  bool emit_tokens = false, emit_logits = false, truncate = false;
};

std::vector<std::string> split_targets(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

json fill_mask_json(const FillMaskResult& r, const FillMaskCliOptions& o) {
  if (!r.ok()) return error_object(r.error_code, r.error_message);
  json out = json::object();
  json masks = json::array();
  for (const MaskResult& m : r.masks) {
    json candidates = json::array();
    for (const MaskCandidate& c : m.candidates)
      candidates.push_back(json{{"token", c.token}, {"id", c.id}, {"score", json_float(c.score)}});
    json mask{{"position", m.position}, {"candidates", std::move(candidates)}};
    if (o.emit_logits) {
      json top = json::array();
      for (const auto& [id, logit] : m.top_logits) top.push_back(json::array({id, json_float(logit)}));
      mask["top_logits"] = std::move(top);
    }
    masks.push_back(std::move(mask));
  }
  out["masks"] = std::move(masks);
  if (o.emit_tokens) {
    json offsets = json::array();
    for (const Span& s : r.encoding.offsets) offsets.push_back(json::array({s.start, s.end}));
    out["input_ids"] = r.encoding.ids;
    out["tokens"] = r.encoding.tokens;
    out["offsets"] = std::move(offsets);
  }
  return out;
}

int run_fill_mask(const FillMaskCliOptions& o) {
  FillMaskOptions opts;
  opts.top_k = o.top_k;
  opts.targets = split_targets(o.targets);
  opts.truncate = o.truncate;
  opts.keep_encoding = o.emit_tokens;
  opts.keep_logits = o.emit_logits;
  const std::string dir = resolve_model_dir(o.model_dir, "zh-mlm-small");
  auto pipeline = FillMaskPipeline::load(dir, encoder_options(o.dtype, o.threads));
  effective_dtype(pipeline->encoder(), o.dtype, dir);  // notes a --dtype that does not apply
  return run_records(o.io, [&](const std::vector<std::string>& texts) {
    std::vector<FillMaskResult> results = pipeline->run(texts, opts);
    std::vector<json> out;
    for (const auto& r : results) out.push_back(fill_mask_json(r, o));
    return out;
  });
}

const RegisterCommand kRegister{
    "fill-mask", "Fill [MASK] tokens: top-k candidates with probabilities",
    [](CLI::App& app) -> std::function<int()> {
      auto o = std::make_shared<FillMaskCliOptions>();
      app.add_option("-m,--model", o->model_dir,
                     "Model folder (default: $TANZHEN_MODELS/zh-mlm-small, else the installed models/zh-mlm-small)");
      app.add_option("text", o->io.text, "Text with [MASK] tokens (default: each line of stdin is one text)");
      app.add_option("-i,--input", o->io.input, "JSONL input, one {\"id\":..., \"text\":...} per line (- = stdin)");
      app.add_option("-o,--output", o->io.output, "Output file (default: stdout)");
      app.add_option("--top-k", o->top_k, "Candidates per mask (default 5)");
      app.add_option("--targets", o->targets,
                     "Comma-separated tokens to rank instead of the whole vocabulary (a word missing from the "
                     "vocabulary stands for its first word piece)");
      app.add_flag("--emit-tokens", o->emit_tokens, "Add input_ids, tokens and offsets");
      app.add_flag("--emit-logits", o->emit_logits, "Add top_logits: the 10 best [id, logit] per mask");
      app.add_flag("--truncate", o->truncate, "Cut long texts at the model's maximum length");
      add_threads_option(app, &o->threads);
      add_dtype_option(app, &o->dtype);
      app.add_option("--batch-size", o->io.batch_size, "Records per batch (default 32)");
      return [o, &app] {
        o->io.has_text = app.count("text") > 0;
        return run_fill_mask(*o);
      };
    }};

}  // namespace
}  // namespace tanzhen::cli
