// Number formats of the reduced-precision linear layers, and the conversions into them.
//
// Weights (once, at load or by `tanzhen quantize`):
//   INT8  per-output-channel symmetric: scale[r] = max|w[r, :]| / 127, q = round(w / scale),
//         clamped to [-127, 127]; w ≈ q * scale[r]. An all-zero row gets scale 1.
//   BF16  round-to-nearest-even truncation of the F32 bits (NaN kept quiet).
// Activations (every call, see linear.h): per-row asymmetric u8 with a zero point, or BF16.
// The same functions serve the on-the-fly path and the checkpoint writer, so a pre-quantized
// checkpoint holds exactly the values the encoder would have computed at load.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tanzhen::kernels {

struct QuantizedRows {
  std::vector<int8_t> values;  // [rows x cols], row-major
  std::vector<float> scales;   // [rows]
};

// Per-row symmetric int8 quantization of a row-major [rows x cols] F32 matrix.
QuantizedRows quantize_rows_s8(const float* w, int64_t rows, int64_t cols);

// out[r, c] = values[r, c] * scales[r].
void dequantize_rows_s8(const int8_t* values, const float* scales, int64_t rows, int64_t cols,
                        float* out);

// F32 <-> BF16 (stored as the upper 16 bits of the F32 pattern).
uint16_t f32_to_bf16(float x);
float bf16_to_f32(uint16_t x);
std::vector<uint16_t> to_bf16(const float* x, size_t n);
std::vector<float> bf16_to_f32(const uint16_t* x, size_t n);

// Activation quantization, per row (token): row r ≈ scale[r] * (q[r, :] - zero_point[r]),
// q in [0, activation_code_max()]; the range always contains 0 so that zero (the GEMMs' padding rows) is exact.
// Per row rather than per tensor: one pass over a row that is in L1 (a per-tensor range needs
// a pass over the whole tensor first), it fuses into the epilogue of the layer before
// (dequantize_s32_to_u8), and a token with large activations no longer coarsens the others.
// 255 on CPUs with AVX512-VNNI; 127 (7 bits) elsewhere, where oneDNN's u8 x s8 kernels would
// saturate on larger codes.
float activation_code_max();
void quantize_row_u8(const float* x, int n, uint8_t* q, float* scale, int32_t* zero_point);
void quantize_rows_u8(const float* x, int64_t rows, int cols, uint8_t* q, float* scale,
                      int32_t* zero_point);

// The INT8 layers' epilogue, on oneDNN's plain s32 accumulators acc[r, n] = Σ_k q_x[r, k] q_w[n, k]:
//   out[r, n] = act((acc[r, n] - x_zero_point[r] · colsum[n]) · x_scale[r] · w_scale[n] + bias[n])
// colsum[n] = Σ_k q_w[n, k], so the zero point is removed exactly, in integers.
struct Int8Epilogue {
  const int32_t* colsum = nullptr;        // [cols]
  const float* w_scale = nullptr;         // [cols]
  const float* x_scale = nullptr;         // [rows]
  const int32_t* x_zero_point = nullptr;  // [rows]
  const float* bias = nullptr;            // [cols] or null
  bool gelu = false;                      // erf GELU after the bias
};
// F32 output; `out` may alias `acc` (both 4-byte elements, same layout), which is how the
// layers use it.
void dequantize_s32(const int32_t* acc, int64_t rows, int cols, const Int8Epilogue& e,
                    float* out);
// The epilogue followed by quantize_row_u8 of each output row, for an INT8 layer that feeds
// another (FFN in -> FFN out): the F32 rows never leave the cache. Gives exactly the q, scales
// and zero points that dequantize_s32 + quantize_rows_u8 give.
void dequantize_s32_to_u8(const int32_t* acc, int64_t rows, int cols, const Int8Epilogue& e,
                          uint8_t* q, float* q_scale, int32_t* q_zero_point);

// GELU (erf form) of one float, as dequantize_s32 computes it (|error| < 3e-7 · max(1, |x|)).
float gelu_erf(float x);

// Rounds n floats to BF16 (the GEMM operand of the BF16 layers); AVX512-BF16 when available.
void convert_to_bf16(const float* x, size_t n, uint16_t* out);

}  // namespace tanzhen::kernels
