#include "tanzhen/tasks/crf.h"

#include "tanzhen/error.h"

namespace tanzhen {

std::vector<int> viterbi_decode(const std::vector<const float*>& emissions, const CrfParams& crf) {
  const int n = crf.num_tags;
  const int len = static_cast<int>(emissions.size());
  if (len == 0) return {};
  if (n <= 0 || crf.transitions.size() != static_cast<size_t>(n) * n ||
      crf.start.size() != static_cast<size_t>(n) || crf.end.size() != static_cast<size_t>(n))
    fail("bad_checkpoint", "CRF parameters have inconsistent sizes");

  std::vector<float> score(n), next(n);
  for (int j = 0; j < n; ++j) score[j] = crf.start[j] + emissions[0][j];
  // history[t][j]: best previous tag when at tag j at position t (t >= 1).
  std::vector<int> history(static_cast<size_t>(len) * n, 0);
  for (int t = 1; t < len; ++t) {
    const float* em = emissions[t];
    for (int j = 0; j < n; ++j) {
      int best_i = 0;
      float best = score[0] + crf.transitions[j];
      for (int i = 1; i < n; ++i) {
        float s = score[i] + crf.transitions[static_cast<size_t>(i) * n + j];
        if (s > best) best = s, best_i = i;
      }
      next[j] = best + em[j];
      history[static_cast<size_t>(t) * n + j] = best_i;
    }
    score.swap(next);
  }
  int best_last = 0;
  float best = score[0] + crf.end[0];
  for (int j = 1; j < n; ++j) {
    float s = score[j] + crf.end[j];
    if (s > best) best = s, best_last = j;
  }
  std::vector<int> path(len);
  path[len - 1] = best_last;
  for (int t = len - 1; t > 0; --t) path[t - 1] = history[static_cast<size_t>(t) * n + path[t]];
  return path;
}

double crf_path_score(const std::vector<const float*>& emissions, const CrfParams& crf,
                      const std::vector<int>& path) {
  const int n = crf.num_tags;
  if (path.empty()) return 0;
  double s = crf.start[path[0]];
  for (size_t t = 0; t < path.size(); ++t) {
    s += emissions[t][path[t]];
    if (t > 0) s += crf.transitions[static_cast<size_t>(path[t - 1]) * n + path[t]];
  }
  return s + crf.end[path.back()];
}

}  // namespace tanzhen
