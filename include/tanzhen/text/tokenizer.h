// Hugging Face BertTokenizer / BertTokenizerFast semantics: text -> WordPiece tokens, each with
// its code-point span in the original text.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tanzhen/text/basic_tokenizer.h"

namespace tanzhen {

// Half-open code-point span [start, end) in the original text.
struct Span {
  int start = 0;
  int end = 0;
  bool operator==(const Span&) const = default;
};

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  std::vector<Span> offsets;  // [CLS]/[SEP] added by encode() get {0, 0}
  std::vector<int> word_ids;  // pre-tokenized word of each token; -1 for added [CLS]/[SEP]
  size_t size() const { return ids.size(); }
};

struct TokenizerConfig {
  bool do_lower_case = true;         // BertTokenizer's default; bert-base-chinese sets false
  bool tokenize_chinese_chars = true;
  int strip_accents = -1;            // -1 = follow do_lower_case (HF's None), 0 = no, 1 = yes
  int max_input_chars_per_word = 100;
  int model_max_length = 512;
  std::string unk_token = "[UNK]", cls_token = "[CLS]", sep_token = "[SEP]",
              pad_token = "[PAD]", mask_token = "[MASK]";
};

class BertTokenizer {
 public:
  // Reads vocab.txt (or the vocab inside tokenizer.json) plus tokenizer_config.json /
  // tokenizer.json normalizer settings from a checkpoint folder.
  static BertTokenizer from_dir(const std::string& dir);
  // vocab[i] is the token of id i. Throws Error("bad_checkpoint") when the vocabulary lacks the
  // unk, cls or sep token of the config.
  BertTokenizer(std::vector<std::string> vocab, TokenizerConfig config);

  // Throws Error("invalid_utf8", ...) on invalid UTF-8. With add_special_tokens, the result is
  // [CLS] tokens... [SEP]; with max_length > 0 the tokens are truncated to max_length - 2 first
  // (Hugging Face truncation=True).
  Encoding encode(std::string_view text, bool add_special_tokens = true, int max_length = 0) const;
  Encoding encode(const std::u32string& text, bool add_special_tokens = true, int max_length = 0) const;

  int32_t token_to_id(std::string_view token) const;  // unk_id() if absent
  const std::string& id_to_token(int32_t id) const;
  size_t vocab_size() const { return vocab_.size(); }
  int32_t unk_id() const { return unk_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }    // 0 when the vocabulary has no pad token
  int32_t mask_id() const { return mask_id_; }  // -1 when the vocabulary has no mask token
  const TokenizerConfig& config() const { return config_; }

 private:
  // Lets the maps be searched with string_views into a word, without building strings.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using IdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  // One WordPiece token of a word: vocabulary id and the word's characters [begin, end).
  struct Piece {
    int32_t id, begin, end;
  };
  // Greedy longest-match-first WordPiece of one normalised word (its UTF-8 and the byte offset of
  // each of its n_chars characters plus the end); appends its pieces, or one [UNK] for it all.
  void wordpiece(std::string_view word, const uint32_t* char_byte, int32_t n_chars,
                 std::vector<Piece>& out) const;
  // Builds ids_, continuation_ids_ and the special ids from vocab_, and basic_ from config_ and
  // extra special tokens (added tokens of tokenizer.json beyond the five of the config).
  void index(const std::vector<std::string>& extra_special_tokens);

  std::vector<std::string> vocab_;
  IdMap ids_;               // token -> id (for a token listed twice, the later line wins)
  IdMap continuation_ids_;  // "##xyz" tokens keyed by "xyz"
  size_t longest_token_ = 0, longest_continuation_ = 0;  // bytes; bounds the WordPiece search
  TokenizerConfig config_;
  BasicTokenizer basic_;
  std::vector<int32_t> special_ids_;  // id of each of basic_.special_tokens()
  int32_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, pad_id_ = 0, mask_id_ = -1;
};

}  // namespace tanzhen
