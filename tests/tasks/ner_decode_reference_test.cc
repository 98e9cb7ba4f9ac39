// Decoding parity on the reference models' own head outputs (no encoder involved): per-token
// argmax/softmax against transformers.js's token-classification pipeline, and CRF Viterbi + span
// rules against the PyTorch ModelScope implementation. End-to-end parity (our encoder's logits)
// is in ner_pipeline_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "reference_records.h"
#include "tanzhen/tasks/aggregation.h"
#include "tanzhen/tasks/ner_decode.h"
#include "tanzhen/text/tokenizer.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {
namespace {

using testing::clear_top2;
using testing::matrix_from_json;
using testing::read_reference;
using testing::reference_model;

void check_pipeline_tokens(const std::string& model) {
  size_t compared = 0;
  for (const auto& rec : read_reference(model)) {
    if (!rec.contains("pipeline")) continue;
    Matrix logits = matrix_from_json(rec["logits"]);
    std::vector<float> p(logits.cols);
    for (const auto& tok : rec["pipeline"]) {
      const int index = tok["index"].get<int>();
      const float* row = logits.row(index);
      if (!clear_top2(row, logits.cols)) continue;
      softmax(row, logits.cols, p.data());
      const int best = static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
      EXPECT_NEAR(p[best], tok["score"].get<float>(), 1e-4) << model << " id " << rec["id"] << " token " << index;
      ++compared;
    }
  }
  EXPECT_GT(compared, 1000u);
}

TEST(NerDecodeReference, SoftmaxScoresMatchPipelineOnReferenceLogits) {
  check_pipeline_tokens("tiny-bert-ner");
  check_pipeline_tokens("tiny-bert-ner-bioes-f16");
}

TEST(NerDecodeReference, CrfWordsAndSpansMatchModelScope) {
  const std::string dir = reference_model("tiny-bert-crf-modelscope");
  BertTokenizer tok = BertTokenizer::from_dir(dir);
  // Word segmentation (first sub-token of each word) and the span rules applied to the
  // reference's Viterbi path. Viterbi itself (with the checkpoint's transitions) is compared in
  // ner_pipeline_test.cc.
  size_t entities = 0;
  for (const auto& rec : read_reference("tiny-bert-crf-modelscope")) {
    const std::u32string text = decode_utf8(rec["text"].get<std::string>());
    Encoding enc = tok.encode(text);
    const auto ref_ids = rec["input_ids"].get<std::vector<int32_t>>();
    if (testing::cut_without_sep(rec)) {
      // The reference cut the whole sequence (specials included) at 512 tokens, leaving no [SEP];
      // no pipeline input reproduces that, so only the tokens are compared.
      ASSERT_GT(enc.ids.size(), ref_ids.size());
      EXPECT_TRUE(std::equal(ref_ids.begin(), ref_ids.end(), enc.ids.begin())) << rec["id"];
      continue;
    }
    ASSERT_EQ(enc.ids, ref_ids) << rec["id"];
    EXPECT_EQ(word_first_tokens(decoding_word_ids(enc, tok.cls_id(), tok.sep_id())), rec["word_first_tokens"].get<std::vector<int>>()) << rec["id"];

    // Span rules on the reference path.
    std::vector<Tag> path;
    for (const auto& t : rec["tags"]) path.push_back(parse_tag(t.get<std::string>()));
    std::vector<UnitSpan> spans = decode_spans_modelscope(path);
    ASSERT_EQ(spans.size(), rec["entities"].size()) << rec["id"];
    for (size_t k = 0; k < spans.size(); ++k) {
      const auto& ref = rec["entities"][k];
      EXPECT_EQ(spans[k].type, ref["type"].get<std::string>());
      EXPECT_EQ(spans[k].first, ref["first_word"].get<int>());
      EXPECT_EQ(spans[k].last, ref["last_word"].get<int>());
      ++entities;
    }
  }
  EXPECT_GT(entities, 20u);
}

}  // namespace
}  // namespace tanzhen
