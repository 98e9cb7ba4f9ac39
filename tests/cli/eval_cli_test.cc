// `tanzhen eval` as users run it: NER scores recomputed here from `tanzhen ner -i` output on the
// same file, type maps, the default model, bad data; fill-mask accuracy recomputed from
// `tanzhen fill-mask` on the same masked sentences.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "cli_runner.h"

namespace tanzhen {
namespace {

using nlohmann::json;
using testing::CliRun;
using testing::reference_model;
using testing::run_cli;
using testing::write_file;

const std::string kNer = reference_model("tiny-bert-ner");
const std::string kMlm = reference_model("tiny-bert-mlm");

// The first `n` MSRA training sentences that have entities, as a JSONL file (with ids added).
std::string msra_sample(size_t n) {
  static std::map<size_t, std::string> made;
  if (made.count(n)) return made[n];
  std::ifstream in(testing::shared_dir() + "/data/msra/train.jsonl");
  std::string out, line;
  for (size_t id = 0; id < n && std::getline(in, line);) {
    json j = json::parse(line);
    if (j["entities"].empty()) continue;
    j["id"] = id++;
    out += j.dump() + "\n";
  }
  const std::string path = testing::make_temp_dir("eval-cli") + "/sample.jsonl";
  write_file(path, out);
  return made[n] = path;
}

struct Counts {
  long long tp = 0, fp = 0, fn = 0;
};

// Exact-match counts computed here from gold records and `tanzhen ner` output records, after
// renaming types with `rename` (types it lacks are kept).
std::map<std::string, Counts> recompute(const std::string& gold_path, const std::vector<json>& predicted,
                                        const std::map<std::string, std::string>& rename = {}) {
  auto name = [&](const std::string& t) { return rename.count(t) ? rename.at(t) : t; };
  std::map<std::string, Counts> c;  // "" = overall
  std::ifstream in(gold_path);
  std::string line;
  for (size_t i = 0; std::getline(in, line); ++i) {
    using Key = std::tuple<std::string, int, int>;
    std::multiset<Key> gold, pred;
    const json record = json::parse(line);  // a named object: a temporary would die before the loop
    for (const json& e : record["entities"]) gold.insert({name(e["type"]), e["start"], e["end"]});
    for (const json& e : predicted.at(i)["entities"]) pred.insert({name(e["type"]), e["start"], e["end"]});
    for (const Key& k : pred) {
      auto hit = gold.find(k);
      Counts& t = c[std::get<0>(k)];
      if (hit != gold.end()) {
        gold.erase(hit);
        ++t.tp, ++c[""].tp;
      } else {
        ++t.fp, ++c[""].fp;
      }
    }
    for (const Key& k : gold) ++c[std::get<0>(k)].fn, ++c[""].fn;
  }
  return c;
}

void expect_scores(const json& s, const Counts& want, const std::string& what) {
  EXPECT_EQ(s["tp"], want.tp) << what;
  EXPECT_EQ(s["fp"], want.fp) << what;
  EXPECT_EQ(s["fn"], want.fn) << what;
  const double tp = want.tp, fp = want.fp, fn = want.fn;
  EXPECT_NEAR(s["precision"].get<double>(), tp + fp > 0 ? tp / (tp + fp) : 0, 1e-12) << what;
  EXPECT_NEAR(s["recall"].get<double>(), tp + fn > 0 ? tp / (tp + fn) : 0, 1e-12) << what;
  const double p = s["precision"], r = s["recall"];
  EXPECT_NEAR(s["f1"].get<double>(), p + r > 0 ? 2 * p * r / (p + r) : 0, 1e-12) << what;
}

json eval_json(const std::vector<std::string>& args, const std::string& env = "") {
  std::vector<std::string> full{"eval"};
  full.insert(full.end(), args.begin(), args.end());
  full.push_back("--json");
  CliRun r = run_cli(full, "", env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto lines = r.lines();
  EXPECT_EQ(lines.size(), 1u) << r.out;
  return lines.empty() ? json() : lines[0];
}

TEST(EvalCli, NerScoresAgreeWithNerCommandOutput) {
  const std::string data = msra_sample(30);
  const json got = eval_json({"-m", kNer, "-d", data});
  for (const char* key : {"overall", "per_type", "sentences", "errors", "throughput"}) EXPECT_TRUE(got.contains(key)) << key;
  EXPECT_EQ(got["sentences"], 30);

  CliRun ner = run_cli({"ner", "-m", kNer, "-i", data});
  ASSERT_EQ(ner.exit_code, 0) << ner.err;
  const std::vector<json> predicted = ner.lines();
  ASSERT_EQ(predicted.size(), 30u);
  const auto want = recompute(data, predicted);
  ASSERT_GT(want.at("").tp, 0) << "the tiny model should find some MSRA entities";
  expect_scores(got["overall"], want.at(""), "overall");
  ASSERT_EQ(got["per_type"].size(), want.size() - 1);
  for (const auto& [type, counts] : want)
    if (!type.empty()) expect_scores(got["per_type"][type], counts, type);

  const json& e = got["errors"];
  EXPECT_EQ(e["boundary"].get<long long>() + e["type"].get<long long>() + e["spurious"].get<long long>(),
            want.at("").fp);
  EXPECT_LE(e["missed"].get<long long>(), want.at("").fn);
  const json& t = got["throughput"];
  EXPECT_GT(t["sentences_per_s"].get<double>(), 0);
  EXPECT_GT(t["chars_per_s"].get<double>(), t["sentences_per_s"].get<double>());
  EXPECT_NEAR(t["sentences_per_s"].get<double>() * t["seconds"].get<double>(), 30, 1e-6);
}

TEST(EvalCli, TypeMapRenamesGoldAndPredictionsAlike) {
  const std::string data = msra_sample(30);
  CliRun ner = run_cli({"ner", "-m", kNer, "-i", data});
  ASSERT_EQ(ner.exit_code, 0) << ner.err;
  // LOC and ORG merged: a LOC predicted where ORG is gold (same span) becomes a hit.
  const std::map<std::string, std::string> rename{{"LOC", "PLACE"}, {"ORG", "PLACE"}};
  const auto want = recompute(data, ner.lines(), rename);
  const json got = eval_json({"-m", kNer, "-d", data, "--map", "LOC=PLACE, ORG=PLACE"});
  expect_scores(got["overall"], want.at(""), "overall");
  EXPECT_FALSE(got["per_type"].contains("LOC"));
  EXPECT_FALSE(got["per_type"].contains("ORG"));
  expect_scores(got["per_type"]["PLACE"], want.at("PLACE"), "PLACE");
  expect_scores(got["per_type"]["PER"], want.at("PER"), "PER (not in the map, kept)");
}

TEST(EvalCli, TypesScoresOnlyTheListedTypes) {
  const std::string data = msra_sample(30);
  CliRun ner = run_cli({"ner", "-m", kNer, "-i", data});
  ASSERT_EQ(ner.exit_code, 0) << ner.err;
  const auto want = recompute(data, ner.lines());
  // Only PER is scored: the overall counts are PER's own, and no other type is listed.
  const json got = eval_json({"-m", kNer, "-d", data, "--types", "PER"});
  expect_scores(got["overall"], want.at("PER"), "overall = PER");
  ASSERT_EQ(got["per_type"].size(), 1u) << got.dump();
  expect_scores(got["per_type"]["PER"], want.at("PER"), "PER");
  // --types applies after --map: LOC and ORG renamed to PLACE, then PLACE alone is scored.
  const auto merged = recompute(data, ner.lines(), {{"LOC", "PLACE"}, {"ORG", "PLACE"}});
  const json place = eval_json({"-m", kNer, "-d", data, "--map", "LOC=PLACE,ORG=PLACE", "--types", "PLACE"});
  expect_scores(place["overall"], merged.at("PLACE"), "overall = PLACE");
  ASSERT_EQ(place["per_type"].size(), 1u) << place.dump();
}

TEST(EvalCli, DefaultModelLimitAndBatchSize) {
  const std::string data = msra_sample(30);
  const std::string models = testing::make_temp_dir("eval-models");
  ASSERT_EQ(std::system(("ln -s " + testing::shell_quote(kNer) + " " + testing::shell_quote(models + "/zh-ner-small")).c_str()), 0);
  const json with_m = eval_json({"-m", kNer, "-d", data, "--limit", "12"});
  const json by_default = eval_json({"-d", data, "--limit", "12", "--batch-size", "5"}, "TANZHEN_MODELS=" + models);
  EXPECT_EQ(with_m["sentences"], 12);
  EXPECT_EQ(with_m["overall"], by_default["overall"]);
  EXPECT_EQ(with_m["per_type"], by_default["per_type"]);
  EXPECT_EQ(with_m["errors"], by_default["errors"]);
  EXPECT_EQ(by_default["throughput"]["batch_size"], 5);
}

TEST(EvalCli, TextReport) {
  CliRun r = run_cli({"eval", "-m", kNer, "-d", msra_sample(30), "--limit", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* word : {"precision", "recall", "overall", "boundary", "sentences/s", "chars/s"})
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.out;
}

TEST(EvalCli, BadInputsAreOneLineErrors) {
  const std::string dir = testing::make_temp_dir("eval-bad");
  write_file(dir + "/bad.jsonl", "{\"text\": \"北京\", \"entities\": []}\n{\"text\": \"北京\", \"entities\": [{\"start\": 0, \"end\": 9, \"type\": \"LOC\"}]}\n");
  write_file(dir + "/empty.jsonl", "\n");
  struct Case {
    std::vector<std::string> args;
    const char* needle;
  } cases[] = {
      {{"eval", "-m", kNer, "-d", dir + "/bad.jsonl"}, "line 2"},
      {{"eval", "-m", kNer, "-d", dir + "/empty.jsonl"}, "no examples"},
      {{"eval", "-m", kNer, "-d", dir + "/missing.jsonl"}, "cannot open"},
      {{"eval", "-m", kNer, "-d", dir}, "is a folder"},
      {{"eval", "--task", "fill-mask", "-m", kMlm, "-d", dir}, "is a folder"},
      {{"eval", "-m", kNer, "-d", msra_sample(30), "--map", "LOC"}, "--map"},
      {{"eval", "-m", kNer, "-d", msra_sample(30), "--types", "PER,"}, "--types"},
      // A type neither the data nor the model has (a typo) is refused, not scored as nothing.
      {{"eval", "-m", kNer, "-d", msra_sample(30), "--types", "PER,PRE"}, "--types PRE: neither the data nor the model"},
      {{"eval", "-m", kMlm, "-d", msra_sample(30)}, "not a token-classification"},
      {{"eval", "--task", "fill-mask", "-m", kMlm, "-d", msra_sample(30), "--mask-rate", "0"}, "--mask-rate"},
  };
  for (const Case& c : cases) {
    CliRun r = run_cli(c.args);
    EXPECT_NE(r.exit_code, 0) << c.needle;
    EXPECT_EQ(testing::count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
  }
}

// ---------------------------------------------------------------------------------------------
// Fill-mask

// Sentences of CJK characters only, all in bert-base-chinese's vocabulary.
const std::vector<std::string> kSentences = {"北京是中国的首都", "我们今天去上海开会", "他在大学读书"};

std::vector<std::string> characters(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size(); i += 3) out.push_back(s.substr(i, 3));  // 3-byte UTF-8 each
  return out;
}

struct Job {
  std::string text;
  std::vector<std::string> answers;
};

// Top-1 / top-5 hits of `tanzhen fill-mask` on the jobs, counted here.
std::pair<long long, long long> fill_mask_hits(const std::vector<Job>& jobs) {
  const std::string path = testing::make_temp_dir("eval-fm") + "/jobs.jsonl";
  std::string lines;
  for (const Job& j : jobs) lines += json{{"text", j.text}}.dump() + "\n";
  write_file(path, lines);
  CliRun r = run_cli({"fill-mask", "-m", kMlm, "-i", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto out = r.lines();
  EXPECT_EQ(out.size(), jobs.size());
  long long top1 = 0, top5 = 0;
  for (size_t i = 0; i < jobs.size() && i < out.size(); ++i) {
    const json& masks = out[i]["masks"];
    EXPECT_EQ(masks.size(), jobs[i].answers.size());
    for (size_t m = 0; m < masks.size() && m < jobs[i].answers.size(); ++m) {
      const json& c = masks[m]["candidates"];
      top1 += c.at(0)["token"] == jobs[i].answers[m];
      for (size_t k = 0; k < c.size() && k < 5; ++k) top5 += c[k]["token"] == jobs[i].answers[m];
    }
  }
  return {top1, top5};
}

std::string sentences_file(const std::string& ext) {
  const std::string path = testing::make_temp_dir("eval-fm") + "/sentences" + ext;
  std::string content;
  for (const auto& s : kSentences) content += (ext == ".jsonl" ? json{{"text", s}}.dump() : s) + "\n";
  write_file(path, content);
  return path;
}

// With --mask-rate 1 every character is masked, so the jobs are known without the random draw.
TEST(EvalCli, FillMaskOneAtATimeAgreesWithFillMaskCommand) {
  std::vector<Job> jobs;
  for (const auto& s : kSentences) {
    const auto chars = characters(s);
    for (size_t i = 0; i < chars.size(); ++i) {
      std::string text;
      for (size_t k = 0; k < chars.size(); ++k) text += k == i ? "[MASK]" : chars[k];
      jobs.push_back({text, {chars[i]}});
    }
  }
  const auto [top1, top5] = fill_mask_hits(jobs);
  const json got = eval_json({"--task", "fill-mask", "-m", kMlm, "-d", sentences_file(".txt"), "--mask-rate", "1",
                              "--one-at-a-time"});
  EXPECT_EQ(got["masks"], jobs.size());
  EXPECT_EQ(got["top1"], top1);
  EXPECT_EQ(got["top5"], top5);
  EXPECT_DOUBLE_EQ(got["top1_accuracy"].get<double>(), double(top1) / jobs.size());
  EXPECT_DOUBLE_EQ(got["top5_accuracy"].get<double>(), double(top5) / jobs.size());
  EXPECT_EQ(got["sentences"], kSentences.size());
  EXPECT_EQ(got["mode"], "one-at-a-time");
}

TEST(EvalCli, FillMaskJointAgreesWithFillMaskCommand) {
  std::vector<Job> jobs;
  size_t masks = 0;
  for (const auto& s : kSentences) {
    Job j;
    for (const auto& c : characters(s)) {
      j.text += "[MASK]";
      j.answers.push_back(c);
    }
    masks += j.answers.size();
    jobs.push_back(j);
  }
  const auto [top1, top5] = fill_mask_hits(jobs);
  const json got = eval_json({"--task", "fill-mask", "-m", kMlm, "-d", sentences_file(".jsonl"), "--mask-rate", "1"});
  EXPECT_EQ(got["masks"], masks);
  EXPECT_EQ(got["top1"], top1);
  EXPECT_EQ(got["top5"], top5);
  EXPECT_EQ(got["mode"], "joint");
}

TEST(EvalCli, FillMaskSeedFixesMasksWhateverTheBatching) {
  const std::string data = msra_sample(30);
  const json a = eval_json({"--task", "fill-mask", "-m", kMlm, "-d", data, "--seed", "3"});
  const json b = eval_json({"--task", "fill-mask", "-m", kMlm, "-d", data, "--seed", "3", "--batch-size", "4"});
  for (const char* key : {"masks", "top1", "top5", "skipped_sentences"}) EXPECT_EQ(a[key], b[key]) << key;
  EXPECT_GT(a["masks"].get<long long>(), 30);  // 15% of ~40 characters: several per sentence
  EXPECT_LE(a["top1"].get<long long>(), a["top5"].get<long long>());
  EXPECT_DOUBLE_EQ(a["mask_rate"].get<double>(), 0.15);
}

}  // namespace
}  // namespace tanzhen
