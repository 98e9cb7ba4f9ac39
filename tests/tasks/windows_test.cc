// Window planning and the "most central window" assignment (no model needed).
#include "tanzhen/tasks/windows.h"

#include <gtest/gtest.h>

#include "tanzhen/error.h"

namespace tanzhen {
namespace {

TEST(Windows, OneWindowWhenEverythingFits) {
  EXPECT_EQ(plan_windows(10, 10, 5), (std::vector<TokenWindow>{{0, 10}}));
  EXPECT_EQ(plan_windows(0, 10, 5), (std::vector<TokenWindow>{{0, 0}}));
}

TEST(Windows, OverlappingWindowsLastAlignedToEnd) {
  EXPECT_EQ(plan_windows(25, 10, 5),
            (std::vector<TokenWindow>{{0, 10}, {5, 10}, {10, 10}, {15, 10}}));
  EXPECT_EQ(plan_windows(23, 10, 5),
            (std::vector<TokenWindow>{{0, 10}, {5, 10}, {10, 10}, {13, 10}}));
  // stride == window: no overlap except the last, end-aligned window.
  EXPECT_EQ(plan_windows(25, 10, 10), (std::vector<TokenWindow>{{0, 10}, {10, 10}, {15, 10}}));
}

TEST(Windows, RejectsBadStride) {
  EXPECT_THROW(plan_windows(30, 10, 0), Error);
  EXPECT_THROW(plan_windows(30, 10, 11), Error);
}

TEST(Windows, EveryTokenTakesItsMostCentralWindow) {
  auto windows = plan_windows(25, 10, 5);  // [0,10) [5,15) [10,20) [15,25)
  auto owner = assign_tokens_to_windows(windows, 25);
  ASSERT_EQ(owner.size(), 25u);
  // Text start: the first window has full left context.
  for (int t = 0; t <= 6; ++t) EXPECT_EQ(owner[t], 0) << t;
  // Token 7: window 0 leaves 2 tokens on the right, window 1 leaves 2 on the left: tie -> 0.
  EXPECT_EQ(owner[7], 0);
  EXPECT_EQ(owner[8], 1);   // window 1: min(3, 6) = 3 beats window 0: 1
  EXPECT_EQ(owner[12], 1);  // windows 1 and 2 both leave 2 tokens: tie -> earlier
  EXPECT_EQ(owner[13], 2);  // window 2: min(3, 6) = 3 beats window 1: 1
  EXPECT_EQ(owner[17], 2);  // windows 2 and 3 both leave 2 tokens: tie -> earlier
  EXPECT_EQ(owner[18], 3);  // window 3 reaches the text's end: min(3, inf) beats 1
  for (int t = 18; t < 25; ++t) EXPECT_EQ(owner[t], 3) << t;
}

}  // namespace
}  // namespace tanzhen
