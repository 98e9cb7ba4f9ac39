// FillMaskPipeline on the reference MLM checkpoint: mask positions, the 10 best logits and the
// pipeline's top-5 tokens/probabilities against the reference; targets; per-item errors.
#include "tanzhen/tasks/fill_mask.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "reference_records.h"
#include "tanzhen/error.h"

namespace tanzhen {
namespace {

using testing::read_reference;
using testing::reference_model;

const FillMaskPipeline& pipeline() {
  static std::unique_ptr<FillMaskPipeline> p = FillMaskPipeline::load(reference_model("tiny-bert-mlm"));
  return *p;
}

TEST(FillMask, MatchesReference) {
  auto records = read_reference("tiny-bert-mlm");
  std::vector<std::string> texts;
  std::vector<nlohmann::json> masked;
  for (const auto& r : records)
    if (!r["mask_positions"].empty()) texts.push_back(r["text"].get<std::string>()), masked.push_back(r);
  ASSERT_GE(masked.size(), 5u);
  FillMaskOptions opts;
  opts.keep_logits = opts.keep_encoding = true;
  auto results = pipeline().run(texts, opts);
  size_t compared = 0;
  for (size_t i = 0; i < masked.size(); ++i) {
    const auto& rec = masked[i];
    const FillMaskResult& r = results[i];
    ASSERT_TRUE(r.ok()) << r.error_message;
    EXPECT_EQ(r.encoding.ids, rec["input_ids"].get<std::vector<int32_t>>());
    ASSERT_EQ(r.masks.size(), rec["mask_positions"].size());
    for (size_t m = 0; m < r.masks.size(); ++m) {
      EXPECT_EQ(r.masks[m].position, rec["mask_positions"][m].get<int>());
      const auto& ref = rec["mask_top10"][m];
      ASSERT_EQ(r.masks[m].top_logits.size(), 10u);
      for (size_t k = 0; k < 10; ++k) {
        const float logit = ref[k][1].get<float>();
        // Ids must agree wherever the rank is not a near-tie with a neighbour.
        const bool clear = (k == 0 || ref[k - 1][1].get<float>() - logit > 1e-4f) &&
                           (k == 9 || logit - ref[k + 1][1].get<float>() > 1e-4f);
        if (clear) {
          EXPECT_EQ(r.masks[m].top_logits[k].first, ref[k][0].get<int>()) << rec["id"] << " rank " << k;
          ++compared;
        }
        EXPECT_NEAR(r.masks[m].top_logits[k].second, logit, 1e-4) << rec["id"] << " rank " << k;
      }
    }
    // transformers.js fill-mask: top 5 of the first mask.
    const auto& top5 = rec["pipeline"][0];
    ASSERT_EQ(r.masks[0].candidates.size(), 5u);
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(r.masks[0].candidates[k].id, top5[k]["token"].get<int>()) << rec["id"] << " rank " << k;
      EXPECT_EQ(r.masks[0].candidates[k].token, top5[k]["token_str"].get<std::string>());
      EXPECT_NEAR(r.masks[0].candidates[k].score, top5[k]["score"].get<float>(), 1e-4);
    }
  }
  EXPECT_GT(compared, 50u);
}

TEST(FillMask, SeveralMasksAndTopK) {
  FillMaskOptions opts;
  opts.top_k = 3;
  auto r = pipeline().run({"中国的首都是[MASK][MASK]。"}, opts)[0];
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.masks.size(), 2u);
  EXPECT_EQ(r.masks[0].position, 7);
  EXPECT_EQ(r.masks[1].position, 8);
  for (const auto& m : r.masks) {
    ASSERT_EQ(m.candidates.size(), 3u);
    EXPECT_GE(m.candidates[0].score, m.candidates[1].score);
    EXPECT_GE(m.candidates[1].score, m.candidates[2].score);
    EXPECT_TRUE(m.top_logits.empty());  // not requested
  }
}

TEST(FillMask, TargetsRankOnlyThoseTokensWithFullVocabularyProbabilities) {
  const std::string text = "今天天气真[MASK]啊，适合出去玩。";
  FillMaskOptions all;
  all.top_k = 10;
  auto full = pipeline().run({text}, all)[0];
  ASSERT_TRUE(full.ok());
  FillMaskOptions opts;
  opts.top_k = 10;
  // "北京" is not a vocabulary token: it stands for its first word piece "北".
  opts.targets = {"。", "的", "北京", "的"};
  auto r = pipeline().run({text}, opts)[0];
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.masks[0].candidates.size(), 3u);  // duplicates count once; top_k capped
  std::vector<std::string> tokens;
  for (const auto& c : r.masks[0].candidates) tokens.push_back(c.token);
  EXPECT_EQ(tokens, (std::vector<std::string>{"的", "。", "北"}));
  // Probabilities are over the whole vocabulary: the same as in the untargeted run.
  for (const auto& c : r.masks[0].candidates) {
    for (const auto& f : full.masks[0].candidates) {
      if (f.id == c.id) {
        EXPECT_FLOAT_EQ(f.score, c.score);
      }
    }
  }
  opts.targets = {""};
  EXPECT_THROW(pipeline().run({text}, opts), Error);
}

TEST(FillMask, PerItemErrors) {
  std::string long_text;
  for (int i = 0; i < 600; ++i) long_text += "好";
  long_text += "[MASK]";
  auto results = pipeline().run({"没有掩码。", std::string("坏\xc3[MASK]"), "好[MASK]", long_text}, {});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].error_code, "no_mask");
  EXPECT_EQ(results[1].error_code, "invalid_utf8");
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(results[2].masks.size(), 1u);
  EXPECT_EQ(results[3].error_code, "too_long");
  // Truncation drops the mask at the end of the long text.
  FillMaskOptions cut;
  cut.truncate = true;
  EXPECT_EQ(pipeline().run({long_text}, cut)[0].error_code, "no_mask");
  FillMaskOptions bad;
  bad.top_k = 0;
  EXPECT_THROW(pipeline().run({"[MASK]"}, bad), Error);
}

}  // namespace
}  // namespace tanzhen
