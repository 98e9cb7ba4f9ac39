// The BERT encoder and its heads, built once from a Checkpoint (weights packed for oneDNN at
// construction), then run on batches of token-id sequences of different lengths.
#pragma once
#include <memory>
#include <vector>

#include "tanzhen/model/checkpoint.h"

namespace tanzhen {

// Row-major [rows x cols] float matrix (one per sequence in a batch).
struct Matrix {
  int rows = 0;
  int cols = 0;
  std::vector<float> data;
  float* row(int r) { return data.data() + static_cast<size_t>(r) * cols; }
  const float* row(int r) const { return data.data() + static_cast<size_t>(r) * cols; }
};

struct EncoderOptions {
  int threads = 0;  // 0 = all cores
};

class BertEncoder {
 public:
  explicit BertEncoder(const Checkpoint& ckpt, EncoderOptions opts = {});
  ~BertEncoder();
  BertEncoder(const BertEncoder&) = delete;
  BertEncoder& operator=(const BertEncoder&) = delete;

  const ModelConfig& config() const;

  // Final hidden states, one [len x hidden] matrix per input sequence. Token types are 0,
  // attention covers each sequence's own tokens only (no padding influence). Thread-safe.
  std::vector<Matrix> encode(const std::vector<std::vector<int32_t>>& batch) const;

  // Head outputs. Token classification / CRF: per-token logits (emissions) [len x num_labels].
  std::vector<Matrix> token_logits(const std::vector<std::vector<int32_t>>& batch) const;
  // Masked LM: vocabulary logits [positions.size() x vocab] for the requested token positions
  // of each sequence (positions[i] indexes into batch[i]).
  std::vector<Matrix> mlm_logits(const std::vector<std::vector<int32_t>>& batch,
                                 const std::vector<std::vector<int>>& positions) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tanzhen
