// The view every panel GEMM (kernels/cpu/gemm_*_{avx512,avx2}.h) takes of its packed weights:
// W {K = in, N = out} (y = x · W) cut into panels of the kernel's output columns, each holding
// padded_in rows of k. Where a k row and a column sit inside a panel is each kernel's layout,
// documented in its header.
#pragma once
#include <cstdint>

namespace tanzhen::kernels {

template <class T>
struct PanelView {
  const T* data = nullptr;  // panel 0; null: no panel kernel for this layer
  int in = 0;               // K, >= 1
  int out = 0;              // N
  int64_t padded_in = 0;    // k rows per panel, >= in
};

}  // namespace tanzhen::kernels
