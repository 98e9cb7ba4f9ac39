// load_checkpoint: picks the weights file, maps the key layouts found in the wild onto the
// canonical names of checkpoint.h, converts to F32 and checks every shape against config.json.
//
// Layouts handled (after an optional DataParallel "module." wrapper):
//   Hugging Face     bert.{embeddings,encoder}.* (or no prefix) + classifier.* / cls.predictions.*
//   community CRF    bert.* + classifier.* + crf.*
//   ModelScope RaNER encoder.{embeddings,encoder}.* + linear.* + crf.*   (older)
//                    encoder.* + head.linear.* + head.crf.*             (newer)
// The encoder's prefix is wherever "embeddings.word_embeddings.weight" lives; heads sit at the
// root. Poolers, the NSP head and position_ids buffers are ignored.
#include <filesystem>
#include <optional>
#include <set>

#include "tanzhen/error.h"
#include "tanzhen/model/checkpoint.h"
#include "weights_io.h"

namespace tanzhen {

namespace {

namespace fs = std::filesystem;

const std::string kWordEmbeddings = "embeddings.word_embeddings.weight";
const std::string kDecoderWeight = "cls.predictions.decoder.weight";
const std::string kDecoderBias = "cls.predictions.bias";

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// Old TF-converted checkpoints name LayerNorm parameters gamma/beta.
std::string fix_layer_norm(const std::string& name) {
  if (ends_with(name, "LayerNorm.gamma")) return name.substr(0, name.size() - 5) + "weight";
  if (ends_with(name, "LayerNorm.beta")) return name.substr(0, name.size() - 4) + "bias";
  return name;
}

std::optional<std::string> head_name(const std::string& key) {
  static const char* kLinearPrefixes[] = {"classifier.", "linear.", "head.linear.", "head.classifier."};
  for (const char* p : kLinearPrefixes) {
    if (starts_with(key, p)) {
      const std::string rest = key.substr(std::char_traits<char>::length(p));
      if (rest == "weight" || rest == "bias") return "classifier." + rest;
      return std::nullopt;
    }
  }
  for (const char* p : {"crf.", "head.crf."}) {
    if (starts_with(key, p)) {
      const std::string rest = key.substr(std::char_traits<char>::length(p));
      if (rest == "transitions" || rest == "start_transitions" || rest == "end_transitions") return "crf." + rest;
      return std::nullopt;
    }
  }
  if (starts_with(key, "cls.predictions.")) {
    const std::string name = fix_layer_norm(key);
    static const std::set<std::string> kKnown = {
        "cls.predictions.transform.dense.weight",     "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
        kDecoderWeight,                               kDecoderBias};
    if (kKnown.count(name)) return name;
    // decoder.bias is the same parameter as cls.predictions.bias (tied in transformers).
    if (name == "cls.predictions.decoder.bias") return kDecoderBias;
  }
  return std::nullopt;  // NSP head, pooler, buffers, anything else: not used
}

// "encoder.layer.N.<suffix>" -> N (and the suffix), or -1.
long layer_index(const std::string& canonical, std::string* suffix = nullptr) {
  static const std::string p = "encoder.layer.";
  if (!starts_with(canonical, p)) return -1;
  size_t i = p.size();
  long n = 0;
  if (i >= canonical.size() || !std::isdigit(static_cast<unsigned char>(canonical[i]))) return -1;
  while (i < canonical.size() && std::isdigit(static_cast<unsigned char>(canonical[i])) && n < 1'000'000)
    n = n * 10 + (canonical[i++] - '0');
  if (i >= canonical.size() || canonical[i] != '.') return -1;
  if (suffix) *suffix = canonical.substr(i + 1);
  return n;
}

bool known_encoder_name(const std::string& name) {
  static const std::set<std::string> kEmbeddings = {
      "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
      "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"};
  static const std::set<std::string> kLayer = {
      "attention.self.query.weight",       "attention.self.query.bias",
      "attention.self.key.weight",         "attention.self.key.bias",
      "attention.self.value.weight",       "attention.self.value.bias",
      "attention.output.dense.weight",     "attention.output.dense.bias",
      "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
      "intermediate.dense.weight",         "intermediate.dense.bias",
      "output.dense.weight",               "output.dense.bias",
      "output.LayerNorm.weight",           "output.LayerNorm.bias"};
  if (kEmbeddings.count(name)) return true;
  std::string suffix;
  return layer_index(name, &suffix) >= 0 && kLayer.count(suffix);
}

// The canonical name for a raw key, or nullopt for keys we do not use (poolers, buffers,
// NSP head, anything unknown).
std::optional<std::string> canonical_name(const std::string& key, const std::string& encoder_prefix) {
  if (starts_with(key, encoder_prefix)) {
    const std::string rest = fix_layer_norm(key.substr(encoder_prefix.size()));
    if (known_encoder_name(rest)) return rest;
    if (starts_with(rest, "embeddings.") || starts_with(rest, "encoder.") || starts_with(rest, "pooler."))
      return std::nullopt;
  }
  return head_name(key);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

class Loader {
 public:
  Loader(std::string file, ModelConfig& config) : file_(std::move(file)), config_(config) {}

  [[noreturn]] void bad(const std::string& name, const std::string& what) const {
    fail("bad_checkpoint", file_ + ": tensor '" + name + "' " + what);
  }

  // Renames to canonical names, converts to F32, drops what we do not use.
  TensorMap canonicalize(TensorMap raw) {
    bool all_wrapped = !raw.empty();
    for (const auto& [k, v] : raw) all_wrapped = all_wrapped && starts_with(k, "module.");
    if (all_wrapped) {  // saved from torch.nn.DataParallel
      TensorMap unwrapped;
      for (auto& [k, v] : raw) unwrapped.emplace(k.substr(7), std::move(v));
      raw.swap(unwrapped);
    }
    const std::string prefix = encoder_prefix(raw);
    TensorMap out;
    std::map<std::string, std::string> source;  // canonical -> raw key, for messages and clashes
    for (auto& [key, tensor] : raw) {
      auto canon = canonical_name(key, prefix);
      if (!canon) continue;
      const long layer = layer_index(*canon);
      if (layer >= config_.num_layers)
        bad(key, "belongs to layer " + std::to_string(layer) + " but config.json has num_hidden_layers = " +
                     std::to_string(config_.num_layers));
      if (auto it = source.find(*canon); it != source.end()) {
        // Both spellings of the MLM output bias: keep cls.predictions.bias.
        if (*canon == kDecoderBias && key == "cls.predictions.decoder.bias") continue;
        if (*canon == kDecoderBias && it->second == "cls.predictions.decoder.bias") {
          out.erase(*canon);
        } else {
          bad(key, "and '" + it->second + "' both map to '" + *canon + "'");
        }
      }
      source[*canon] = key;
      out[*canon] = to_f32(key, tensor);
    }
    source_ = std::move(source);
    prefix_ = prefix;
    return out;
  }

  // Decides the head, fills labels, ties the decoder, checks every shape.
  void validate(TensorMap& w) {
    auto has_prefix = [&](const std::string& p) {
      auto it = w.lower_bound(p);
      return it != w.end() && starts_with(it->first, p);
    };
    const bool has_crf = has_prefix("crf.");
    const bool has_classifier = has_prefix("classifier.");
    const bool has_mlm = has_prefix("cls.predictions.");
    HeadKind head = has_crf ? HeadKind::kCrf
                    : has_classifier ? HeadKind::kTokenClassification
                    : has_mlm ? HeadKind::kMaskedLM
                              : HeadKind::kNone;
    // A head the JSON promises (architectures, ModelScope model type) must be there.
    const HeadKind promised = config_.head;
    if (promised == HeadKind::kCrf && !has_crf) missing(w, "crf.transitions");
    if ((promised == HeadKind::kCrf || promised == HeadKind::kTokenClassification) && !has_classifier)
      missing(w, "classifier.weight");
    if (promised == HeadKind::kMaskedLM && !has_mlm) missing(w, kDecoderBias);
    config_.head = head;

    const int64_t V = config_.vocab_size, H = config_.hidden_size, I = config_.intermediate_size;
    expect(w, "embeddings.word_embeddings.weight", {V, H});
    expect(w, "embeddings.position_embeddings.weight", {config_.max_position_embeddings, H});
    expect(w, "embeddings.token_type_embeddings.weight", {config_.type_vocab_size, H});
    expect(w, "embeddings.LayerNorm.weight", {H});
    expect(w, "embeddings.LayerNorm.bias", {H});
    for (int l = 0; l < config_.num_layers; ++l) {
      const std::string p = "encoder.layer." + std::to_string(l) + ".";
      for (const char* qkv : {"query", "key", "value"}) {
        expect(w, p + "attention.self." + qkv + ".weight", {H, H});
        expect(w, p + "attention.self." + qkv + ".bias", {H});
      }
      expect(w, p + "attention.output.dense.weight", {H, H});
      expect(w, p + "attention.output.dense.bias", {H});
      expect(w, p + "attention.output.LayerNorm.weight", {H});
      expect(w, p + "attention.output.LayerNorm.bias", {H});
      expect(w, p + "intermediate.dense.weight", {I, H});
      expect(w, p + "intermediate.dense.bias", {I});
      expect(w, p + "output.dense.weight", {H, I});
      expect(w, p + "output.dense.bias", {H});
      expect(w, p + "output.LayerNorm.weight", {H});
      expect(w, p + "output.LayerNorm.bias", {H});
    }

    if (head == HeadKind::kCrf || head == HeadKind::kTokenClassification) {
      const Tensor& cw = require(w, "classifier.weight");
      if (cw.rank() != 2 || cw.dim(1) != H || cw.dim(0) < 1)
        bad(raw_name("classifier.weight"), "has shape " + cw.shape_string() + ", expected [num_labels, " +
                                               std::to_string(H) + "]");
      const int64_t L = cw.dim(0);
      if (config_.labels.empty()) {
        for (int64_t i = 0; i < L; ++i) config_.labels.push_back("LABEL_" + std::to_string(i));
      } else if (static_cast<int64_t>(config_.labels.size()) != L) {
        bad(raw_name("classifier.weight"), "has " + std::to_string(L) + " labels but the config lists " +
                                               std::to_string(config_.labels.size()));
      }
      expect(w, "classifier.bias", {L});
      if (head == HeadKind::kCrf) {
        expect(w, "crf.transitions", {L, L});
        expect(w, "crf.start_transitions", {L});
        expect(w, "crf.end_transitions", {L});
      }
    } else {
      config_.labels.clear();  // no label head; transformers' default LABEL_0/1 mean nothing
    }

    if (head == HeadKind::kMaskedLM) {
      expect(w, "cls.predictions.transform.dense.weight", {H, H});
      expect(w, "cls.predictions.transform.dense.bias", {H});
      expect(w, "cls.predictions.transform.LayerNorm.weight", {H});
      expect(w, "cls.predictions.transform.LayerNorm.bias", {H});
      expect(w, kDecoderBias, {V});
      // Tied to the word embeddings: safetensors files leave the duplicate out.
      if (!w.count(kDecoderWeight)) w[kDecoderWeight] = w.at(kWordEmbeddings);
      expect(w, kDecoderWeight, {V, H});
    }
  }

 private:
  // Where the BertModel's parameters live: "bert.", "encoder.", "" ...
  std::string encoder_prefix(const TensorMap& raw) const {
    std::optional<std::string> best;
    for (const auto& [k, v] : raw) {
      if (!ends_with(k, kWordEmbeddings)) continue;
      std::string p = k.substr(0, k.size() - kWordEmbeddings.size());
      if (!p.empty() && p.back() != '.') continue;
      if (!best || p.size() < best->size()) best = p;
    }
    if (!best) fail("bad_checkpoint", file_ + ": tensor '" + kWordEmbeddings + "' is missing (no BERT embeddings found)");
    return *best;
  }

  Tensor to_f32(const std::string& key, const Tensor& t) const {
    switch (t.dtype()) {
      case DType::F32: return t;
      case DType::F16: case DType::BF16: case DType::F64: return weights_io::convert_to_f32(t);
      default: bad(key, std::string("has unsupported dtype ") + dtype_name(t.dtype()) + " (expected a float type)");
    }
  }

  // The file's name for a canonical tensor (canonical name with the encoder prefix if unseen).
  std::string raw_name(const std::string& canonical) const {
    if (auto it = source_.find(canonical); it != source_.end()) return it->second;
    const bool in_encoder = starts_with(canonical, "embeddings.") || starts_with(canonical, "encoder.");
    return in_encoder ? prefix_ + canonical : canonical;
  }

  [[noreturn]] void missing(const TensorMap&, const std::string& canonical) const {
    bad(raw_name(canonical), "is missing" + std::string(config_.head != HeadKind::kNone
                                                            ? std::string(" (config promises a ") +
                                                                  head_kind_name(config_.head) + " head)"
                                                            : ""));
  }

  const Tensor& require(const TensorMap& w, const std::string& canonical) const {
    auto it = w.find(canonical);
    if (it == w.end()) bad(raw_name(canonical), "is missing");
    return it->second;
  }

  void expect(const TensorMap& w, const std::string& canonical, const std::vector<int64_t>& shape) const {
    const Tensor& t = require(w, canonical);
    if (t.shape() != shape) bad(raw_name(canonical), "has shape " + t.shape_string() + ", expected " + shape_str(shape));
  }

  std::string file_;
  ModelConfig& config_;
  std::map<std::string, std::string> source_;
  std::string prefix_;
};

}  // namespace

Checkpoint load_checkpoint(const std::string& dir) {
  Checkpoint ck;
  ck.dir = dir;
  ck.config = read_model_config(dir);
  const fs::path safetensors = fs::path(dir) / "model.safetensors";
  const fs::path torch_bin = fs::path(dir) / "pytorch_model.bin";
  TensorMap raw;
  if (fs::exists(safetensors)) {
    ck.weights_file = safetensors.string();
    raw = read_safetensors(ck.weights_file);
  } else if (fs::exists(torch_bin)) {
    ck.weights_file = torch_bin.string();
    raw = read_torch_checkpoint(ck.weights_file);
  } else if (fs::exists(fs::path(dir) / "model.safetensors.index.json") ||
             fs::exists(fs::path(dir) / "pytorch_model.bin.index.json")) {
    fail("bad_checkpoint", dir + ": sharded checkpoints are not supported (merge the shards into one file)");
  } else {
    fail("bad_checkpoint", dir + ": no model.safetensors or pytorch_model.bin");
  }
  Loader loader(ck.weights_file, ck.config);
  ck.weights = loader.canonicalize(std::move(raw));
  loader.validate(ck.weights);
  return ck;
}

}  // namespace tanzhen
