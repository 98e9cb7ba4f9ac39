// `tanzhen ner`: named entities of a TEXT, of each line of stdin, or of each record of a JSONL
// file. Output: the record with "entities": [{type, start, end, text, score}] added.
#include <string>

#include "cli_common.h"
#include "command.h"
#include "tanzhen/tasks/ner.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen::cli {
namespace {

struct NerCliOptions {
  std::string model_dir;
  IoOptions io;
  bool emit_tokens = false, emit_logits = false, truncate = false;
  int window = 0, stride = 0, threads = 0;
  std::string dtype;  // "" = fp32 or a pre-quantized folder's own
  std::string aggregation = "first";
  std::string offsets = "codepoint";
};

// The added fields of one result (or its error).
json ner_json(const NerPipeline& pipeline, const NerResult& r, const std::string& text, OffsetUnit unit,
              const NerCliOptions& o) {
  if (!r.ok()) return error_object(r.error_code, r.error_message);
  OffsetMap map(decode_utf8(text));
  json out = json::object();
  json entities = json::array();
  for (const Entity& e : r.entities)
    entities.push_back(json{{"type", e.type},
                            {"start", map.to(unit, e.start)},
                            {"end", map.to(unit, e.end)},
                            {"text", e.text},
                            {"score", json_float(e.score)}});
  out["entities"] = std::move(entities);
  if (o.emit_tokens) {
    json offsets = json::array();
    for (const Span& s : r.encoding.offsets) offsets.push_back(json::array({map.to(unit, s.start), map.to(unit, s.end)}));
    out["input_ids"] = r.encoding.ids;
    out["tokens"] = r.encoding.tokens;
    out["offsets"] = std::move(offsets);
  }
  if (o.emit_logits) {
    json rows = json::array();
    for (int t = 0; t < r.logits.rows; ++t) {
      json row = json::array();
      for (int j = 0; j < r.logits.cols; ++j) row.push_back(json_float(r.logits.row(t)[j]));
      rows.push_back(std::move(row));
    }
    out["logits"] = std::move(rows);
    if (pipeline.is_crf()) out["tags"] = r.tags;
  }
  return out;
}

int run_ner(const NerCliOptions& o) {
  NerOptions opts;
  opts.aggregation = parse_aggregation(o.aggregation);
  opts.window = o.window;
  opts.stride = o.stride;
  opts.truncate = o.truncate;
  opts.keep_encoding = o.emit_tokens;
  opts.keep_logits = o.emit_logits;
  const OffsetUnit unit = parse_offset_unit(o.offsets);
  const std::string dir = resolve_model_dir(o.model_dir, "zh-ner-small");
  auto pipeline = NerPipeline::load(dir, encoder_options(o.dtype, o.threads));
  effective_dtype(pipeline->encoder(), o.dtype, dir);  // notes a --dtype that does not apply
  return run_records(o.io, [&](const std::vector<std::string>& texts) {
    std::vector<NerResult> results = pipeline->run(texts, opts);
    std::vector<json> out;
    for (size_t i = 0; i < texts.size(); ++i) out.push_back(ner_json(*pipeline, results[i], texts[i], unit, o));
    return out;
  });
}

const RegisterCommand kRegister{
    "ner", "Named-entity recognition: entities with code-point spans and scores",
    [](CLI::App& app) -> std::function<int()> {
      auto o = std::make_shared<NerCliOptions>();
      app.add_option("-m,--model", o->model_dir,
                     "Model folder (default: $TANZHEN_MODELS/zh-ner-small, else the installed models/zh-ner-small)");
      app.add_option("text", o->io.text, "Text to analyse (default: each line of stdin is one text)");
      app.add_option("-i,--input", o->io.input, "JSONL input, one {\"id\":..., \"text\":...} per line (- = stdin)");
      app.add_option("-o,--output", o->io.output, "Output file (default: stdout)");
      app.add_flag("--emit-tokens", o->emit_tokens, "Add input_ids, tokens and offsets");
      app.add_flag("--emit-logits", o->emit_logits, "Add raw per-token logits (CRF: emissions, plus tags)");
      app.add_flag("--truncate", o->truncate, "Cut long texts at the model's maximum length instead of windowing");
      app.add_option("--window", o->window, "Window size in tokens for long texts (default: model maximum)");
      app.add_option("--stride", o->stride, "Window step in tokens (default: half a window)");
      app.add_option("--aggregation", o->aggregation, "Sub-word aggregation: first (default), simple, average, max");
      app.add_option("--offsets", o->offsets, "Unit of entity start/end (and token offsets): codepoint (default), utf8, utf16");
      add_threads_option(app, &o->threads);
      add_dtype_option(app, &o->dtype);
      app.add_option("--batch-size", o->io.batch_size, "Records per batch (default 32)");
      return [o, &app] {
        o->io.has_text = app.count("text") > 0;
        return run_ner(*o);
      };
    }};

}  // namespace
}  // namespace tanzhen::cli
