// Length-sorted, bounded encoder batches.
#include "tanzhen/tasks/batching.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace tanzhen {
namespace {

TEST(Batching, SortsByLengthAndCoversEveryIndexOnce) {
  std::vector<size_t> lengths{5, 100, 7, 100, 3, 50};
  auto batches = plan_batches(lengths, {3, 1000});
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0], (std::vector<size_t>{1, 3, 5}));  // longest first, stable among equals
  EXPECT_EQ(batches[1], (std::vector<size_t>{2, 0, 4}));
}

TEST(Batching, RespectsTheTokenBudget) {
  std::vector<size_t> lengths(10, 100);
  auto batches = plan_batches(lengths, {64, 250});  // 2 sequences of 100 fit, 3 do not
  ASSERT_EQ(batches.size(), 5u);
  for (const auto& b : batches) EXPECT_EQ(b.size(), 2u);
  // A single sequence over the budget still gets a batch of its own.
  auto big = plan_batches({1000, 10}, {64, 250});
  ASSERT_EQ(big.size(), 2u);
  EXPECT_EQ(big[0], (std::vector<size_t>{0}));
}

TEST(Batching, Empty) { EXPECT_TRUE(plan_batches({}).empty()); }

}  // namespace
}  // namespace tanzhen
