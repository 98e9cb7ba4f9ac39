// NerPipeline end to end on the reference checkpoints: per-token labels/scores against
// transformers.js's token-classification pipeline, CRF tags/entities against ModelScope's
// decoding, per-item errors. Long-text windows: ner_windows_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "reference_records.h"
#include "tanzhen/error.h"
#include "tanzhen/tasks/aggregation.h"
#include "tanzhen/tasks/ner.h"
#include "tanzhen/tasks/ner_decode.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {
namespace {

using testing::clear_top2;
using testing::cut_without_sep;
using testing::matrix_from_json;
using testing::read_reference;
using testing::reference_model;

const NerPipeline& pipeline(const std::string& name) { return testing::reference_ner_pipeline(name); }

std::vector<std::string> texts_of(const std::vector<nlohmann::json>& records) {
  std::vector<std::string> texts;
  for (const auto& r : records) texts.push_back(r["text"].get<std::string>());
  return texts;
}

int argmax(const float* row, int n) { return static_cast<int>(std::max_element(row, row + n) - row); }

// Our per-token argmax label and softmax score against the pipeline's, for every token where the
// reference's top-2 logits are not a near-tie; our logits against ONNX Runtime's.
void check_softmax_parity(const std::string& model) {
  const NerPipeline& p = pipeline(model);
  EXPECT_FALSE(p.is_crf());
  auto records = read_reference(model);
  NerOptions opts;
  opts.keep_logits = opts.keep_encoding = true;
  auto results = p.run(texts_of(records), opts);
  ASSERT_EQ(results.size(), records.size());
  size_t tokens = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& rec = records[i];
    const NerResult& r = results[i];
    ASSERT_TRUE(r.ok()) << r.error_message;
    if (cut_without_sep(rec)) continue;  // not reproducible (see reference_records.h)
    ASSERT_EQ(r.encoding.ids, rec["input_ids"].get<std::vector<int32_t>>()) << rec["id"];
    Matrix ref = matrix_from_json(rec["logits"]);
    ASSERT_EQ(r.logits.rows, ref.rows);
    ASSERT_EQ(r.logits.cols, ref.cols);
    for (size_t k = 0; k < ref.data.size(); ++k)
      ASSERT_NEAR(r.logits.data[k], ref.data[k], 1e-4) << model << " id " << rec["id"] << " value " << k;
    if (!rec.contains("pipeline")) continue;
    std::vector<float> probs(ref.cols);
    for (const auto& tok : rec["pipeline"]) {
      const int t = tok["index"].get<int>();
      if (!clear_top2(ref.row(t), ref.cols)) continue;
      const int label = argmax(r.logits.row(t), r.logits.cols);
      softmax(r.logits.row(t), r.logits.cols, probs.data());
      EXPECT_EQ(p.config().labels[label], tok["entity"].get<std::string>()) << model << " id " << rec["id"] << " token " << t;
      EXPECT_NEAR(probs[label], tok["score"].get<float>(), 1e-4) << model << " id " << rec["id"] << " token " << t;
      ++tokens;
    }
  }
  EXPECT_GT(tokens, 1000u);
}

TEST(NerPipeline, SoftmaxHeadMatchesTokenClassificationPipeline) { check_softmax_parity("tiny-bert-ner"); }

TEST(NerPipeline, F16BioesHeadMatchesTokenClassificationPipeline) {
  check_softmax_parity("tiny-bert-ner-bioes-f16");
  EXPECT_EQ(pipeline("tiny-bert-ner-bioes-f16").tag_scheme(), TagScheme::kBIOES);
  EXPECT_EQ(pipeline("tiny-bert-ner").tag_scheme(), TagScheme::kBIO);
}

TEST(NerPipeline, EntitiesAreSpansOfTheOriginalText) {
  const NerPipeline& p = pipeline("tiny-bert-ner");
  auto records = read_reference("tiny-bert-ner");
  auto results = p.run(texts_of(records), {});
  size_t entities = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const std::u32string text = decode_utf8(records[i]["text"].get<std::string>());
    for (const Entity& e : results[i].entities) {
      ASSERT_LE(0, e.start);
      ASSERT_LT(e.start, e.end);
      ASSERT_LE(e.end, static_cast<int>(text.size()));
      EXPECT_EQ(e.text, encode_utf8(text.substr(e.start, e.end - e.start)));
      EXPECT_TRUE(e.type == "PER" || e.type == "LOC" || e.type == "ORG") << e.type;
      EXPECT_GT(e.score, 0.f);
      EXPECT_LE(e.score, 1.f);
      ++entities;
    }
  }
  EXPECT_GT(entities, 20u);
}

TEST(NerPipeline, CrfMatchesModelScope) {
  const NerPipeline& p = pipeline("tiny-bert-crf-modelscope");
  ASSERT_TRUE(p.is_crf());
  EXPECT_EQ(p.crf().spans, SpanRules::kModelScope);  // a ModelScope checkpoint: its pipeline's rules
  EXPECT_EQ(p.crf().score, CrfParams::EntityScore::kEmissionSoftmax);  // and its pipeline's scores
  EXPECT_EQ(p.tag_scheme(), TagScheme::kBIOES);
  auto records = read_reference("tiny-bert-crf-modelscope");
  NerOptions opts;
  opts.keep_logits = opts.keep_encoding = true;
  opts.truncate = true;  // ModelScope's preprocessor truncates at 512
  auto results = p.run(texts_of(records), opts);
  size_t entities = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& rec = records[i];
    const NerResult& r = results[i];
    ASSERT_TRUE(r.ok()) << r.error_message;
    if (cut_without_sep(rec)) continue;
    ASSERT_EQ(r.encoding.ids, rec["input_ids"].get<std::vector<int32_t>>());
    Matrix ref = matrix_from_json(rec["emissions"]);
    ASSERT_EQ(r.logits.data.size(), ref.data.size());
    for (size_t k = 0; k < ref.data.size(); ++k) ASSERT_NEAR(r.logits.data[k], ref.data[k], 1e-4) << rec["id"];

    // Viterbi with the checkpoint's transitions on the reference's own emissions: exact path.
    const auto word_ids = decoding_word_ids(r.encoding, p.tokenizer().cls_id(), p.tokenizer().sep_id());
    const std::u32string text = decode_utf8(rec["text"].get<std::string>());
    CrfDecoding on_ref = decode_crf(ref, r.encoding, word_ids, text, parse_tags(p.config().labels), p.crf());
    EXPECT_EQ(on_ref.word_first_tokens, rec["word_first_tokens"].get<std::vector<int>>()) << rec["id"];
    std::vector<std::string> ref_path_tags;
    for (int id : on_ref.tags) ref_path_tags.push_back(p.config().labels[id]);
    EXPECT_EQ(ref_path_tags, rec["tags"].get<std::vector<std::string>>()) << rec["id"];

    // The pipeline (our emissions): same tags and entities.
    EXPECT_EQ(r.tags, rec["tags"].get<std::vector<std::string>>()) << rec["id"];
    ASSERT_EQ(r.entities.size(), rec["entities"].size()) << rec["id"];
    for (size_t k = 0; k < r.entities.size(); ++k) {
      const auto& want = rec["entities"][k];
      const Entity& e = r.entities[k];
      EXPECT_EQ(e.type, want["type"].get<std::string>());
      // Start: the first word's first token; end: the end of the last word's last sub-token.
      const int first_token = want["first_token"].get<int>();
      int last_token = want["last_token"].get<int>();
      while (last_token + 1 < static_cast<int>(word_ids.size()) && word_ids[last_token + 1] == word_ids[last_token])
        ++last_token;
      EXPECT_EQ(e.start, r.encoding.offsets[first_token].start) << rec["id"];
      EXPECT_EQ(e.end, r.encoding.offsets[last_token].end) << rec["id"];
      EXPECT_EQ(e.text, encode_utf8(text.substr(e.start, e.end - e.start)));
      EXPECT_NEAR(e.score, want["prob"].get<float>(), 1e-4) << rec["id"];
      ++entities;
    }
  }
  EXPECT_GT(entities, 20u);
}

std::set<std::tuple<std::string, int, int>> entity_set(const NerResult& r) {
  std::set<std::tuple<std::string, int, int>> s;
  for (const Entity& e : r.entities) s.insert({e.type, e.start, e.end});
  return s;
}

TEST(NerPipeline, BadItemsGetErrorsAndTheRestGoOn) {
  const NerPipeline& p = pipeline("tiny-bert-ner");
  auto results = p.run({"张三在北京。", std::string("bad \xff byte"), "", "李四"}, {});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].error_code, "invalid_utf8");
  EXPECT_FALSE(results[1].error_message.empty());
  EXPECT_TRUE(results[2].ok());
  EXPECT_TRUE(results[2].entities.empty());
  EXPECT_TRUE(results[3].ok());
  // Same answers as when run alone.
  EXPECT_EQ(entity_set(results[0]), entity_set(p.run({"张三在北京。"}, {})[0]));
}

TEST(NerPipeline, RejectsBadOptionsAndModels) {
  const NerPipeline& p = pipeline("tiny-bert-ner");
  NerOptions o;
  o.window = 2;
  EXPECT_THROW(p.run({"x"}, o), Error);
  o.window = 513;
  EXPECT_THROW(p.run({"x"}, o), Error);
  o.window = 16;
  o.stride = 15;
  EXPECT_THROW(p.run({"x"}, o), Error);
  try {
    NerPipeline::load(reference_model("tiny-bert-mlm"));
    FAIL() << "an MLM checkpoint loaded as NER";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "wrong_model");
  }
}

TEST(NerPipeline, AggregationStrategiesAgreeOnChinese) {
  const NerPipeline& p = pipeline("tiny-bert-ner");
  auto records = read_reference("tiny-bert-ner");
  std::vector<std::string> texts;
  for (const auto& r : records) {  // texts without "##" pieces: one token per word
    bool one_token_words = r["tokens"].size() > 2 && !cut_without_sep(r);
    for (const auto& t : r["tokens"]) one_token_words = one_token_words && !t.get<std::string>().starts_with("##");
    if (one_token_words) texts.push_back(r["text"].get<std::string>());
  }
  ASSERT_GT(texts.size(), 20u);
  NerOptions first, other;
  auto a = p.run(texts, first);
  for (Aggregation agg : {Aggregation::kAverage, Aggregation::kMax, Aggregation::kSimple}) {
    other.aggregation = agg;
    auto b = p.run(texts, other);
    for (size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ(entity_set(a[i]), entity_set(b[i])) << aggregation_name(agg);
    }
  }
}

}  // namespace
}  // namespace tanzhen
