// bf16 runs where oneDNN has bf16 matrix multiplies (AVX-512 CPUs). On other CPUs the bf16
// tests check instead that asking for bf16 is refused with a clear error, and then report
// themselves skipped (GTEST_SKIP), not passed.
#pragma once
#include <functional>

#include <gtest/gtest.h>

#include "tanzhen/error.h"
#include "tanzhen/kernels/linear.h"

namespace tanzhen::testing {

// True (after checking that `make_bf16` throws Error("unsupported_dtype")) where this CPU has
// no bf16 GEMM; false, doing nothing, where it has one.
inline bool bf16_refused_here(const std::function<void()>& make_bf16) {
  if (kernels::bf16_gemm_supported()) return false;
  try {
    make_bf16();
    ADD_FAILURE() << "bf16 was accepted on a CPU without bf16 GEMMs";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "unsupported_dtype") << e.what();
    EXPECT_NE(std::string(e.what()).find("--dtype fp32"), std::string::npos) << e.what();
  }
  return true;
}

}  // namespace tanzhen::testing

#define TANZHEN_SKIP_WITHOUT_BF16(make_bf16)                                           \
  if (::tanzhen::testing::bf16_refused_here(make_bf16))                               \
  GTEST_SKIP() << "no bf16 GEMM on this CPU (checked that bf16 is refused with a clear error)"
