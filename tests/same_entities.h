// Compares two JSON entity lists from the CLI or the server: the same entities, and the same
// scores to the bit where the encoder is batch-invariant (kernels::f32_linear_batch_invariant:
// AVX-512 or AVX2), else to 1e-5 (oneDNN's kernels may sum a text's GEMMs in another order when
// it runs alone than when it shares a batch).
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tanzhen/kernels/gemm.h"

namespace tanzhen::testing {

inline void expect_same_entities(const nlohmann::json& got, const nlohmann::json& want) {
  if (kernels::f32_linear_batch_invariant()) {
    EXPECT_EQ(got, want);
    return;
  }
  ASSERT_EQ(got.size(), want.size()) << got.dump() << " vs " << want.dump();
  for (size_t i = 0; i < got.size(); ++i) {
    for (const char* key : {"type", "start", "end", "text"}) {
      EXPECT_EQ(got[i][key], want[i][key]) << key << " of entity " << i;
    }
    EXPECT_NEAR(got[i]["score"].get<double>(), want[i]["score"].get<double>(), 1e-5);
  }
}

}  // namespace tanzhen::testing
