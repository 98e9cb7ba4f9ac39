// Linear-chain CRF decoding (ModelScope RaNER / torchcrf semantics).
#pragma once
#include <string>
#include <vector>

#include "tanzhen/tasks/tag_scheme.h"

namespace tanzhen {

struct CrfParams {
  int num_tags = 0;
  std::vector<float> transitions;  // [num_tags x num_tags], transitions[i * num_tags + j] = i -> j
  std::vector<float> start;        // [num_tags] added at the first position
  std::vector<float> end;          // [num_tags] added after the last position
  SpanRules spans = SpanRules::kConlleval;  // how the best path's tags become entities
  // An entity's score: the CRF's marginal probability of its first word's tag (constraints
  // included), or, for ModelScope checkpoints, what their pipeline reports: the softmax of the
  // emission at that word alone, for that tag.
  enum class EntityScore { kMarginal, kEmissionSoftmax } score = EntityScore::kMarginal;
  bool empty() const { return num_tags == 0; }
};

// Best tag path for a sequence of emission rows (each num_tags floats). Starts with
// start + emission[0]; each step takes max_i(score[i] + transitions[i][j]) then adds
// emission[t][j]; end transitions are added before the final argmax. Ties go to the lowest tag
// index (torch.max). Returns one tag per row; empty input gives an empty path.
std::vector<int> viterbi_decode(const std::vector<const float*>& emissions, const CrfParams& crf);

// Marginal probability of every tag at every position under the CRF (forward-backward in log
// space): row t, column j = P(tag j at position t | emissions). Rows are len x num_tags.
std::vector<double> crf_marginals(const std::vector<const float*>& emissions, const CrfParams& crf);

// Constrained decoding: gives every transition the labels' tag scheme forbids a score of -inf,
// so the best path is the best *valid* one. Forbidden: I-T / E-T first or after anything but
// B-T / I-T; in BIOES (BMES), also anything but I-T / E-T after B-T / I-T, and B / I last.
// IO labels (and a scheme-less label set) leave the parameters as they are. Models that declare
// "crf_constrained": true in config.json (tanzhen's own NER model does) are decoded this way;
// others keep their trained scores, as their own pipelines decode them.
void forbid_invalid_transitions(CrfParams& crf, const std::vector<std::string>& labels);

// Score of one path under the same model (used by tests to check Viterbi by enumeration).
double crf_path_score(const std::vector<const float*>& emissions, const CrfParams& crf,
                      const std::vector<int>& path);

}  // namespace tanzhen
