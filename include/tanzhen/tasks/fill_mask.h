// Fill-mask: every [MASK] in a text gets its top-k vocabulary candidates with probabilities.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tanzhen/model/bert.h"
#include "tanzhen/text/tokenizer.h"

namespace tanzhen {

struct MaskCandidate {
  std::string token;
  int32_t id = 0;
  float score = 0;  // softmax probability over the whole vocabulary
  float logit = 0;
};

struct MaskResult {
  int position = 0;  // token index (in the encoding, [CLS] = 0)
  std::vector<MaskCandidate> candidates;  // best first
  std::vector<std::pair<int32_t, float>> top_logits;  // 10 best (id, raw logit), when requested
};

struct FillMaskOptions {
  int top_k = 5;
  // If set, only these tokens are ranked; a target missing from the vocabulary is replaced by
  // its first WordPiece (Hugging Face behaviour), see fill_mask.cc.
  std::vector<std::string> targets;
  bool truncate = false;             // Hugging Face truncation at the model's maximum length
  bool keep_encoding = false;
  bool keep_logits = false;          // fill MaskResult::top_logits
};

struct FillMaskResult {
  std::vector<MaskResult> masks;
  Encoding encoding;  // when keep_encoding
  std::string error_code, error_message;  // e.g. "no_mask", "invalid_utf8", "too_long"
  bool ok() const { return error_code.empty(); }
};

class FillMaskPipeline {
 public:
  static std::unique_ptr<FillMaskPipeline> load(const std::string& model_dir, EncoderOptions opts = {});
  FillMaskPipeline(BertTokenizer tokenizer, std::shared_ptr<const BertEncoder> encoder);

  std::vector<FillMaskResult> run(const std::vector<std::string>& texts, const FillMaskOptions& opts) const;

  const BertTokenizer& tokenizer() const { return tokenizer_; }
  const ModelConfig& config() const { return encoder_->config(); }
  const BertEncoder& encoder() const { return *encoder_; }

 private:
  BertTokenizer tokenizer_;
  std::shared_ptr<const BertEncoder> encoder_;
};

}  // namespace tanzhen
