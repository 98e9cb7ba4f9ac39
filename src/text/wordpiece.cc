// WordPiece as in Hugging Face's BERT tokenizers: greedy longest-match-first over the vocabulary,
// continuation pieces carry the "##" prefix, and a word that cannot be covered entirely (or is
// longer than max_input_chars_per_word characters) becomes a single [UNK].
#include "tanzhen/text/tokenizer.h"

namespace tanzhen {

void BertTokenizer::wordpiece(std::string_view word, const uint32_t* char_byte, int32_t n_chars,
                              std::vector<Piece>& out) const {
  if (n_chars <= 0) return;
  if (n_chars > config_.max_input_chars_per_word) {
    out.push_back({unk_id_, 0, n_chars});
    return;
  }
  const size_t first_piece = out.size();
  const uint32_t base = char_byte[0];
  int32_t start = 0;
  while (start < n_chars) {
    const IdMap& ids = start == 0 ? ids_ : continuation_ids_;
    const size_t longest = start == 0 ? longest_token_ : longest_continuation_;
    const uint32_t from = char_byte[start] - base;
    int32_t end = n_chars;
    // Pieces longer (in bytes) than every vocabulary entry cannot match: start below that.
    while (end > start && char_byte[end] - base - from > longest) --end;
    int32_t found = -1;
    for (; end > start; --end) {
      auto it = ids.find(word.substr(from, char_byte[end] - base - from));
      if (it != ids.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // no piece fits here: the whole word is unknown
      out.resize(first_piece);
      out.push_back({unk_id_, 0, n_chars});
      return;
    }
    out.push_back({found, start, end});
    start = end;
  }
}

}  // namespace tanzhen
