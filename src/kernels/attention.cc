#include "tanzhen/kernels/attention.h"

#include <algorithm>
#include <cmath>

#include "tanzhen/kernels/gemm.h"

namespace tanzhen::kernels {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {
// One entry per sequence length: at most max_position_embeddings (512) of them in practice.
constexpr size_t kCacheCapacity = 1024;
}  // namespace

MultiHeadAttention::MultiHeadAttention(const dnnl::engine& engine, int heads, int head_dim)
    : engine_(engine),
      heads_(heads),
      head_dim_(head_dim),
      hidden_(heads * head_dim),
      cache_(kCacheCapacity) {}

// The sequence's QKV rows as [3 x heads x L x dh]: part p, head h, token t, dim d lives at
// t * 3H + p * H + h * dh + d.
memory::desc MultiHeadAttention::qkv_rows_desc(int len) const {
  return memory::desc({3, heads_, len, head_dim_}, dt::f32,
                      memory::dims{hidden_, head_dim_, 3 * hidden_, 1});
}
memory::desc MultiHeadAttention::qkv_dense_desc(int len) const {
  return memory::desc({3, heads_, len, head_dim_}, dt::f32, tag::abcd);
}
// Dense [heads x L x dh]: one of Q, K, V, or the context.
memory::desc MultiHeadAttention::head_desc(int len) const {
  return memory::desc({heads_, len, head_dim_}, dt::f32, tag::abc);
}
// Dense K read as Kᵀ [heads x dh x L].
memory::desc MultiHeadAttention::key_transposed_desc(int len) const {
  return memory::desc({heads_, head_dim_, len}, dt::f32, tag::acb);
}
memory::desc MultiHeadAttention::scores_desc(int len) const {
  return memory::desc({heads_, len, len}, dt::f32, tag::abc);
}
// Context rows: head h of token t at t * H + h * dh, i.e. heads merged.
memory::desc MultiHeadAttention::context_rows_desc(int len) const {
  return memory::desc({heads_, len, head_dim_}, dt::f32, memory::dims{head_dim_, hidden_, 1});
}

size_t MultiHeadAttention::work_floats(int len) const {
  return static_cast<size_t>(4) * len * hidden_ + static_cast<size_t>(heads_) * len * len;
}

std::shared_ptr<const MultiHeadAttention::Primitives> MultiHeadAttention::primitives(
    int len) const {
  return cache_.get(len, [&] {
    dnnl::reorder::primitive_desc split_pd(engine_, qkv_rows_desc(len), engine_,
                                           qkv_dense_desc(len), base_attr());
    dnnl::primitive_attr scaled = base_attr();
    scaled.set_output_scales(0, {1.0f / std::sqrt(static_cast<float>(head_dim_))});
    dnnl::matmul::primitive_desc scores_pd(
        dnnl::matmul::desc(head_desc(len), key_transposed_desc(len), scores_desc(len)), scaled,
        engine_);
    dnnl::softmax_forward::primitive_desc softmax_pd(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, scores_desc(len), 2),
        base_attr(), engine_);
    dnnl::matmul::primitive_desc context_pd(
        dnnl::matmul::desc(scores_desc(len), head_desc(len), head_desc(len)), base_attr(),
        engine_);
    dnnl::reorder::primitive_desc merge_pd(engine_, head_desc(len), engine_,
                                           context_rows_desc(len), base_attr());
    const size_t scratch = std::max({split_pd.scratchpad_desc().get_size(),
                                     scores_pd.scratchpad_desc().get_size(),
                                     softmax_pd.scratchpad_desc().get_size(),
                                     context_pd.scratchpad_desc().get_size(),
                                     merge_pd.scratchpad_desc().get_size()});
    return Primitives{dnnl::reorder(split_pd), dnnl::matmul(scores_pd),
                      dnnl::softmax_forward(softmax_pd), dnnl::matmul(context_pd),
                      dnnl::reorder(merge_pd), scratch};
  });
}

MultiHeadAttention::Bound MultiHeadAttention::bind(int len, float* qkv, float* work,
                                                   float* context) const {
  const size_t part = static_cast<size_t>(len) * hidden_;  // one of Q, K, V: heads * L * dh
  Bound b;
  b.prims = primitives(len);
  b.qkv_rows = memory(qkv_rows_desc(len), engine_, qkv);
  b.qkv_dense = memory(qkv_dense_desc(len), engine_, work);  // Q, K, V back to back
  b.q = memory(head_desc(len), engine_, work);
  b.k = memory(key_transposed_desc(len), engine_, work + part);
  b.v = memory(head_desc(len), engine_, work + 2 * part);
  b.context = memory(head_desc(len), engine_, work + 3 * part);
  b.scores = memory(scores_desc(len), engine_, work + 4 * part);
  b.context_rows = memory(context_rows_desc(len), engine_, context);
  return b;
}

void MultiHeadAttention::run(const Bound& b, const dnnl::stream& stream,
                             const memory& scratch) const {
  const Primitives& p = *b.prims;
  execute(p.split, stream,
          {{DNNL_ARG_FROM, &b.qkv_rows}, {DNNL_ARG_TO, &b.qkv_dense},
           {DNNL_ARG_SCRATCHPAD, &scratch}});
  execute(p.scores, stream,
          {{DNNL_ARG_SRC, &b.q}, {DNNL_ARG_WEIGHTS, &b.k}, {DNNL_ARG_DST, &b.scores},
           {DNNL_ARG_SCRATCHPAD, &scratch}});
  execute(p.softmax, stream,
          {{DNNL_ARG_SRC, &b.scores}, {DNNL_ARG_DST, &b.scores}, {DNNL_ARG_SCRATCHPAD, &scratch}});
  execute(p.context, stream,
          {{DNNL_ARG_SRC, &b.scores}, {DNNL_ARG_WEIGHTS, &b.v}, {DNNL_ARG_DST, &b.context},
           {DNNL_ARG_SCRATCHPAD, &scratch}});
  execute(p.merge, stream,
          {{DNNL_ARG_FROM, &b.context}, {DNNL_ARG_TO, &b.context_rows},
           {DNNL_ARG_SCRATCHPAD, &scratch}});
}

}  // namespace tanzhen::kernels
