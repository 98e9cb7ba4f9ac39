// Test helpers for the encoder: the reference outputs (../shared/reference/outputs/*.jsonl),
// whose stored input_ids are the encoder's inputs, and comparisons against them.
#pragma once
#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tanzhen/model/bert.h"
#include "test_paths.h"

namespace tanzhen::testing {

inline std::vector<nlohmann::json> read_reference(const std::string& model) {
  std::ifstream in(reference_output(model));
  EXPECT_TRUE(in.good()) << reference_output(model);
  std::vector<nlohmann::json> records;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  }
  return records;
}

inline std::vector<std::vector<int32_t>> input_ids(const std::vector<nlohmann::json>& records) {
  std::vector<std::vector<int32_t>> batch;
  for (const auto& r : records) batch.push_back(r.at("input_ids").get<std::vector<int32_t>>());
  return batch;
}

// max |a - b| over two matrices of the same shape (shape mismatch fails the test).
inline double max_abs_diff(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  if (a.rows != b.rows || a.cols != b.cols) return INFINITY;
  double d = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    d = std::max(d, std::fabs(static_cast<double>(a.data[i]) - b.data[i]));
  }
  return d;
}

inline double max_abs_diff(const std::vector<Matrix>& a, const std::vector<Matrix>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, max_abs_diff(a[i], b[i]));
  return d;
}

// max |got - reference[key]| where reference[key] is a [len x cols] nested list.
inline double max_abs_diff(const Matrix& got, const nlohmann::json& expected) {
  EXPECT_EQ(static_cast<size_t>(got.rows), expected.size());
  if (static_cast<size_t>(got.rows) != expected.size()) return INFINITY;
  double d = 0;
  for (int r = 0; r < got.rows; ++r) {
    EXPECT_EQ(static_cast<size_t>(got.cols), expected[r].size());
    if (static_cast<size_t>(got.cols) != expected[r].size()) return INFINITY;
    for (int c = 0; c < got.cols; ++c) {
      d = std::max(d, std::fabs(static_cast<double>(got.row(r)[c]) - expected[r][c].get<double>()));
    }
  }
  return d;
}

}  // namespace tanzhen::testing
