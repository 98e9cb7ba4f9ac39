#include "tanzhen/kernels/attention.h"

#include <algorithm>
#include <cmath>

#include "tanzhen/kernels/gemm.h"

namespace tanzhen::kernels {

using dnnl::memory;
using dt = memory::data_type;

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

// Q and V: head h, token t, dim d at t * 3H + h * dh + d (V's base pointer is 2H further on).
memory::desc MultiHeadAttention::q_desc(int len) const {
  return memory::desc({heads_, len, head_dim_}, dt::f32,
                      memory::dims{head_dim_, 3 * hidden_, 1});
}
// Kᵀ: the same storage as Q (base H further on) read as [heads x dh x len].
memory::desc MultiHeadAttention::k_desc(int len) const {
  return memory::desc({heads_, head_dim_, len}, dt::f32,
                      memory::dims{head_dim_, 1, 3 * hidden_});
}
memory::desc MultiHeadAttention::v_desc(int len) const { return q_desc(len); }
memory::desc MultiHeadAttention::scores_desc(int len) const {
  return memory::desc({heads_, len, len}, dt::f32, memory::format_tag::abc);
}
// Context: head h of token t lands at t * H + h * dh, i.e. heads already merged.
memory::desc MultiHeadAttention::context_desc(int len) const {
  return memory::desc({heads_, len, head_dim_}, dt::f32, memory::dims{head_dim_, hidden_, 1});
}

std::shared_ptr<const MultiHeadAttention::Primitives> MultiHeadAttention::primitives(
    int len) const {
  return cache_.get(len, [&] {
    dnnl::primitive_attr scaled = base_attr();
    scaled.set_output_scales(0, {1.0f / std::sqrt(static_cast<float>(head_dim_))});
    dnnl::matmul::primitive_desc scores_pd(
        dnnl::matmul::desc(q_desc(len), k_desc(len), scores_desc(len)), scaled, engine_);
    dnnl::softmax_forward::primitive_desc softmax_pd(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, scores_desc(len), 2),
        base_attr(), engine_);
    dnnl::matmul::primitive_desc context_pd(
        dnnl::matmul::desc(scores_desc(len), v_desc(len), context_desc(len)), base_attr(),
        engine_);
    const size_t scratch = std::max({scores_pd.scratchpad_desc().get_size(),
                                     softmax_pd.scratchpad_desc().get_size(),
                                     context_pd.scratchpad_desc().get_size()});
    return Primitives{dnnl::matmul(scores_pd), dnnl::softmax_forward(softmax_pd),
                      dnnl::matmul(context_pd), scratch};
  });
}

MultiHeadAttention::Bound MultiHeadAttention::bind(int len, float* qkv, float* scores,
                                                   float* context) const {
  Bound b;
  b.prims = primitives(len);
  b.q = memory(q_desc(len), engine_, qkv);
  b.k = memory(k_desc(len), engine_, qkv + hidden_);
  b.v = memory(v_desc(len), engine_, qkv + 2 * hidden_);
  b.scores = memory(scores_desc(len), engine_, scores);
  b.context = memory(context_desc(len), engine_, context);
  return b;
}

void MultiHeadAttention::run(const Bound& b, const dnnl::stream& stream,
                             const memory& scratch) const {
  execute(b.prims->scores, stream,
          {{DNNL_ARG_SRC, &b.q}, {DNNL_ARG_WEIGHTS, &b.k}, {DNNL_ARG_DST, &b.scores},
           {DNNL_ARG_SCRATCHPAD, &scratch}});
  execute(b.prims->softmax, stream,
          {{DNNL_ARG_SRC, &b.scores}, {DNNL_ARG_DST, &b.scores}, {DNNL_ARG_SCRATCHPAD, &scratch}});
  execute(b.prims->context, stream,
          {{DNNL_ARG_SRC, &b.scores}, {DNNL_ARG_WEIGHTS, &b.v}, {DNNL_ARG_DST, &b.context},
           {DNNL_ARG_SCRATCHPAD, &scratch}});
}

}  // namespace tanzhen::kernels
