// INT8 GEMM with the fused epilogue for CPUs with AVX2 but no AVX512-VNNI:
//   y = epilogue(q · W), q [rows x in] u8 activation codes (at most 127: activation_code_max()
//   on these CPUs), W s8 weights in 16-column panels, epilogue as Int8Epilogue describes.
//
// Why not oneDNN's u8 x s8 matmul there: on an AVX2 EPYC (Zen 3, 2 threads) it ran BERT-base's
// layers at 150-250 GOP/s, and its s32 output then took a separate pass through the epilogue.
// The products go through vpmaddubsw (pairs of u8 x s8 products summed in int16: with codes
// <= 127 the sum is at most 2 * 127 * 127 = 32,258, so it never saturates) and vpmaddwd (pairs
// of those in int32): the s32 sums are exact, whatever the blocking, so a row's result never
// depends on the other rows of the batch.
#pragma once
#include <cstdint>
#include <vector>

#include "tanzhen/kernels/cpu/panel_weights.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen::kernels::avx2 {

// s8 weights in panels of kPanelCols (16) output columns, k in groups of 4: group g of panel p
// is 64 bytes at data[(p * padded_in + 4 * g) * 16], column c's four k at bytes 4c .. 4c + 3.
// padded_in = in rounded up to 4; the padding (k >= in, columns >= out) is zero.
using PanelWeightsS8 = PanelView<int8_t>;

// PyTorch-layout weights w[out][in] in that layout.
std::vector<int8_t> pack_s8_panels(const int8_t* w, int out, int in);
// The PanelWeightsS8 view of pack_s8_panels' result.
PanelWeightsS8 s8_panel_view(const std::vector<int8_t>& packed, int out, int in);

// y[rows x out] = epilogue(q[rows x in] · W) in F32. in must be a multiple of 4 (rows of q are
// read 4 bytes at a time). Runs on the calling thread's OpenMP team.
void gemm_u8s8_panels(const uint8_t* q, int64_t rows, const PanelWeightsS8& w,
                      const Int8Epilogue& e, float* y);

// AVX2 + FMA present and activation codes limited to 127 (no AVX512-VNNI).
bool gemm_u8s8_panels_supported();

}  // namespace tanzhen::kernels::avx2
