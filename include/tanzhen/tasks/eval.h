// Evaluation of NER and fill-mask models: exact-match entity precision / recall / F1 (the
// CoNLL-2000 conlleval definition, computed on spans instead of tag sequences), an error
// breakdown, type renaming for datasets with other label names, the JSONL gold format of
// ../shared/data, and the character masking of the fill-mask evaluation.
#pragma once
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tanzhen {

// An entity of a given type over code points [start, end) of its sentence.
struct LabeledSpan {
  std::string type;
  int start = 0;
  int end = 0;
  auto operator<=>(const LabeledSpan&) const = default;
};

// True/false positives and false negatives of exact-match scoring.
//   precision = tp / (tp + fp), recall = tp / (tp + fn), f1 = 2PR / (P + R),
// each 0 when its denominator is 0 (as conlleval prints them).
struct PrfCounts {
  int64_t tp = 0, fp = 0, fn = 0;
  double precision() const;
  double recall() const;
  double f1() const;
  PrfCounts& operator+=(const PrfCounts& o);
};

// Predicted entities that are not exactly right, by what is wrong with them (each counted once,
// in this order of precedence), and gold entities that nothing touched:
//   type      same start and end as a gold entity, other type;
//   boundary  overlaps a gold entity (any type) with other start/end;
//   spurious  overlaps no gold entity;
//   missed    a gold entity that no prediction overlaps (nor matches).
// boundary + type + spurious = fp. These are diagnostics, not part of conlleval.
struct EntityErrors {
  int64_t boundary = 0, type = 0, spurious = 0, missed = 0;
};

struct EntityScores {
  int64_t sentences = 0;
  PrfCounts overall;
  std::map<std::string, PrfCounts> per_type;  // every type seen in gold or predictions
  EntityErrors errors;
};

// Accumulates scores sentence by sentence. A prediction is correct when a gold entity has the
// same type, start and end; spans are compared as multisets (a duplicated prediction matches
// at most one gold entity). On BIO tags decoded with conlleval's chunk rules (an I- without a
// matching open chunk starts one, see decode_spans in tag_scheme.h), this gives conlleval's
// numbers exactly: its chunks are these spans and its "correct chunks" are exact matches.
class EntityScorer {
 public:
  void add(std::vector<LabeledSpan> gold, std::vector<LabeledSpan> predicted);
  const EntityScores& scores() const { return scores_; }

 private:
  EntityScores scores_;
};

// Renaming of entity types, e.g. "name=PER,address=LOC,scene=LOC" (CLUENER to PER/LOC/ORG).
// Applied to gold and predicted types alike; a type the map does not name is kept as it is.
class TypeMap {
 public:
  TypeMap() = default;
  // "FROM=TO[,FROM=TO...]"; spaces around names are ignored; an empty spec is the identity.
  // Throws Error("invalid_option") on a malformed pair or a FROM given twice.
  static TypeMap parse(std::string_view spec);
  const std::string& apply(const std::string& type) const;
  void apply(std::vector<LabeledSpan>& spans) const;
  bool empty() const { return map_.empty(); }

 private:
  std::map<std::string, std::string, std::less<>> map_;
};

// The entity types to score, e.g. "PER,LOC,ORG" (after renaming): entities of other types are
// dropped from gold and predictions alike. For datasets with types the model cannot predict, such
// as CLUENER's book/game/movie/position for a PER/LOC/ORG model, which would otherwise count as
// misses. An empty spec keeps every type.
class TypeFilter {
 public:
  TypeFilter() = default;
  // "T[,T...]"; spaces around names are ignored. Throws Error("invalid_option") on an empty name.
  static TypeFilter parse(std::string_view spec);
  bool keeps(const std::string& type) const { return keep_.empty() || keep_.count(type) > 0; }
  void apply(std::vector<LabeledSpan>& spans) const;
  bool empty() const { return keep_.empty(); }
  // The listed types that are not in `known` (in order), e.g. a misspelt --types entry that
  // neither the gold data nor the model has, which would silently score nothing.
  std::vector<std::string> missing_from(const std::set<std::string, std::less<>>& known) const;

 private:
  std::set<std::string, std::less<>> keep_;
};

// One line of a gold NER file: {"text": "...", "entities": [{"start", "end", "type"}, ...]}
// with code-point offsets, end exclusive (the format of ../shared/data). Other fields are ignored.
struct NerExample {
  std::string text;
  std::vector<LabeledSpan> entities;
};

// Throws Error("bad_data", "line N: ...") on invalid JSON, a missing/ill-typed field or an
// entity outside the text (or empty).
NerExample parse_ner_example(std::string_view line, size_t line_no);
// Every non-blank line of `path` (at most `limit` examples when limit > 0).
std::vector<NerExample> read_ner_examples(const std::string& path, size_t limit = 0);

// Sentences for the fill-mask evaluation: a .jsonl file takes each line's "text" field, any
// other file each non-blank line as it is. At most `limit` when limit > 0.
std::vector<std::string> read_sentences(const std::string& path, size_t limit = 0);

// Which characters of a sentence get masked. `candidates` are the code-point indices that may be
// masked (CJK characters the vocabulary knows); round(rate * candidates) of them are chosen, at
// least one when there is any candidate, at most all of them. The choice is a partial
// Fisher-Yates shuffle drawing raw std::mt19937 outputs (whose sequence the C++ standard fixes),
// so a seed gives the same masks with every standard library. Returned sorted.
std::vector<int> choose_mask_positions(const std::vector<int>& candidates, double rate, std::mt19937& rng);

// Top-1 / top-5 accuracy of fill-mask predictions against the masked-out characters.
struct MaskAccuracy {
  int64_t masks = 0, top1 = 0, top5 = 0;
  // `ranked` = the model's candidate tokens, best first.
  void add(const std::string& answer, const std::vector<std::string>& ranked);
  double top1_accuracy() const { return masks ? static_cast<double>(top1) / masks : 0; }
  double top5_accuracy() const { return masks ? static_cast<double>(top5) / masks : 0; }
};

}  // namespace tanzhen
