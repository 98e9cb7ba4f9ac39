// Reading the reference outputs (../shared/reference/outputs/*.jsonl) in task tests.
#pragma once
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tanzhen/model/bert.h"
#include "tanzhen/tasks/ner.h"
#include "test_paths.h"

namespace tanzhen::testing {

inline std::vector<nlohmann::json> read_reference(const std::string& name) {
  std::ifstream in(reference_output(name));
  std::vector<nlohmann::json> records;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  return records;
}

// Reference records of 512+ tokens were cut at 512 tokens *including* [CLS]/[SEP], so they end
// without [SEP] (id 102): their model outputs cannot be reproduced by any truncation/windowing.
inline bool cut_without_sep(const nlohmann::json& rec) {
  const auto& ids = rec["input_ids"];
  return !ids.empty() && ids.back().get<int>() != 102;
}

// A [rows x cols] JSON array of arrays as a Matrix.
inline Matrix matrix_from_json(const nlohmann::json& rows) {
  Matrix m;
  m.rows = static_cast<int>(rows.size());
  m.cols = m.rows ? static_cast<int>(rows[0].size()) : 0;
  for (const auto& row : rows)
    for (const auto& v : row) m.data.push_back(v.get<float>());
  return m;
}

// Whether the two largest values of a row differ by more than `eps` (decisions are only compared
// where they are not near-ties).
inline bool clear_top2(const float* row, int n, float eps = 1e-4f) {
  float a = -1e30f, b = -1e30f;
  for (int i = 0; i < n; ++i) {
    if (row[i] > a) b = a, a = row[i];
    else if (row[i] > b) b = row[i];
  }
  return n < 2 || a - b > eps;
}

// The NER pipeline of reference checkpoint `name`, loaded once per test binary (loading is the
// slow part of these tests, and the pipelines are read-only).
inline const NerPipeline& reference_ner_pipeline(const std::string& name) {
  static std::map<std::string, std::unique_ptr<NerPipeline>> cache;
  auto& p = cache[name];
  if (!p) p = NerPipeline::load(reference_model(name));
  return *p;
}

}  // namespace tanzhen::testing
