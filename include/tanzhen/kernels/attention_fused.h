// Multi-head attention in one pass per head, on our own AVX-512 kernels: F32 (the F32
// encoder at every length, the others for short sequences), and on AVX512-BF16 dot products
// for the reduced-precision encoders' longer ones.
//
// For short sequences the oneDNN path of attention.h is mostly overhead: at L = 32 its calls
// per sequence and layer (then two reorders, two batched matmuls and the softmax; for F32 now
// the matmuls and the softmax) cost ~120 us (now 38 us for F32), 7% of an FP32 BERT-base call
// and 18% of an INT8 one, for 1.6 MFLOP of work (the fused F32 kernel: 29 us). Here
// every (sequence, head) pair of the batch is one task of a single parallel region: it reads
// its Q, K, V straight from the [tokens x 3H] QKV rows, computes the scores of six queries at a
// time against all keys (K transposed once into a per-thread buffer), takes their softmax in
// registers and L1, multiplies by V and writes the context into the [tokens x H] rows. No
// score tensor and no dense Q/K/V copies exist. All arithmetic is F32 (also in the bf16 and
// int8 encoders, where it is more exact than their bf16 attention).
//
// fused_attention_bf16 is the same pass with bf16 operands (Q, K, V and the probabilities
// rounded to bf16 as the oneDNN path rounds them, F32 sums) for the bf16 and int8 encoders at
// any length: against oneDNN's path (a dense-copy reorder, two batched matmuls, the softmax
// over a [heads x L x L] score tensor, a merge reorder) it never writes the scores to memory.
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
// of 16 up to 128).
bool fused_attention_supported(int head_dim);

// softmax(Q Kᵀ / sqrt(head_dim)) V for every head of every sequence; sequences never attend
// to each other, so there is no mask. Requires fused_attention_supported(head_dim).
void fused_attention(const std::vector<AttentionRows>& seqs, int heads, int head_dim);

// Whether fused_attention_bf16 runs heads of this size on this CPU (AVX512-BF16; head_dim 32,
// 64 or 128).
bool fused_attention_bf16_supported(int head_dim);

// As fused_attention, with bf16 operands and F32 accumulation.
void fused_attention_bf16(const std::vector<AttentionRows>& seqs, int heads, int head_dim);

}  // namespace tanzhen::kernels
