// Multi-head scaled dot-product attention over one sequence, on oneDNN primitives: the path
// for CPUs (or head sizes) the fused kernels of attention_fused.h cannot take. On AVX-512 the
// F32 encoder sends every sequence to the fused F32 kernel (runs_fused / run_fused), faster at
// every length measured (32-302); the bf16 and int8 encoders send sequences of at most 64
// tokens to it and longer ones to the bf16 fused kernel (AVX512-BF16).
//
// Per sequence of L tokens, with F32 operands (the FP32 encoder):
//   1. scores = (Q Kᵀ) / sqrt(head_dim)  ([heads x L x L]), Q and Kᵀ read in place from the
//      sequence's rows of the fused QKV projection ([L x 3H], rows [q | k | v]) through strided
//      descriptors, the scale as the matmul's output scale;
//   2. softmax over the last axis, in place (kernels/ops.h);
//   3. context = probabilities · V, V read in place, written straight into the sequence's rows
//      of the [tokens x H] context (heads merged by the output strides).
// oneDNN runs these strided matmuls on its gemm kernels. Against dense head-major copies on its
// brgemm kernels they take the same time (BERT-base, L = 302, 2 threads: 0.43 + 0.40 ms against
// 0.46 + 0.35 ms), so the two copies were pure cost: one layer's attention went from 1.25 to
// 1.17 ms at L = 302 and from 0.26 to 0.21 ms at L = 128.
// With bf16 operands (the encoder's bf16 and int8 modes, on CPUs without the bf16 fused
// kernel) one reorder first splits the QKV rows into head-major dense bf16 Q, K, V
// ([3 x heads x L x head_dim], the scale applied to Q), the softmax writes bf16
// probabilities, both matmuls run bf16 x bf16 with F32 results (AVX512-BF16 / AMX brgemm, which
// want dense operands) into a dense context, and a second reorder merges it into the rows.
// The matmuls and the softmax run for a group of heads at a time, as many as keep the group's
// scores (and bf16 probabilities) within 8 MiB (the shared cache), so that the softmax and the
// second matmul find them there: for 12 heads at L = 300 the whole score tensor is 4.4 MB, written
// and read three times. Groups are not made smaller than that: each matmul over a group is one
// oneDNN call split over the threads, and per-head calls of L = 300 left them waiting on each other
// (INT8 BERT-base at L = 302, 2 threads: 60 ms per call with 1 MiB groups, 56.5 ms with 8 MiB).
// Attention never crosses sequences, so batches need neither padding nor masks; the largest
// intermediate is the [heads x L x L] score tensor of one sequence.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include <dnnl.hpp>

#include "tanzhen/kernels/attention_fused.h"
#include "tanzhen/kernels/primitive_cache.h"

namespace tanzhen::kernels {

class MultiHeadAttention {
 public:
  // bf16_operands: Q, K, V and the probabilities in bf16 (F32 accumulation), for the
  // reduced-precision encoders; ignored (F32 operands) where oneDNN has no bf16 matmul.
  MultiHeadAttention(const dnnl::engine& engine, int heads, int head_dim,
                     bool bf16_operands = false);

  struct Primitives {
    dnnl::reorder split;   // bf16 operands only: QKV rows -> dense Q, K, V
    dnnl::matmul scores;   // Q Kᵀ * scale
    dnnl::matmul context;  // P V
    dnnl::reorder merge;   // bf16 operands only: dense context -> context rows
    size_t scratch_bytes = 0;
  };

  // One sequence's attention bound to its buffers (made once per call, reused by every layer).
  struct Bound {
    std::shared_ptr<const Primitives> prims;
    struct Group {  // views of one group of heads
      dnnl::memory q, k, v, context;
    };
    std::vector<Group> groups;
    // scores and probs hold one group at a time; probs is the softmax output (the scores
    // themselves, in place, with F32 operands). The others are the bf16 path's copies.
    dnnl::memory qkv_rows, qkv_dense, scores, probs, context, context_rows;
  };

  // Floats of per-sequence work space a sequence of `len` tokens needs: the scores of one
  // group of heads and, with bf16 operands, the dense Q, K, V, context and bf16 probabilities.
  size_t work_floats(int len) const;

  // qkv: the sequence's first row of the [tokens x 3H] QKV buffer; work: work_floats(len)
  // floats; context: the sequence's first row of the [tokens x H] context buffer.
  Bound bind(int len, float* qkv, float* work, float* context) const;

  void run(const Bound& b, const dnnl::stream& stream, const dnnl::memory& scratch) const;

  // Whether a sequence of `len` tokens goes to a fused kernel instead (kernels/attention_fused.h).
  // With F32 operands that is every length where the F32 kernel runs; with bf16 operands,
  // lengths up to 64 there and the rest to the bf16 kernel, where the CPU has it.
  bool runs_fused(int len) const;
  // The sequences of one call that the fused kernels take, sorted by kernel once per call
  // (every layer runs the same split).
  struct FusedBatch {
    std::vector<AttentionRows> f32, bf16;
  };
  // Adds `seq` (runs_fused(seq.len) must hold) to the list of the kernel that takes it.
  void add_fused(FusedBatch& batch, const AttentionRows& seq) const;
  // Attention of all the batch's sequences, one parallel region per kernel.
  void run_fused(const FusedBatch& batch) const;

 private:
  std::shared_ptr<const Primitives> primitives(int len) const;
  dnnl::memory::desc qkv_rows_desc(int len) const;
  dnnl::memory::desc qkv_dense_desc(int len) const;
  // Heads per group for sequences of `len` tokens (a divisor of the head count).
  int group_heads(int len) const;
  dnnl::memory::desc head_desc(int heads, int len, dnnl::memory::data_type type) const;
  dnnl::memory::desc key_transposed_desc(int heads, int len) const;
  dnnl::memory::desc scores_desc(int heads, int len) const;
  dnnl::memory::desc context_rows_desc(int heads, int len) const;
  dnnl::memory::desc qkv_part_desc(int heads, int len) const;
  dnnl::memory::desc key_rows_transposed_desc(int heads, int len) const;
  // bf16 operands: Q, K, V are copied (and rounded) into dense head-major tensors first and
  // the context merged back; F32 ones are read and written in place.
  bool dense_copies() const { return operand_type_ != dnnl::memory::data_type::f32; }
  dnnl::memory::desc probs_desc(int heads, int len) const;
  // Byte offsets of the parts of the work space (see work_floats).
  struct WorkLayout {
    size_t qkv_dense, context, scores, probs, end;
  };
  WorkLayout work_layout(int len) const;

  dnnl::engine engine_;
  int heads_;
  int head_dim_;
  int hidden_;
  int fused_max_len_;  // longest sequence the F32 fused kernel takes; 0 where it cannot run
  bool fused_bf16_;    // bf16 operands and a CPU with the bf16 fused kernel: all lengths fused
  dnnl::memory::data_type operand_type_;  // of Q, K, V and the probabilities
  mutable PrimitiveCache<int, Primitives> cache_;
};

}  // namespace tanzhen::kernels
