// Named-entity recognition: text -> tokens -> encoder -> token-classification / CRF head ->
// entities with code-point spans. Long texts are split into overlapping windows.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tanzhen/model/bert.h"
#include "tanzhen/tasks/crf.h"
#include "tanzhen/tasks/tag_scheme.h"
#include "tanzhen/text/tokenizer.h"

namespace tanzhen {

struct Entity {
  std::string type;  // "PER", "LOC", ...
  int start = 0;     // code points, end exclusive, into the original text
  int end = 0;
  std::string text;  // UTF-8
  // Softmax head: mean probability of the chosen labels over the entity's units (tokens for
  // `simple`, words otherwise — the same for Chinese). CRF: softmax at the first word.
  float score = 0;
};

// How sub-word tokens of one word are combined (Hugging Face aggregation_strategy; see
// tasks/aggregation.h). Ignored by CRF models, which decode at word level (first sub-token).
enum class Aggregation { kSimple, kFirst, kAverage, kMax };
Aggregation parse_aggregation(const std::string& name);  // throws Error on unknown names
const char* aggregation_name(Aggregation a);

struct NerOptions {
  Aggregation aggregation = Aggregation::kFirst;
  // Long text: windows of `window` tokens (0 = the model's maximum, specials included) moving by
  // `stride` tokens (0 = half of the window's content tokens, i.e. windows overlap by half).
  // Every token takes its logits from the window where it is most central (tasks/windows.h).
  // truncate = Hugging Face truncation instead (tokens cut at max_position_embeddings - 2).
  int window = 0;
  int stride = 0;
  bool truncate = false;
  bool keep_encoding = false;  // fill NerResult::encoding
  bool keep_logits = false;    // fill NerResult::logits (and tags for CRF)
};

// Per-item outcome: a bad text (e.g. invalid UTF-8) gets error_code/message, the rest go on.
struct NerResult {
  std::vector<Entity> entities;
  Encoding encoding;                   // when keep_encoding (whole text, with [CLS]/[SEP])
  Matrix logits;                       // when keep_logits: per token of `encoding`
  std::vector<std::string> tags;       // when keep_logits and CRF: one per word
  std::string error_code, error_message;
  bool ok() const { return error_code.empty(); }
};

class NerPipeline {
 public:
  // Throws Error("wrong_model") when the checkpoint has no token-classification / CRF head.
  static std::unique_ptr<NerPipeline> load(const std::string& model_dir, EncoderOptions opts = {});
  // `crf` is required when the encoder's head is HeadKind::kCrf.
  NerPipeline(BertTokenizer tokenizer, std::shared_ptr<const BertEncoder> encoder, CrfParams crf = {});

  // Runs a batch of texts through the encoder together (windows of all texts share batches).
  std::vector<NerResult> run(const std::vector<std::string>& texts, const NerOptions& opts) const;

  const BertTokenizer& tokenizer() const { return tokenizer_; }
  const ModelConfig& config() const { return encoder_->config(); }
  const BertEncoder& encoder() const { return *encoder_; }
  bool is_crf() const { return !crf_.empty(); }
  const CrfParams& crf() const { return crf_; }
  TagScheme tag_scheme() const { return scheme_; }

 private:
  BertTokenizer tokenizer_;
  std::shared_ptr<const BertEncoder> encoder_;
  CrfParams crf_;
  std::vector<Tag> label_tags_;  // parsed config().labels
  TagScheme scheme_ = TagScheme::kBIO;
};

}  // namespace tanzhen
