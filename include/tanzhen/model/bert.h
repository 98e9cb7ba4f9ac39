// The BERT encoder and its heads, built once from a Checkpoint (weights packed for oneDNN at
// construction), then run on batches of token-id sequences of different lengths.
#pragma once
#include <memory>
#include <string>
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

// Precision of the encoder layers' dense GEMMs (QKV, attention output, FFN in/out):
//   kF32   exact F32.
//   kBF16  BF16 weights and GEMM inputs, F32 accumulation and outputs.
//   kInt8  s8 weights with per-output-channel scales, inputs quantized to u8 per call.
// Attention, LayerNorm, GELU and the heads stay F32. With kBF16/kInt8 the word-embedding table
// is rounded to that precision (per-row scales for int8) as a quantized checkpoint stores it,
// so quantizing at load and loading a pre-quantized checkpoint give identical results.
// A pre-quantized checkpoint (quantized_checkpoint.h) always runs at its stored precision.
enum class ComputeType { kF32, kBF16, kInt8 };

// "fp32" / "f32", "bf16", "int8"; throws Error("bad_request", ...) on anything else.
ComputeType parse_compute_type(const std::string& name);
const char* compute_type_name(ComputeType t);  // "fp32", "bf16", "int8"

struct EncoderOptions {
  int threads = 0;  // 0 = all cores
  ComputeType dtype = ComputeType::kF32;
};

class BertEncoder {
 public:
  explicit BertEncoder(const Checkpoint& ckpt, EncoderOptions opts = {});
  ~BertEncoder();
  BertEncoder(const BertEncoder&) = delete;
  BertEncoder& operator=(const BertEncoder&) = delete;

  const ModelConfig& config() const;
  // The precision the layers run at: EncoderOptions::dtype, or a pre-quantized checkpoint's
  // stored one, which wins (its F32 weights are gone).
  ComputeType compute_type() const;

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
