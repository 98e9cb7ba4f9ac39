// read_model_config on the reference folders and on hand-written config.json variants.
#include <gtest/gtest.h>

#include "loader_test_util.h"
#include "tanzhen/model/config.h"
#include "test_paths.h"

namespace tanzhen::testing {
namespace {

using nlohmann::json;

TEST(ModelConfig, ReadsReferenceNerConfig) {
  const ModelConfig c = read_model_config(reference_model("tiny-bert-ner"));
  EXPECT_EQ(c.vocab_size, 21128);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.intermediate_size, 256);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-12f);
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_EQ(c.model_type, "bert");
  EXPECT_EQ(c.labels, (std::vector<std::string>{"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"}));
  EXPECT_EQ(c.head, HeadKind::kTokenClassification);  // from "architectures"
}

TEST(ModelConfig, ReadsReferenceMlmAndModelScopeConfigs) {
  const ModelConfig mlm = read_model_config(reference_model("tiny-bert-mlm"));
  EXPECT_EQ(mlm.hidden_size, 96);
  EXPECT_EQ(mlm.num_heads, 6);
  EXPECT_EQ(mlm.intermediate_size, 384);
  EXPECT_TRUE(mlm.labels.empty());
  EXPECT_EQ(mlm.head, HeadKind::kMaskedLM);

  // config.json says BertModel; configuration.json's model.type "transformer-crf" says CRF.
  const ModelConfig crf = read_model_config(reference_model("tiny-bert-crf-modelscope"));
  EXPECT_EQ(crf.head, HeadKind::kCrf);
  EXPECT_TRUE(crf.modelscope);
  EXPECT_FALSE(mlm.modelscope);
  ASSERT_EQ(crf.labels.size(), 13u);
  EXPECT_EQ(crf.labels[0], "O");
  EXPECT_EQ(crf.labels[4], "S-LOC");
  EXPECT_EQ(crf.labels[12], "S-PER");
}

// "L<i>", built by appending: GCC 12 warns (-Wrestrict, falsely) on `"L" + std::to_string(i)`.
std::string label_name(int i) { return std::string("L").append(std::to_string(i)); }

TEST(ModelConfig, Id2LabelIsOrderedByNumericId) {
  const std::string dir = make_model_dir(reference_model("tiny-bert-ner"), [](json& j) {
    j["id2label"] = json::object();
    // "10" < "2" as strings; ids must be compared as numbers.
    for (int i = 0; i <= 11; ++i) j["id2label"][std::to_string(i)] = label_name(i);
  });
  const ModelConfig c = read_model_config(dir);
  ASSERT_EQ(c.labels.size(), 12u);
  for (int i = 0; i <= 11; ++i) EXPECT_EQ(c.labels[i], label_name(i));
}

TEST(ModelConfig, OptionalFieldsTakeBertDefaults) {
  const std::string dir = make_model_dir(reference_model("tiny-bert-ner"), [](json& j) {
    for (const char* k : {"max_position_embeddings", "type_vocab_size", "layer_norm_eps", "pad_token_id",
                          "hidden_act", "model_type", "architectures", "id2label", "label2id"})
      j.erase(k);
  });
  const ModelConfig c = read_model_config(dir);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-12f);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_TRUE(c.labels.empty());
  EXPECT_EQ(c.head, HeadKind::kNone);
}

TEST(ModelConfig, ModelScopeLabelMappingAndModelType) {
  const std::string dir = make_model_dir(reference_model("tiny-bert-ner"), [](json& j) {
    j["architectures"] = {"BertModel"};
    j["id2label"] = {{"0", "LABEL_0"}, {"1", "LABEL_1"}};  // transformers' default, to be overridden
  });
  write_bytes(dir + "/configuration.json", R"({"framework": "pytorch", "task": "named-entity-recognition",
      "model": {"type": "transformer-crf"}})");
  write_bytes(dir + "/label_mapping.json", R"({"B-PER": 1, "O": 0, "S-PER": 3, "E-PER": 2})");
  const ModelConfig c = read_model_config(dir);
  EXPECT_EQ(c.head, HeadKind::kCrf);
  EXPECT_TRUE(c.modelscope);
  EXPECT_EQ(c.labels, (std::vector<std::string>{"O", "B-PER", "E-PER", "S-PER"}));
}

TEST(ModelConfig, ArchitecturesGiveTheHeadHint) {
  auto head_for = [](const std::string& arch) {
    const std::string dir =
        make_model_dir(reference_model("tiny-bert-ner"), [&](json& j) { j["architectures"] = {arch}; });
    return read_model_config(dir).head;
  };
  EXPECT_EQ(head_for("BertForTokenClassification"), HeadKind::kTokenClassification);
  EXPECT_EQ(head_for("BertCrfForNer"), HeadKind::kCrf);
  // A Hugging Face-layout CRF model (tanzhen's own) is not a ModelScope checkpoint.
  EXPECT_FALSE(read_model_config(make_model_dir(reference_model("tiny-bert-ner"), [](json& j) {
                 j["architectures"] = {"BertCrfForTokenClassification"};
               })).modelscope);
  EXPECT_EQ(head_for("BertForMaskedLM"), HeadKind::kMaskedLM);
  // Constrained CRF decoding is what a config.json asks for; off when it says nothing.
  EXPECT_FALSE(read_model_config(reference_model("tiny-bert-ner")).crf_constrained);
  EXPECT_TRUE(read_model_config(make_model_dir(reference_model("tiny-bert-ner"), [](json& j) {
                j["crf_constrained"] = true;
              })).crf_constrained);
  EXPECT_EQ(head_for("BertForPreTraining"), HeadKind::kMaskedLM);
  EXPECT_EQ(head_for("BertModel"), HeadKind::kNone);
}

TEST(ModelConfig, HeadKindNames) {
  EXPECT_STREQ(head_kind_name(HeadKind::kNone), "encoder");
  EXPECT_STREQ(head_kind_name(HeadKind::kTokenClassification), "token-classification");
  EXPECT_STREQ(head_kind_name(HeadKind::kCrf), "crf");
  EXPECT_STREQ(head_kind_name(HeadKind::kMaskedLM), "masked-lm");
}

// Each edit must be rejected as bad_config with a message naming config.json and `what`.
struct BadCase {
  const char* name;
  std::function<void(json&)> edit;
  const char* what;
};

TEST(ModelConfig, RejectsInvalidConfigs) {
  const std::vector<BadCase> cases = {
      {"heads do not divide hidden", [](json& j) { j["num_attention_heads"] = 5; }, "multiple of num_attention_heads"},
      {"approximate gelu", [](json& j) { j["hidden_act"] = "gelu_new"; }, "gelu_new"},
      {"relu", [](json& j) { j["hidden_act"] = "relu"; }, "hidden_act"},
      {"roberta", [](json& j) { j["model_type"] = "roberta"; }, "roberta"},
      {"missing vocab", [](json& j) { j.erase("vocab_size"); }, "vocab_size"},
      {"zero hidden", [](json& j) { j["hidden_size"] = 0; }, "hidden_size"},
      {"negative layers", [](json& j) { j["num_hidden_layers"] = -2; }, "num_hidden_layers"},
      {"absurd layers", [](json& j) { j["num_hidden_layers"] = 100000; }, "num_hidden_layers"},
      {"absurd vocab", [](json& j) { j["vocab_size"] = 1LL << 40; }, "vocab_size"},
      {"huge unsigned", [](json& j) { j["intermediate_size"] = 18446744073709551615ULL; }, "intermediate_size"},
      {"float size", [](json& j) { j["hidden_size"] = 64.5; }, "hidden_size"},
      {"string size", [](json& j) { j["hidden_size"] = "64"; }, "hidden_size"},
      {"pad outside vocab", [](json& j) { j["pad_token_id"] = 21128; }, "pad_token_id"},
      {"negative eps", [](json& j) { j["layer_norm_eps"] = -1e-5; }, "layer_norm_eps"},
      {"relative positions", [](json& j) { j["position_embedding_type"] = "relative_key"; }, "position_embedding_type"},
      {"id2label gap", [](json& j) { j["id2label"] = {{"0", "O"}, {"2", "B-PER"}}; }, "missing id 1"},
      {"id2label key", [](json& j) { j["id2label"] = {{"zero", "O"}}; }, "zero"},
      {"id2label value", [](json& j) { j["id2label"] = {{"0", 7}}; }, "id2label[0]"},
      {"architectures type", [](json& j) { j["architectures"] = "BertModel"; }, "architectures"},
      {"crf_constrained as a string", [](json& j) { j["crf_constrained"] = "yes"; }, "crf_constrained"},
      {"sequence classifier", [](json& j) { j["architectures"] = {"BertForSequenceClassification"}; },
       "BertForSequenceClassification is not supported"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string dir = make_model_dir(reference_model("tiny-bert-ner"), c.edit);
    const std::string msg = error_message([&] { read_model_config(dir); }, "bad_config");
    EXPECT_TRUE(contains(msg, dir + "/config.json")) << msg;
    EXPECT_TRUE(contains(msg, c.what)) << msg;
  }
}

TEST(ModelConfig, RejectsUnreadableFiles) {
  const std::string empty = make_temp_dir("tanzhen-config");
  EXPECT_TRUE(contains(error_message([&] { read_model_config(empty); }, "bad_config"), empty + "/config.json"));

  const std::string garbage = make_temp_dir("tanzhen-config");
  write_bytes(garbage + "/config.json", "{\"vocab_size\": 21128,");
  EXPECT_TRUE(contains(error_message([&] { read_model_config(garbage); }, "bad_config"), "not valid JSON"));

  const std::string list = make_temp_dir("tanzhen-config");
  write_bytes(list + "/config.json", "[1, 2]");
  EXPECT_TRUE(contains(error_message([&] { read_model_config(list); }, "bad_config"), "object"));

  const std::string bad_mapping = make_model_dir(reference_model("tiny-bert-ner"));
  write_bytes(bad_mapping + "/label_mapping.json", R"({"O": 0, "B-PER": 0})");
  EXPECT_TRUE(contains(error_message([&] { read_model_config(bad_mapping); }, "bad_config"),
                       bad_mapping + "/label_mapping.json"));

  const std::string bad_ms = make_model_dir(reference_model("tiny-bert-ner"));
  write_bytes(bad_ms + "/configuration.json", "{model");
  EXPECT_TRUE(contains(error_message([&] { read_model_config(bad_ms); }, "bad_config"),
                       bad_ms + "/configuration.json"));
}

}  // namespace
}  // namespace tanzhen::testing
