// Pre-tokenisation of BERT tokenizers: special tokens, text cleanup, optional lower-casing and
// accent stripping, whitespace / punctuation / CJK splitting. Every normalised character remembers
// the original code point it came from, which gives WordPiece tokens their offsets.
// Internal to the text layer (BertTokenizer uses it); public so that tests can reach it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tanzhen {

// The words of one text. Characters of all words are stored back to back in flat buffers, so
// that a long text costs a handful of allocations, not a few per character.
struct PreTokenized {
  struct Word {
    int32_t begin = 0, end = 0;  // normalised characters [begin, end); empty for special tokens
    int32_t special = -1;        // index into the tokenizer's special tokens, or -1
    int32_t span_start = 0, span_end = 0;  // code points of the original text it came from
  };
  std::string utf8;                  // normalised characters of all words, UTF-8
  std::vector<uint32_t> char_byte;   // byte offset in utf8 of each character, plus the end
  std::vector<int32_t> char_origin;  // original code-point index of each character
  std::vector<Word> words;

  void clear();
  std::string_view word_utf8(const Word& w) const {
    return std::string_view(utf8).substr(char_byte[w.begin], char_byte[w.end] - char_byte[w.begin]);
  }
};

struct BasicTokenizerOptions {
  bool lower_case = false;
  bool strip_accents = false;
  bool split_chinese_chars = true;
};

class BasicTokenizer {
 public:
  BasicTokenizer() = default;
  // `special_tokens` are matched verbatim in the original text (leftmost, then longest) and
  // kept whole, as Hugging Face does with added special tokens (normalized=false).
  BasicTokenizer(BasicTokenizerOptions options, std::vector<std::u32string> special_tokens);

  // Replaces `out` with the words of `text`.
  void split(std::u32string_view text, PreTokenized& out) const;

  // The special tokens, longest first; PreTokenized::Word::special indexes this list.
  const std::vector<std::u32string>& special_tokens() const { return special_tokens_; }

 private:
  // Length of the special token starting at text[i] (its index in *which), 0 if none.
  size_t match_special(std::u32string_view text, size_t i, int32_t* which) const;
  void split_plain(std::u32string_view text, size_t offset, PreTokenized& out) const;

  BasicTokenizerOptions options_;
  std::vector<std::u32string> special_tokens_;  // longest first
  std::u32string first_chars_;                  // first character of each, to skip fast
};

}  // namespace tanzhen
