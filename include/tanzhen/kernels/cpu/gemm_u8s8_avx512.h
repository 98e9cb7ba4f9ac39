// INT8 GEMM for the encoder's INT8 linear layers, AVX512-VNNI, on weights in 64-column panels,
// with the whole INT8 epilogue fused: the s32 accumulators of a register tile become F32
// outputs (zero-point correction, scale_x[r] * scale_w[n], bias, GELU) before they are stored.
//
// Why not oneDNN's u8 x s8 matmul plus a separate epilogue pass: the pass reads and writes every
// output once more and costs a second parallel region per layer. Measured here (48 GEMMs of
// BERT-base's 12 layers, 2 threads, GEMM alone, median ms): M = 32 5.2 vs oneDNN 5.8, M = 128
// 16.9 vs 16.8, M = 302 36.7 vs 39.5; the fused epilogue comes on top (bench/README.md).
#pragma once
#include <cstdint>

#include "tanzhen/kernels/cpu/panel_weights.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen::kernels::avx512 {

// Weights W {K = in, N = out} as s8, in panels of 64 output columns; in a panel, the k rows go
// in groups of 4, each group 64 columns x 4 consecutive k (256 bytes): group g of panel p at
// data[(p * padded_in + 4 g) * 64]. This is oneDNN's "BA16a64b4a", its layout for s8 matmul
// weights on VNNI CPUs, so oneDNN does the packing (linear_int8.cc checks the layout).
// in is a multiple of 4 (x rows are read 4 bytes at a time), and so is padded_in.
using PanelWeightsS8 = PanelView<int8_t>;

// y[rows x out] = epilogue(q[rows x in] · W), q the u8 rows (row-major, dense) whose scales and
// zero points e.x_scale / e.x_zero_point hold; e as for dequantize_s32 (linear_quant.h), whose
// arithmetic this repeats, so the outputs are the same. Runs on the calling thread's OpenMP
// team. Needs gemm_u8s8_panels_supported().
void gemm_u8s8_panels(const uint8_t* q, int64_t rows, const PanelWeightsS8& w,
                      const Int8Epilogue& e, float* y);

// AVX-512 with VNNI on this CPU.
bool gemm_u8s8_panels_supported();

}  // namespace tanzhen::kernels::avx512
