// Loading a Hugging Face / ModelScope checkpoint folder into canonical, validated weights.
//
// Canonical names are those of Hugging Face's BertModel *without* the "bert." prefix, plus the
// heads:
//   embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm.{weight,bias}
//   encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
//   encoder.layer.N.attention.output.dense.{weight,bias}, ...attention.output.LayerNorm.{weight,bias}
//   encoder.layer.N.intermediate.dense.{weight,bias}
//   encoder.layer.N.output.dense.{weight,bias}, encoder.layer.N.output.LayerNorm.{weight,bias}
//   classifier.{weight,bias}                      token classification and CRF emissions
//   crf.{transitions,start_transitions,end_transitions}
//   cls.predictions.transform.dense.{weight,bias}, cls.predictions.transform.LayerNorm.{weight,bias}
//   cls.predictions.decoder.weight (tied to word embeddings when absent), cls.predictions.bias
// Linear weights keep PyTorch's [out, in] layout. Every tensor is F32 (F16/BF16 converted at load;
// F32 safetensors are borrowed from the memory map without a copy).
#pragma once
#include <map>
#include <string>

#include "tanzhen/model/config.h"
#include "tanzhen/tensor.h"

namespace tanzhen {

using TensorMap = std::map<std::string, Tensor>;

struct Checkpoint {
  std::string dir;
  std::string weights_file;  // the file the weights were read from
  ModelConfig config;        // config.head is set from the weights found
  TensorMap weights;         // canonical names, F32, shapes validated against config
};

// Reads config + weights from `dir` (model.safetensors preferred, else pytorch_model.bin).
// Throws Error("bad_checkpoint", "...file...tensor...") on anything missing, mis-shaped or corrupt.
Checkpoint load_checkpoint(const std::string& dir);

// Raw readers (names as stored in the file, dtypes as stored). Exposed for tests and tools.
TensorMap read_safetensors(const std::string& path);
TensorMap read_torch_checkpoint(const std::string& path);  // zip or legacy pickle format

}  // namespace tanzhen
