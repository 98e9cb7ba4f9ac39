// Viterbi against brute-force enumeration of every tag path on small random CRFs.
#include "tanzhen/tasks/crf.h"

#include <gtest/gtest.h>

#include <random>

namespace tanzhen {
namespace {

TEST(Viterbi, MatchesBruteForceOnRandomCases) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.f, 2.f);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + trial % 4;          // 1..4 tags
    const int len = 1 + (trial / 4) % 6;  // 1..6 positions
    CrfParams crf;
    crf.num_tags = n;
    for (int i = 0; i < n * n; ++i) crf.transitions.push_back(normal(rng));
    for (int i = 0; i < n; ++i) crf.start.push_back(normal(rng)), crf.end.push_back(normal(rng));
    std::vector<std::vector<float>> em(len, std::vector<float>(n));
    for (auto& row : em)
      for (float& v : row) v = normal(rng);
    std::vector<const float*> rows;
    for (auto& row : em) rows.push_back(row.data());

    // Enumerate all n^len paths.
    double best = -1e30;
    std::vector<int> best_path, path(len, 0);
    long total = 1;
    for (int i = 0; i < len; ++i) total *= n;
    for (long code = 0; code < total; ++code) {
      long c = code;
      for (int i = 0; i < len; ++i) path[i] = static_cast<int>(c % n), c /= n;
      double s = crf_path_score(rows, crf, path);
      if (s > best) best = s, best_path = path;
    }
    std::vector<int> got = viterbi_decode(rows, crf);
    ASSERT_EQ(got.size(), static_cast<size_t>(len));
    EXPECT_NEAR(crf_path_score(rows, crf, got), best, 1e-4) << "trial " << trial;
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

TEST(Viterbi, EmptySequence) {
  CrfParams crf{2, {0, 0, 0, 0}, {0, 0}, {0, 0}};
  EXPECT_TRUE(viterbi_decode({}, crf).empty());
}

}  // namespace
}  // namespace tanzhen
