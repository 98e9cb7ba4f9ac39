// FillMaskPipeline: every [MASK] gets its top-k candidates with probabilities from a softmax
// over the whole vocabulary (Hugging Face fill-mask semantics).
//
// Targets: a target that is a vocabulary token is used as is; otherwise it is tokenized and its
// first WordPiece stands in for it (as Hugging Face does, e.g. "北京" -> "北"); a target that
// tokenizes to nothing is ignored; duplicates count once. When no target is left the whole call
// fails with Error("invalid_targets"). Scores stay probabilities over the whole vocabulary.
#include "tanzhen/model/quantized_checkpoint.h"
#include "tanzhen/tasks/fill_mask.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tanzhen/error.h"
#include "tanzhen/model/checkpoint.h"
#include "tanzhen/tasks/batching.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {

namespace {

// Candidate ids ranked by logit (best first; equal logits: lower id first), at most k of them.
std::vector<int32_t> top_ids(const float* logits, const std::vector<int32_t>& pool, size_t k) {
  std::vector<int32_t> ids = pool;
  k = std::min(k, ids.size());
  auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  ids.resize(k);
  return ids;
}

std::vector<int32_t> resolve_targets(const BertTokenizer& tok, const std::vector<std::string>& targets) {
  std::vector<int32_t> ids;
  for (const std::string& t : targets) {
    int32_t id = tok.token_to_id(t);
    if (id == tok.unk_id() && t != tok.config().unk_token) {
      Encoding e = tok.encode(std::string_view(t), false);
      if (e.ids.empty()) continue;
      id = e.ids.front();
    }
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  if (ids.empty()) fail("invalid_targets", "none of the targets maps to a vocabulary token");
  return ids;
}

}  // namespace

std::unique_ptr<FillMaskPipeline> FillMaskPipeline::load(const std::string& model_dir, EncoderOptions opts) {
  Checkpoint ckpt = load_any_checkpoint(model_dir);  // quantized folders too
  if (ckpt.config.head != HeadKind::kMaskedLM)
    fail("wrong_model", model_dir + " holds a " + head_kind_name(ckpt.config.head) +
                            " model, not a masked-LM (fill-mask) model");
  auto encoder = std::make_shared<const BertEncoder>(ckpt, opts);
  return std::make_unique<FillMaskPipeline>(BertTokenizer::from_dir(model_dir), std::move(encoder));
}

FillMaskPipeline::FillMaskPipeline(BertTokenizer tokenizer, std::shared_ptr<const BertEncoder> encoder)
    : tokenizer_(std::move(tokenizer)), encoder_(std::move(encoder)) {
  if (tokenizer_.vocab_size() > static_cast<size_t>(config().vocab_size))
    fail("bad_checkpoint", "the vocabulary has " + std::to_string(tokenizer_.vocab_size()) +
                               " tokens but the model only " + std::to_string(config().vocab_size));
}

std::vector<FillMaskResult> FillMaskPipeline::run(const std::vector<std::string>& texts,
                                                  const FillMaskOptions& opts) const {
  if (opts.top_k < 1) fail("invalid_option", "top_k must be at least 1");
  const int max_positions = config().max_position_embeddings;
  // Ids that may be ranked: the targets, or every token the tokenizer can name.
  std::vector<int32_t> pool;
  if (!opts.targets.empty()) {
    pool = resolve_targets(tokenizer_, opts.targets);
  } else {
    pool.resize(tokenizer_.vocab_size());
    std::iota(pool.begin(), pool.end(), 0);
  }

  std::vector<FillMaskResult> results(texts.size());
  std::vector<Encoding> encodings(texts.size());
  std::vector<std::vector<int>> positions(texts.size());
  std::vector<size_t> todo;  // texts that reach the encoder
  for (size_t i = 0; i < texts.size(); ++i) {
    FillMaskResult& r = results[i];
    try {
      if (tokenizer_.mask_id() < 0) fail("no_mask", "the vocabulary has no mask token");
      encodings[i] = tokenizer_.encode(std::string_view(texts[i]), true, opts.truncate ? max_positions : 0);
      if (static_cast<int>(encodings[i].size()) > max_positions)
        fail("too_long", "the text is " + std::to_string(encodings[i].size()) + " tokens long, the model takes at most " +
                             std::to_string(max_positions) + " (use truncation)");
      for (int t = 0; t < static_cast<int>(encodings[i].size()); ++t)
        if (encodings[i].ids[t] == tokenizer_.mask_id()) positions[i].push_back(t);
      if (positions[i].empty())
        fail("no_mask", "the text has no " + tokenizer_.config().mask_token + " token");
    } catch (const Error& e) {
      r.error_code = e.code();
      r.error_message = e.what();
      continue;
    }
    todo.push_back(i);
  }

  std::vector<size_t> lengths;
  for (size_t i : todo) lengths.push_back(encodings[i].size());
  for (const auto& batch_idx : plan_batches(lengths)) {
    std::vector<std::vector<int32_t>> batch;
    std::vector<std::vector<int>> batch_positions;
    for (size_t b : batch_idx) {
      batch.push_back(encodings[todo[b]].ids);
      batch_positions.push_back(positions[todo[b]]);
    }
    std::vector<Matrix> out = encoder_->mlm_logits(batch, batch_positions);
    if (out.size() != batch.size()) fail("internal", "encoder returned a wrong number of outputs");
    for (size_t k = 0; k < batch_idx.size(); ++k) {
      const size_t i = todo[batch_idx[k]];
      const Matrix& m = out[k];
      if (m.rows != static_cast<int>(positions[i].size()) || m.cols < static_cast<int>(tokenizer_.vocab_size()))
        fail("bad_checkpoint", "the masked-LM head's output does not match the vocabulary");
      FillMaskResult& r = results[i];
      for (int p = 0; p < m.rows; ++p) {
        const float* logits = m.row(p);
        // Softmax over the model's whole output row.
        const float max_logit = *std::max_element(logits, logits + m.cols);
        double sum = 0;
        for (int v = 0; v < m.cols; ++v) sum += std::exp(static_cast<double>(logits[v]) - max_logit);
        MaskResult mask;
        mask.position = positions[i][p];
        for (int32_t id : top_ids(logits, pool, static_cast<size_t>(opts.top_k))) {
          float score = static_cast<float>(std::exp(static_cast<double>(logits[id]) - max_logit) / sum);
          mask.candidates.push_back({tokenizer_.id_to_token(id), id, score, logits[id]});
        }
        if (opts.keep_logits) {
          std::vector<int32_t> all(m.cols);
          std::iota(all.begin(), all.end(), 0);
          for (int32_t id : top_ids(logits, all, 10)) mask.top_logits.emplace_back(id, logits[id]);
        }
        r.masks.push_back(std::move(mask));
      }
      if (opts.keep_encoding) r.encoding = std::move(encodings[i]);
    }
  }
  for (size_t i = 0; i < texts.size(); ++i)
    if (!results[i].ok() && opts.keep_encoding) results[i].encoding = std::move(encodings[i]);
  return results;
}

}  // namespace tanzhen
