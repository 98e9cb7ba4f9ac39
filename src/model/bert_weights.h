// Private to the encoder: the checkpoint's tensors arranged for inference (GEMM weights packed
// for oneDNN, everything else kept as zero-copy views of the checkpoint's tensors).
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include <dnnl.hpp>

#include "tanzhen/kernels/gemm.h"
#include "tanzhen/kernels/linear.h"
#include "tanzhen/model/bert.h"
#include "tanzhen/model/checkpoint.h"

namespace tanzhen::bert {

struct LayerWeights {
  kernels::Linear qkv;       // [3H x H]: query, key, value rows stacked
  kernels::Linear attn_out;  // [H x H]
  kernels::Linear ffn_in;    // [I x H], exact GELU fused
  kernels::Linear ffn_out;   // [H x I]
  Tensor attn_ln_gamma, attn_ln_beta, out_ln_gamma, out_ln_beta;
};

struct MlmHead {
  kernels::Linear transform;  // [H x H], exact GELU fused
  Tensor ln_gamma, ln_beta;
  kernels::Linear decoder;  // [V x H] (the word embeddings when tied) + bias [V]
};

struct EncoderWeights {
  Tensor word, position, token_type, emb_ln_gamma, emb_ln_beta;
  std::vector<LayerWeights> layers;
  std::optional<kernels::Linear> classifier;  // token classification / CRF emissions
  std::optional<MlmHead> mlm;
};

// Validates names and shapes against ckpt.config and packs the GEMM weights. The encoder
// layers' GEMMs run at `dtype` when stored F32, at their stored precision when the checkpoint
// is pre-quantized (I8 + "<name>.scale", or BF16); the heads always run in F32.
// Throws Error("bad_checkpoint", ...) naming the offending tensor.
EncoderWeights pack_weights(const Checkpoint& ckpt, const dnnl::engine& engine,
                            kernels::GemmCache* cache, ComputeType dtype = ComputeType::kF32);

}  // namespace tanzhen::bert
