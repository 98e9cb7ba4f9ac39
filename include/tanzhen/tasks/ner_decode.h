// Decoding one sequence's head output into entities, without running the encoder: the softmax
// token-classification path and the CRF (ModelScope RaNER) path. NerPipeline calls these on the
// merged logits of a text; tests call them on reference logits.
#pragma once
#include <string>
#include <vector>

#include "tanzhen/tasks/crf.h"
#include "tanzhen/tasks/ner.h"
#include "tanzhen/tasks/tag_scheme.h"

namespace tanzhen {

// The word of each token for decoding: enc.word_ids with every [CLS]/[SEP] token set to -1 —
// also those written in the text, which are markup, not words (as in ModelScope's decoding).
std::vector<int> decoding_word_ids(const Encoding& enc, int32_t cls_id, int32_t sep_id);

// Softmax decoding: `logits` has one row per token of `enc`; tokens whose `word_ids` entry is
// -1 are skipped. Units per `strategy` (see aggregation.h), spans by decode_spans() (conlleval
// repair), entity score = mean probability of the entity's units.
std::vector<Entity> decode_token_classification(const Matrix& logits, const Encoding& enc,
                                                const std::vector<int>& word_ids,
                                                const std::u32string& text,
                                                const std::vector<Tag>& label_tags,
                                                Aggregation strategy);

// Token index of the first sub-token of each word (tokens of word -1 excluded).
std::vector<int> word_first_tokens(const std::vector<int>& word_ids);

struct CrfDecoding {
  std::vector<int> word_first_tokens;  // per word
  std::vector<int> tags;               // Viterbi path, label id per word
  std::vector<Entity> entities;
  std::vector<UnitSpan> word_spans;    // each entity's first/last word
};

// CRF decoding (as ModelScope RaNER): emissions at each word's first sub-token, Viterbi over
// the words, spans by crf.spans's rules; an entity covers its words' whole text, its score is
// as crf.score says: the CRF marginal of its first word's tag, or (ModelScope)
// softmax(emission at its first word)[that word's tag].
CrfDecoding decode_crf(const Matrix& emissions, const Encoding& enc, const std::vector<int>& word_ids,
                       const std::u32string& text, const std::vector<Tag>& label_tags, const CrfParams& crf);

}  // namespace tanzhen
