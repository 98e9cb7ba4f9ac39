// `tanzhen fill-mask` as users run it: candidates against the reference outputs, targets, JSONL
// with bad records, exit codes and one-line errors.
#include <gtest/gtest.h>

#include <fstream>

#include "cli_runner.h"

namespace tanzhen {
namespace {

using testing::CliRun;
using testing::count_lines;
using testing::reference_model;
using testing::run_cli;
using testing::write_file;

const std::string kMlm = reference_model("tiny-bert-mlm");

nlohmann::json reference_record(int id) {
  std::ifstream in(testing::reference_output("tiny-bert-mlm"));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["id"] == id) return j;
  }
  return {};
}

TEST(FillMaskCli, CandidatesMatchTheReference) {
  const auto ref = reference_record(27);  // 今天天气真[MASK]啊，适合出去玩。
  ASSERT_FALSE(ref.is_null());
  CliRun r = run_cli({"fill-mask", "-m", kMlm, "--emit-logits", ref["text"].get<std::string>()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 1u);
  const auto& masks = lines[0]["masks"];
  ASSERT_EQ(masks.size(), 1u);
  EXPECT_EQ(masks[0]["position"], ref["mask_positions"][0]);
  const auto& cands = masks[0]["candidates"];
  ASSERT_EQ(cands.size(), 5u);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(cands[k]["id"], ref["pipeline"][0][k]["token"]);
    EXPECT_EQ(cands[k]["token"], ref["pipeline"][0][k]["token_str"]);
    EXPECT_NEAR(cands[k]["score"].get<double>(), ref["pipeline"][0][k]["score"].get<double>(), 1e-4);
  }
  const auto& top = masks[0]["top_logits"];
  ASSERT_EQ(top.size(), 10u);
  EXPECT_EQ(top[0][0], ref["mask_top10"][0][0][0]);
  EXPECT_NEAR(top[0][1].get<double>(), ref["mask_top10"][0][0][1].get<double>(), 1e-4);
}

TEST(FillMaskCli, TopKTargetsAndTokens) {
  auto l = run_cli({"fill-mask", "-m", kMlm, "--top-k", "2", "--emit-tokens", "中国的首都是[MASK][MASK]。"}).lines().at(0);
  ASSERT_EQ(l["masks"].size(), 2u);
  EXPECT_EQ(l["masks"][0]["candidates"].size(), 2u);
  EXPECT_EQ(l["tokens"][7], "[MASK]");
  EXPECT_EQ(l["input_ids"].size(), l["offsets"].size());
  EXPECT_FALSE(l["masks"][0].contains("top_logits"));
  auto t = run_cli({"fill-mask", "-m", kMlm, "--targets", "。,的", "今天天气真[MASK]啊"}).lines().at(0);
  const auto& c = t["masks"][0]["candidates"];
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0]["token"], "的");
  EXPECT_EQ(c[1]["token"], "。");
}

TEST(FillMaskCli, JsonlWithBadRecords) {
  const std::string dir = testing::make_temp_dir("fill-cli");
  write_file(dir + "/in.jsonl", std::string("{\"id\": \"a\", \"text\": \"床前明月光，疑是地[MASK]霜。\"}\n") +
                                    "{\"id\": \"b\", \"text\": \"没有掩码\"}\n" +
                                    "{\"id\": \"c\", \"text\": \"\xc3[MASK]\"}\n" +
                                    "{\"id\": \"d\", \"text\": [\"\"]}\n" +
                                    "{\"id\": \"e\" \"text\"}\n" +
                                    "{\"id\": \"f\", \"text\": \"[MASK]\"}\n");
  CliRun r = run_cli({"fill-mask", "-m", kMlm, "-i", dir + "/in.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0]["id"], "a");
  EXPECT_EQ(lines[0]["masks"][0]["candidates"].size(), 5u);
  EXPECT_EQ(lines[1]["error"]["code"], "no_mask");
  EXPECT_EQ(lines[1]["id"], "b");
  EXPECT_EQ(lines[2]["error"]["code"], "invalid_utf8");
  EXPECT_EQ(lines[2]["id"], "c");
  EXPECT_EQ(lines[3]["error"]["code"], "missing_text");
  EXPECT_EQ(lines[4]["error"]["code"], "invalid_json");
  EXPECT_EQ(lines[4]["line"], 5);
  EXPECT_EQ(lines[5]["id"], "f");
  EXPECT_EQ(lines[5]["masks"][0]["position"], 1);
}

TEST(FillMaskCli, OneLineErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"fill-mask", "-m", kMlm, "没有掩码"},
           {"fill-mask", "-m", kMlm, std::string("\xff[MASK]")},
           {"fill-mask", "-m", kMlm, "--top-k", "0", "[MASK]"},
           {"fill-mask", "-m", reference_model("tiny-bert-ner"), "[MASK]"},
       }) {
    CliRun r = run_cli(args);
    EXPECT_NE(r.exit_code, 0) << args.back();
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  }
  CliRun r = run_cli({"fill-mask", "-m", kMlm, "没有掩码"});
  EXPECT_NE(r.err.find("[MASK]"), std::string::npos) << r.err;
  const std::string empty = testing::make_temp_dir("no-models");
  CliRun d = run_cli({"fill-mask", "[MASK]"}, "", "TANZHEN_MODELS=" + empty);
  EXPECT_NE(d.exit_code, 0);
  EXPECT_NE(d.err.find("zh-mlm-small"), std::string::npos) << d.err;
}

}  // namespace
}  // namespace tanzhen
