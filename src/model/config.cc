// read_model_config: config.json (Hugging Face BertConfig) plus, for ModelScope folders,
// configuration.json (task / model type) and label_mapping.json ({label: id}).
#include "tanzhen/model/config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tanzhen/error.h"

namespace tanzhen {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxJsonFileBytes = 16u << 20;  // configs are a few KB

[[noreturn]] void bad_config(const std::string& file, const std::string& what) {
  fail("bad_config", file + ": " + what);
}

json read_json_file(const std::string& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) bad_config(file, "cannot read (" + ec.message() + ")");
  if (size > kMaxJsonFileBytes) bad_config(file, "too large for a config file (" + std::to_string(size) + " bytes)");
  std::ifstream in(file, std::ios::binary);
  if (!in) bad_config(file, "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad_config(file, "is not valid JSON");
  if (!j.is_object()) bad_config(file, "must hold a JSON object");
  return j;
}

// An integer field within [lo, hi]; `fallback` when absent (nullopt = required).
int int_field(const json& j, const std::string& file, const char* key, std::optional<int> fallback,
              int64_t lo, int64_t hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (!fallback) bad_config(file, std::string("missing \"") + key + "\"");
    return *fallback;
  }
  if (!it->is_number_integer()) bad_config(file, std::string("\"") + key + "\" must be an integer");
  // number_integer covers both signed and unsigned JSON integers.
  int64_t v;
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    v = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                        : static_cast<int64_t>(u);
  } else {
    v = it->get<int64_t>();
  }
  if (v < lo || v > hi)
    bad_config(file, std::string("\"") + key + "\" = " + std::to_string(v) + " is outside [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

// Labels indexed by id from a {"0": "O", "1": "B-PER", ...} object; ids must be 0..n-1.
std::vector<std::string> labels_from_id2label(const json& j, const std::string& file) {
  if (!j.is_object()) bad_config(file, "\"id2label\" must be an object");
  std::map<long long, std::string> by_id;
  for (const auto& [key, value] : j.items()) {
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(key, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != key.size() || id < 0) bad_config(file, "id2label key \"" + key + "\" is not a label id");
    if (!value.is_string()) bad_config(file, "id2label[" + key + "] must be a string");
    if (!by_id.emplace(id, value.get<std::string>()).second)
      bad_config(file, "id2label has label id " + std::to_string(id) + " twice");
  }
  std::vector<std::string> labels;
  for (const auto& [id, name] : by_id) {
    if (id != static_cast<long long>(labels.size()))
      bad_config(file, "id2label ids must be 0.." + std::to_string(by_id.size() - 1) + " (missing id " +
                           std::to_string(labels.size()) + ")");
    labels.push_back(name);
  }
  return labels;
}

// ModelScope label_mapping.json: {"O": 0, "B-PER": 1, ...}.
std::vector<std::string> labels_from_label_mapping(const json& j, const std::string& file) {
  std::map<long long, std::string> by_id;
  for (const auto& [name, id] : j.items()) {
    if (!id.is_number_integer() || id.get<long long>() < 0)
      bad_config(file, "label \"" + name + "\" must map to a non-negative integer id");
    if (!by_id.emplace(id.get<long long>(), name).second)
      bad_config(file, "label id " + std::to_string(id.get<long long>()) + " is used twice");
  }
  std::vector<std::string> labels;
  for (const auto& [id, name] : by_id) {
    if (id != static_cast<long long>(labels.size()))
      bad_config(file, "label ids must be 0.." + std::to_string(by_id.size() - 1));
    labels.push_back(name);
  }
  return labels;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What the JSON promises about the head; the checkpoint loader checks the weights agree.
HeadKind head_from_architectures(const json& j, const std::string& file) {
  auto it = j.find("architectures");
  if (it == j.end() || it->is_null()) return HeadKind::kNone;
  if (!it->is_array()) bad_config(file, "\"architectures\" must be a list");
  for (const auto& a : *it) {
    if (!a.is_string()) bad_config(file, "\"architectures\" must be a list of strings");
    const std::string name = lower(a.get<std::string>());
    // Their "classifier" would pass for a token classifier, so say no up front.
    for (const char* other : {"forsequenceclassification", "formultiplechoice", "forquestionanswering",
                              "fornextsentenceprediction"}) {
      if (contains(name, other))
        bad_config(file, "architecture " + a.get<std::string>() +
                             " is not supported (only token classification, CRF and masked LM models)");
    }
    if (contains(name, "crf")) return HeadKind::kCrf;
    if (contains(name, "fortokenclassification")) return HeadKind::kTokenClassification;
    if (contains(name, "formaskedlm") || contains(name, "forpretraining")) return HeadKind::kMaskedLM;
  }
  return HeadKind::kNone;
}

}  // namespace

const char* head_kind_name(HeadKind h) {
  switch (h) {
    case HeadKind::kNone: return "encoder";
    case HeadKind::kTokenClassification: return "token-classification";
    case HeadKind::kCrf: return "crf";
    case HeadKind::kMaskedLM: return "masked-lm";
  }
  return "?";
}

ModelConfig read_model_config(const std::string& dir) {
  const std::string file = (fs::path(dir) / "config.json").string();
  if (!fs::exists(file)) bad_config(file, "not found (is this a model folder?)");
  const json j = read_json_file(file);

  ModelConfig c;
  if (auto it = j.find("model_type"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) bad_config(file, "\"model_type\" must be a string");
    c.model_type = it->get<std::string>();
    // Other families (RoBERTa's position offset, NEZHA's relative positions...) would load
    // without complaint and compute something else, so only BERT itself is accepted.
    if (c.model_type != "bert") bad_config(file, "model_type \"" + c.model_type + "\" is not supported (only \"bert\")");
  }
  constexpr int kBig = 1 << 24;
  c.vocab_size = int_field(j, file, "vocab_size", std::nullopt, 1, kBig);
  c.hidden_size = int_field(j, file, "hidden_size", std::nullopt, 1, 1 << 16);
  c.num_layers = int_field(j, file, "num_hidden_layers", std::nullopt, 1, 1024);
  c.num_heads = int_field(j, file, "num_attention_heads", std::nullopt, 1, 1024);
  c.intermediate_size = int_field(j, file, "intermediate_size", std::nullopt, 1, 1 << 20);
  c.max_position_embeddings = int_field(j, file, "max_position_embeddings", 512, 3, 1 << 20);
  c.type_vocab_size = int_field(j, file, "type_vocab_size", 2, 1, 1 << 16);
  c.pad_token_id = int_field(j, file, "pad_token_id", 0, 0, c.vocab_size - 1);
  if (c.hidden_size % c.num_heads != 0)
    bad_config(file, "hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                         std::to_string(c.num_heads));

  if (auto it = j.find("layer_norm_eps"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) bad_config(file, "\"layer_norm_eps\" must be a number");
    const double eps = it->get<double>();
    if (!std::isfinite(eps) || eps <= 0 || eps >= 1) bad_config(file, "\"layer_norm_eps\" must be in (0, 1)");
    c.layer_norm_eps = static_cast<float>(eps);
  }
  if (auto it = j.find("hidden_act"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) bad_config(file, "\"hidden_act\" must be a string");
    c.hidden_act = it->get<std::string>();
  }
  if (c.hidden_act != "gelu")
    bad_config(file, "hidden_act \"" + c.hidden_act + "\" is not supported (only exact \"gelu\")");
  if (auto it = j.find("position_embedding_type"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>() != "absolute")
      bad_config(file, "only \"absolute\" position_embedding_type is supported");
  }
  if (auto it = j.find("id2label"); it != j.end() && !it->is_null()) c.labels = labels_from_id2label(*it, file);
  c.head = head_from_architectures(j, file);
  if (auto it = j.find("crf_constrained"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) bad_config(file, "\"crf_constrained\" must be true or false");
    c.crf_constrained = it->get<bool>();
  }

  // ModelScope: configuration.json names the model type ("transformer-crf", ...), and
  // label_mapping.json is the label set its pipelines use (config.json's id2label, when
  // present at all, is often transformers' LABEL_0/LABEL_1 default there).
  const std::string ms_file = (fs::path(dir) / "configuration.json").string();
  if (fs::exists(ms_file)) {
    const json ms = read_json_file(ms_file);
    if (auto m = ms.find("model"); m != ms.end() && m->is_object()) {
      if (auto t = m->find("type"); t != m->end() && t->is_string()) {
        const std::string type = lower(t->get<std::string>());
        c.modelscope = true;
        if (contains(type, "crf")) c.head = HeadKind::kCrf;
        else if (contains(type, "token-classification") || contains(type, "token_classification"))
          c.head = HeadKind::kTokenClassification;
      }
    }
  }
  const std::string mapping_file = (fs::path(dir) / "label_mapping.json").string();
  if (fs::exists(mapping_file)) c.labels = labels_from_label_mapping(read_json_file(mapping_file), mapping_file);
  return c;
}

}  // namespace tanzhen
