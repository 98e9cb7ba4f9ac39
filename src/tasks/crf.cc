#include "tanzhen/tasks/crf.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tanzhen/error.h"

namespace tanzhen {

namespace {

void check_sizes(const CrfParams& crf) {
  const int n = crf.num_tags;
  if (n <= 0 || crf.transitions.size() != static_cast<size_t>(n) * n ||
      crf.start.size() != static_cast<size_t>(n) || crf.end.size() != static_cast<size_t>(n))
    fail("bad_checkpoint", "CRF parameters have inconsistent sizes");
}

// log(sum(exp(v))) that stays -inf when every term is -inf (forbidden transitions).
double log_sum_exp(const std::vector<double>& v) {
  const double top = *std::max_element(v.begin(), v.end());
  if (std::isinf(top)) return top;
  double sum = 0;
  for (double x : v) sum += std::exp(x - top);
  return top + std::log(sum);
}

}  // namespace

std::vector<int> viterbi_decode(const std::vector<const float*>& emissions, const CrfParams& crf) {
  const int n = crf.num_tags;
  const int len = static_cast<int>(emissions.size());
  if (len == 0) return {};
  check_sizes(crf);

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

std::vector<double> crf_marginals(const std::vector<const float*>& emissions, const CrfParams& crf) {
  const int n = crf.num_tags;
  const int len = static_cast<int>(emissions.size());
  if (len == 0) return {};
  check_sizes(crf);
  auto trans = [&](int i, int j) { return static_cast<double>(crf.transitions[static_cast<size_t>(i) * n + j]); };
  auto at = [n](std::vector<double>& m, int t, int j) -> double& { return m[static_cast<size_t>(t) * n + j]; };
  // alpha(t, j): log-sum of the scores of every path prefix ending in j at t (emission t included);
  // beta(t, j): of every suffix after j at t (end transition included).
  std::vector<double> alpha(static_cast<size_t>(len) * n), beta(alpha.size()), terms(n);
  for (int j = 0; j < n; ++j) at(alpha, 0, j) = static_cast<double>(crf.start[j]) + emissions[0][j];
  for (int t = 1; t < len; ++t)
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < n; ++i) terms[i] = at(alpha, t - 1, i) + trans(i, j);
      at(alpha, t, j) = log_sum_exp(terms) + emissions[t][j];
    }
  for (int j = 0; j < n; ++j) at(beta, len - 1, j) = crf.end[j];
  for (int t = len - 2; t >= 0; --t)
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) terms[j] = trans(i, j) + emissions[t + 1][j] + at(beta, t + 1, j);
      at(beta, t, i) = log_sum_exp(terms);
    }
  for (int j = 0; j < n; ++j) terms[j] = at(alpha, len - 1, j) + crf.end[j];
  const double log_z = log_sum_exp(terms);
  std::vector<double> out(alpha.size());
  for (size_t k = 0; k < out.size(); ++k) out[k] = std::exp(alpha[k] + beta[k] - log_z);
  return out;
}

void forbid_invalid_transitions(CrfParams& crf, const std::vector<std::string>& labels) {
  const int n = crf.num_tags;
  check_sizes(crf);
  if (n != static_cast<int>(labels.size()))
    fail("bad_checkpoint", "the CRF has " + std::to_string(n) + " tags but the model has " +
                               std::to_string(labels.size()) + " labels");
  const TagScheme scheme = detect_tag_scheme(labels);
  if (scheme == TagScheme::kIO) return;
  const bool closing_tags = scheme == TagScheme::kBIOES || scheme == TagScheme::kBMES;
  const std::vector<Tag> tags = parse_tags(labels);
  auto continues = [](const Tag& t) { return t.prefix == 'I' || t.prefix == 'E'; };
  auto open = [&](const Tag& t) { return closing_tags && (t.prefix == 'B' || t.prefix == 'I'); };
  // A tag that may start, end and follow itself (O; S; B in BIO) gives every sentence length a
  // valid path; without one, a one-word sentence would have none.
  if (std::none_of(tags.begin(), tags.end(), [&](const Tag& t) { return !continues(t) && !open(t); }))
    fail("bad_checkpoint", "crf_constrained: the labels have no O or single-unit tag, so a one-word text "
                           "would have no valid tag path");
  constexpr float kNever = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < n; ++j) {
    if (continues(tags[j])) crf.start[j] = kNever;
    if (open(tags[j])) crf.end[j] = kNever;
    for (int i = 0; i < n; ++i) {
      const Tag& from = tags[i];
      const Tag& to = tags[j];
      const bool inside = (from.prefix == 'B' || from.prefix == 'I') && from.type == to.type;
      const bool ok = continues(to) ? inside : !open(from);
      if (!ok) crf.transitions[static_cast<size_t>(i) * n + j] = kNever;
    }
  }
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
