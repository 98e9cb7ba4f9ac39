// NerPipeline: tokenize every text, cut long ones into windows, run all windows of all texts
// through the encoder in length-sorted batches, merge each text's windows back into one logit
// row per token, then decode (softmax + aggregation, or CRF).
#include "tanzhen/model/quantized_checkpoint.h"
#include "tanzhen/tasks/ner.h"

#include <algorithm>

#include "tanzhen/error.h"
#include "tanzhen/model/checkpoint.h"
#include "tanzhen/tasks/batching.h"
#include "tanzhen/tasks/ner_decode.h"
#include "tanzhen/tasks/windows.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {

namespace {

std::vector<float> tensor_values(const TensorMap& weights, const std::string& name) {
  auto it = weights.find(name);
  if (it == weights.end()) fail("bad_checkpoint", "CRF model without tensor " + name);
  Tensor t = it->second.to_f32();
  return std::vector<float>(t.f32(), t.f32() + t.numel());
}

CrfParams crf_from_checkpoint(const Checkpoint& ckpt) {
  CrfParams crf;
  crf.num_tags = static_cast<int>(ckpt.config.labels.size());
  crf.transitions = tensor_values(ckpt.weights, "crf.transitions");
  crf.start = tensor_values(ckpt.weights, "crf.start_transitions");
  crf.end = tensor_values(ckpt.weights, "crf.end_transitions");
  crf.spans = ckpt.config.modelscope ? SpanRules::kModelScope : SpanRules::kConlleval;
  if (ckpt.config.modelscope) crf.score = CrfParams::EntityScore::kEmissionSoftmax;
  const size_t n = crf.num_tags;
  if (n == 0 || crf.transitions.size() != n * n || crf.start.size() != n || crf.end.size() != n)
    fail("bad_checkpoint", ckpt.dir + ": CRF tensors do not match the " + std::to_string(n) + " labels");
  if (ckpt.config.crf_constrained) forbid_invalid_transitions(crf, ckpt.config.labels);
  return crf;
}

// One encoder input: a window of one text's content tokens wrapped in [CLS] ... [SEP].
struct Job {
  size_t item = 0;
  int window = 0;  // index into the item's windows
  std::vector<int32_t> ids;
};

// What run() keeps about one text between tokenizing and decoding.
struct Item {
  std::u32string text;
  Encoding enc;
  std::vector<TokenWindow> windows;
  std::vector<int> owner;  // per content token: the window it takes its logits from
  Matrix logits;           // merged: one row per token of enc, filled as windows come back
};

// Copies the rows a window's output owns into its text's merged logits: the content tokens that
// are most central in it, plus [CLS] from the first window and [SEP] from the last.
void scatter_window(Item& item, int w, const Matrix& out) {
  const int n = static_cast<int>(item.enc.size());
  const int cols = out.cols;
  if (item.logits.data.empty()) item.logits = Matrix{n, cols, std::vector<float>(static_cast<size_t>(n) * cols)};
  auto copy_row = [&](int from_row, int to_row) {
    std::copy(out.row(from_row), out.row(from_row) + cols, item.logits.row(to_row));
  };
  const TokenWindow& win = item.windows[w];
  if (w == 0) copy_row(0, 0);
  if (w + 1 == static_cast<int>(item.windows.size())) copy_row(out.rows - 1, n - 1);
  for (int c = win.start; c < win.start + win.length; ++c)
    if (item.owner[c] == w) copy_row(c - win.start + 1, c + 1);
}

}  // namespace

std::unique_ptr<NerPipeline> NerPipeline::load(const std::string& model_dir, EncoderOptions opts) {
  Checkpoint ckpt = load_any_checkpoint(model_dir);  // quantized folders too
  const HeadKind head = ckpt.config.head;
  if (head != HeadKind::kTokenClassification && head != HeadKind::kCrf)
    fail("wrong_model", model_dir + " holds a " + head_kind_name(head) +
                            " model, not a token-classification (NER) model");
  CrfParams crf;
  if (head == HeadKind::kCrf) crf = crf_from_checkpoint(ckpt);
  auto encoder = std::make_shared<const BertEncoder>(ckpt, opts);
  return std::make_unique<NerPipeline>(BertTokenizer::from_dir(model_dir), std::move(encoder), std::move(crf));
}

NerPipeline::NerPipeline(BertTokenizer tokenizer, std::shared_ptr<const BertEncoder> encoder, CrfParams crf)
    : tokenizer_(std::move(tokenizer)), encoder_(std::move(encoder)), crf_(std::move(crf)) {
  const ModelConfig& cfg = encoder_->config();
  if (cfg.labels.empty()) fail("bad_checkpoint", "the NER model has no labels (id2label)");
  if (cfg.head == HeadKind::kCrf && crf_.empty()) fail("bad_checkpoint", "CRF model without CRF parameters");
  if (cfg.head != HeadKind::kCrf) crf_ = {};
  if (tokenizer_.vocab_size() > static_cast<size_t>(cfg.vocab_size))
    fail("bad_checkpoint", "the vocabulary has " + std::to_string(tokenizer_.vocab_size()) +
                               " tokens but the model only " + std::to_string(cfg.vocab_size));
  label_tags_ = parse_tags(cfg.labels);
  scheme_ = detect_tag_scheme(cfg.labels);
}

std::vector<NerResult> NerPipeline::run(const std::vector<std::string>& texts, const NerOptions& opts) const {
  const int max_positions = config().max_position_embeddings;
  const int window = opts.window > 0 ? opts.window : max_positions;
  if (opts.window < 0 || window < 3 || window > max_positions)
    fail("invalid_option", "window must be between 3 and " + std::to_string(max_positions) + " tokens");
  const int content = window - 2;
  const int stride = opts.stride > 0 ? opts.stride : std::max(1, content / 2);
  if (opts.stride < 0 || stride > content)
    fail("invalid_option", "stride must be between 1 and window - 2 = " + std::to_string(content) + " tokens");

  std::vector<NerResult> results(texts.size());
  std::vector<Item> items(texts.size());
  std::vector<Job> jobs;
  for (size_t i = 0; i < texts.size(); ++i) {
    Item& item = items[i];
    try {
      item.text = decode_utf8(texts[i]);
      item.enc = tokenizer_.encode(item.text, true, opts.truncate ? max_positions : 0);
    } catch (const Error& e) {
      results[i].error_code = e.code();
      results[i].error_message = e.what();
      continue;
    }
    const auto& ids = item.enc.ids;
    const int num_content = static_cast<int>(ids.size()) - 2;
    item.windows = plan_windows(num_content, content, stride);
    item.owner = assign_tokens_to_windows(item.windows, num_content);
    for (int w = 0; w < static_cast<int>(item.windows.size()); ++w) {
      const TokenWindow& win = item.windows[w];
      Job job{i, w, {}};
      job.ids.reserve(win.length + 2);
      job.ids.push_back(ids.front());
      job.ids.insert(job.ids.end(), ids.begin() + 1 + win.start, ids.begin() + 1 + win.start + win.length);
      job.ids.push_back(ids.back());
      jobs.push_back(std::move(job));
    }
  }

  // All windows of all texts, in length-sorted batches; each output is merged into its text's
  // logits as soon as it comes back, so memory stays at one row per token.
  std::vector<size_t> lengths;
  for (const Job& j : jobs) lengths.push_back(j.ids.size());
  for (const auto& batch_idx : plan_batches(lengths)) {
    std::vector<std::vector<int32_t>> batch;
    for (size_t j : batch_idx) batch.push_back(std::move(jobs[j].ids));
    std::vector<Matrix> out = encoder_->token_logits(batch);
    if (out.size() != batch.size()) fail("internal", "encoder returned a wrong number of outputs");
    for (size_t k = 0; k < batch_idx.size(); ++k) {
      if (out[k].rows != static_cast<int>(batch[k].size()) || out[k].cols != static_cast<int>(label_tags_.size()))
        fail("bad_checkpoint", "the model's head gives " + std::to_string(out[k].cols) +
                                   " outputs per token but it has " + std::to_string(label_tags_.size()) + " labels");
      const Job& job = jobs[batch_idx[k]];
      scatter_window(items[job.item], job.window, out[k]);
    }
  }

  for (size_t i = 0; i < texts.size(); ++i) {
    NerResult& r = results[i];
    if (!r.ok()) continue;
    Item& item = items[i];
    Matrix logits = std::move(item.logits);
    const std::vector<int> word_ids = decoding_word_ids(item.enc, tokenizer_.cls_id(), tokenizer_.sep_id());
    if (is_crf()) {
      CrfDecoding d = decode_crf(logits, item.enc, word_ids, item.text, label_tags_, crf_);
      r.entities = std::move(d.entities);
      if (opts.keep_logits)
        for (int id : d.tags) r.tags.push_back(config().labels[id]);
    } else {
      r.entities = decode_token_classification(logits, item.enc, word_ids, item.text, label_tags_, opts.aggregation);
    }
    if (opts.keep_logits) r.logits = std::move(logits);
    if (opts.keep_encoding) r.encoding = std::move(item.enc);
  }
  return results;
}

}  // namespace tanzhen
