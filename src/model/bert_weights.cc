#include "bert_weights.h"
#include "weights_io.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "tanzhen/error.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen::bert {
namespace {

using kernels::Activation;
using kernels::Linear;

// Same shape and bytes (a tied MLM decoder is the word-embedding tensor itself, or a copy).
bool same_values(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.data() == b.data() || std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

class WeightReader {
 public:
  WeightReader(const Checkpoint& ckpt, const dnnl::engine& engine, kernels::GemmCache* cache,
               ComputeType dtype)
      : ckpt_(ckpt), engine_(engine), cache_(cache), dtype_(dtype) {}

  bool has(const std::string& name) const { return ckpt_.weights.count(name) != 0; }

  // The tensor `name`, which must be F32 with exactly `shape`.
  Tensor get(const std::string& name, std::vector<int64_t> shape) const {
    return get_as(name, std::move(shape), DType::F32);
  }

  // The tensor `name`, of dtype `dtype` with exactly `shape`.
  Tensor get_as(const std::string& name, std::vector<int64_t> shape, DType dtype) const {
    auto it = ckpt_.weights.find(name);
    if (it == ckpt_.weights.end()) {
      fail("bad_checkpoint", ckpt_.weights_file + ": missing tensor " + name);
    }
    const Tensor& t = it->second;
    if (t.dtype() != dtype) {
      fail("bad_checkpoint", ckpt_.weights_file + ": tensor " + name + " is " +
                                 dtype_name(t.dtype()) + ", expected " + dtype_name(dtype));
    }
    if (t.shape() != shape) {
      Tensor expected(dtype, shape, nullptr, nullptr);
      fail("bad_checkpoint", ckpt_.weights_file + ": tensor " + name + " has shape " +
                                 t.shape_string() + ", expected " + expected.shape_string());
    }
    return t;
  }

  // Stored dtype of prefix.weight (F32, BF16, or I8 with a prefix.weight.scale beside it).
  DType stored(const std::string& prefix) const {
    auto it = ckpt_.weights.find(prefix + ".weight");
    return it == ckpt_.weights.end() ? DType::F32 : it->second.dtype();
  }

  // A head's linear layer: prefix.weight [out x in] and prefix.bias [out], always F32.
  Linear head_linear(const std::string& prefix, int out, int in, Activation act) const {
    Tensor w = get(prefix + ".weight", {out, in});
    Tensor b = get(prefix + ".bias", {out});
    return Linear::f32(engine_, cache_, w.f32(), b.f32(), out, in, act);
  }

  // An encoder layer's linear layer: the prefixes' weights [out_each x in] stacked by rows
  // (QKV fuses three) and their biases, at the stored precision or, when stored F32, at the
  // requested one. Per-row scales make stacking and quantizing commute.
  Linear layer_linear(const std::vector<std::string>& prefixes, int out_each, int in,
                      Activation act) const {
    const DType kind = stored(prefixes.front());
    const int out = out_each * static_cast<int>(prefixes.size());
    std::vector<float> bias;
    for (const auto& p : prefixes) {
      if (stored(p) != kind) {
        fail("bad_checkpoint", ckpt_.weights_file + ": " + p + ".weight is " +
                                   dtype_name(stored(p)) + ", unlike " + prefixes.front() +
                                   ".weight");
      }
      Tensor b = get(p + ".bias", {out_each});
      bias.insert(bias.end(), b.f32(), b.f32() + out_each);
    }
    if (kind == DType::I8) {
      std::vector<Tensor> parts, scale_parts;
      for (const auto& p : prefixes) {
        parts.push_back(get_as(p + ".weight", {out_each, in}, DType::I8));
        scale_parts.push_back(get(p + ".weight.scale", {out_each}));
      }
      std::vector<int8_t> w_copy;
      std::vector<float> s_copy;
      const auto* w = concatenated<int8_t>(parts, w_copy);
      const auto* scales = concatenated<float>(scale_parts, s_copy);
      return Linear::int8(engine_, cache_, w, scales, bias.data(), out, in, act);
    }
    if (kind == DType::BF16) {
      std::vector<Tensor> parts;
      for (const auto& p : prefixes) {
        parts.push_back(get_as(p + ".weight", {out_each, in}, DType::BF16));
      }
      std::vector<uint16_t> copy;
      const uint16_t* w16 = concatenated<uint16_t>(parts, copy);
      if (!kernels::bf16_gemm_supported()) {
        // A bf16 folder written on an AVX-512 machine, served on one without bf16 matrix
        // multiplies: its weights widened to F32 (exactly: bf16 is F32's upper half) run on the
        // F32 path, rather than the folder being refused. Activations then stay F32, so the
        // results lie between the bf16 run's and the original F32 model's.
        const std::vector<float> w = kernels::bf16_to_f32(w16, static_cast<size_t>(out) * in);
        return Linear::f32(engine_, cache_, w.data(), bias.data(), out, in, act);
      }
      return Linear::bf16(engine_, cache_, w16, bias.data(), out, in, act);
    }
    std::vector<Tensor> parts;
    for (const auto& p : prefixes) parts.push_back(get(p + ".weight", {out_each, in}));
    std::vector<float> copy;
    const float* w = concatenated<float>(parts, copy);
    switch (dtype_) {
      case ComputeType::kBF16: {
        const std::vector<uint16_t> w16 = kernels::to_bf16(w, static_cast<size_t>(out) * in);
        return Linear::bf16(engine_, cache_, w16.data(), bias.data(), out, in, act);
      }
      case ComputeType::kInt8: {
        const kernels::QuantizedRows q = kernels::quantize_rows_s8(w, out, in);
        return Linear::int8(engine_, cache_, q.values.data(), q.scales.data(), bias.data(), out,
                            in, act);
      }
      case ComputeType::kF32:
        break;
    }
    return Linear::f32(engine_, cache_, w, bias.data(), out, in, act);
  }

  // The parts' elements back to back: the one part's own memory (the mapped file; no transient
  // copy while loading), or a copy in `storage` when there are several (the fused Q, K, V
  // projection).
  template <typename T>
  static const T* concatenated(const std::vector<Tensor>& parts, std::vector<T>& storage) {
    if (parts.size() == 1) return static_cast<const T*>(parts.front().data());
    for (const Tensor& t : parts) {
      const auto* v = static_cast<const T*>(t.data());
      storage.insert(storage.end(), v, v + t.numel());
    }
    return storage.data();
  }

  // The word-embedding table as F32, with the values a quantized checkpoint would hold (see
  // ComputeType in bert.h): dequantized from I8 / BF16 when stored so, rounded likewise when
  // stored F32 and a reduced precision is requested.
  Tensor word_embeddings(int vocab, int hidden) const {
    const std::string name = "embeddings.word_embeddings.weight";
    const DType kind = stored("embeddings.word_embeddings");
    const size_t n = static_cast<size_t>(vocab) * hidden;
    if (kind == DType::I8) {
      Tensor t = get_as(name, {vocab, hidden}, DType::I8);
      Tensor s = get(name + ".scale", {vocab});
      return dequantized(static_cast<const int8_t*>(t.data()), s.f32(), vocab, hidden);
    }
    if (kind == DType::BF16) return get_as(name, {vocab, hidden}, DType::BF16).to_f32();
    Tensor t = get(name, {vocab, hidden});
    if (dtype_ == ComputeType::kInt8) {
      const kernels::QuantizedRows q = kernels::quantize_rows_s8(t.f32(), vocab, hidden);
      return dequantized(q.values.data(), q.scales.data(), vocab, hidden);
    }
    if (dtype_ == ComputeType::kBF16) {
      const std::vector<uint16_t> r = kernels::to_bf16(t.f32(), n);
      return Tensor::from_f32({vocab, hidden}, kernels::bf16_to_f32(r.data(), n));
    }
    return t;
  }

 private:
  // The int8 rows as a new F32 tensor, in a buffer from weights_io::allocate_bytes: huge pages,
  // no zero fill first (BERT-base's 65 MB of word embeddings were ~15% of a cold start in
  // 4 KiB page faults and a memset).
  static Tensor dequantized(const int8_t* values, const float* scales, int vocab, int hidden) {
    float* out = nullptr;
    Tensor t = weights_io::allocate_f32({vocab, hidden}, &out);
    kernels::dequantize_rows_s8(values, scales, vocab, hidden, out);
    return t;
  }

  const Checkpoint& ckpt_;
  dnnl::engine engine_;
  kernels::GemmCache* cache_;
  ComputeType dtype_;
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
                            kernels::GemmCache* cache, ComputeType dtype) {
  const ModelConfig& c = ckpt.config;
  check_config(c, ckpt.weights_file);
  const int H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  WeightReader r(ckpt, engine, cache, dtype);

  EncoderWeights w;
  w.word = r.word_embeddings(V, H);
  w.position = r.get("embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
  w.token_type = r.get("embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
  w.emb_ln_gamma = r.get("embeddings.LayerNorm.weight", {H});
  w.emb_ln_beta = r.get("embeddings.LayerNorm.bias", {H});

  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const std::string self = p + "attention.self.";
    w.layers.push_back(LayerWeights{
        r.layer_linear({self + "query", self + "key", self + "value"}, H, H, Activation::kNone),
        r.layer_linear({p + "attention.output.dense"}, H, H, Activation::kNone),
        r.layer_linear({p + "intermediate.dense"}, I, H, Activation::kGelu),
        r.layer_linear({p + "output.dense"}, H, I, Activation::kNone),
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
    w.classifier = r.head_linear("classifier", static_cast<int>(labels), H, Activation::kNone);
  }

  if (r.has("cls.predictions.transform.dense.weight")) {
    // The decoder is tied to the word embeddings; checkpoints often omit the copy. A tied
    // decoder uses w.word, i.e. the word embeddings as rounded for the compute type.
    Tensor decoder = w.word;
    if (r.has("cls.predictions.decoder.weight")) {
      Tensor own = r.get("cls.predictions.decoder.weight", {V, H});
      auto word = ckpt.weights.find("embeddings.word_embeddings.weight");
      if (!same_values(own, word->second)) decoder = own;
    }
    Tensor bias = r.get("cls.predictions.bias", {V});
    w.mlm = MlmHead{
        r.head_linear("cls.predictions.transform.dense", H, H, Activation::kGelu),
        r.get("cls.predictions.transform.LayerNorm.weight", {H}),
        r.get("cls.predictions.transform.LayerNorm.bias", {H}),
        Linear::f32(engine, cache, decoder.f32(), bias.f32(), V, H, Activation::kNone),
    };
  }
  return w;
}

}  // namespace tanzhen::bert
