// Accuracy of the reduced-precision encoders (bf16, int8) against the F32 encoder on every
// reference text, measured per model: cosine similarity of each record's logits (flattened),
// largest absolute difference, and how often the per-token argmax agrees. The F32 encoder itself
// matches the reference outputs to 1e-4 (encoder_parity_test.cc), so it is the yardstick.
//
// Thresholds come from measurements (printed on every run; all texts in one batch), with margin:
//   bf16: measured min cosine 0.99999 (ner) / 0.99999 (mlm), argmax 99.93% / 99.91%
//         -> min cosine >= 0.9999, argmax agreement >= 99%
//   int8: measured min cosine 0.99993 (ner) / 0.99986 (mlm), argmax 99.86% / 99.37%
//         -> min cosine >= 0.999,  argmax agreement >= 98%
// (both with attention on bf16 operands, as the reduced-precision encoders run it; int8 with
// activations quantized per row)
#include <cmath>
#include <iostream>
#include <numeric>

#include <gtest/gtest.h>

#include "bf16_support.h"
#include "encoder_reference.h"
#include "tanzhen/error.h"
#include "tanzhen/model/bert.h"
#include "tanzhen/model/checkpoint.h"
#include "test_paths.h"

namespace tanzhen {
namespace {

struct Agreement {
  double min_cosine = 1, sum_cosine = 0, max_abs = 0;
  int64_t records = 0, tokens = 0, argmax_same = 0;

  void add(const Matrix& ref, const Matrix& got) {
    ASSERT_EQ(ref.rows, got.rows);
    ASSERT_EQ(ref.cols, got.cols);
    if (ref.rows == 0) return;
    double dot = 0, nr = 0, ng = 0;
    for (size_t i = 0; i < ref.data.size(); ++i) {
      dot += static_cast<double>(ref.data[i]) * got.data[i];
      nr += static_cast<double>(ref.data[i]) * ref.data[i];
      ng += static_cast<double>(got.data[i]) * got.data[i];
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(ref.data[i]) - got.data[i]));
    }
    const double cos = dot / std::sqrt(nr * ng);
    min_cosine = std::min(min_cosine, cos);
    sum_cosine += cos;
    ++records;
    for (int r = 0; r < ref.rows; ++r) {
      const auto a = std::max_element(ref.row(r), ref.row(r) + ref.cols) - ref.row(r);
      const auto b = std::max_element(got.row(r), got.row(r) + got.cols) - got.row(r);
      argmax_same += a == b;
      ++tokens;
    }
  }
  double agreement() const { return tokens ? static_cast<double>(argmax_same) / tokens : 1; }
};

struct Thresholds {
  double min_cosine, min_agreement;
};

Thresholds thresholds(ComputeType t) {
  return t == ComputeType::kBF16 ? Thresholds{0.9999, 0.99} : Thresholds{0.999, 0.98};
}

void report(const std::string& label, const Agreement& a) {
  std::cout << "[dtype accuracy] " << label << ": min cosine " << a.min_cosine << ", mean cosine "
            << a.sum_cosine / std::max<int64_t>(a.records, 1) << ", max |delta| " << a.max_abs
            << ", argmax agreement " << a.argmax_same << "/" << a.tokens << " ("
            << 100 * a.agreement() << "%)" << std::endl;
  ::testing::Test::RecordProperty("min_cosine", std::to_string(a.min_cosine));
  ::testing::Test::RecordProperty("argmax_agreement", std::to_string(a.agreement()));
}

class DtypeAccuracy : public ::testing::TestWithParam<ComputeType> {};

TEST_P(DtypeAccuracy, TinyBertNerTokenLogits) {
  const ComputeType dtype = GetParam();
  const Checkpoint ckpt = load_checkpoint(testing::reference_model("tiny-bert-ner"));
  if (dtype == ComputeType::kBF16) {
    TANZHEN_SKIP_WITHOUT_BF16([&] { BertEncoder(ckpt, EncoderOptions{0, dtype}); });
  }
  const BertEncoder f32(ckpt);
  const BertEncoder reduced(ckpt, EncoderOptions{0, dtype});
  // One batch, as the service sends them: int8 activation scales then span many texts.
  const auto batch = testing::input_ids(testing::read_reference("tiny-bert-ner"));
  const auto ref = f32.token_logits(batch), got = reduced.token_logits(batch);
  Agreement a;
  for (size_t i = 0; i < batch.size(); ++i) a.add(ref[i], got[i]);
  report(std::string("tiny-bert-ner ") + compute_type_name(dtype), a);
  EXPECT_GE(a.min_cosine, thresholds(dtype).min_cosine);
  EXPECT_GE(a.agreement(), thresholds(dtype).min_agreement);
}

TEST_P(DtypeAccuracy, TinyBertMlmVocabularyLogits) {
  const ComputeType dtype = GetParam();
  const Checkpoint ckpt = load_checkpoint(testing::reference_model("tiny-bert-mlm"));
  if (dtype == ComputeType::kBF16) {
    TANZHEN_SKIP_WITHOUT_BF16([&] { BertEncoder(ckpt, EncoderOptions{0, dtype}); });
  }
  const BertEncoder f32(ckpt);
  const BertEncoder reduced(ckpt, EncoderOptions{0, dtype});
  const auto batch = testing::input_ids(testing::read_reference("tiny-bert-mlm"));
  // Every position, not only the masks: whole vocabulary rows of every text.
  std::vector<std::vector<int>> positions;
  for (const auto& ids : batch) {
    positions.emplace_back(ids.size());
    std::iota(positions.back().begin(), positions.back().end(), 0);
  }
  Agreement a;
  // In slices of texts, to bound the [tokens x vocab] logits held at once.
  for (size_t begin = 0; begin < batch.size(); begin += 16) {
    const size_t end = std::min(batch.size(), begin + 16);
    const std::vector<std::vector<int32_t>> b(batch.begin() + begin, batch.begin() + end);
    const std::vector<std::vector<int>> p(positions.begin() + begin, positions.begin() + end);
    const auto ref = f32.mlm_logits(b, p), got = reduced.mlm_logits(b, p);
    for (size_t i = 0; i < b.size(); ++i) a.add(ref[i], got[i]);
  }
  report(std::string("tiny-bert-mlm ") + compute_type_name(dtype), a);
  EXPECT_GE(a.min_cosine, thresholds(dtype).min_cosine);
  EXPECT_GE(a.agreement(), thresholds(dtype).min_agreement);
}

INSTANTIATE_TEST_SUITE_P(ReducedPrecision, DtypeAccuracy,
                         ::testing::Values(ComputeType::kBF16, ComputeType::kInt8),
                         [](const auto& info) { return std::string(compute_type_name(info.param)); });

TEST(ComputeTypeNames, ParseAndPrint) {
  EXPECT_EQ(parse_compute_type("int8"), ComputeType::kInt8);
  EXPECT_EQ(parse_compute_type("bf16"), ComputeType::kBF16);
  EXPECT_EQ(parse_compute_type("fp32"), ComputeType::kF32);
  EXPECT_STREQ(compute_type_name(ComputeType::kInt8), "int8");
  EXPECT_THROW(parse_compute_type("int4"), Error);
}

}  // namespace
}  // namespace tanzhen
