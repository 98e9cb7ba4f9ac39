// BertTokenizer: vocabulary indexing and encode() (pre-tokenise, WordPiece, truncate, add
// [CLS]/[SEP]). Loading from a checkpoint folder is in tokenizer_loading.cc.
#include "tanzhen/text/tokenizer.h"

#include <algorithm>
#include <limits>

#include "tanzhen/error.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {

BertTokenizer::BertTokenizer(std::vector<std::string> vocab, TokenizerConfig config)
    : vocab_(std::move(vocab)), config_(std::move(config)) {
  index({});
}

void BertTokenizer::index(const std::vector<std::string>& extra_special_tokens) {
  ids_.clear();
  continuation_ids_.clear();
  ids_.reserve(vocab_.size());
  longest_token_ = longest_continuation_ = 0;
  for (size_t i = 0; i < vocab_.size(); ++i) {
    const std::string& token = vocab_[i];
    const auto id = static_cast<int32_t>(i);
    ids_.insert_or_assign(token, id);
    longest_token_ = std::max(longest_token_, token.size());
    if (token.size() > 2 && token.starts_with("##")) {
      continuation_ids_.insert_or_assign(token.substr(2), id);
      longest_continuation_ = std::max(longest_continuation_, token.size() - 2);
    }
  }
  auto find = [&](const std::string& token) {
    auto it = ids_.find(token);
    return it == ids_.end() ? -1 : it->second;
  };
  auto require = [&](const std::string& token, const char* what) {
    const int32_t id = find(token);
    if (id < 0) fail("bad_checkpoint", std::string("vocabulary has no ") + what + " token '" + token + "'");
    return id;
  };
  unk_id_ = require(config_.unk_token, "unknown");
  cls_id_ = require(config_.cls_token, "classifier");
  sep_id_ = require(config_.sep_token, "separator");
  pad_id_ = std::max(find(config_.pad_token), 0);
  mask_id_ = find(config_.mask_token);

  // Special tokens written in the text stay whole (only those the vocabulary has: others would
  // have no id of their own).
  std::vector<std::string> specials = {config_.unk_token, config_.cls_token, config_.sep_token,
                                       config_.pad_token, config_.mask_token};
  specials.insert(specials.end(), extra_special_tokens.begin(), extra_special_tokens.end());
  std::vector<std::u32string> in_vocab;
  for (const auto& s : specials) {
    if (!s.empty() && find(s) >= 0) in_vocab.push_back(decode_utf8(s));
  }
  BasicTokenizerOptions options;
  options.lower_case = config_.do_lower_case;
  options.strip_accents = config_.strip_accents < 0 ? config_.do_lower_case : config_.strip_accents > 0;
  options.split_chinese_chars = config_.tokenize_chinese_chars;
  basic_ = BasicTokenizer(options, std::move(in_vocab));
  special_ids_.clear();
  for (const auto& s : basic_.special_tokens()) special_ids_.push_back(find(encode_utf8(s)));
}

Encoding BertTokenizer::encode(std::string_view text, bool add_special_tokens, int max_length) const {
  return encode(decode_utf8(text), add_special_tokens, max_length);
}

Encoding BertTokenizer::encode(const std::u32string& text, bool add_special_tokens, int max_length) const {
  PreTokenized pre;
  basic_.split(text, pre);

  const int specials = add_special_tokens ? 2 : 0;
  // Hugging Face truncation: keep the first max_length - 2 tokens, then add [CLS]/[SEP].
  const size_t limit = max_length > 0 ? static_cast<size_t>(std::max(0, max_length - specials))
                                      : std::numeric_limits<size_t>::max();
  Encoding enc;
  const size_t expected = std::min(limit, pre.words.size() + 8) + 2;
  enc.ids.reserve(expected);
  enc.tokens.reserve(expected);
  enc.offsets.reserve(expected);
  enc.word_ids.reserve(expected);
  auto push = [&](int32_t id, Span span, int word) {
    enc.ids.push_back(id);
    enc.tokens.push_back(vocab_[id]);
    enc.offsets.push_back(span);
    enc.word_ids.push_back(word);
  };

  if (add_special_tokens) push(cls_id_, {0, 0}, -1);
  size_t count = 0;
  std::vector<Piece> pieces;
  for (size_t w = 0; w < pre.words.size() && count < limit; ++w) {
    const PreTokenized::Word& word = pre.words[w];
    const int word_id = static_cast<int>(w);
    if (word.special >= 0) {
      push(special_ids_[word.special], {word.span_start, word.span_end}, word_id);
      ++count;
      continue;
    }
    pieces.clear();
    wordpiece(pre.word_utf8(word), &pre.char_byte[word.begin], word.end - word.begin, pieces);
    for (const Piece& p : pieces) {
      if (count >= limit) break;
      // A piece spans the original characters its first and last characters came from.
      const Span span{pre.char_origin[word.begin + p.begin], pre.char_origin[word.begin + p.end - 1] + 1};
      push(p.id, span, word_id);
      ++count;
    }
  }
  if (add_special_tokens) push(sep_id_, {0, 0}, -1);
  return enc;
}

int32_t BertTokenizer::token_to_id(std::string_view token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? unk_id_ : it->second;
}

const std::string& BertTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) {
    fail("bad_token_id", "token id " + std::to_string(id) + " outside vocabulary of " +
                             std::to_string(vocab_.size()));
  }
  return vocab_[id];
}

}  // namespace tanzhen
