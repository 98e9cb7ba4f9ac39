// Pre-quantized checkpoints: `write_quantized_checkpoint` then `load_quantized_checkpoint` gives
// an encoder whose outputs are identical (bit for bit) to quantizing the F32 checkpoint at load,
// the file is several times smaller, and the folder keeps its config / vocab / label files. A
// bf16 folder on a CPU without bf16 matrix multiplies runs at F32 on its widened weights.
#include <filesystem>

#include <gtest/gtest.h>

#include "tanzhen/kernels/linear.h"
#include "encoder_reference.h"
#include "tanzhen/error.h"
#include "tanzhen/model/bert.h"
#include "tanzhen/model/checkpoint.h"
#include "tanzhen/model/quantized_checkpoint.h"
#include "test_paths.h"

namespace tanzhen {
namespace {

namespace fs = std::filesystem;

// Bytes of the F32 weights, a tied decoder (the word-embedding tensor itself) counted once.
uint64_t f32_weights_bytes(const Checkpoint& c) {
  uint64_t n = 0;
  const void* word = c.weights.at("embeddings.word_embeddings.weight").data();
  for (const auto& [name, t] : c.weights) {
    if (name == "cls.predictions.decoder.weight" && t.data() == word) continue;
    n += t.nbytes();
  }
  return n;
}

struct Case {
  std::string model;
  ComputeType dtype;
  double min_shrink;  // F32 bytes / quantized bytes at least
};

class QuantizedRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizedRoundTrip, LoadsAndMatchesOnTheFlyQuantization) {
  const Case& c = GetParam();
  const std::string src = testing::reference_model(c.model);
  const std::string out = testing::make_temp_dir("quantized-" + c.model);
  const QuantizeSummary s = write_quantized_checkpoint(src, c.dtype, out);

  // The folder: declared quantization, non-weight files copied, weights smaller.
  EXPECT_EQ(checkpoint_quantization(out),
            c.dtype == ComputeType::kInt8 ? kQuantizationInt8 : kQuantizationBf16);
  EXPECT_FALSE(is_quantized_checkpoint(src));
  for (const auto& e : fs::directory_iterator(src)) {
    const std::string ext = e.path().extension().string();
    if (ext == ".bin" || ext == ".safetensors") continue;
    EXPECT_TRUE(fs::exists(fs::path(out) / e.path().filename())) << e.path();
  }
  EXPECT_FALSE(fs::exists(fs::path(out) / "pytorch_model.bin"));
  const Checkpoint f32 = load_checkpoint(src);
  const double shrink = static_cast<double>(f32_weights_bytes(f32)) / fs::file_size(s.weights_file);
  std::cout << "[quantized] " << c.model << " " << compute_type_name(c.dtype) << ": "
            << fs::file_size(s.weights_file) << " bytes, " << shrink << "x smaller than F32"
            << std::endl;
  EXPECT_GE(shrink, c.min_shrink);

  const Checkpoint q = load_any_checkpoint(out);
  EXPECT_EQ(q.config.head, f32.config.head);
  EXPECT_EQ(q.config.labels, f32.config.labels);
  EXPECT_EQ(q.weights.at("encoder.layer.0.intermediate.dense.weight").dtype(),
            c.dtype == ComputeType::kInt8 ? DType::I8 : DType::BF16);
  if (c.dtype == ComputeType::kBF16 && !kernels::bf16_gemm_supported()) {
    // No bf16 matrix multiply on this CPU: the folder still loads, and runs at F32 on its weights
    // widened (exactly), so it must equal the F32 model with those weights rounded to bf16.
    Checkpoint rounded = f32;
    for (const auto& [name, t] : q.weights) {
      if (t.dtype() == DType::BF16) rounded.weights[name] = t.to_f32();
    }
    const BertEncoder loaded(q), reference(rounded), exact(f32);
    EXPECT_EQ(loaded.compute_type(), ComputeType::kF32);
    const auto batch = testing::input_ids(testing::read_reference(c.model));
    const auto a = loaded.token_logits(batch);
    EXPECT_EQ(testing::max_abs_diff(a, reference.token_logits(batch)), 0.0);
    EXPECT_GT(testing::max_abs_diff(a, exact.token_logits(batch)), 0.0);  // really rounded
    return;
  }

  const BertEncoder loaded(q);  // runs at the stored precision whatever opts.dtype says
  const BertEncoder on_the_fly(f32, EncoderOptions{0, c.dtype});
  const BertEncoder exact(f32);
  const auto batch = testing::input_ids(testing::read_reference(c.model));
  if (f32.config.head == HeadKind::kMaskedLM) {
    std::vector<std::vector<int>> positions;
    for (const auto& ids : batch) positions.push_back({0, static_cast<int>(ids.size()) - 1});
    const auto a = loaded.mlm_logits(batch, positions), b = on_the_fly.mlm_logits(batch, positions);
    EXPECT_EQ(testing::max_abs_diff(a, b), 0.0);
    EXPECT_GT(testing::max_abs_diff(a, exact.mlm_logits(batch, positions)), 0.0);  // really reduced
  } else {
    const auto a = loaded.token_logits(batch), b = on_the_fly.token_logits(batch);
    EXPECT_EQ(testing::max_abs_diff(a, b), 0.0);
    EXPECT_GT(testing::max_abs_diff(a, exact.token_logits(batch)), 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, QuantizedRoundTrip,
    ::testing::Values(Case{"tiny-bert-ner", ComputeType::kInt8, 3.3},
                      Case{"tiny-bert-ner", ComputeType::kBF16, 1.9},
                      Case{"tiny-bert-mlm", ComputeType::kInt8, 3.3},
                      Case{"tiny-bert-crf-modelscope", ComputeType::kInt8, 3.3}),
    [](const auto& info) {
      std::string name = info.param.model + "_" + compute_type_name(info.param.dtype);
      for (char& ch : name) if (ch == '-') ch = '_';
      return name;
    });

TEST(QuantizedCheckpoint, RefusesBadRequests) {
  const std::string src = testing::reference_model("tiny-bert-ner");
  const std::string out = testing::make_temp_dir("quantized-errors");
  EXPECT_THROW(write_quantized_checkpoint(src, ComputeType::kF32, out), Error);
  write_quantized_checkpoint(src, ComputeType::kInt8, out);
  // Quantizing twice, or writing over the source folder, is refused.
  EXPECT_THROW(write_quantized_checkpoint(out, ComputeType::kInt8, out + "-again"), Error);
  EXPECT_THROW(write_quantized_checkpoint(out, ComputeType::kBF16, out), Error);
  // A plain F32 folder is not a quantized checkpoint.
  EXPECT_THROW(load_quantized_checkpoint(src), Error);
}

TEST(QuantizedCheckpoint, QuantizedTensorNames) {
  EXPECT_TRUE(is_quantized_tensor("encoder.layer.0.attention.self.query.weight"));
  EXPECT_TRUE(is_quantized_tensor("encoder.layer.11.output.dense.weight"));
  EXPECT_TRUE(is_quantized_tensor("embeddings.word_embeddings.weight"));
  EXPECT_FALSE(is_quantized_tensor("encoder.layer.0.output.dense.bias"));
  EXPECT_FALSE(is_quantized_tensor("encoder.layer.0.output.LayerNorm.weight"));
  EXPECT_FALSE(is_quantized_tensor("classifier.weight"));
  EXPECT_FALSE(is_quantized_tensor("cls.predictions.transform.dense.weight"));
}

}  // namespace
}  // namespace tanzhen
