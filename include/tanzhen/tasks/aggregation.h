// Softmax-head decoding: per-token label probabilities -> decoding units (tokens or words, the
// Hugging Face TokenClassificationPipeline aggregation strategies) -> entity spans.
//
//   simple   every token is a unit with its own argmax label; entities group adjacent tokens
//            by tag (a word's sub-tokens may end up in different entities).
//   first    a word takes the label (and its probability) of its first sub-token.
//   average  a word takes the argmax of its sub-tokens' averaged probability vectors.
//   max      a word takes the label of its single most confident sub-token.
// Words come from the tokenizer's word_ids (pre-tokenized words), not from "##" heuristics.
// For Chinese every CJK character is its own word, so first == average == max there; `first`
// is the default (cheap, and never splits a Latin/number word into two entities).
#pragma once
#include <vector>

#include "tanzhen/tasks/ner.h"
#include "tanzhen/tasks/tag_scheme.h"

namespace tanzhen {

// Numerically stable softmax of n values.
void softmax(const float* logits, int n, float* out);

// One decoding unit: a token range [first_token, last_token] with its label and probability.
struct LabelUnit {
  int first_token = 0;
  int last_token = 0;
  int label = 0;
  float score = 0;
};

// `probs`: one row of label probabilities per token; `word_ids`: the word of each token (-1 for
// specials, which are skipped). Tokens of a word must be contiguous.
std::vector<LabelUnit> aggregate_units(const Matrix& probs, const std::vector<int>& word_ids,
                                       Aggregation strategy);

// Entities over units: spans from decode_spans() (conlleval repair), score = mean of the
// units' probabilities. `offsets` are the tokens' code-point spans; `text` the original text.
std::vector<Entity> entities_from_units(const std::vector<LabelUnit>& units,
                                        const std::vector<Tag>& label_tags,
                                        const std::vector<Span>& offsets,
                                        const std::u32string& text);

}  // namespace tanzhen
