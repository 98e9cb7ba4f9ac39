#include "tanzhen/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tanzhen/kernels/gemm.h"
#include "tanzhen/kernels/linear.h"
#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {
// One entry per sequence length: at most max_position_embeddings (512) of them in practice.
constexpr size_t kCacheCapacity = 1024;
// Heads are processed in groups whose scores (and bf16 probabilities) fit in this many bytes,
// so that the softmax and the second matmul read them from cache, not memory (see header).
constexpr size_t kGroupBytes = size_t{1} << 23;
// Which sequences the fused kernels (attention_fused.h) take. One layer of BERT-base
// attention, 2 threads, oneDNN path below -> F32 fused kernel (ms; fifth session, with the
// fused kernel's 6-query blocks): L = 32 0.039 -> 0.024, 64 0.083 -> 0.060, 96 0.128 -> 0.115,
// 128 0.199 -> 0.191, 192 0.400 -> 0.366, 302 1.06 -> 0.90. (Its first version, 4-query
// blocks, lost from 96 tokens on: 0.29 vs 0.19 ms at 128.) So the F32 encoder runs it at every
// length. The bf16 and int8 encoders run it up to kFusedMaxLen tokens (as before) and the bf16
// fused kernel beyond: one layer at L = 302 took 0.61 ms there (0.93-0.97 ms on oneDNN's bf16
// path), and neither fused kernel writes a [heads x L x L] score tensor.
constexpr int kFusedMaxLen = 64;

// bf16 operands only where oneDNN can multiply them (see bf16_gemm_supported).
bool bf16_operands(bool requested) { return requested && bf16_gemm_supported(); }
}  // namespace

MultiHeadAttention::MultiHeadAttention(const dnnl::engine& engine, int heads, int head_dim,
                                       bool bf16_requested)
    : engine_(engine),
      heads_(heads),
      head_dim_(head_dim),
      hidden_(heads * head_dim),
      fused_max_len_(!fused_attention_supported(head_dim) ? 0
                     : bf16_operands(bf16_requested)     ? kFusedMaxLen
                                                         : std::numeric_limits<int>::max()),
      fused_bf16_(bf16_operands(bf16_requested) && fused_attention_bf16_supported(head_dim)),
      operand_type_(bf16_operands(bf16_requested) ? dt::bf16 : dt::f32),
      cache_(kCacheCapacity) {}

// The sequence's QKV rows as [3 x heads x L x dh]: part p, head h, token t, dim d lives at
// t * 3H + p * H + h * dh + d.
memory::desc MultiHeadAttention::qkv_rows_desc(int len) const {
  return memory::desc({3, heads_, len, head_dim_}, dt::f32,
                      memory::dims{hidden_, head_dim_, 3 * hidden_, 1});
}
memory::desc MultiHeadAttention::qkv_dense_desc(int len) const {
  return memory::desc({3, heads_, len, head_dim_}, operand_type_, tag::abcd);
}
// Dense [heads x L x dh]: one of Q, K, V (operand type), or the context (F32).
memory::desc MultiHeadAttention::head_desc(int heads, int len, dt type) const {
  return memory::desc({heads, len, head_dim_}, type, tag::abc);
}
// Dense K read as Kᵀ [heads x dh x L].
memory::desc MultiHeadAttention::key_transposed_desc(int heads, int len) const {
  return memory::desc({heads, head_dim_, len}, operand_type_, tag::acb);
}
memory::desc MultiHeadAttention::probs_desc(int heads, int len) const {
  return memory::desc({heads, len, len}, operand_type_, tag::abc);
}
memory::desc MultiHeadAttention::scores_desc(int heads, int len) const {
  return memory::desc({heads, len, len}, dt::f32, tag::abc);
}

int MultiHeadAttention::group_heads(int len) const {
  const size_t per_head = static_cast<size_t>(len) * len * (operand_type_ == dt::bf16 ? 6 : 4);
  int g = 1;
  for (int d = 1; d <= heads_; ++d) {
    if (heads_ % d == 0 && d * per_head <= kGroupBytes) g = d;
  }
  return g;
}
// Context rows of `heads` heads: head h of token t at t * H + h * dh, i.e. heads merged.
memory::desc MultiHeadAttention::context_rows_desc(int heads, int len) const {
  return memory::desc({heads, len, head_dim_}, dt::f32, memory::dims{head_dim_, hidden_, 1});
}
// One of Q, K, V for `heads` heads, read in place from the QKV rows (stride 3H between tokens).
memory::desc MultiHeadAttention::qkv_part_desc(int heads, int len) const {
  return memory::desc({heads, len, head_dim_}, dt::f32, memory::dims{head_dim_, 3 * hidden_, 1});
}
// K of `heads` heads read in place from the QKV rows as Kᵀ [heads x dh x L].
memory::desc MultiHeadAttention::key_rows_transposed_desc(int heads, int len) const {
  return memory::desc({heads, head_dim_, len}, dt::f32, memory::dims{head_dim_, 1, 3 * hidden_});
}

MultiHeadAttention::WorkLayout MultiHeadAttention::work_layout(int len) const {
  const size_t part = static_cast<size_t>(len) * hidden_;  // elements of one of Q, K, V
  const size_t scores = static_cast<size_t>(group_heads(len)) * len * len;
  auto align = [](size_t b) { return (b + 63) / 64 * 64; };
  WorkLayout w;
  w.qkv_dense = 0;
  if (!dense_copies()) {  // F32: only the scores, the softmax runs in place
    w.context = w.scores = w.probs = 0;
    w.end = align(scores * 4);
    return w;
  }
  w.context = align(3 * part * 2);  // bf16 Q, K, V
  w.scores = w.context + align(part * 4);
  w.probs = w.scores + align(scores * 4);
  w.end = w.probs + align(scores * 2);
  return w;
}

size_t MultiHeadAttention::work_floats(int len) const {
  return work_layout(len).end / sizeof(float);
}

std::shared_ptr<const MultiHeadAttention::Primitives> MultiHeadAttention::primitives(
    int len) const {
  return cache_.get(len, [&] {
    const float s = 1.0f / std::sqrt(static_cast<float>(head_dim_));
    const int g = group_heads(len);
    if (!dense_copies()) {
      // F32: the matmuls read Q, K, V from the QKV rows and write the context rows in place
      // (oneDNN's strided gemm), the scale is their output scale.
      dnnl::primitive_attr scaled = base_attr();
      scaled.set_output_scales(0, {s});
      dnnl::matmul::primitive_desc scores_pd(
          dnnl::matmul::desc(qkv_part_desc(g, len), key_rows_transposed_desc(g, len),
                             scores_desc(g, len)),
          scaled, engine_);
      dnnl::matmul::primitive_desc context_pd(
          dnnl::matmul::desc(probs_desc(g, len), qkv_part_desc(g, len), context_rows_desc(g, len)),
          base_attr(), engine_);
      const size_t scratch = std::max(scores_pd.scratchpad_desc().get_size(),
                                      context_pd.scratchpad_desc().get_size());
      return Primitives{{}, dnnl::matmul(scores_pd), dnnl::matmul(context_pd), {}, scratch};
    }
    // 1/sqrt(dh) is applied to Q while it is copied (per-part scales {s, 1, 1} over dim 0):
    // as a matmul output scale it slowed the bf16 scores matmul down.
    dnnl::primitive_attr split_attr = base_attr();
    split_attr.set_output_scales(1 << 0, {s, 1.f, 1.f});
    dnnl::reorder::primitive_desc split_pd(engine_, qkv_rows_desc(len), engine_,
                                           qkv_dense_desc(len), split_attr);
    dnnl::matmul::primitive_desc scores_pd(
        dnnl::matmul::desc(head_desc(g, len, operand_type_), key_transposed_desc(g, len),
                           scores_desc(g, len)),
        base_attr(), engine_);
    dnnl::matmul::primitive_desc context_pd(
        dnnl::matmul::desc(probs_desc(g, len), head_desc(g, len, operand_type_),
                           head_desc(g, len, dt::f32)),
        base_attr(), engine_);
    dnnl::reorder::primitive_desc merge_pd(engine_, head_desc(heads_, len, dt::f32), engine_,
                                           context_rows_desc(heads_, len), base_attr());
    const size_t scratch = std::max({split_pd.scratchpad_desc().get_size(),
                                     scores_pd.scratchpad_desc().get_size(),
                                     context_pd.scratchpad_desc().get_size(),
                                     merge_pd.scratchpad_desc().get_size()});
    return Primitives{dnnl::reorder(split_pd), dnnl::matmul(scores_pd),
                      dnnl::matmul(context_pd),
                      dnnl::reorder(merge_pd), scratch};
  });
}

MultiHeadAttention::Bound MultiHeadAttention::bind(int len, float* qkv, float* work,
                                                   float* context) const {
  const WorkLayout w = work_layout(len);
  auto* base = reinterpret_cast<char*>(work);
  const int g = group_heads(len);
  Bound b;
  b.prims = primitives(len);
  b.scores = memory(scores_desc(g, len), engine_, base + w.scores);
  if (!dense_copies()) {
    b.probs = b.scores;  // in place
    for (int h = 0; h < heads_ / g; ++h) {
      float* q = qkv + h * g * head_dim_;
      b.groups.push_back(Bound::Group{
          memory(qkv_part_desc(g, len), engine_, q),
          memory(key_rows_transposed_desc(g, len), engine_, q + hidden_),
          memory(qkv_part_desc(g, len), engine_, q + 2 * hidden_),
          memory(context_rows_desc(g, len), engine_, context + h * g * head_dim_)});
    }
    return b;
  }
  // Q, K, V back to back, each heads * L * dh bf16 elements.
  const size_t part_bytes = static_cast<size_t>(len) * hidden_ * 2;
  const size_t group_bytes = part_bytes / (heads_ / g);  // g heads of one of Q, K, V
  const size_t group_context_bytes = static_cast<size_t>(g) * len * head_dim_ * 4;
  b.qkv_rows = memory(qkv_rows_desc(len), engine_, qkv);
  b.qkv_dense = memory(qkv_dense_desc(len), engine_, base + w.qkv_dense);
  for (int h = 0; h < heads_ / g; ++h) {
    char* q = base + w.qkv_dense + h * group_bytes;
    b.groups.push_back(Bound::Group{
        memory(head_desc(g, len, operand_type_), engine_, q),
        memory(key_transposed_desc(g, len), engine_, q + part_bytes),
        memory(head_desc(g, len, operand_type_), engine_, q + 2 * part_bytes),
        memory(head_desc(g, len, dt::f32), engine_, base + w.context + h * group_context_bytes)});
  }
  b.context = memory(head_desc(heads_, len, dt::f32), engine_, base + w.context);
  b.probs = memory(probs_desc(g, len), engine_, base + w.probs);
  b.context_rows = memory(context_rows_desc(heads_, len), engine_, context);
  return b;
}

bool MultiHeadAttention::runs_fused(int len) const {
  return len <= fused_max_len_ || fused_bf16_;
}

void MultiHeadAttention::add_fused(FusedBatch& batch, const AttentionRows& seq) const {
  (seq.len <= fused_max_len_ ? batch.f32 : batch.bf16).push_back(seq);
}

void MultiHeadAttention::run_fused(const FusedBatch& batch) const {
  if (!batch.f32.empty()) fused_attention(batch.f32, heads_, head_dim_);
  if (!batch.bf16.empty()) fused_attention_bf16(batch.bf16, heads_, head_dim_);
}

void MultiHeadAttention::run(const Bound& b, const dnnl::stream& stream,
                             const memory& scratch) const {
  const Primitives& p = *b.prims;
  if (dense_copies()) {
    execute(p.split, stream,
            {{DNNL_ARG_FROM, &b.qkv_rows}, {DNNL_ARG_TO, &b.qkv_dense},
             {DNNL_ARG_SCRATCHPAD, &scratch}});
  }
  const int len = static_cast<int>(b.scores.get_desc().dims()[2]);
  const int64_t rows = b.scores.get_desc().dims()[0] * len;  // heads of a group x L
  auto* scores = static_cast<float*>(b.scores.get_data_handle());
  const bool bf16 = operand_type_ == dt::bf16;
  float* probs_f32 = bf16 ? nullptr : scores;  // in place
  auto* probs_bf16 = bf16 ? static_cast<uint16_t*>(b.probs.get_data_handle()) : nullptr;
  for (const Bound::Group& grp : b.groups) {
    execute(p.scores, stream,
            {{DNNL_ARG_SRC, &grp.q}, {DNNL_ARG_WEIGHTS, &grp.k}, {DNNL_ARG_DST, &b.scores},
             {DNNL_ARG_SCRATCHPAD, &scratch}});
    softmax_rows(scores, rows, len, probs_f32, probs_bf16);
    execute(p.context, stream,
            {{DNNL_ARG_SRC, &b.probs}, {DNNL_ARG_WEIGHTS, &grp.v}, {DNNL_ARG_DST, &grp.context},
             {DNNL_ARG_SCRATCHPAD, &scratch}});
  }
  if (dense_copies()) {
    execute(p.merge, stream,
            {{DNNL_ARG_FROM, &b.context}, {DNNL_ARG_TO, &b.context_rows},
             {DNNL_ARG_SCRATCHPAD, &scratch}});
  }
}

}  // namespace tanzhen::kernels
