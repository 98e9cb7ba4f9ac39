// FP32 GEMM for the encoder's linear layers, AVX-512, on weights in 64-column panels.
//
// Why not oneDNN's matmul, which packs the same weights: for a short request the GEMM streams
// every weight from memory exactly once (BERT-base: 340 MB per call), and oneDNN's kernel
// computes and waits for that memory in turn. This one prefetches the next block of weights
// into L1 while it multiplies the current one. Measured here on the 48 GEMMs of BERT-base's 12
// layers in a row (2 threads, median ms, against oneDNN 2.6 on the same packed weights): M = 32
// 15.0 vs 18.7, M = 128 57.5 vs 60.3, M = 302 132 vs 149, M = 512 244 vs 249, M = 1024 517 vs
// 504. Each output row's arithmetic depends on K only, never on M or the thread split, so a
// sequence gets bit-identical results alone or in any batch.
#pragma once
#include <cstdint>

#include "tanzhen/kernels/cpu/panel_weights.h"

namespace tanzhen::kernels::avx512 {

// Output columns per panel: four 16-float vectors.
inline constexpr int kPanelCols = 64;

// Weights W {K = in, N = out} (y = x · W), cut into panels of kPanelCols output columns; panel
// p holds rows k = 0 .. padded_in - 1 of kPanelCols floats each, row k of panel p at
// data[(p * padded_in + k) * kPanelCols]. Columns past `out` in the last panel and rows past
// `in` are never read into results. This is oneDNN's "BA16a64b" layout, the one it picks for
// F32 matmul weights on AVX-512 CPUs, so oneDNN does the packing (gemm.cc checks the layout).
using PanelWeights = PanelView<float>;

// y[rows x out] = act(x[rows x in] · W + bias), x and y row-major and dense; bias [out] or
// null; gelu: the exact (erf) GELU. Runs on the calling thread's OpenMP team. Needs AVX-512F
// (cpu_has_avx512()).
void gemm_f32_panels(const float* x, int64_t rows, const PanelWeights& w, const float* bias,
                     bool gelu, float* y);

}  // namespace tanzhen::kernels::avx512
