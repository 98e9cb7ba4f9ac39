// The default models shipped in models/, run as a newcomer runs them (`tanzhen ner TEXT`,
// `tanzhen fill-mask TEXT` without -m): they load, declare the positions they were trained on,
// find the entities of the classic demo sentence, handle a text longer than one window, and
// fill a blank. Their accuracy is measured by `tanzhen eval` (training/README.md); this test
// guards what a newcomer sees first.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace tanzhen {
namespace {

using testing::CliRun;
using testing::run_cli;

const std::string kModels = TANZHEN_SOURCE_DIR "/models";

nlohmann::json config(const std::string& model) {
  std::ifstream in(kModels + "/" + model + "/config.json");
  return nlohmann::json::parse(in);
}

std::set<std::string> entities_of_type(const nlohmann::json& line, const std::string& type) {
  std::set<std::string> out;
  for (const auto& e : line["entities"])
    if (e["type"] == type) out.insert(e["text"].get<std::string>());
  return out;
}

TEST(ShippedModels, NerFindsTheDemoEntities) {
  CliRun r = run_cli({"ner", "江泽民主席今天在北京会见了美国总统克林顿。"}, "", "TANZHEN_MODELS=" + kModels);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto line = r.lines().at(0);
  EXPECT_EQ(entities_of_type(line, "PER"), (std::set<std::string>{"江泽民", "克林顿"})) << line.dump();
  EXPECT_EQ(entities_of_type(line, "LOC"), (std::set<std::string>{"北京", "美国"})) << line.dump();
}

TEST(ShippedModels, NerDecodesOnlyValidBioPaths) {
  // The model declares constrained CRF decoding (as it was scored in training): an I-T only
  // follows B-T or I-T. Unconstrained, its best path here is B-PER I-PER I-PER O O O O I-PER
  // I-PER I-PER ...; constrained, 普 becomes B-PER. Either way 邵华泽 and 普罗迪 are two people,
  // and 普罗迪's score is the CRF's marginal of B-PER at 普, not the emission's lone vote for I-PER.
  EXPECT_EQ(config("zh-ner-small")["crf_constrained"], true);
  for (const char* text : {"邵华泽社长感谢普罗迪总理会见人民日报代表团。", "江泽民主席今天在北京会见了美国总统克林顿。",
                           "国务院总理李鹏今天在人民大会堂会见了日本客人。"}) {
    CliRun r = run_cli({"ner", "--emit-logits", text}, "", "TANZHEN_MODELS=" + kModels);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto line = r.lines().at(0);
    const auto& tags = line["tags"];  // one per character: every character is a word here
    std::string prev = "O";
    for (const auto& tag : tags) {
      const std::string t = tag.get<std::string>();
      if (t.rfind("I-", 0) == 0) {
        EXPECT_TRUE(prev == "B-" + t.substr(2) || prev == t) << prev << " " << t << " in " << text;
      }
      prev = t;
    }
    for (const auto& e : line["entities"]) {
      for (int c = e["start"].get<int>(); c < e["end"].get<int>(); ++c)
        EXPECT_NE(tags[c], "O") << "entity " << e.dump() << " spans an O";
      EXPECT_GT(e["score"].get<float>(), 0.5f) << e.dump();
    }
    if (std::string(text).rfind("邵华泽", 0) == 0) {
      EXPECT_EQ(entities_of_type(line, "PER"), (std::set<std::string>{"邵华泽", "普罗迪"})) << line.dump();
    }
  }
}

TEST(ShippedModels, LongTextRunsInWindowsOfTheTrainedLength) {
  // The NER model declares only the positions it was fine-tuned on (MSRA sentences are short).
  const int positions = config("zh-ner-small")["max_position_embeddings"];
  EXPECT_LE(positions, 256);
  // 30 sentences, ~630 tokens: several windows.
  std::string text;
  for (int i = 0; i < 30; ++i) text += "江泽民主席今天在北京会见了美国总统克林顿。";
  CliRun r = run_cli({"ner", "--emit-tokens", text}, "", "TANZHEN_MODELS=" + kModels);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto line = r.lines().at(0);
  EXPECT_GT(line["input_ids"].size(), static_cast<size_t>(4 * positions));
  // Each window's tokens are labelled: the name that opens every copy is found in all 30,
  // wherever the window borders fall. (Within this unnatural repetition the model does not tag
  // every other name of every copy alike; that is the model, not the windows.)
  int found = 0;
  for (const auto& e : line["entities"]) found += e["type"] == "PER" && e["text"] == "江泽民";
  EXPECT_EQ(found, 30) << line.dump();
}

TEST(ShippedModels, FillMaskAnswers) {
  CliRun r = run_cli({"fill-mask", "--top-k", "5", "今天天气真[MASK]啊"}, "", "TANZHEN_MODELS=" + kModels);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = r.lines();
  const auto& cands = lines.at(0)["masks"].at(0)["candidates"];
  ASSERT_EQ(cands.size(), 5u);
  double last = 1.0;
  for (const auto& c : cands) {
    EXPECT_LE(c["score"].get<double>(), last);
    last = c["score"].get<double>();
  }
}

}  // namespace
}  // namespace tanzhen
