// FP32 GEMM for the encoder's linear layers on CPUs with AVX2 + FMA but no AVX-512, on weights
// in 16-column panels.
//
// Why not oneDNN's matmul there: oneDNN 2.6 has no kernel for pre-packed F32 weights on AVX2
// (its AVX2 matmul repacks the weights on every call) and it is then slower than ONNX Runtime
// on short requests (BERT-base, 2 threads, AVX2 EPYC: 1x32 68.8 ms vs ORT's 45.8). And its
// sums depend on the row count. Here each output row's arithmetic depends on K only, never on
// M or the thread split, so a sequence gets bit-identical results alone or in any batch, as
// with avx512::gemm_f32_panels.
#pragma once
#include <cstdint>

#include "tanzhen/kernels/cpu/panel_weights.h"

namespace tanzhen::kernels::avx2 {

// Output columns per panel: two 8-float vectors.
inline constexpr int kPanelCols = 16;

// Weights W {K = in, N = out} (y = x · W) in panels of kPanelCols output columns: row k of
// panel p at data[(p * padded_in + k) * kPanelCols]. That is oneDNN's "BA16a16b" layout, which
// oneDNN's reorder writes (gemm.cc). Columns past `out` in the last panel are padding.
using PanelWeights = PanelView<float>;

// y[rows x out] = act(x[rows x in] · W + bias), x and y row-major and dense; bias [out] or
// null; gelu: the exact (erf) GELU. Runs on the calling thread's OpenMP team. Needs AVX2 and
// FMA (cpu_has_avx2()).
void gemm_f32_panels(const float* x, int64_t rows, const PanelWeights& w, const float* bias,
                     bool gelu, float* y);

}  // namespace tanzhen::kernels::avx2
