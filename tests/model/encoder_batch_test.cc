// BertEncoder beyond single sequences: variable-length batches (including ones big enough to
// be split into chunks) must give each sequence what it gets alone; concurrent callers must
// get the same answers as serial ones; bad inputs must raise tanzhen::Error.
#include <numeric>
#include <thread>

#include <gtest/gtest.h>

#include "encoder_reference.h"
#include "tanzhen/error.h"
#include "tanzhen/kernels/gemm.h"
#include "tanzhen/model/bert.h"
#include "tanzhen/model/checkpoint.h"
#include "test_paths.h"

namespace tanzhen {
namespace {

using testing::input_ids;
using testing::max_abs_diff;
using testing::read_reference;

constexpr double kBatchTolerance = 1e-5;
// Vocabulary logits (|logit| up to ~20) where oneDNN's kernels run the encoder's GEMMs (CPUs
// without a panel kernel, see f32_linear_batch_invariant): the project's FP32 logit tolerance.
constexpr double kVocabTolerance = 1e-4;

class EncoderBatch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ner_ = new BertEncoder(load_checkpoint(testing::reference_model("tiny-bert-ner")));
    mlm_ = new BertEncoder(load_checkpoint(testing::reference_model("tiny-bert-mlm")));
  }
  static void TearDownTestSuite() {
    delete ner_;
    delete mlm_;
  }
  static BertEncoder* ner_;
  static BertEncoder* mlm_;
};
BertEncoder* EncoderBatch::ner_ = nullptr;
BertEncoder* EncoderBatch::mlm_ = nullptr;

std::vector<Matrix> one_at_a_time(const BertEncoder& enc,
                                  const std::vector<std::vector<int32_t>>& batch) {
  std::vector<Matrix> out;
  for (const auto& ids : batch) out.push_back(enc.token_logits({ids}).at(0));
  return out;
}

TEST_F(EncoderBatch, TokenLogitsBatchedEqualsSingle) {
  // All 116 reference inputs (4416 tokens, lengths 2..512): more than one chunk.
  const auto batch = input_ids(read_reference("tiny-bert-ner"));
  const auto single = one_at_a_time(*ner_, batch);
  const auto batched = ner_->token_logits(batch);
  const double d = max_abs_diff(single, batched);
  std::cout << "[encoder batch] token_logits batched vs single: max |delta| = " << d << std::endl;
  EXPECT_LE(d, kBatchTolerance);

  // A small mixed batch in another order, with an empty sequence in the middle.
  std::vector<std::vector<int32_t>> mixed = {batch[10], {}, batch[3], batch[50], batch[0]};
  const auto got = ner_->token_logits(mixed);
  ASSERT_EQ(got.size(), mixed.size());
  EXPECT_EQ(got[1].rows, 0);
  EXPECT_EQ(got[1].cols, 7);
  EXPECT_LE(max_abs_diff(got[0], single[10]), kBatchTolerance);
  EXPECT_LE(max_abs_diff(got[2], single[3]), kBatchTolerance);
  EXPECT_LE(max_abs_diff(got[3], single[50]), kBatchTolerance);
  EXPECT_LE(max_abs_diff(got[4], single[0]), kBatchTolerance);
}

TEST_F(EncoderBatch, EncodeBatchedEqualsSingle) {
  const auto batch = input_ids(read_reference("tiny-bert-ner"));
  const auto batched = ner_->encode(batch);
  ASSERT_EQ(batched.size(), batch.size());
  double d = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto single = ner_->encode({batch[i]});
    ASSERT_EQ(single.at(0).rows, static_cast<int>(batch[i].size()));
    ASSERT_EQ(single.at(0).cols, 64);
    d = std::max(d, max_abs_diff(single[0], batched[i]));
  }
  std::cout << "[encoder batch] encode batched vs single: max |delta| = " << d << std::endl;
  EXPECT_LE(d, kBatchTolerance);
}

TEST_F(EncoderBatch, MlmBatchedEqualsSingle) {
  const auto records = read_reference("tiny-bert-mlm");
  const auto batch = input_ids(records);
  // Each sequence asks for its masks, its first and last token, and (for some) nothing.
  std::vector<std::vector<int>> positions;
  for (size_t i = 0; i < batch.size(); ++i) {
    std::vector<int> p = records[i].at("mask_positions").get<std::vector<int>>();
    if (i % 3 != 0) {
      p.push_back(0);
      p.push_back(static_cast<int>(batch[i].size()) - 1);
    }
    positions.push_back(p);
  }
  const auto batched = mlm_->mlm_logits(batch, positions);
  ASSERT_EQ(batched.size(), batch.size());
  double d = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto single = mlm_->mlm_logits({batch[i]}, {positions[i]});
    ASSERT_EQ(single.at(0).rows, static_cast<int>(positions[i].size()));
    ASSERT_EQ(single.at(0).cols, 21128);
    d = std::max(d, max_abs_diff(single[0], batched[i]));
  }
  std::cout << "[encoder batch] mlm_logits batched vs single: max |delta| = " << d << std::endl;
  EXPECT_LE(d, kernels::f32_linear_batch_invariant() ? kBatchTolerance : kVocabTolerance);
}

TEST_F(EncoderBatch, ConcurrentCallersAgreeWithSerial) {
  const auto all = input_ids(read_reference("tiny-bert-ner"));
  const std::vector<std::vector<int32_t>> batch(all.begin(), all.begin() + 40);
  const auto expected = ner_->token_logits(batch);
  std::vector<double> worst(4, 0.0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        // Different sub-batches per thread, so different primitives are made concurrently.
        const size_t begin = static_cast<size_t>(t + rep) % 5;
        std::vector<std::vector<int32_t>> sub(batch.begin() + begin, batch.end());
        const auto got = ner_->token_logits(sub);
        for (size_t i = 0; i < got.size(); ++i) {
          worst[t] = std::max(worst[t], max_abs_diff(got[i], expected[begin + i]));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (double w : worst) EXPECT_LE(w, kBatchTolerance);
}

TEST_F(EncoderBatch, SingleThreadOptionGivesSameResults) {
  const BertEncoder one(load_checkpoint(testing::reference_model("tiny-bert-ner")),
                        EncoderOptions{1});
  const auto batch = input_ids(read_reference("tiny-bert-ner"));
  EXPECT_LE(max_abs_diff(one.token_logits(batch), ner_->token_logits(batch)), kBatchTolerance);
}

TEST_F(EncoderBatch, EmptyBatch) {
  EXPECT_TRUE(ner_->token_logits({}).empty());
  EXPECT_TRUE(ner_->encode({}).empty());
  const auto empty_seq = ner_->encode({{}});
  ASSERT_EQ(empty_seq.size(), 1u);
  EXPECT_EQ(empty_seq[0].rows, 0);
  EXPECT_EQ(empty_seq[0].cols, 64);
  const auto no_positions = mlm_->mlm_logits({{101, 102}}, {{}});
  ASSERT_EQ(no_positions.size(), 1u);
  EXPECT_EQ(no_positions[0].rows, 0);
}

void expect_error(const std::string& code, const std::function<void()>& f) {
  try {
    f();
    ADD_FAILURE() << "expected Error " << code;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
  }
}

TEST_F(EncoderBatch, BadInputsAreErrors) {
  expect_error("bad_token_id", [&] { ner_->token_logits({{101, 21128, 102}}); });
  expect_error("bad_token_id", [&] { ner_->encode({{101, 102}, {-1}}); });
  expect_error("sequence_too_long",
               [&] { ner_->token_logits({std::vector<int32_t>(513, 100)}); });
  expect_error("bad_request", [&] { mlm_->mlm_logits({{101, 102}}, {{2}}); });
  expect_error("bad_request", [&] { mlm_->mlm_logits({{101, 102}}, {{-1}}); });
  expect_error("bad_request", [&] { mlm_->mlm_logits({{101, 102}}, {}); });
  expect_error("wrong_head", [&] { ner_->mlm_logits({{101, 102}}, {{0}}); });
  expect_error("wrong_head", [&] { mlm_->token_logits({{101, 102}}); });
  // A maximal sequence is fine.
  EXPECT_EQ(ner_->token_logits({std::vector<int32_t>(512, 100)}).at(0).rows, 512);
}

}  // namespace
}  // namespace tanzhen
