// Sub-word aggregation strategies and entity assembly on hand-made probabilities.
#include "tanzhen/tasks/aggregation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tanzhen/error.h"

namespace tanzhen {
namespace {

TEST(Softmax, IsStableAndNormalised) {
  float in[2] = {0.f, std::log(3.f)}, out[2];
  softmax(in, 2, out);
  EXPECT_NEAR(out[0], 0.25f, 1e-6);
  EXPECT_NEAR(out[1], 0.75f, 1e-6);
  float big[3] = {1000.f, 1000.f, -1000.f};
  float p[3];
  softmax(big, 3, p);
  EXPECT_NEAR(p[0], 0.5f, 1e-6);
  EXPECT_NEAR(p[1], 0.5f, 1e-6);
  EXPECT_EQ(p[2], 0.f);
}

TEST(Aggregation, ParsesNames) {
  EXPECT_EQ(parse_aggregation("simple"), Aggregation::kSimple);
  EXPECT_EQ(parse_aggregation("first"), Aggregation::kFirst);
  EXPECT_EQ(parse_aggregation("average"), Aggregation::kAverage);
  EXPECT_EQ(parse_aggregation("max"), Aggregation::kMax);
  EXPECT_THROW(parse_aggregation("none"), Error);
  EXPECT_STREQ(aggregation_name(Aggregation::kAverage), "average");
}

// Labels: O B-PER I-PER B-LOC I-LOC. Text "abcd北京": word 0 = tokens "ab" "##cd", then 北, 京.
struct Fixture {
  std::vector<std::string> labels{"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
  std::u32string text = U"abcd北京";
  std::vector<Span> offsets{{0, 0}, {0, 2}, {2, 4}, {4, 5}, {5, 6}, {0, 0}};
  std::vector<int> word_ids{-1, 0, 0, 1, 2, -1};
  Matrix probs{6, 5,
               {
                   1.0f, 0.0f, 0.0f, 0.0f, 0.0f,     // [CLS] (skipped)
                   0.4f, 0.6f, 0.0f, 0.0f, 0.0f,     // ab    -> B-PER 0.6
                   0.05f, 0.0f, 0.05f, 0.0f, 0.9f,   // ##cd  -> I-LOC 0.9
                   0.1f, 0.0f, 0.0f, 0.8f, 0.1f,     // 北    -> B-LOC 0.8
                   0.2f, 0.0f, 0.0f, 0.1f, 0.7f,     // 京    -> I-LOC 0.7
                   1.0f, 0.0f, 0.0f, 0.0f, 0.0f,     // [SEP] (skipped)
               }};
  std::vector<Entity> run(Aggregation a) const {
    return entities_from_units(aggregate_units(probs, word_ids, a), parse_tags(labels), offsets, text);
  }
};

void expect_entity(const Entity& e, const char* type, int start, int end, const char* text, float score) {
  EXPECT_EQ(e.type, type);
  EXPECT_EQ(e.start, start);
  EXPECT_EQ(e.end, end);
  EXPECT_EQ(e.text, text);
  EXPECT_NEAR(e.score, score, 1e-6);
}

TEST(Aggregation, SimpleGroupsTokensAndMaySplitWords) {
  auto ents = Fixture{}.run(Aggregation::kSimple);
  ASSERT_EQ(ents.size(), 3u);
  expect_entity(ents[0], "PER", 0, 2, "ab", 0.6f);
  expect_entity(ents[1], "LOC", 2, 4, "cd", 0.9f);  // orphan I-LOC after B-PER starts a LOC
  expect_entity(ents[2], "LOC", 4, 6, "北京", 0.75f);
}

TEST(Aggregation, FirstUsesTheFirstSubToken) {
  auto ents = Fixture{}.run(Aggregation::kFirst);
  ASSERT_EQ(ents.size(), 2u);
  expect_entity(ents[0], "PER", 0, 4, "abcd", 0.6f);
  expect_entity(ents[1], "LOC", 4, 6, "北京", 0.75f);
}

TEST(Aggregation, AverageArgmaxesTheMeanDistribution) {
  // mean of ab and ##cd: O .225, B-PER .3, I-PER .025, B-LOC 0, I-LOC .45
  auto ents = Fixture{}.run(Aggregation::kAverage);
  ASSERT_EQ(ents.size(), 2u);
  expect_entity(ents[0], "LOC", 0, 4, "abcd", 0.45f);
  expect_entity(ents[1], "LOC", 4, 6, "北京", 0.75f);  // B-LOC starts a new entity
}

TEST(Aggregation, MaxTakesTheMostConfidentSubToken) {
  auto ents = Fixture{}.run(Aggregation::kMax);
  ASSERT_EQ(ents.size(), 2u);
  expect_entity(ents[0], "LOC", 0, 4, "abcd", 0.9f);
  expect_entity(ents[1], "LOC", 4, 6, "北京", 0.75f);
}

TEST(Aggregation, ChineseCharactersAreWordsSoStrategiesAgree) {
  // One token per word: every strategy gives the same entities.
  Fixture f;
  f.text = U"去北京";
  f.offsets = {{0, 0}, {0, 1}, {1, 2}, {2, 3}, {0, 0}};
  f.word_ids = {-1, 0, 1, 2, -1};
  f.probs = Matrix{5, 5, {1, 0, 0, 0, 0,  .9f, 0, 0, .05f, .05f,  .1f, 0, 0, .6f, .3f,
                          .2f, 0, .1f, .1f, .6f,  1, 0, 0, 0, 0}};
  for (auto a : {Aggregation::kSimple, Aggregation::kFirst, Aggregation::kAverage, Aggregation::kMax}) {
    auto ents = f.run(a);
    ASSERT_EQ(ents.size(), 1u) << aggregation_name(a);
    expect_entity(ents[0], "LOC", 1, 3, "北京", 0.6f);
  }
}

}  // namespace
}  // namespace tanzhen
