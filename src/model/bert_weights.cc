#include "bert_weights.h"

#include <algorithm>
#include <string>

#include "tanzhen/error.h"

namespace tanzhen::bert {
namespace {

using kernels::Activation;
using kernels::PackedLinear;

class WeightReader {
 public:
  WeightReader(const Checkpoint& ckpt, const dnnl::engine& engine, kernels::GemmCache* cache)
      : ckpt_(ckpt), engine_(engine), cache_(cache) {}

  bool has(const std::string& name) const { return ckpt_.weights.count(name) != 0; }

  // The tensor `name`, which must be F32 with exactly `shape`.
  Tensor get(const std::string& name, std::vector<int64_t> shape) const {
    auto it = ckpt_.weights.find(name);
    if (it == ckpt_.weights.end()) {
      fail("bad_checkpoint", ckpt_.weights_file + ": missing tensor " + name);
    }
    const Tensor& t = it->second;
    if (t.dtype() != DType::F32) {
      fail("bad_checkpoint", ckpt_.weights_file + ": tensor " + name + " is " +
                                 dtype_name(t.dtype()) + ", expected F32");
    }
    if (t.shape() != shape) {
      Tensor expected(DType::F32, shape, nullptr, nullptr);
      fail("bad_checkpoint", ckpt_.weights_file + ": tensor " + name + " has shape " +
                                 t.shape_string() + ", expected " + expected.shape_string());
    }
    return t;
  }

  // prefix.weight [out x in] and prefix.bias [out] packed as one linear layer.
  PackedLinear linear(const std::string& prefix, int out, int in, Activation act) const {
    Tensor w = get(prefix + ".weight", {out, in});
    Tensor b = get(prefix + ".bias", {out});
    return PackedLinear(engine_, cache_, w.f32(), b.f32(), out, in, act);
  }

  // Query, key and value of one layer fused into a single [3H x H] projection.
  PackedLinear qkv(const std::string& prefix, int hidden) const {
    const size_t block = static_cast<size_t>(hidden) * hidden;
    std::vector<float> w(3 * block), b(3 * static_cast<size_t>(hidden));
    const char* parts[] = {"query", "key", "value"};
    for (int i = 0; i < 3; ++i) {
      Tensor wt = get(prefix + parts[i] + ".weight", {hidden, hidden});
      Tensor bt = get(prefix + parts[i] + ".bias", {hidden});
      std::copy_n(wt.f32(), block, w.begin() + i * block);
      std::copy_n(bt.f32(), hidden, b.begin() + i * hidden);
    }
    return PackedLinear(engine_, cache_, w.data(), b.data(), 3 * hidden, hidden,
                        Activation::kNone);
  }

 private:
  const Checkpoint& ckpt_;
  dnnl::engine engine_;
  kernels::GemmCache* cache_;
};

void check_config(const ModelConfig& c, const std::string& file) {
  auto positive = [&](int v, const char* what) {
    if (v <= 0) fail("bad_checkpoint", file + ": config " + what + " must be positive");
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.num_layers, "num_hidden_layers");
  positive(c.num_heads, "num_attention_heads");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.max_position_embeddings, "max_position_embeddings");
  positive(c.type_vocab_size, "type_vocab_size");
  if (c.hidden_size % c.num_heads != 0) {
    fail("bad_checkpoint", file + ": hidden_size is not a multiple of num_attention_heads");
  }
  if (c.hidden_act != "gelu") {
    fail("bad_checkpoint", file + ": hidden_act '" + c.hidden_act +
                               "' is not supported (only exact erf 'gelu')");
  }
}

}  // namespace

EncoderWeights pack_weights(const Checkpoint& ckpt, const dnnl::engine& engine,
                            kernels::GemmCache* cache) {
  const ModelConfig& c = ckpt.config;
  check_config(c, ckpt.weights_file);
  const int H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  WeightReader r(ckpt, engine, cache);

  EncoderWeights w;
  w.word = r.get("embeddings.word_embeddings.weight", {V, H});
  w.position = r.get("embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
  w.token_type = r.get("embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
  w.emb_ln_gamma = r.get("embeddings.LayerNorm.weight", {H});
  w.emb_ln_beta = r.get("embeddings.LayerNorm.bias", {H});

  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    w.layers.push_back(LayerWeights{
        r.qkv(p + "attention.self.", H),
        r.linear(p + "attention.output.dense", H, H, Activation::kNone),
        r.linear(p + "intermediate.dense", I, H, Activation::kGelu),
        r.linear(p + "output.dense", H, I, Activation::kNone),
        r.get(p + "attention.output.LayerNorm.weight", {H}),
        r.get(p + "attention.output.LayerNorm.bias", {H}),
        r.get(p + "output.LayerNorm.weight", {H}),
        r.get(p + "output.LayerNorm.bias", {H}),
    });
  }

  if (r.has("classifier.weight")) {
    auto it = ckpt.weights.find("classifier.weight");
    const int64_t labels = it->second.rank() == 2 ? it->second.dim(0) : 0;
    if (labels <= 0) fail("bad_checkpoint", ckpt.weights_file + ": classifier.weight is not 2-D");
    w.classifier = r.linear("classifier", static_cast<int>(labels), H, Activation::kNone);
  }

  if (r.has("cls.predictions.transform.dense.weight")) {
    // The decoder is tied to the word embeddings; checkpoints often omit the copy.
    Tensor decoder = r.has("cls.predictions.decoder.weight")
                         ? r.get("cls.predictions.decoder.weight", {V, H})
                         : w.word;
    Tensor bias = r.get("cls.predictions.bias", {V});
    w.mlm = MlmHead{
        r.linear("cls.predictions.transform.dense", H, H, Activation::kGelu),
        r.get("cls.predictions.transform.LayerNorm.weight", {H}),
        r.get("cls.predictions.transform.LayerNorm.bias", {H}),
        PackedLinear(engine, cache, decoder.f32(), bias.f32(), V, H, Activation::kNone),
    };
  }
  return w;
}

}  // namespace tanzhen::bert
