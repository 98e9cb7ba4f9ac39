// What a checkpoint folder says about the model: BERT hyper-parameters from config.json, the
// label set (id2label, or ModelScope's label_mapping.json), and which head it carries.
#pragma once
#include <string>
#include <vector>

namespace tanzhen {

enum class HeadKind {
  kNone,                 // bare encoder
  kTokenClassification,  // linear classifier, softmax decoding
  kCrf,                  // linear emissions + CRF (ModelScope RaNER / community BERT-CRF)
  kMaskedLM,             // BertForMaskedLM head
};

struct ModelConfig {
  int vocab_size = 21128;
  int hidden_size = 768;
  int num_layers = 12;
  int num_heads = 12;
  int intermediate_size = 3072;
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  float layer_norm_eps = 1e-12f;
  int pad_token_id = 0;
  std::string hidden_act = "gelu";  // only exact (erf) GELU is supported
  std::vector<std::string> labels;  // index = label id; empty for MLM
  HeadKind head = HeadKind::kNone;
  std::string model_type = "bert";
  // configuration.json names a ModelScope model type (e.g. "transformer-crf"): the checkpoint
  // comes from ModelScope, whose pipelines decode CRF paths with their own span rules.
  bool modelscope = false;
  // config.json "crf_constrained": true: decode the CRF path under the tag scheme's constraints
  // (see forbid_invalid_transitions), as the model was scored in training. Off by default, so
  // other checkpoints decode exactly as their own pipelines do.
  bool crf_constrained = false;
};

// Reads config.json (+ configuration.json / label_mapping.json when present) from `dir`.
// The head kind is decided by the checkpoint loader from the weights; this fills what it can
// from the JSON (architectures, ModelScope model.type). Throws Error on missing/invalid fields.
ModelConfig read_model_config(const std::string& dir);

const char* head_kind_name(HeadKind h);

}  // namespace tanzhen
