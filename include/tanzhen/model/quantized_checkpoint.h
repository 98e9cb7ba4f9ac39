// Pre-quantized checkpoints: a model folder whose model.safetensors holds the encoder layers'
// dense weights (and the word embeddings) already at reduced precision, so that loading does
// no quantization work and the file is ~4x (int8) or ~2x (bf16) smaller than F32.
// Format (docs/quantized-format.md): canonical tensor names (checkpoint.h);
//   int8: "<name>" I8 [out x in] + "<name>.scale" F32 [out] (per-row symmetric, linear_quant.h)
//   bf16: "<name>" BF16
// for the quantized tensors (is_quantized_tensor), everything else F32; a tied MLM decoder is
// omitted; "__metadata__": {"tanzhen_quantization": "int8-per-channel-symmetric" | "bf16",
// "format_version": "1"}. Non-weight files of the source folder (config, vocab, tokenizer,
// label map) are copied beside it.
#pragma once
#include <cstdint>
#include <string>

#include "tanzhen/model/bert.h"
#include "tanzhen/model/checkpoint.h"

namespace tanzhen {

inline constexpr const char* kQuantizationInt8 = "int8-per-channel-symmetric";
inline constexpr const char* kQuantizationBf16 = "bf16";
inline constexpr const char* kQuantizedFormatVersion = "1";

// The "tanzhen_quantization" a folder's model.safetensors declares, "" when it has none (or
// no model.safetensors). Reads only the file's header.
std::string checkpoint_quantization(const std::string& dir);
inline bool is_quantized_checkpoint(const std::string& dir) {
  return !checkpoint_quantization(dir).empty();
}

// The compute type a quantization name stands for; throws Error("bad_checkpoint") if unknown.
ComputeType quantization_compute_type(const std::string& quantization);

// Loads a quantized folder: config as load_checkpoint reads it, head decided from the weights,
// tensors as stored (I8 + scales or BF16 for the quantized ones, F32 otherwise), ready for
// BertEncoder (which runs them at their stored precision). Throws Error("bad_checkpoint", ...).
Checkpoint load_quantized_checkpoint(const std::string& dir);

// load_quantized_checkpoint for quantized folders, load_checkpoint for the rest.
Checkpoint load_any_checkpoint(const std::string& dir);

// True for the canonical names stored quantized: the encoder layers' query/key/value,
// attention output, intermediate and output dense weights, and the word embeddings.
bool is_quantized_tensor(const std::string& canonical_name);

struct QuantizeSummary {
  std::string weights_file;
  uint64_t bytes = 0;           // size of the written model.safetensors
  uint64_t f32_bytes = 0;       // what the same tensors take in F32
  int quantized_tensors = 0;
  int copied_files = 0;         // config / vocab / tokenizer files copied
};

// Writes the quantized folder for the F32 checkpoint loaded from src_dir into out_dir (created
// if needed; must not be src_dir). dtype is kInt8 or kBF16.
QuantizeSummary write_quantized_checkpoint(const std::string& src_dir, ComputeType dtype,
                                           const std::string& out_dir);

}  // namespace tanzhen
