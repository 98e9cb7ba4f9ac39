// Multi-head scaled dot-product attention over one sequence, on oneDNN primitives.
//
// Q, K and V are read in place from the fused QKV projection output (rows of [q | k | v], each
// heads x head_dim wide) through strided memory descriptors, so no head is ever copied or
// transposed. Per sequence of length L the only intermediate is the [heads x L x L] score
// tensor: scores = (Q Kᵀ) / sqrt(head_dim) (the scale is the matmul's output scale), then an
// in-place softmax over the last axis, then context = scores · V written straight into the
// sequence's rows of the [tokens x hidden] context buffer. Attention never crosses sequences,
// so batches need neither padding nor masks.
#pragma once
#include <cstddef>
#include <memory>

#include <dnnl.hpp>

#include "tanzhen/kernels/primitive_cache.h"

namespace tanzhen::kernels {

class MultiHeadAttention {
 public:
  MultiHeadAttention(const dnnl::engine& engine, int heads, int head_dim);

  struct Primitives {
    dnnl::matmul scores;  // Q Kᵀ * scale
    dnnl::softmax_forward softmax;
    dnnl::matmul context;  // P V
    size_t scratch_bytes = 0;
  };

  // One sequence's attention bound to its buffers (made once per call, reused by every layer).
  struct Bound {
    std::shared_ptr<const Primitives> prims;
    dnnl::memory q, k, v, scores, context;
  };

  // qkv: the sequence's first row of the [tokens x 3 hidden] QKV buffer; scores: room for
  // heads * len * len floats; context: the sequence's first row of [tokens x hidden].
  Bound bind(int len, float* qkv, float* scores, float* context) const;

  void run(const Bound& b, const dnnl::stream& stream, const dnnl::memory& scratch) const;

  // Floats of score buffer a sequence of `len` tokens needs.
  size_t scores_floats(int len) const { return static_cast<size_t>(heads_) * len * len; }

 private:
  std::shared_ptr<const Primitives> primitives(int len) const;
  dnnl::memory::desc q_desc(int len) const;
  dnnl::memory::desc k_desc(int len) const;
  dnnl::memory::desc v_desc(int len) const;
  dnnl::memory::desc scores_desc(int len) const;
  dnnl::memory::desc context_desc(int len) const;

  dnnl::engine engine_;
  int heads_;
  int head_dim_;
  int hidden_;
  mutable PrimitiveCache<int, Primitives> cache_;
};

}  // namespace tanzhen::kernels
