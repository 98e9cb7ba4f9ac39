// Named-entity recognition: text -> tokens -> encoder -> token-classification / CRF head ->
// entities with code-point spans. Long texts are split into overlapping windows.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tanzhen/model/bert.h"
#include "tanzhen/text/tokenizer.h"

namespace tanzhen {

struct Entity {
  std::string type;  // "PER", "LOC", ...
  int start = 0;     // code points, end exclusive, into the original text
  int end = 0;
  std::string text;  // UTF-8
  float score = 0;   // mean probability of the entity's tokens (CRF: softmax at the first word)
};

// How sub-word tokens of one word are combined (Hugging Face aggregation_strategy).
enum class Aggregation { kSimple, kFirst, kAverage, kMax };
Aggregation parse_aggregation(const std::string& name);  // throws Error on unknown names
const char* aggregation_name(Aggregation a);

struct NerOptions {
  Aggregation aggregation = Aggregation::kFirst;
  // Long text: windows of `window` tokens (0 = the model's maximum, specials included) moving by
  // `stride` tokens (0 = window/2 overlap). truncate = Hugging Face truncation instead.
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
  static std::unique_ptr<NerPipeline> load(const std::string& model_dir, EncoderOptions opts = {});
  NerPipeline(BertTokenizer tokenizer, std::shared_ptr<const BertEncoder> encoder);

  // Runs a batch of texts through the encoder together (windows of all texts share batches).
  std::vector<NerResult> run(const std::vector<std::string>& texts, const NerOptions& opts) const;

  const BertTokenizer& tokenizer() const { return tokenizer_; }
  const ModelConfig& config() const { return encoder_->config(); }
  const BertEncoder& encoder() const { return *encoder_; }

 private:
  BertTokenizer tokenizer_;
  std::shared_ptr<const BertEncoder> encoder_;
};

}  // namespace tanzhen
