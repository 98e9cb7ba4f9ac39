// `tanzhen eval`: scores a model on a labelled file.
//
//   --task ner (default)  gold JSONL {"text", "entities": [{"start", "end", "type"}]} (code points,
//                         end exclusive) -> exact-match entity precision / recall / F1 overall
//                         and per type (conlleval's definition, see tasks/eval.h), error
//                         breakdown, throughput. --map renames gold and predicted types alike;
//                         types it does not name are kept as they are. --types then scores only
//                         the types it lists (others are dropped from both sides).
//   --task fill-mask      sentences (.jsonl "text" fields or plain lines) -> random CJK
//                         characters the vocabulary knows are replaced by [MASK] and the model's
//                         top-1 / top-5 accuracy at restoring them is reported. By default all
//                         masks of a sentence are predicted in one pass (as in MLM training);
//                         --one-at-a-time predicts each from its own copy of the sentence, with
//                         every other character visible.
// Throughput counts the pipeline calls only (tokenization included, model loading excluded).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>

#include "cli_common.h"
#include "command.h"
#include "tanzhen/error.h"
#include "tanzhen/kernels/threads.h"
#include "tanzhen/tasks/eval.h"
#include "tanzhen/tasks/fill_mask.h"
#include "tanzhen/tasks/ner.h"
#include "tanzhen/tasks/tag_scheme.h"
#include "tanzhen/text/bert_chars.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen::cli {
namespace {

struct EvalCliOptions {
  std::string task = "ner";
  std::string model_dir;
  std::string data;
  std::string map_spec;
  std::string types_spec;
  bool json_output = false;
  size_t limit = 0;
  int threads = 0;
  std::string dtype;  // "" = fp32 or a pre-quantized folder's own
  size_t batch_size = 32;
  double mask_rate = 0.15;
  uint32_t seed = 1;
  bool one_at_a_time = false;
};

int effective_threads(const EvalCliOptions& o) { return o.threads > 0 ? o.threads : kernels::available_cores(); }

// Wall-clock seconds spent inside pipeline calls, and what went through them.
struct Throughput {
  double seconds = 0;
  int64_t sentences = 0, chars = 0;
  std::string dtype;  // the precision the model ran at (effective_dtype)

  template <class F>
  auto time(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = f();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  json to_json(const EvalCliOptions& o) const {
    return json{{"seconds", seconds},
                {"sentences_per_s", seconds > 0 ? sentences / seconds : 0.0},
                {"chars_per_s", seconds > 0 ? chars / seconds : 0.0},
                {"threads", effective_threads(o)},
                {"dtype", dtype},
                {"batch_size", o.batch_size}};
  }
  void print(const EvalCliOptions& o) const {
    std::printf("throughput: %.2f s, %.1f sentences/s, %.0f chars/s (threads %d, batch %zu, dtype %s)\n",
                seconds, seconds > 0 ? sentences / seconds : 0.0, seconds > 0 ? chars / seconds : 0.0,
                effective_threads(o), o.batch_size, dtype.c_str());
  }
};

json prf_json(const PrfCounts& c) {
  return json{{"precision", c.precision()}, {"recall", c.recall()}, {"f1", c.f1()},
              {"tp", c.tp},               {"fp", c.fp},         {"fn", c.fn}};
}

void print_prf_row(const std::string& name, const PrfCounts& c) {
  std::printf("%-14s %9.2f %8.2f %8.2f %7lld %7lld %7lld\n", name.c_str(), 100 * c.precision(), 100 * c.recall(),
              100 * c.f1(), static_cast<long long>(c.tp), static_cast<long long>(c.fp),
              static_cast<long long>(c.fn));
}

// ---------------------------------------------------------------------------------------------
// NER

// Every --types entry must name a type of the gold data or of the model (after --map): a typo
// would otherwise drop everything of the type meant and report a clean-looking score of nothing.
void check_type_filter(const TypeFilter& filter, const TypeMap& map, const std::vector<NerExample>& examples,
                       const NerPipeline& pipeline) {
  if (filter.empty()) return;
  std::set<std::string, std::less<>> known;
  for (const NerExample& ex : examples)
    for (const LabeledSpan& e : ex.entities) known.insert(map.apply(e.type));
  for (const Tag& t : parse_tags(pipeline.config().labels))
    if (!t.type.empty()) known.insert(map.apply(t.type));
  const std::vector<std::string> missing = filter.missing_from(known);
  if (missing.empty()) return;
  std::string have;
  for (const std::string& t : known) have += (have.empty() ? "" : ", ") + t;
  fail("invalid_option", "--types " + missing.front() + ": neither the data nor the model has this type (after --map)" +
                             (have.empty() ? std::string() : "; types present: " + have));
}

int eval_ner(const EvalCliOptions& o) {
  const TypeMap type_map = TypeMap::parse(o.map_spec);
  const TypeFilter type_filter = TypeFilter::parse(o.types_spec);
  std::vector<NerExample> examples = read_ner_examples(o.data, o.limit);
  if (examples.empty()) fail("bad_data", o.data + " holds no examples");
  const std::string dir = resolve_model_dir(o.model_dir, "zh-ner-small");
  auto pipeline = NerPipeline::load(dir, encoder_options(o.dtype, o.threads));
  check_type_filter(type_filter, type_map, examples, *pipeline);

  EntityScorer scorer;
  Throughput tp;
  tp.dtype = effective_dtype(pipeline->encoder(), o.dtype, dir);
  Progress progress(examples.size(), isatty(STDERR_FILENO));
  for (size_t begin = 0; begin < examples.size(); begin += o.batch_size) {
    const size_t end = std::min(examples.size(), begin + o.batch_size);
    std::vector<std::string> texts;
    for (size_t i = begin; i < end; ++i) texts.push_back(examples[i].text);
    std::vector<NerResult> results = tp.time([&] { return pipeline->run(texts, NerOptions{}); });
    for (size_t i = begin; i < end; ++i) {
      const NerResult& r = results[i - begin];
      if (!r.ok()) fail(r.error_code, "example " + std::to_string(i + 1) + ": " + r.error_message);
      std::vector<LabeledSpan> predicted;
      for (const Entity& e : r.entities) predicted.push_back({e.type, e.start, e.end});
      std::vector<LabeledSpan> gold = std::move(examples[i].entities);
      type_map.apply(gold);
      type_map.apply(predicted);
      type_filter.apply(gold);
      type_filter.apply(predicted);
      scorer.add(std::move(gold), std::move(predicted));
      tp.chars += static_cast<int64_t>(decode_utf8(texts[i - begin]).size());
    }
    tp.sentences += static_cast<int64_t>(end - begin);
    progress.advance(end - begin);
  }

  const EntityScores& s = scorer.scores();
  if (o.json_output) {
    json per_type = json::object();
    for (const auto& [type, c] : s.per_type) per_type[type] = prf_json(c);
    json out{{"task", "ner"},
             {"overall", prf_json(s.overall)},
             {"per_type", std::move(per_type)},
             {"sentences", s.sentences},
             {"errors",
              {{"boundary", s.errors.boundary},
               {"type", s.errors.type},
               {"spurious", s.errors.spurious},
               {"missed", s.errors.missed}}},
             {"throughput", tp.to_json(o)}};
    std::printf("%s\n", dump_line(out).c_str());
    return 0;
  }
  std::printf("sentences %lld, gold entities %lld, predicted %lld\n", static_cast<long long>(s.sentences),
              static_cast<long long>(s.overall.tp + s.overall.fn), static_cast<long long>(s.overall.tp + s.overall.fp));
  std::printf("%-14s %9s %8s %8s %7s %7s %7s\n", "type", "precision", "recall", "f1", "tp", "fp", "fn");
  print_prf_row("overall", s.overall);
  for (const auto& [type, c] : s.per_type) print_prf_row(type, c);
  std::printf("errors: boundary %lld, type %lld, spurious %lld, missed %lld\n",
              static_cast<long long>(s.errors.boundary), static_cast<long long>(s.errors.type),
              static_cast<long long>(s.errors.spurious), static_cast<long long>(s.errors.missed));
  tp.print(o);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Fill-mask

// One pipeline input: a sentence with some characters replaced by the mask token, and the
// characters that were there, in order.
struct MaskJob {
  std::string text;
  std::vector<std::string> answers;
};

std::string with_masks(const std::u32string& text, const std::vector<int>& positions, const std::string& mask) {
  std::string out;
  size_t next = 0;
  for (int i = 0; i < static_cast<int>(text.size()); ++i) {
    if (next < positions.size() && positions[next] == i) {
      out += mask;
      ++next;
    } else {
      out += encode_utf8(text[i]);
    }
  }
  return out;
}

int eval_fill_mask(const EvalCliOptions& o) {
  if (!(o.mask_rate > 0 && o.mask_rate <= 1)) fail("invalid_option", "--mask-rate must be in (0, 1]");
  std::vector<std::string> sentences = read_sentences(o.data, o.limit);
  if (sentences.empty()) fail("bad_data", o.data + " holds no sentences");
  const std::string dir = resolve_model_dir(o.model_dir, "zh-mlm-small");
  auto pipeline = FillMaskPipeline::load(dir, encoder_options(o.dtype, o.threads));
  const std::string dtype = effective_dtype(pipeline->encoder(), o.dtype, dir);
  const BertTokenizer& tok = pipeline->tokenizer();
  const std::string& mask = tok.config().mask_token;

  // Masks are drawn for all sentences up front, in order, so that --batch-size and --threads
  // never change which characters are masked.
  std::mt19937 rng(o.seed);
  std::vector<MaskJob> jobs;
  int64_t skipped = 0, chars = 0;
  for (const std::string& sentence : sentences) {
    const std::u32string text = decode_utf8(sentence);
    chars += static_cast<int64_t>(text.size());
    std::vector<int> candidates;
    for (int i = 0; i < static_cast<int>(text.size()); ++i)
      if (bert::is_chinese_char(text[i]) && tok.token_to_id(encode_utf8(text[i])) != tok.unk_id())
        candidates.push_back(i);
    // A sentence that already holds the mask token would misalign answers and predictions.
    if (candidates.empty() || sentence.find(mask) != std::string::npos) {
      ++skipped;
      continue;
    }
    const std::vector<int> positions = choose_mask_positions(candidates, o.mask_rate, rng);
    if (o.one_at_a_time) {
      for (int p : positions) jobs.push_back({with_masks(text, {p}, mask), {encode_utf8(text[p])}});
    } else {
      MaskJob job{with_masks(text, positions, mask), {}};
      for (int p : positions) job.answers.push_back(encode_utf8(text[p]));
      jobs.push_back(std::move(job));
    }
  }

  FillMaskOptions opts;
  opts.top_k = 5;
  opts.truncate = true;  // masks past the model's maximum length are dropped (counted below)
  MaskAccuracy acc;
  int64_t truncated = 0;
  Throughput tp;
  tp.dtype = dtype;
  Progress progress(jobs.size(), isatty(STDERR_FILENO));
  for (size_t begin = 0; begin < jobs.size(); begin += o.batch_size) {
    const size_t end = std::min(jobs.size(), begin + o.batch_size);
    std::vector<std::string> texts;
    for (size_t i = begin; i < end; ++i) texts.push_back(jobs[i].text);
    std::vector<FillMaskResult> results = tp.time([&] { return pipeline->run(texts, opts); });
    for (size_t i = begin; i < end; ++i) {
      const FillMaskResult& r = results[i - begin];
      const MaskJob& job = jobs[i];
      if (!r.ok() && r.error_code != "no_mask") fail(r.error_code, "sentence: " + r.error_message);
      if (r.masks.size() > job.answers.size()) fail("internal", "more masks predicted than placed");
      for (size_t m = 0; m < r.masks.size(); ++m) {
        std::vector<std::string> ranked;
        for (const MaskCandidate& c : r.masks[m].candidates) ranked.push_back(c.token);
        acc.add(job.answers[m], ranked);
      }
      truncated += static_cast<int64_t>(job.answers.size() - r.masks.size());
    }
    progress.advance(end - begin);
  }
  // Throughput in sentences of the input: with --one-at-a-time each is run several times.
  tp.sentences = static_cast<int64_t>(sentences.size()) - skipped;
  tp.chars = chars;

  const char* mode = o.one_at_a_time ? "one-at-a-time" : "joint";
  if (o.json_output) {
    json out{{"task", "fill-mask"},
             {"sentences", static_cast<int64_t>(sentences.size())},
             {"skipped_sentences", skipped},
             {"masks", acc.masks},
             {"top1", acc.top1},
             {"top5", acc.top5},
             {"top1_accuracy", acc.top1_accuracy()},
             {"top5_accuracy", acc.top5_accuracy()},
             {"truncated_masks", truncated},
             {"mask_rate", o.mask_rate},
             {"seed", o.seed},
             {"mode", mode},
             {"throughput", tp.to_json(o)}};
    std::printf("%s\n", dump_line(out).c_str());
    return 0;
  }
  std::printf("sentences %zu (%lld without a maskable character), masks %lld (%s, rate %.3f, seed %u)\n",
              sentences.size(), static_cast<long long>(skipped), static_cast<long long>(acc.masks), mode,
              o.mask_rate, o.seed);
  std::printf("top-1 accuracy %.2f%% (%lld), top-5 accuracy %.2f%% (%lld)\n", 100 * acc.top1_accuracy(),
              static_cast<long long>(acc.top1), 100 * acc.top5_accuracy(), static_cast<long long>(acc.top5));
  if (truncated > 0) std::printf("masks beyond the model's maximum length (not scored): %lld\n", static_cast<long long>(truncated));
  tp.print(o);
  return 0;
}

const RegisterCommand kRegister{
    "eval", "Evaluate a model on labelled data: NER entity P/R/F1, or fill-mask top-1/top-5 accuracy",
    [](CLI::App& app) -> std::function<int()> {
      auto o = std::make_shared<EvalCliOptions>();
      app.add_option("--task", o->task, "ner (default) or fill-mask")->check(CLI::IsMember({"ner", "fill-mask"}));
      app.add_option("-m,--model", o->model_dir,
                     "Model folder (default: the default model of the task, zh-ner-small or zh-mlm-small, found "
                     "as the ner / fill-mask commands find it)");
      app.add_option("-d,--data", o->data,
                     "ner: JSONL {\"text\", \"entities\": [{\"start\", \"end\", \"type\"}]} (code points, end "
                     "exclusive); fill-mask: .jsonl with \"text\" or plain text, one sentence per line")
          ->required();
      app.add_option("--map", o->map_spec,
                     "ner: rename types in gold and predictions, e.g. name=PER,address=LOC (unnamed types are kept)");
      app.add_option("--types", o->types_spec,
                     "ner: score only these types (after --map), e.g. PER,LOC,ORG; entities of other types "
                     "are dropped from gold and predictions (default: all types)");
      app.add_flag("--json", o->json_output, "Print one JSON object instead of a table");
      app.add_option("--limit", o->limit, "Evaluate the first N examples only (default: all)");
      add_threads_option(app, &o->threads);
      add_dtype_option(app, &o->dtype);
      app.add_option("--batch-size", o->batch_size, "Texts per pipeline call (default 32)")->check(CLI::Range(1, 4096));
      app.add_option("--mask-rate", o->mask_rate, "fill-mask: share of maskable characters masked (default 0.15)");
      app.add_option("--seed", o->seed, "fill-mask: random seed of the masks (default 1)");
      app.add_flag("--one-at-a-time", o->one_at_a_time,
                   "fill-mask: predict each mask from its own copy of the sentence (default: all masks at once)");
      return [o] { return o->task == "fill-mask" ? eval_fill_mask(*o) : eval_ner(*o); };
    }};

}  // namespace
}  // namespace tanzhen::cli
