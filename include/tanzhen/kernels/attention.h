// Multi-head scaled dot-product attention over one sequence, on oneDNN primitives.
// Sequences of at most 64 tokens go to the fused F32 kernel of attention_fused.h instead
// (runs_fused / run_fused): there these five calls per sequence cost more than the work. With
// bf16 operands, on CPUs with AVX512-BF16, longer ones go to its bf16 fused kernel, so this
// oneDNN path is what runs where those kernels cannot.
//
// Per sequence of L tokens:
//   1. one reorder splits its rows of the fused QKV projection ([L x 3H], rows [q | k | v])
//      into head-major dense Q, K, V ([3 x heads x L x head_dim]);
//   2. scores = (Q Kᵀ) / sqrt(head_dim)  ([heads x L x L]; the scale is applied to Q by the
//      reorder of step 1, Kᵀ is K read transposed);
//   3. softmax over the last axis (kernels/ops.h; in place, or into bf16 probabilities);
//   4. context = scores · V  ([heads x L x head_dim], dense);
//   5. one reorder merges the heads back into the sequence's rows of the [tokens x H] context.
// The dense copies cost a few percent of the matmuls they speed up: with plain dense operands
// oneDNN runs its brgemm kernels instead of the strided-gemm fallback (20-35% faster here).
// With bf16 operands (the encoder's bf16 and int8 modes) step 1 also rounds Q, K, V to bf16,
// the softmax writes bf16 probabilities, and both matmuls run bf16 x bf16 with F32 results
// (AMX / AVX512-BF16 brgemm): scores and context stay F32.
// Steps 2-4 run for a group of heads at a time, as many as keep the group's scores (and bf16
// probabilities) within 8 MiB (the shared cache), so that the softmax and the second matmul
// find them there: for 12 heads at L = 300 the whole score tensor is 4.4 MB, written and read
// three times. Groups are not made smaller than that: each matmul over a group is one oneDNN
// call split over the threads, and per-head calls of L = 300 left them waiting on each other
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
  MultiHeadAttention(const dnnl::engine& engine, int heads, int head_dim,
                     bool bf16_operands = false);

  struct Primitives {
    dnnl::reorder split;   // QKV rows -> dense Q, K, V
    dnnl::matmul scores;   // Q Kᵀ * scale
    dnnl::matmul context;  // P V
    dnnl::reorder merge;   // dense context -> context rows
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
    // themselves, in place, with F32 operands).
    dnnl::memory qkv_rows, qkv_dense, scores, probs, context, context_rows;
  };

  // Floats of per-sequence work space a sequence of `len` tokens needs (dense Q, K, V, the
  // context, the scores and, with bf16 operands, the bf16 probabilities).
  size_t work_floats(int len) const;

  // qkv: the sequence's first row of the [tokens x 3H] QKV buffer; work: work_floats(len)
  // floats; context: the sequence's first row of the [tokens x H] context buffer.
  Bound bind(int len, float* qkv, float* work, float* context) const;

  void run(const Bound& b, const dnnl::stream& stream, const dnnl::memory& scratch) const;

  // Whether a sequence of `len` tokens goes to a fused kernel instead (kernels/attention_fused.h):
  // short enough that the oneDNN path's fixed costs dominate, or bf16 operands on a CPU with
  // the bf16 kernel.
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
  dnnl::memory::desc context_rows_desc(int len) const;
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
