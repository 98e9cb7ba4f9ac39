// load_checkpoint on the reference safetensors checkpoints, and on safetensors files this test
// writes with the other key layouts and dtypes found in the wild (no prefix, gamma/beta,
// DataParallel, BERT-CRF, ModelScope head.*, BF16), plus the errors a broken folder must give.
#include <gtest/gtest.h>

#include <cmath>

#include "loader_test_util.h"
#include "tanzhen/model/checkpoint.h"
#include "test_paths.h"

namespace tanzhen::testing {
namespace {

using nlohmann::json;

const std::vector<std::string> kNerLabels = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"};

std::vector<uint32_t> first_bits(const Tensor& t, int n) {
  std::vector<uint32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(f32_bits(t.f32()[i]));
  return out;
}

const Checkpoint& reference_ner() {
  static const Checkpoint ck = load_checkpoint(reference_model("tiny-bert-ner"));
  return ck;
}

const Checkpoint& reference_mlm() {
  static const Checkpoint ck = load_checkpoint(reference_model("tiny-bert-mlm"));
  return ck;
}

// Canonical weights renamed by `rename` ("" drops a tensor), in name order.
NamedTensors renamed(const TensorMap& w, const std::function<std::string(const std::string&)>& rename) {
  NamedTensors out;
  for (const auto& [name, t] : w) {
    std::string n = rename(name);
    if (!n.empty()) out.emplace_back(n, t);
  }
  return out;
}

std::string with_bert_prefix(const std::string& canonical) {
  const bool encoder = canonical.rfind("embeddings.", 0) == 0 || canonical.rfind("encoder.", 0) == 0;
  return encoder ? "bert." + canonical : canonical;
}

std::string gamma_beta(std::string name) {
  for (auto [from, to] : {std::pair{"LayerNorm.weight", "LayerNorm.gamma"}, std::pair{"LayerNorm.bias", "LayerNorm.beta"}}) {
    const std::string f = from;
    if (name.size() >= f.size() && name.compare(name.size() - f.size(), f.size(), f) == 0)
      return name.substr(0, name.size() - f.size()) + to;
  }
  return name;
}

Tensor synthetic(std::vector<int64_t> shape, float scale) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>((i * 7919) % 101 - 50);
  return Tensor::from_f32(std::move(shape), std::move(v));
}

// A model folder with the NER reference config (edited) and the given weights.
std::string ner_dir_with(const NamedTensors& tensors, DType dtype = DType::F32,
                         const std::function<void(json&)>& edit = nullptr) {
  const std::string dir = make_model_dir(reference_model("tiny-bert-ner"), edit);
  write_bytes(dir + "/model.safetensors", safetensors_bytes(tensors, dtype));
  return dir;
}

TEST(LoadCheckpoint, ReferenceNerSafetensors) {
  const Checkpoint& ck = reference_ner();
  EXPECT_EQ(ck.weights_file, reference_model("tiny-bert-ner") + "/model.safetensors");
  EXPECT_EQ(ck.config.head, HeadKind::kTokenClassification);
  EXPECT_EQ(ck.config.labels, kNerLabels);
  EXPECT_EQ(ck.weights.size(), 5u + 2 * 16 + 2);
  for (const auto& [name, t] : ck.weights) EXPECT_EQ(t.dtype(), DType::F32) << name;
  EXPECT_EQ(ck.weights.at("embeddings.word_embeddings.weight").shape(), (std::vector<int64_t>{21128, 64}));
  EXPECT_EQ(ck.weights.at("encoder.layer.1.intermediate.dense.weight").shape(), (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(ck.weights.at("encoder.layer.1.output.dense.weight").shape(), (std::vector<int64_t>{64, 256}));
  EXPECT_EQ(ck.weights.at("classifier.weight").shape(), (std::vector<int64_t>{7, 64}));
  // Values read with Python's struct/numpy from the file.
  EXPECT_EQ(first_bits(ck.weights.at("classifier.bias"), 4),
            (std::vector<uint32_t>{1007752121u, 3167468732u, 3190437695u, 1018802266u}));
  EXPECT_EQ(first_bits(ck.weights.at("encoder.layer.1.output.LayerNorm.weight"), 4),
            (std::vector<uint32_t>{1064785679u, 1065530900u, 1065349901u, 1064988062u}));
}

TEST(LoadCheckpoint, ReferenceF16IsConvertedToF32) {
  const Checkpoint ck = load_checkpoint(reference_model("tiny-bert-ner-bioes-f16"));
  EXPECT_EQ(ck.config.head, HeadKind::kTokenClassification);
  ASSERT_EQ(ck.config.labels.size(), 13u);
  EXPECT_EQ(ck.config.labels[12], "S-PER");
  for (const auto& [name, t] : ck.weights) EXPECT_EQ(t.dtype(), DType::F32) << name;
  // F16 values are exact in F32 (numpy: float16 -> float).
  const float* bias = ck.weights.at("classifier.bias").f32();
  EXPECT_EQ(bias[0], 0.0174713134765625f);
  EXPECT_EQ(bias[1], 0.050445556640625f);
  EXPECT_EQ(bias[2], -0.0772705078125f);
  EXPECT_EQ(bias[3], 0.005008697509765625f);
  const float* emb = ck.weights.at("embeddings.word_embeddings.weight").f32();
  EXPECT_EQ(emb[0], 2.388671875f);
  EXPECT_EQ(emb[1], 0.583984375f);
  EXPECT_EQ(emb[2], 0.0201263427734375f);
  EXPECT_EQ(emb[3], 1.2509765625f);
}

TEST(LoadCheckpoint, ReferenceMlmTiesDecoderToWordEmbeddings) {
  const Checkpoint& ck = reference_mlm();
  EXPECT_EQ(ck.config.head, HeadKind::kMaskedLM);
  EXPECT_TRUE(ck.config.labels.empty());
  EXPECT_EQ(ck.weights.size(), 5u + 2 * 16 + 5 + 1);
  const Tensor& dec = ck.weights.at("cls.predictions.decoder.weight");
  EXPECT_EQ(dec.data(), ck.weights.at("embeddings.word_embeddings.weight").data());  // shared, not copied
  EXPECT_EQ(dec.shape(), (std::vector<int64_t>{21128, 96}));
  EXPECT_EQ(first_bits(ck.weights.at("cls.predictions.bias"), 4),
            (std::vector<uint32_t>{3196688147u, 3187657229u, 3196990428u, 3179398034u}));
}

TEST(LoadCheckpoint, NoPrefixAndGammaBetaNames) {
  const std::string dir = ner_dir_with(renamed(reference_ner().weights, gamma_beta));
  const Checkpoint ck = load_checkpoint(dir);
  EXPECT_EQ(ck.config.head, HeadKind::kTokenClassification);
  EXPECT_TRUE(same_weights(ck.weights, reference_ner().weights));
}

TEST(LoadCheckpoint, DataParallelModulePrefix) {
  const std::string dir =
      ner_dir_with(renamed(reference_ner().weights, [](const std::string& n) { return "module." + with_bert_prefix(n); }));
  EXPECT_TRUE(same_weights(load_checkpoint(dir).weights, reference_ner().weights));
}

TEST(LoadCheckpoint, Bf16IsConvertedToF32) {
  const std::string dir = ner_dir_with(renamed(reference_ner().weights, with_bert_prefix), DType::BF16);
  const Checkpoint ck = load_checkpoint(dir);
  ASSERT_EQ(ck.weights.size(), reference_ner().weights.size());
  for (const auto& [name, ref] : reference_ner().weights) {
    const Tensor& t = ck.weights.at(name);
    ASSERT_EQ(t.dtype(), DType::F32);
    ASSERT_EQ(t.shape(), ref.shape());
    for (int64_t i = 0; i < t.numel(); ++i)
      ASSERT_EQ(t.f32()[i], bf16_to_float(float_to_bf16(ref.f32()[i]))) << name << "[" << i << "]";
  }
}

TEST(LoadCheckpoint, F16ConversionCoversEveryBitPattern) {
  // Word embeddings cycling through all 65536 half values (subnormals, infinities, NaNs),
  // compared with Tensor::to_f32's scalar conversion.
  const int64_t n = 21128 * 64;
  auto halves = std::make_shared<std::vector<uint16_t>>(n);
  for (int64_t i = 0; i < n; ++i) (*halves)[i] = static_cast<uint16_t>(i & 0xffff);
  const Tensor f16(DType::F16, {21128, 64}, halves->data(), halves);
  NamedTensors t = renamed(reference_ner().weights, with_bert_prefix);
  for (auto& [name, tensor] : t)
    if (name == "bert.embeddings.word_embeddings.weight") tensor = f16;
  const Checkpoint ck = load_checkpoint(ner_dir_with(t));
  const Tensor& got = ck.weights.at("embeddings.word_embeddings.weight");
  const Tensor want = f16.to_f32();
  ASSERT_EQ(got.dtype(), DType::F32);
  for (int64_t i = 0; i < n; ++i) {
    const float a = got.f32()[i], b = want.f32()[i];
    if (std::isnan(b)) {
      ASSERT_TRUE(std::isnan(a)) << i;
    } else {
      ASSERT_EQ(f32_bits(a), f32_bits(b)) << "half 0x" << std::hex << (i & 0xffff);
    }
  }
}

TEST(LoadCheckpoint, IgnoresPoolerNspAndPositionIds) {
  NamedTensors t = renamed(reference_ner().weights, with_bert_prefix);
  std::vector<int64_t> ids(512);
  for (int i = 0; i < 512; ++i) ids[i] = i;
  auto owner = std::make_shared<std::vector<int64_t>>(ids);
  t.emplace_back("bert.embeddings.position_ids", Tensor(DType::I64, {1, 512}, owner->data(), owner));
  t.emplace_back("bert.pooler.dense.weight", synthetic({64, 64}, 0.01f));
  t.emplace_back("bert.pooler.dense.bias", synthetic({64}, 0.01f));
  t.emplace_back("cls.seq_relationship.weight", synthetic({2, 64}, 0.01f));
  const Checkpoint ck = load_checkpoint(ner_dir_with(t));
  EXPECT_TRUE(same_weights(ck.weights, reference_ner().weights));
}

TEST(LoadCheckpoint, CommunityBertCrfLayout) {
  NamedTensors t = renamed(reference_ner().weights, with_bert_prefix);
  const Tensor trans = synthetic({7, 7}, 0.1f), start = synthetic({7}, 0.2f), end = synthetic({7}, 0.3f);
  t.emplace_back("crf.transitions", trans);
  t.emplace_back("crf.start_transitions", start);
  t.emplace_back("crf.end_transitions", end);
  const Checkpoint ck = load_checkpoint(ner_dir_with(t));
  EXPECT_EQ(ck.config.head, HeadKind::kCrf);
  EXPECT_EQ(ck.config.labels, kNerLabels);
  EXPECT_TRUE(same_tensor(ck.weights.at("crf.transitions"), trans));
  EXPECT_TRUE(same_tensor(ck.weights.at("crf.start_transitions"), start));
  EXPECT_TRUE(same_tensor(ck.weights.at("crf.end_transitions"), end));
  TensorMap without_crf = ck.weights;
  for (auto n : {"crf.transitions", "crf.start_transitions", "crf.end_transitions"}) without_crf.erase(n);
  EXPECT_TRUE(same_weights(without_crf, reference_ner().weights));
}

TEST(LoadCheckpoint, ModelScopeHeadLayoutWithLabelMapping) {
  // Newer ModelScope token-classification models: encoder.* + head.linear.* + head.crf.*.
  NamedTensors t = renamed(reference_ner().weights, [](const std::string& n) {
    if (n.rfind("classifier.", 0) == 0) return "head.linear." + n.substr(11);
    return "encoder." + n;
  });
  const Tensor trans = synthetic({7, 7}, 0.1f);
  t.emplace_back("head.crf.transitions", trans);
  t.emplace_back("head.crf.start_transitions", synthetic({7}, 0.2f));
  t.emplace_back("head.crf.end_transitions", synthetic({7}, 0.3f));
  t.emplace_back("encoder.pooler.dense.weight", synthetic({64, 64}, 0.01f));
  const std::string dir = ner_dir_with(t, DType::F32, [](json& j) { j.erase("id2label"); });
  write_bytes(dir + "/configuration.json", R"({"model": {"type": "transformer-crf"}})");
  write_bytes(dir + "/label_mapping.json",
              R"({"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4, "B-ORG": 5, "I-ORG": 6})");
  const Checkpoint ck = load_checkpoint(dir);
  EXPECT_EQ(ck.config.head, HeadKind::kCrf);
  EXPECT_EQ(ck.config.labels, kNerLabels);
  EXPECT_TRUE(same_tensor(ck.weights.at("crf.transitions"), trans));
  EXPECT_TRUE(same_tensor(ck.weights.at("classifier.weight"), reference_ner().weights.at("classifier.weight")));
  EXPECT_TRUE(same_tensor(ck.weights.at("encoder.layer.1.output.dense.weight"),
                          reference_ner().weights.at("encoder.layer.1.output.dense.weight")));
}

TEST(LoadCheckpoint, RanerLayoutInSafetensors) {
  // Older ModelScope RaNER: encoder.{embeddings,encoder}.* + linear.* + crf.*.
  NamedTensors t = renamed(reference_ner().weights, [](const std::string& n) {
    if (n.rfind("classifier.", 0) == 0) return "linear." + n.substr(11);
    return "encoder." + n;
  });
  t.emplace_back("crf.transitions", synthetic({7, 7}, 0.1f));
  t.emplace_back("crf.start_transitions", synthetic({7}, 0.2f));
  t.emplace_back("crf.end_transitions", synthetic({7}, 0.3f));
  const Checkpoint ck = load_checkpoint(ner_dir_with(t));
  EXPECT_EQ(ck.config.head, HeadKind::kCrf);
  EXPECT_TRUE(same_tensor(ck.weights.at("encoder.layer.0.attention.self.query.weight"),
                          reference_ner().weights.at("encoder.layer.0.attention.self.query.weight")));
}

TEST(LoadCheckpoint, MissingId2LabelNamesLabelsByIndex) {
  const std::string dir = ner_dir_with(renamed(reference_ner().weights, with_bert_prefix), DType::F32,
                                       [](json& j) { j.erase("id2label"); j.erase("label2id"); });
  const Checkpoint ck = load_checkpoint(dir);
  EXPECT_EQ(ck.config.labels, (std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3", "LABEL_4",
                                                        "LABEL_5", "LABEL_6"}));
}

TEST(LoadCheckpoint, BareEncoderHasNoHead) {
  NamedTensors t = renamed(reference_ner().weights,
                           [](const std::string& n) { return n.rfind("classifier.", 0) == 0 ? "" : n; });
  const std::string dir = ner_dir_with(t, DType::F32, [](json& j) { j["architectures"] = {"BertModel"}; });
  const Checkpoint ck = load_checkpoint(dir);
  EXPECT_EQ(ck.config.head, HeadKind::kNone);
  EXPECT_TRUE(ck.config.labels.empty());
  EXPECT_EQ(ck.weights.size(), 5u + 2 * 16);
}

TEST(LoadCheckpoint, MlmDecoderBiasSpellingAndExplicitDecoder) {
  const TensorMap& ref = reference_mlm().weights;
  const Tensor decoder = synthetic({21128, 96}, 0.001f);
  NamedTensors t = renamed(ref, [](const std::string& n) -> std::string {
    if (n == "cls.predictions.decoder.weight") return "";
    if (n == "cls.predictions.bias") return "cls.predictions.decoder.bias";
    return gamma_beta(with_bert_prefix(n));
  });
  t.emplace_back("cls.predictions.decoder.weight", decoder);
  const std::string dir = make_model_dir(reference_model("tiny-bert-mlm"));
  write_bytes(dir + "/model.safetensors", safetensors_bytes(t));
  const Checkpoint ck = load_checkpoint(dir);
  EXPECT_EQ(ck.config.head, HeadKind::kMaskedLM);
  EXPECT_TRUE(same_tensor(ck.weights.at("cls.predictions.decoder.weight"), decoder));
  EXPECT_TRUE(same_tensor(ck.weights.at("cls.predictions.bias"), ref.at("cls.predictions.bias")));
  EXPECT_TRUE(same_tensor(ck.weights.at("cls.predictions.transform.LayerNorm.weight"),
                          ref.at("cls.predictions.transform.LayerNorm.weight")));

  // Both spellings present (transformers saves them tied): cls.predictions.bias wins.
  t.emplace_back("cls.predictions.bias", ref.at("cls.predictions.bias"));
  for (auto& [name, tensor] : t)
    if (name == "cls.predictions.decoder.bias") tensor = synthetic({21128}, 1.0f);
  write_bytes(dir + "/model.safetensors", safetensors_bytes(t));
  EXPECT_TRUE(same_tensor(load_checkpoint(dir).weights.at("cls.predictions.bias"), ref.at("cls.predictions.bias")));
}

// ---- errors a broken checkpoint folder must give ------------------------------------------

TEST(LoadCheckpointErrors, MissingTensorIsNamed) {
  NamedTensors t = renamed(reference_ner().weights, [](const std::string& n) {
    return n == "encoder.layer.1.attention.self.key.bias" ? "" : with_bert_prefix(n);
  });
  const std::string dir = ner_dir_with(t);
  const std::string msg = error_message([&] { load_checkpoint(dir); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, dir + "/model.safetensors")) << msg;
  EXPECT_TRUE(contains(msg, "'bert.encoder.layer.1.attention.self.key.bias' is missing")) << msg;
}

TEST(LoadCheckpointErrors, ShapeDisagreeingWithConfig) {
  const std::string dir = ner_dir_with(renamed(reference_ner().weights, with_bert_prefix), DType::F32,
                                       [](json& j) { j["intermediate_size"] = 128; });
  const std::string msg = error_message([&] { load_checkpoint(dir); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, dir + "/model.safetensors")) << msg;
  EXPECT_TRUE(contains(msg, "'bert.encoder.layer.0.intermediate.dense.weight' has shape [256, 64], expected [128, 64]"))
      << msg;
}

TEST(LoadCheckpointErrors, MisShapedTensor) {
  NamedTensors t = renamed(reference_ner().weights, with_bert_prefix);
  for (auto& [name, tensor] : t)
    if (name == "bert.embeddings.LayerNorm.bias") tensor = synthetic({63}, 1.0f);
  const std::string dir = ner_dir_with(t);
  const std::string msg = error_message([&] { load_checkpoint(dir); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, "'bert.embeddings.LayerNorm.bias' has shape [63], expected [64]")) << msg;
}

TEST(LoadCheckpointErrors, LabelCountDisagreesWithClassifier) {
  const std::string dir = ner_dir_with(renamed(reference_ner().weights, with_bert_prefix), DType::F32, [](json& j) {
    j["id2label"] = {{"0", "O"}, {"1", "B-PER"}, {"2", "I-PER"}};
  });
  const std::string msg = error_message([&] { load_checkpoint(dir); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, "'classifier.weight' has 7 labels but the config lists 3")) << msg;
}

TEST(LoadCheckpointErrors, CrfTransitionsMustMatchLabels) {
  NamedTensors t = renamed(reference_ner().weights, with_bert_prefix);
  t.emplace_back("crf.transitions", synthetic({6, 6}, 0.1f));
  t.emplace_back("crf.start_transitions", synthetic({7}, 0.2f));
  t.emplace_back("crf.end_transitions", synthetic({7}, 0.3f));
  const std::string msg = error_message([&] { load_checkpoint(ner_dir_with(t)); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, "'crf.transitions' has shape [6, 6], expected [7, 7]")) << msg;
}

TEST(LoadCheckpointErrors, LayerBeyondConfig) {
  const std::string dir = ner_dir_with(renamed(reference_ner().weights, with_bert_prefix), DType::F32,
                                       [](json& j) { j["num_hidden_layers"] = 1; });
  const std::string msg = error_message([&] { load_checkpoint(dir); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, "belongs to layer 1 but config.json has num_hidden_layers = 1")) << msg;
}

TEST(LoadCheckpointErrors, IntegerWeightIsRejected) {
  NamedTensors t = renamed(reference_ner().weights, with_bert_prefix);
  auto ints = std::make_shared<std::vector<int32_t>>(7, 1);
  for (auto& [name, tensor] : t)
    if (name == "classifier.bias") tensor = Tensor(DType::I32, {7}, ints->data(), ints);
  const std::string msg = error_message([&] { load_checkpoint(ner_dir_with(t)); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, "'classifier.bias' has unsupported dtype I32")) << msg;
}

TEST(LoadCheckpointErrors, PromisedCrfHeadIsMissing) {
  const std::string dir = ner_dir_with(renamed(reference_ner().weights, with_bert_prefix));
  write_bytes(dir + "/configuration.json", R"({"model": {"type": "transformer-crf"}})");
  const std::string msg = error_message([&] { load_checkpoint(dir); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, "'crf.transitions' is missing")) << msg;
}

TEST(LoadCheckpointErrors, NoEmbeddingsAtAll) {
  NamedTensors t;
  t.emplace_back("classifier.weight", synthetic({7, 64}, 1.0f));
  const std::string msg = error_message([&] { load_checkpoint(ner_dir_with(t)); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, "embeddings.word_embeddings.weight")) << msg;
}

TEST(LoadCheckpointErrors, NoWeightsFile) {
  const std::string dir = make_model_dir(reference_model("tiny-bert-ner"));
  const std::string msg = error_message([&] { load_checkpoint(dir); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, dir)) << msg;
  EXPECT_TRUE(contains(msg, "model.safetensors")) << msg;
}

TEST(LoadCheckpointErrors, BadConfigComesFirst) {
  const std::string dir = ner_dir_with(renamed(reference_ner().weights, with_bert_prefix), DType::F32,
                                       [](json& j) { j["hidden_act"] = "relu"; });
  error_message([&] { load_checkpoint(dir); }, "bad_config");
}

}  // namespace
}  // namespace tanzhen::testing
