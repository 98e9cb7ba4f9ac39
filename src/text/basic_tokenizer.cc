// BERT pre-tokenisation in one pass over the original code points (see basic_tokenizer.h).
// The order of the rules is Hugging Face's: special tokens are cut out of the raw text first;
// then each character is dropped (controls), turned into a word break (whitespace), isolated
// (CJK ideographs) or normalised (lower-case / strip accents) and split off if punctuation.
#include "tanzhen/text/basic_tokenizer.h"

#include <algorithm>

#include "tanzhen/text/bert_chars.h"

namespace tanzhen {
namespace {

// Input characters here are valid scalar values: controls, surrogates and non-characters above
// U+10FFFF are removed (category C*) before anything is appended.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Builds the words of one stretch of text into PreTokenized's flat buffers.
class WordBuilder {
 public:
  explicit WordBuilder(PreTokenized& out) : out_(out) {}
  ~WordBuilder() { end_word(); }

  void add(char32_t c, int32_t origin) {
    if (start_ < 0) start_ = static_cast<int32_t>(out_.char_origin.size());
    out_.char_byte.push_back(static_cast<uint32_t>(out_.utf8.size()));
    append_utf8(out_.utf8, c);
    out_.char_origin.push_back(origin);
  }
  void end_word() {
    if (start_ < 0) return;
    const auto end = static_cast<int32_t>(out_.char_origin.size());
    out_.words.push_back({start_, end, -1, out_.char_origin[start_], out_.char_origin[end - 1] + 1});
    start_ = -1;
  }
  void add_alone(char32_t c, int32_t origin) {
    end_word();
    add(c, origin);
    end_word();
  }

 private:
  PreTokenized& out_;
  int32_t start_ = -1;  // first character of the open word, -1 when none is open
};

}  // namespace

void PreTokenized::clear() {
  utf8.clear();
  char_byte.clear();
  char_origin.clear();
  words.clear();
}

BasicTokenizer::BasicTokenizer(BasicTokenizerOptions options, std::vector<std::u32string> special_tokens)
    : options_(options) {
  for (auto& t : special_tokens) {
    if (t.empty()) continue;
    if (std::find(special_tokens_.begin(), special_tokens_.end(), t) == special_tokens_.end())
      special_tokens_.push_back(std::move(t));
  }
  // Longest first, so that the first match at a position is the longest one.
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(),
                   [](const std::u32string& a, const std::u32string& b) { return a.size() > b.size(); });
  for (const auto& t : special_tokens_) {
    if (first_chars_.find(t[0]) == std::u32string::npos) first_chars_.push_back(t[0]);
  }
}

size_t BasicTokenizer::match_special(std::u32string_view text, size_t i, int32_t* which) const {
  if (first_chars_.find(text[i]) == std::u32string::npos) return 0;
  const std::u32string_view rest = text.substr(i);
  for (size_t k = 0; k < special_tokens_.size(); ++k) {
    if (rest.starts_with(special_tokens_[k])) {
      *which = static_cast<int32_t>(k);
      return special_tokens_[k].size();
    }
  }
  return 0;
}

void BasicTokenizer::split(std::u32string_view text, PreTokenized& out) const {
  out.clear();
  out.utf8.reserve(text.size() * 3);
  out.char_byte.reserve(text.size() + 1);
  out.char_origin.reserve(text.size());
  size_t segment = 0;  // start of the text not yet split
  for (size_t i = 0; i < text.size();) {
    int32_t which = -1;
    const size_t len = special_tokens_.empty() ? 0 : match_special(text, i, &which);
    if (len == 0) {
      ++i;
      continue;
    }
    split_plain(text.substr(segment, i - segment), segment, out);
    const auto at = static_cast<int32_t>(out.char_origin.size());
    out.words.push_back({at, at, which, static_cast<int32_t>(i), static_cast<int32_t>(i + len)});
    i += len;
    segment = i;
  }
  split_plain(text.substr(segment), segment, out);
  out.char_byte.push_back(static_cast<uint32_t>(out.utf8.size()));
}

void BasicTokenizer::split_plain(std::u32string_view text, size_t offset, PreTokenized& out) const {
  WordBuilder words(out);
  char32_t normalized[bert::kMaxNormalizedChars];
  for (size_t j = 0; j < text.size(); ++j) {
    const char32_t c = text[j];
    const auto origin = static_cast<int32_t>(offset + j);
    // Removed characters do not break words: "a\u200bb" is the word "ab".
    if (bert::is_removed(c)) continue;
    if (bert::is_whitespace(c)) {
      words.end_word();
      continue;
    }
    const size_t n = bert::normalize_char(c, options_.lower_case, options_.strip_accents, normalized);
    if (options_.split_chinese_chars && bert::is_chinese_char(c)) {
      words.end_word();
      for (size_t k = 0; k < n; ++k) words.add(normalized[k], origin);
      words.end_word();
      continue;
    }
    for (size_t k = 0; k < n; ++k) {
      if (bert::is_punctuation(normalized[k])) {
        words.add_alone(normalized[k], origin);
      } else {
        words.add(normalized[k], origin);
      }
    }
  }
}

}  // namespace tanzhen
