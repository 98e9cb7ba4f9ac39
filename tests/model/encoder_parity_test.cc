// BertEncoder against the reference outputs: ONNX Runtime logits for the NER models, PyTorch
// emissions for the ModelScope CRF model, and MLM top-10 / row means. Every record is encoded
// on its own; the tolerance is the README's 1e-4 absolute. The max delta per model is printed
// and recorded as a test property.
#include <filesystem>
#include <iostream>
#include <numeric>

#include <gtest/gtest.h>

#include "encoder_reference.h"
#include "tanzhen/model/bert.h"
#include "tanzhen/model/checkpoint.h"
#include "test_paths.h"

namespace tanzhen {
namespace {

namespace fs = std::filesystem;
using testing::max_abs_diff;
using testing::read_reference;

constexpr double kTolerance = 1e-4;

void report(const std::string& label, double max_delta) {
  std::cout << "[encoder parity] " << label << ": max |delta| = " << max_delta << std::endl;
  ::testing::Test::RecordProperty("max_delta", std::to_string(max_delta));
}

// Per-token head outputs (logits or CRF emissions) of every record, one record per call.
void check_token_head(const std::string& model_dir, const std::string& reference,
                      const std::string& key, const std::string& expected_weights_file,
                      const std::string& label) {
  const Checkpoint ckpt = load_checkpoint(model_dir);
  EXPECT_EQ(fs::path(ckpt.weights_file).filename(), expected_weights_file);
  const BertEncoder encoder(ckpt);
  const auto records = read_reference(reference);
  ASSERT_FALSE(records.empty());
  double worst = 0;
  for (const auto& rec : records) {
    const auto ids = rec.at("input_ids").get<std::vector<int32_t>>();
    const auto got = encoder.token_logits({ids});
    ASSERT_EQ(got.size(), 1u);
    const double d = max_abs_diff(got[0], rec.at(key));
    EXPECT_LE(d, kTolerance) << label << " record " << rec.at("id");
    worst = std::max(worst, d);
  }
  report(label, worst);
}

TEST(EncoderParity, TinyBertNerSafetensors) {
  check_token_head(testing::reference_model("tiny-bert-ner"), "tiny-bert-ner", "logits",
                   "model.safetensors", "tiny-bert-ner (model.safetensors) logits");
}

TEST(EncoderParity, TinyBertNerTorchZip) {
  // load_checkpoint prefers model.safetensors, so the .bin is read from a copy without it.
  const fs::path src = testing::reference_model("tiny-bert-ner");
  const fs::path dir = testing::make_temp_dir("encoder-ner-bin");
  for (const char* f : {"config.json", "pytorch_model.bin"}) fs::copy_file(src / f, dir / f);
  check_token_head(dir.string(), "tiny-bert-ner", "logits", "pytorch_model.bin",
                   "tiny-bert-ner (pytorch_model.bin) logits");
  fs::remove_all(dir);
}

TEST(EncoderParity, TinyBertNerBioesF16) {
  check_token_head(testing::reference_model("tiny-bert-ner-bioes-f16"), "tiny-bert-ner-bioes-f16",
                   "logits", "model.safetensors", "tiny-bert-ner-bioes-f16 logits");
}

TEST(EncoderParity, TinyBertCrfModelscopeEmissions) {
  check_token_head(testing::reference_model("tiny-bert-crf-modelscope"),
                   "tiny-bert-crf-modelscope", "emissions", "pytorch_model.bin",
                   "tiny-bert-crf-modelscope emissions");
}

// Masked LM, all positions requested: row means at every position, and the top-10 [id, logit]
// at each mask — the logit of each listed id must match, and no other id may beat the 10th by
// more than the tolerance (so the ranking agrees up to near-ties).
void check_mlm(const std::string& model_dir, const std::string& expected_weights_file,
               const std::string& label) {
  const Checkpoint ckpt = load_checkpoint(model_dir);
  EXPECT_EQ(fs::path(ckpt.weights_file).filename(), expected_weights_file);
  const BertEncoder encoder(ckpt);
  const auto records = read_reference("tiny-bert-mlm");
  ASSERT_FALSE(records.empty());
  double worst_mean = 0, worst_top = 0;
  int masks = 0;
  for (const auto& rec : records) {
    const auto ids = rec.at("input_ids").get<std::vector<int32_t>>();
    std::vector<int> all(ids.size());
    std::iota(all.begin(), all.end(), 0);
    const auto got = encoder.mlm_logits({ids}, {all});
    ASSERT_EQ(got.size(), 1u);
    const Matrix& logits = got[0];
    ASSERT_EQ(logits.rows, static_cast<int>(ids.size()));
    ASSERT_EQ(logits.cols, ckpt.config.vocab_size);

    const auto& row_mean = rec.at("row_mean");
    ASSERT_EQ(row_mean.size(), ids.size());
    for (int r = 0; r < logits.rows; ++r) {
      double sum = 0;
      for (int v = 0; v < logits.cols; ++v) sum += logits.row(r)[v];
      const double d = std::fabs(sum / logits.cols - row_mean[r].get<double>());
      EXPECT_LE(d, kTolerance) << label << " record " << rec.at("id") << " row " << r;
      worst_mean = std::max(worst_mean, d);
    }

    const auto& positions = rec.at("mask_positions");
    const auto& top10 = rec.at("mask_top10");
    ASSERT_EQ(positions.size(), top10.size());
    for (size_t m = 0; m < positions.size(); ++m, ++masks) {
      const float* row = logits.row(positions[m].get<int>());
      std::vector<bool> listed(logits.cols, false);
      for (const auto& pair : top10[m]) {
        const int id = pair[0].get<int>();
        listed[id] = true;
        const double d = std::fabs(row[id] - pair[1].get<double>());
        EXPECT_LE(d, kTolerance) << label << " record " << rec.at("id") << " id " << id;
        worst_top = std::max(worst_top, d);
      }
      const double tenth = top10[m].back()[1].get<double>();
      for (int v = 0; v < logits.cols; ++v) {
        if (!listed[v]) {
          EXPECT_LE(row[v], tenth + kTolerance)
              << label << " record " << rec.at("id") << ": id " << v << " would be in the top 10";
        }
      }
    }
  }
  EXPECT_GT(masks, 0);
  report(label + " row_mean", worst_mean);
  report(label + " mask_top10", worst_top);
}

TEST(EncoderParity, TinyBertMlmSafetensors) {
  check_mlm(testing::reference_model("tiny-bert-mlm"), "model.safetensors",
            "tiny-bert-mlm (model.safetensors)");
}

TEST(EncoderParity, TinyBertMlmTorchLegacy) {
  const fs::path src = testing::reference_model("tiny-bert-mlm");
  const fs::path dir = testing::make_temp_dir("encoder-mlm-bin");
  for (const char* f : {"config.json", "pytorch_model.bin"}) fs::copy_file(src / f, dir / f);
  check_mlm(dir.string(), "pytorch_model.bin", "tiny-bert-mlm (legacy pytorch_model.bin)");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tanzhen
