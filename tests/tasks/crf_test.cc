// Viterbi against brute-force enumeration of every tag path on small random CRFs, with and
// without the tag scheme's constraints.
#include "tanzhen/tasks/crf.h"

#include "tanzhen/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

namespace tanzhen {
namespace {

CrfParams random_crf(int n, std::mt19937& rng, std::normal_distribution<float>& normal) {
  CrfParams crf;
  crf.num_tags = n;
  for (int i = 0; i < n * n; ++i) crf.transitions.push_back(normal(rng));
  for (int i = 0; i < n; ++i) crf.start.push_back(normal(rng)), crf.end.push_back(normal(rng));
  return crf;
}

// len rows of n random emissions, and pointers to them as viterbi_decode takes them.
struct Emissions {
  std::vector<std::vector<float>> values;
  std::vector<const float*> rows;
  Emissions(int len, int n, std::mt19937& rng, std::normal_distribution<float>& normal)
      : values(len, std::vector<float>(n)) {
    for (auto& row : values) {
      for (float& v : row) v = normal(rng);
      rows.push_back(row.data());
    }
  }
  Emissions(const Emissions&) = delete;  // rows point into values
};

// Calls visit(path) for every one of the n^len tag paths.
template <typename Visit>
void for_each_path(int n, int len, Visit visit) {
  std::vector<int> path(len, 0);
  long total = 1;
  for (int i = 0; i < len; ++i) total *= n;
  for (long code = 0; code < total; ++code) {
    long c = code;
    for (int i = 0; i < len; ++i) path[i] = static_cast<int>(c % n), c /= n;
    visit(path);
  }
}

// The highest-scoring of all paths, by enumeration (ties: the first one found).
std::vector<int> best_by_enumeration(const std::vector<const float*>& rows, const CrfParams& crf) {
  double best = 0;
  std::vector<int> best_path;
  for_each_path(crf.num_tags, static_cast<int>(rows.size()), [&](const std::vector<int>& path) {
    const double s = crf_path_score(rows, crf, path);
    if (best_path.empty() || s > best) best = s, best_path = path;
  });
  return best_path;
}

TEST(Viterbi, MatchesBruteForceOnRandomCases) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.f, 2.f);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + trial % 4;          // 1..4 tags
    const int len = 1 + (trial / 4) % 6;  // 1..6 positions
    const CrfParams crf = random_crf(n, rng, normal);
    const Emissions em(len, n, rng, normal);
    const std::vector<int> best_path = best_by_enumeration(em.rows, crf);
    std::vector<int> got = viterbi_decode(em.rows, crf);
    ASSERT_EQ(got.size(), static_cast<size_t>(len));
    EXPECT_NEAR(crf_path_score(em.rows, crf, got), crf_path_score(em.rows, crf, best_path), 1e-4) << "trial " << trial;
    EXPECT_EQ(got, best_path) << "trial " << trial;
  }
}

TEST(Viterbi, UsesDirectionalTransitions) {
  // Two tags; emissions are neutral, only transitions decide. 0->1 is rewarded, 1->0 punished:
  // with start favouring 0, the best path over 2 positions is 0,1 (not 1,0).
  CrfParams crf{2, {0.f, 5.f, -5.f, 0.f}, {1.f, 0.f}, {0.f, 0.f}};
  std::vector<float> zero(2, 0.f);
  EXPECT_EQ(viterbi_decode({zero.data(), zero.data()}, crf), (std::vector<int>{0, 1}));
  // End transitions are applied: making tag 1 terrible at the end flips the last tag.
  crf.end = {0.f, -20.f};
  EXPECT_EQ(viterbi_decode({zero.data(), zero.data()}, crf), (std::vector<int>{0, 0}));
}

// A path is valid when every entity is spelled as its scheme says: in BIO an I-T continues a
// B-T or I-T; in BIOES an entity is B-T I-T* E-T or S-T, and nothing else may interrupt it.
bool valid_path(const std::vector<std::string>& labels, const std::vector<int>& path, bool bioes) {
  std::string open;  // type of the entity being spelled, "" when none
  for (int id : path) {
    const Tag t = parse_tag(labels[id]);
    if (t.prefix == 'I' || t.prefix == 'E') {
      if (open != t.type) return false;
      if (t.prefix == 'E') open.clear();
      continue;
    }
    if (bioes && !open.empty()) return false;  // B, S or O before the open entity's E
    open = t.prefix == 'B' ? t.type : "";
  }
  return !bioes || open.empty();
}

TEST(Viterbi, ConstrainedFindsTheBestValidPath) {
  const std::vector<std::vector<std::string>> label_sets = {
      {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"},
      {"O", "B-PER", "I-PER", "E-PER", "S-PER"},
      {"O", "B-LOC", "M-LOC", "E-LOC", "S-LOC", "B-ORG"},
  };
  std::mt19937 rng(77);
  std::normal_distribution<float> normal(0.f, 3.f);
  int changed = 0;
  for (int trial = 0; trial < 240; ++trial) {
    const auto& labels = label_sets[trial % label_sets.size()];
    const bool bioes = trial % label_sets.size() != 0;
    const int n = static_cast<int>(labels.size());
    const int len = 1 + (trial / 3) % 5;
    CrfParams crf = random_crf(n, rng, normal);
    const CrfParams trained = crf;
    forbid_invalid_transitions(crf, labels);
    const Emissions em(len, n, rng, normal);
    const auto& rows = em.rows;

    // Valid paths keep their trained score; every invalid one scores -inf. So the best path is
    // the best valid one.
    for_each_path(n, len, [&](const std::vector<int>& path) {
      const double s = crf_path_score(rows, crf, path);
      const bool valid = valid_path(labels, path, bioes);
      EXPECT_EQ(std::isinf(s), !valid) << "trial " << trial;
      if (valid) {
        EXPECT_NEAR(s, crf_path_score(rows, trained, path), 1e-4);
      }
    });
    const std::vector<int> best_path = best_by_enumeration(rows, crf);
    EXPECT_TRUE(valid_path(labels, best_path, bioes));
    const std::vector<int> got = viterbi_decode(rows, crf);
    EXPECT_EQ(got, best_path) << "trial " << trial;
    changed += got != viterbi_decode(rows, trained);
  }
  EXPECT_GT(changed, 20);  // the random cases do exercise the constraints
}

TEST(Viterbi, ConstrainedPathHasNoOrphanInside) {
  // B-PER I-PER O I-PER is the unconstrained best path here (the third character's O is
  // strong, the fourth's I-PER stronger than its B-PER); constrained, the fourth becomes B-PER.
  const std::vector<std::string> labels = {"O", "B-PER", "I-PER"};
  CrfParams crf{3, std::vector<float>(9, 0.f), {0, 0, 0}, {0, 0, 0}};
  const std::vector<std::vector<float>> em = {{0, 5, 0}, {0, 0, 5}, {5, 0, 0}, {0, 2, 3}};
  std::vector<const float*> rows;
  for (auto& row : em) rows.push_back(row.data());
  EXPECT_EQ(viterbi_decode(rows, crf), (std::vector<int>{1, 2, 0, 2}));
  forbid_invalid_transitions(crf, labels);
  EXPECT_EQ(viterbi_decode(rows, crf), (std::vector<int>{1, 2, 0, 1}));
}

TEST(Viterbi, IoLabelsHaveNothingToForbidAndUnusableLabelsAreRefused) {
  CrfParams crf{3, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3}, {4, 5, 6}};
  const CrfParams before = crf;
  forbid_invalid_transitions(crf, {"O", "PER", "LOC"});
  EXPECT_EQ(crf.transitions, before.transitions);
  EXPECT_EQ(crf.start, before.start);
  EXPECT_EQ(crf.end, before.end);
  EXPECT_THROW(forbid_invalid_transitions(crf, {"O", "B-PER"}), Error);
  // BIOES without O or S: no valid path for a one-word text, so the constraint is refused.
  EXPECT_THROW(forbid_invalid_transitions(crf, {"B-PER", "I-PER", "E-PER"}), Error);
}

TEST(CrfMarginals, MatchBruteForceWithAndWithoutConstraints) {
  const std::vector<std::string> labels = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.f, 2.f);
  for (int trial = 0; trial < 40; ++trial) {
    const int n = static_cast<int>(labels.size());
    const int len = 1 + trial % 5;
    CrfParams crf = random_crf(n, rng, normal);
    if (trial % 2) forbid_invalid_transitions(crf, labels);
    const Emissions em(len, n, rng, normal);
    const auto& rows = em.rows;

    // P(tag j at t) = sum of exp(score) over the paths with j at t, over the sum over all paths.
    std::vector<double> mass(static_cast<size_t>(len) * n, 0.0);
    double z = 0;
    for_each_path(n, len, [&](const std::vector<int>& path) {
      const double w = std::exp(crf_path_score(rows, crf, path));
      z += w;
      for (int t = 0; t < len; ++t) mass[static_cast<size_t>(t) * n + path[t]] += w;
    });
    const std::vector<double> got = crf_marginals(rows, crf);
    ASSERT_EQ(got.size(), mass.size());
    for (size_t k = 0; k < got.size(); ++k) EXPECT_NEAR(got[k], mass[k] / z, 1e-9) << "trial " << trial;
  }
}

TEST(Viterbi, EmptySequence) {
  CrfParams crf{2, {0, 0, 0, 0}, {0, 0}, {0, 0}};
  EXPECT_TRUE(viterbi_decode({}, crf).empty());
}

}  // namespace
}  // namespace tanzhen
