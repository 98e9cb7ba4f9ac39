#include "tanzhen/tasks/ner_decode.h"

#include <algorithm>

#include "tanzhen/error.h"
#include "tanzhen/tasks/aggregation.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {

namespace {

void check_shape(const Matrix& m, const Encoding& enc, size_t num_labels) {
  if (m.rows != static_cast<int>(enc.size()) || m.cols != static_cast<int>(num_labels) ||
      m.data.size() != static_cast<size_t>(m.rows) * m.cols)
    fail("bad_checkpoint", "the model's head gives " + std::to_string(m.cols) + " outputs per token but it has " +
                               std::to_string(num_labels) + " labels");
}

std::string slice_utf8(const std::u32string& text, int start, int end) {
  int a = std::clamp(start, 0, static_cast<int>(text.size()));
  int b = std::clamp(end, a, static_cast<int>(text.size()));
  return encode_utf8(std::u32string_view(text).substr(a, b - a));
}

}  // namespace

std::vector<int> decoding_word_ids(const Encoding& enc, int32_t cls_id, int32_t sep_id) {
  std::vector<int> word_ids = enc.word_ids;
  for (size_t t = 0; t < word_ids.size(); ++t)
    if (enc.ids[t] == cls_id || enc.ids[t] == sep_id) word_ids[t] = -1;
  return word_ids;
}

std::vector<Entity> decode_token_classification(const Matrix& logits, const Encoding& enc,
                                                const std::vector<int>& word_ids,
                                                const std::u32string& text,
                                                const std::vector<Tag>& label_tags,
                                                Aggregation strategy) {
  check_shape(logits, enc, label_tags.size());
  if (word_ids.size() != enc.size()) fail("internal", "word ids and tokens differ in length");
  Matrix probs{logits.rows, logits.cols, std::vector<float>(logits.data.size())};
  for (int r = 0; r < logits.rows; ++r) softmax(logits.row(r), logits.cols, probs.row(r));
  return entities_from_units(aggregate_units(probs, word_ids, strategy), label_tags, enc.offsets, text);
}

std::vector<int> word_first_tokens(const std::vector<int>& word_ids) {
  std::vector<int> firsts;
  for (int t = 0; t < static_cast<int>(word_ids.size()); ++t) {
    if (word_ids[t] < 0) continue;
    if (firsts.empty() || word_ids[t] != word_ids[firsts.back()]) firsts.push_back(t);
  }
  return firsts;
}

CrfDecoding decode_crf(const Matrix& emissions, const Encoding& enc, const std::vector<int>& word_ids,
                       const std::u32string& text, const std::vector<Tag>& label_tags, const CrfParams& crf) {
  check_shape(emissions, enc, label_tags.size());
  if (word_ids.size() != enc.size()) fail("internal", "decode_crf: word ids and tokens differ in length");
  if (crf.num_tags != static_cast<int>(label_tags.size()))
    fail("bad_checkpoint", "the CRF has " + std::to_string(crf.num_tags) + " tags but the model has " +
                               std::to_string(label_tags.size()) + " labels");
  CrfDecoding out;
  out.word_first_tokens = word_first_tokens(word_ids);
  std::vector<const float*> rows;
  for (int t : out.word_first_tokens) rows.push_back(emissions.row(t));
  out.tags = viterbi_decode(rows, crf);

  std::vector<Tag> tags;
  for (int id : out.tags) tags.push_back(label_tags[id]);
  out.word_spans = decode_spans(tags, crf.spans);

  // Last sub-token of each word: the token before the next word's first (or the last word's
  // last token before [SEP]).
  const int num_words = static_cast<int>(out.word_first_tokens.size());
  auto word_last_token = [&](int w) {
    int t = out.word_first_tokens[w];
    while (t + 1 < static_cast<int>(word_ids.size()) && word_ids[t + 1] == word_ids[t]) ++t;
    return t;
  };
  std::vector<float> probs(emissions.cols);
  const bool marginal = crf.score == CrfParams::EntityScore::kMarginal;
  const std::vector<double> marginals =
      marginal && !out.word_spans.empty() ? crf_marginals(rows, crf) : std::vector<double>{};
  for (const UnitSpan& s : out.word_spans) {
    if (s.first < 0 || s.last >= num_words) fail("internal", "CRF span outside the words");
    Entity e;
    e.type = s.type;
    e.start = enc.offsets[out.word_first_tokens[s.first]].start;
    e.end = enc.offsets[word_last_token(s.last)].end;
    e.text = slice_utf8(text, e.start, e.end);
    if (marginal) {
      e.score = static_cast<float>(marginals[static_cast<size_t>(s.first) * crf.num_tags + out.tags[s.first]]);
    } else {
      softmax(rows[s.first], emissions.cols, probs.data());
      e.score = probs[out.tags[s.first]];
    }
    out.entities.push_back(std::move(e));
  }
  return out;
}

}  // namespace tanzhen
