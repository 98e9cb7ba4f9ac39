// `tanzhen ner` as users run it: TEXT argument, JSONL files with bad records, stdin lines,
// offsets units, emitted tokens/logits, exit codes and one-line errors.
#include <gtest/gtest.h>


#include "cli_runner.h"
#include "same_entities.h"
#include "tanzhen/kernels/linear.h"
#include "tanzhen/tasks/ner.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {
namespace {

using testing::CliRun;
using testing::count_lines;
using testing::reference_model;
using testing::run_cli;
using testing::write_file;

const std::string kNer = reference_model("tiny-bert-ner");
const std::string kCrf = reference_model("tiny-bert-crf-modelscope");

// Texts the tiny model finds entities in (checked in EntitiesMatchTheLibrary).
const std::string kText = "我叫张三，在北京大学读书，去年去了上海市。";

void expect_one_line_error(const CliRun& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(NerCli, EntitiesMatchTheLibrary) {
  CliRun r = run_cli({"ner", "-m", kNer, kText});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["text"], kText);
  const NerResult want = NerPipeline::load(kNer)->run({kText}, {})[0];
  ASSERT_FALSE(want.entities.empty());
  const auto& got = lines[0]["entities"];
  ASSERT_EQ(got.size(), want.entities.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["type"], want.entities[i].type);
    EXPECT_EQ(got[i]["start"], want.entities[i].start);
    EXPECT_EQ(got[i]["end"], want.entities[i].end);
    EXPECT_EQ(got[i]["text"], want.entities[i].text);
    EXPECT_FLOAT_EQ(got[i]["score"].get<float>(), want.entities[i].score);
  }
}

TEST(NerCli, DtypeSelectsTheEncoderPrecision) {
  // Each --dtype gives what the library gives at that precision (scores differ from fp32's).
  for (const char* dtype : {"bf16", "int8"}) {
    CliRun r = run_cli({"ner", "-m", kNer, "--dtype", dtype, kText});
    if (std::string(dtype) == "bf16" && !kernels::bf16_gemm_supported()) {
      expect_one_line_error(r, "--dtype fp32");  // a CPU without bf16 GEMMs: a clear refusal
      continue;
    }
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto pipeline = NerPipeline::load(kNer, EncoderOptions{0, parse_compute_type(dtype)});
    const NerResult want = pipeline->run({kText}, {})[0];
    const auto lines = r.lines();
    const auto& got = lines.at(0)["entities"];
    ASSERT_EQ(got.size(), want.entities.size()) << dtype;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i]["start"], want.entities[i].start) << dtype;
      EXPECT_FLOAT_EQ(got[i]["score"].get<float>(), want.entities[i].score) << dtype;
    }
  }
  CliRun bad = run_cli({"ner", "-m", kNer, "--dtype", "fp8", kText});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("fp8"), std::string::npos) << bad.err;
}

TEST(NerCli, OffsetUnits) {
  // Characters outside the BMP and Latin letters before the entities make the units differ.
  const std::string text = "😀😀 café " + kText;
  auto cp = run_cli({"ner", "-m", kNer, text}).lines().at(0)["entities"];
  auto u8 = run_cli({"ner", "-m", kNer, "--offsets", "utf8", text}).lines().at(0)["entities"];
  auto u16 = run_cli({"ner", "-m", kNer, "--offsets", "utf16", text}).lines().at(0)["entities"];
  ASSERT_FALSE(cp.empty());
  ASSERT_EQ(cp.size(), u8.size());
  ASSERT_EQ(cp.size(), u16.size());
  for (size_t i = 0; i < cp.size(); ++i) {
    const int s = cp[i]["start"], e = cp[i]["end"];
    const std::u32string u = decode_utf8(text);
    // UTF-8: byte offsets; the entity text is the byte slice.
    EXPECT_EQ(text.substr(u8[i]["start"].get<int>(), u8[i]["end"].get<int>() - u8[i]["start"].get<int>()),
              cp[i]["text"].get<std::string>());
    EXPECT_EQ(u8[i]["start"].get<int>(), static_cast<int>(encode_utf8(u.substr(0, s)).size()));
    // UTF-16: two emoji are 2 units each, so +2 over code points.
    EXPECT_EQ(u16[i]["start"].get<int>(), s + 2);
    EXPECT_EQ(u16[i]["end"].get<int>(), e + 2);
  }
  expect_one_line_error(run_cli({"ner", "-m", kNer, "--offsets", "bytes?", kText}), "error");
}

TEST(NerCli, JsonlWithBadRecords) {
  const std::string dir = testing::make_temp_dir("ner-cli");
  const std::string in = dir + "/in.jsonl", out = dir + "/out.jsonl";
  write_file(in, std::string("{\"id\": 1, \"text\": \"") + kText + "\"}\n" +
                     "{\"id\": 2, \"text\": \"bad" + "\xff\xfe" + "\"}\n" +  // invalid UTF-8 bytes
                     "not json\n" +
                     "\n" +                                                  // blank: skipped
                     "{\"id\": \"three\"}\n" +                               // no text
                     "{\"id\": 4, \"text\": 5}\n" +                          // text not a string
                     "[1, 2]\n" +
                     "{\"id\": 6, \"text\": \"\", \"extra\": {\"keep\": true}}\n");
  CliRun r = run_cli({"ner", "-m", kNer, "-i", in, "-o", out, "--batch-size", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // no progress bar when stderr is not a terminal
  CliRun cat{0, testing::read_file(out), ""};
  auto lines = cat.lines();
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0]["id"], 1);
  EXPECT_FALSE(lines[0]["entities"].empty());
  EXPECT_FALSE(lines[0].contains("error"));
  EXPECT_EQ(lines[1]["id"], 2);
  EXPECT_EQ(lines[1]["error"]["code"], "invalid_utf8");
  EXPECT_EQ(lines[2]["error"]["code"], "invalid_json");
  EXPECT_EQ(lines[2]["line"], 3);
  // A plain-text line: the message says what -i expects and where plain text goes.
  EXPECT_NE(lines[2]["error"]["message"].get<std::string>().find("-i reads JSONL"), std::string::npos) << lines[2];
  EXPECT_EQ(lines[3]["id"], "three");
  EXPECT_EQ(lines[3]["error"]["code"], "missing_text");
  EXPECT_EQ(lines[4]["error"]["code"], "missing_text");
  EXPECT_EQ(lines[5]["error"]["code"], "invalid_json");
  EXPECT_EQ(lines[6]["id"], 6);
  EXPECT_EQ(lines[6]["entities"], nlohmann::json::array());
  EXPECT_EQ(lines[6]["extra"]["keep"], true);
  for (const auto& l : lines) {
    if (l.contains("error")) {
      EXPECT_FALSE(l["error"]["message"].get<std::string>().empty());
    }
  }
  // The good record's answer does not depend on its neighbours.
  auto alone = run_cli({"ner", "-m", kNer, kText}).lines().at(0);
  testing::expect_same_entities(lines[0]["entities"], alone["entities"]);
}

TEST(NerCli, StdinLinesAndOutputFile) {
  const std::string dir = testing::make_temp_dir("ner-cli");
  write_file(dir + "/in.txt", kText + "\n李四\n");
  CliRun r = run_cli({"ner", "-m", kNer}, dir + "/in.txt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["text"], kText);
  EXPECT_EQ(lines[1]["text"], "李四");
  // JSONL on stdin with -i -.
  write_file(dir + "/in.jsonl", "{\"id\": 7, \"text\": \"" + kText + "\"}\n");
  CliRun j = run_cli({"ner", "-m", kNer, "-i", "-", "-o", dir + "/out.jsonl"}, dir + "/in.jsonl");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_TRUE(j.out.empty());
  auto out = nlohmann::json::parse(testing::read_file(dir + "/out.jsonl"));
  EXPECT_EQ(out["id"], 7);
  testing::expect_same_entities(out["entities"], lines[0]["entities"]);
}

TEST(NerCli, EmitTokensAndLogits) {
  auto l = run_cli({"ner", "-m", kNer, "--emit-tokens", "--emit-logits", kText}).lines().at(0);
  const size_t n = l["input_ids"].size();
  ASSERT_GT(n, 2u);
  EXPECT_EQ(l["tokens"].size(), n);
  EXPECT_EQ(l["offsets"].size(), n);
  EXPECT_EQ(l["tokens"][0], "[CLS]");
  EXPECT_EQ(l["logits"].size(), n);
  EXPECT_EQ(l["logits"][0].size(), 7u);
  EXPECT_FALSE(l.contains("tags"));
  // CRF: emissions plus one tag per word.
  auto c = run_cli({"ner", "-m", kCrf, "--emit-logits", kText}).lines().at(0);
  EXPECT_EQ(c["logits"][0].size(), 13u);
  EXPECT_EQ(c["tags"].size(), decode_utf8(kText).size());  // one word per character here
  auto plain = run_cli({"ner", "-m", kNer, kText}).lines().at(0);
  EXPECT_FALSE(plain.contains("logits"));
  EXPECT_FALSE(plain.contains("tokens"));
}

TEST(NerCli, WindowsTruncationAndAggregationOptions) {
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += kText;  // 840 characters
  auto w = run_cli({"ner", "-m", kNer, "--emit-tokens", long_text}).lines().at(0);
  EXPECT_EQ(w["input_ids"].size(), 842u);
  auto t = run_cli({"ner", "-m", kNer, "--emit-tokens", "--truncate", long_text}).lines().at(0);
  EXPECT_EQ(t["input_ids"].size(), 512u);
  auto small = run_cli({"ner", "-m", kNer, "--window", "64", "--stride", "20", long_text});
  ASSERT_EQ(small.exit_code, 0) << small.err;
  for (const char* agg : {"simple", "first", "average", "max"})
    EXPECT_EQ(run_cli({"ner", "-m", kNer, "--aggregation", agg, kText}).exit_code, 0) << agg;
  expect_one_line_error(run_cli({"ner", "-m", kNer, "--aggregation", "none", kText}), "aggregation");
  expect_one_line_error(run_cli({"ner", "-m", kNer, "--window", "1000", kText}), "window");
}

TEST(NerCli, EveryCommandRefusesANegativeThreadCount) {
  // 0 means all cores; a negative count is a usage error, not another way to say 0.
  EXPECT_EQ(run_cli({"ner", "-m", kNer, "--threads", "1", kText}).exit_code, 0);
  for (const char* cmd : {"ner", "fill-mask", "eval", "bench", "serve"}) {
    CliRun r = run_cli({cmd, "--threads", "-2"});
    EXPECT_NE(r.exit_code, 0) << cmd;
    EXPECT_TRUE(r.out.empty()) << cmd << ": " << r.out;
    EXPECT_NE(r.err.find("--threads: Value -2 not in range 0 to 1024"), std::string::npos) << cmd << ": " << r.err;
  }
}

TEST(NerCli, OneLineErrors) {
  expect_one_line_error(run_cli({"ner", "-m", kNer, std::string("bad \xff")}), "UTF-8");
  expect_one_line_error(run_cli({"ner", "-m", "/nonexistent/model", kText}), "/nonexistent/model");
  expect_one_line_error(run_cli({"ner", "-m", kNer + "/config.json", kText}), "is a file; give the model's folder");
  expect_one_line_error(run_cli({"ner", "-m", reference_model("tiny-bert-mlm"), kText}), "tiny-bert-mlm");
  expect_one_line_error(run_cli({"ner", "-m", kNer, "-i", "/nonexistent.jsonl"}), "/nonexistent.jsonl");
  // No -m: the default model folder under $TANZHEN_MODELS.
  const std::string empty = testing::make_temp_dir("no-models");
  // A folder given as input reads as nothing; it must not pass for an empty file.
  expect_one_line_error(run_cli({"ner", "-m", kNer, "-i", empty}), "is a folder");
  expect_one_line_error(run_cli({"ner", kText}, "", "TANZHEN_MODELS=" + empty), "zh-ner-small");
}

TEST(NerCli, DefaultModelFromTanzhenModels) {
  const std::string models = testing::make_temp_dir("models");
  ASSERT_EQ(std::system(("ln -s " + testing::shell_quote(kNer) + " " + testing::shell_quote(models + "/zh-ner-small")).c_str()), 0);
  CliRun r = run_cli({"ner", kText}, "", "TANZHEN_MODELS=" + models);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.lines().at(0)["entities"], run_cli({"ner", "-m", kNer, kText}).lines().at(0)["entities"]);
}

}  // namespace
}  // namespace tanzhen
