// BertTokenizer::from_dir: the vocabulary and settings of a Hugging Face / ModelScope checkpoint.
//   vocab.txt            one token per line, id = line number (tokenizer.json's model.vocab if absent)
//   tokenizer_config.json do_lower_case, strip_accents, tokenize_chinese_chars, model_max_length,
//                        special tokens — these win, as BertTokenizer(Fast)'s init arguments do
//   tokenizer.json       normalizer (lowercase, strip_accents, handle_chinese_chars), WordPiece
//                        max_input_chars_per_word, added special tokens
// A setting stated nowhere keeps BertTokenizer's default (do_lower_case = true).
#include <climits>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tanzhen/error.h"
#include "tanzhen/text/tokenizer.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("bad_checkpoint", "cannot read " + path.string());
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::optional<json> read_json_if_exists(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("bad_checkpoint", path.string() + ": invalid JSON: " + e.what());
  }
}

// Lines as Python's readlines() in text mode sees them: "\n", "\r\n" and "\r" all end a line;
// a last line without a newline still counts.
std::vector<std::string> read_vocab_txt(const fs::path& path) {
  const std::string text = read_file(path);
  if (!is_valid_utf8(text)) fail("bad_checkpoint", path.string() + ": not UTF-8");
  std::vector<std::string> vocab;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    vocab.emplace_back(text, start, i - start);
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < text.size()) vocab.emplace_back(text, start, std::string::npos);
  return vocab;
}

// tokenizer.json's model.vocab: {"token": id, ...}; ids must cover 0..n-1.
std::vector<std::string> vocab_from_tokenizer_json(const json& model, const std::string& file) {
  const json& map = model.at("vocab");
  if (!map.is_object()) fail("bad_checkpoint", file + ": model.vocab is not an object");
  std::vector<std::string> vocab(map.size());
  std::vector<bool> seen(map.size(), false);
  for (const auto& [token, id] : map.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= static_cast<int64_t>(map.size()) ||
        seen[id.get<size_t>()]) {
      fail("bad_checkpoint", file + ": model.vocab ids are not 0.." + std::to_string(map.size() - 1));
    }
    vocab[id.get<size_t>()] = token;
    seen[id.get<size_t>()] = true;
  }
  return vocab;
}

// A special token is either "text" or an AddedToken object {"content": "text", ...}.
std::optional<std::string> token_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

void read_bool(const json& obj, const char* key, bool& out, const std::string& file) {
  if (!obj.contains(key) || obj[key].is_null()) return;
  if (!obj[key].is_boolean()) fail("bad_checkpoint", file + ": '" + key + "' is not true/false");
  out = obj[key].get<bool>();
}

// strip_accents: null = follow lowercase (-1), false (0), true (1).
void read_strip_accents(const json& obj, int& out, const std::string& file) {
  if (!obj.contains("strip_accents")) return;
  const json& v = obj["strip_accents"];
  if (v.is_null()) {
    out = -1;
  } else if (v.is_boolean()) {
    out = v.get<bool>() ? 1 : 0;
  } else {
    fail("bad_checkpoint", file + ": 'strip_accents' is not true/false/null");
  }
}

// The BertNormalizer of tokenizer.json, alone or inside a Sequence normalizer.
const json* find_bert_normalizer(const json& normalizer) {
  if (!normalizer.is_object()) return nullptr;
  const auto type = normalizer.value("type", std::string());
  if (type == "BertNormalizer") return &normalizer;
  if (type == "Sequence" && normalizer.contains("normalizers") && normalizer["normalizers"].is_array()) {
    for (const auto& n : normalizer["normalizers"]) {
      if (const json* found = find_bert_normalizer(n)) return found;
    }
  }
  return nullptr;
}

void apply_tokenizer_json(const json& tj, const std::string& file, TokenizerConfig& config,
                          std::vector<std::string>& vocab, std::vector<std::string>& extra_special) {
  if (tj.contains("normalizer")) {
    if (const json* n = find_bert_normalizer(tj["normalizer"])) {
      read_bool(*n, "lowercase", config.do_lower_case, file);
      read_bool(*n, "handle_chinese_chars", config.tokenize_chinese_chars, file);
      read_strip_accents(*n, config.strip_accents, file);
    }
  }
  if (tj.contains("model") && tj["model"].is_object()) {
    const json& model = tj["model"];
    if (model.contains("max_input_chars_per_word") && model["max_input_chars_per_word"].is_number_integer())
      config.max_input_chars_per_word = model["max_input_chars_per_word"].get<int>();
    if (model.contains("unk_token") && model["unk_token"].is_string())
      config.unk_token = model["unk_token"].get<std::string>();
  }
  if (tj.contains("added_tokens") && tj["added_tokens"].is_array()) {
    for (const auto& t : tj["added_tokens"]) {
      auto content = t.is_object() ? token_text(t) : std::nullopt;
      if (!content) continue;
      // An added token beyond the WordPiece vocabulary takes the next id.
      if (t.contains("id") && t["id"].is_number_integer() && t["id"].get<int64_t>() == static_cast<int64_t>(vocab.size()))
        vocab.push_back(*content);
      if (t.value("special", false)) extra_special.push_back(*content);
    }
  }
}

void apply_tokenizer_config(const json& tc, const std::string& file, TokenizerConfig& config,
                            std::vector<std::string>& extra_special) {
  if (!tc.is_object()) fail("bad_checkpoint", file + ": not a JSON object");
  read_bool(tc, "do_lower_case", config.do_lower_case, file);
  read_bool(tc, "tokenize_chinese_chars", config.tokenize_chinese_chars, file);
  read_strip_accents(tc, config.strip_accents, file);
  // Hugging Face writes int(1e30) for "no known limit": keep the BERT default then.
  if (tc.contains("model_max_length") && tc["model_max_length"].is_number()) {
    const double v = tc["model_max_length"].get<double>();
    if (v >= 1 && v <= 1e9) config.model_max_length = static_cast<int>(v);
  }
  const std::pair<const char*, std::string*> tokens[] = {
      {"unk_token", &config.unk_token}, {"cls_token", &config.cls_token}, {"sep_token", &config.sep_token},
      {"pad_token", &config.pad_token}, {"mask_token", &config.mask_token}};
  for (const auto& [key, field] : tokens) {
    if (!tc.contains(key)) continue;
    if (auto text = token_text(tc[key])) *field = *text;
  }
  if (tc.contains("additional_special_tokens") && tc["additional_special_tokens"].is_array()) {
    for (const auto& t : tc["additional_special_tokens"]) {
      if (auto text = token_text(t)) extra_special.push_back(*text);
    }
  }
  if (tc.contains("added_tokens_decoder") && tc["added_tokens_decoder"].is_object()) {
    for (const auto& [id, t] : tc["added_tokens_decoder"].items()) {
      if (t.is_object() && t.value("special", false)) {
        if (auto text = token_text(t)) extra_special.push_back(*text);
      }
    }
  }
}

}  // namespace

BertTokenizer BertTokenizer::from_dir(const std::string& dir) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) fail("bad_checkpoint", "not a directory: " + dir);
  const fs::path tj_path = root / "tokenizer.json", tc_path = root / "tokenizer_config.json",
                 vocab_path = root / "vocab.txt";
  const auto tj = read_json_if_exists(tj_path);
  const auto tc = read_json_if_exists(tc_path);

  std::vector<std::string> vocab;
  try {
    if (fs::exists(vocab_path)) {
      vocab = read_vocab_txt(vocab_path);
    } else if (tj && tj->is_object() && tj->contains("model") && (*tj)["model"].contains("vocab")) {
      vocab = vocab_from_tokenizer_json((*tj)["model"], tj_path.string());
    } else {
      fail("bad_checkpoint", "no vocab.txt (nor a vocabulary in tokenizer.json) in " + dir);
    }
    TokenizerConfig config;
    std::vector<std::string> extra_special;
    if (tj && tj->is_object()) apply_tokenizer_json(*tj, tj_path.string(), config, vocab, extra_special);
    if (tc) apply_tokenizer_config(*tc, tc_path.string(), config, extra_special);
    BertTokenizer tokenizer(std::move(vocab), std::move(config));
    if (!extra_special.empty()) tokenizer.index(extra_special);
    return tokenizer;
  } catch (const json::exception& e) {
    fail("bad_checkpoint", dir + ": unexpected tokenizer files: " + e.what());
  }
}

}  // namespace tanzhen
