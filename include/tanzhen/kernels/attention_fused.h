// Multi-head attention of short sequences in one pass, F32, on our own AVX-512 kernel.
//
// For short sequences the oneDNN path of attention.h is all overhead: at L = 32 its five
// primitive calls per sequence and layer (two reorders, two batched matmuls, the softmax) cost
// ~120 us, 7% of an FP32 BERT-base call and 18% of an INT8 one, for 1.6 MFLOP of work. Here
// every (sequence, head) pair of the batch is one task of a single parallel region: it reads
// its Q, K, V straight from the [tokens x 3H] QKV rows, computes the scores of four queries at a
// time against all keys (K transposed once into a per-thread buffer), takes their softmax in
// registers and L1, multiplies by V and writes the context into the [tokens x H] rows. No
// score tensor and no dense Q/K/V copies exist. All arithmetic is F32 (also in the bf16 and
// int8 encoders, where it is more exact than their bf16 attention).
#pragma once
#include <cstdint>
#include <vector>

namespace tanzhen::kernels {

// One sequence's rows: qkv points at its first row of the [tokens x 3H] QKV buffer (q | k | v
// per row, heads contiguous in each), context at its first row of the [tokens x H] output.
struct AttentionRows {
  int len;
  const float* qkv;
  float* context;
};

// Whether fused_attention runs heads of this size on this CPU (AVX-512, head_dim a multiple
// of 16 up to 256).
bool fused_attention_supported(int head_dim);

// softmax(Q Kᵀ / sqrt(head_dim)) V for every head of every sequence; sequences never attend
// to each other, so there is no mask. Requires fused_attention_supported(head_dim).
void fused_attention(const std::vector<AttentionRows>& seqs, int heads, int head_dim);

}  // namespace tanzhen::kernels
