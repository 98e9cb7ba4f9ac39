// Fused element-wise kernels of the encoder (everything that is not a GEMM): residual add +
// LayerNorm, and embedding sum + LayerNorm. AVX-512 when the CPU has it, portable code else.
#pragma once
#include <cstdint>

namespace tanzhen::kernels {

// True when the running CPU supports the AVX-512 subset the kernels use (checked once).
bool cpu_has_avx512();
// True when the running CPU has AVX2 and FMA, what the kernels in cpu/*_avx2 use (checked once).
bool cpu_has_avx2();

// out[r] = LayerNorm(x[r] + residual[r]) * gamma + beta for each of `rows` rows of `cols`
// floats (row-major, contiguous). `residual` may be null (plain LayerNorm); `out` may alias `x`
// or `residual`. Mean and variance are computed in two passes for accuracy.
void add_layer_norm(const float* x, const float* residual, const float* gamma, const float* beta,
                    float* out, int64_t rows, int cols, float eps);

// BERT embeddings of one sequence: out[t] = LayerNorm(word[ids[t]] + position[t] + token_type)
// for t < len. `word` is [vocab x cols], `position` is [max_pos x cols] (the caller checks that
// len <= max_pos and that ids are in range), `token_type` is the single row of type 0.
void embed_layer_norm(const int32_t* ids, int len, const float* word, const float* position,
                      const float* token_type, const float* gamma, const float* beta, float* out,
                      int cols, float eps);

// Softmax over each of `rows` rows of `cols` F32 scores (the attention probabilities), written
// to out_f32 (which may alias x) or, when out_f32 is null, rounded to BF16 (nearest even) into
// out_bf16. Rows run in parallel on the compute threads when there are many.
void softmax_rows(const float* x, int64_t rows, int cols, float* out_f32, uint16_t* out_bf16);

}  // namespace tanzhen::kernels
