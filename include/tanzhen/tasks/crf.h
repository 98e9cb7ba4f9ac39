// Linear-chain CRF decoding (ModelScope RaNER / torchcrf semantics).
#pragma once
#include <vector>

#include "tanzhen/tasks/tag_scheme.h"

namespace tanzhen {

struct CrfParams {
  int num_tags = 0;
  std::vector<float> transitions;  // [num_tags x num_tags], transitions[i * num_tags + j] = i -> j
  std::vector<float> start;        // [num_tags] added at the first position
  std::vector<float> end;          // [num_tags] added after the last position
  SpanRules spans = SpanRules::kConlleval;  // how the best path's tags become entities
  bool empty() const { return num_tags == 0; }
};

// Best tag path for a sequence of emission rows (each num_tags floats). Starts with
// start + emission[0]; each step takes max_i(score[i] + transitions[i][j]) then adds
// emission[t][j]; end transitions are added before the final argmax. Ties go to the lowest tag
// index (torch.max). Returns one tag per row; empty input gives an empty path.
std::vector<int> viterbi_decode(const std::vector<const float*>& emissions, const CrfParams& crf);

// Score of one path under the same model (used by tests to check Viterbi by enumeration).
double crf_path_score(const std::vector<const float*>& emissions, const CrfParams& crf,
                      const std::vector<int>& path);

}  // namespace tanzhen
