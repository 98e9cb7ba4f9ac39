// INT8 linear layer: s8 weights with per-output-channel scales, u8 activations quantized per
// call (per tensor, with a zero point), F32 output.
//
// The scales are a per-call binary-mul post-op, not oneDNN's runtime output scales: with runtime
// output scales oneDNN 2.6 drops from its brgemm (AMX / VNNI) kernels to a plain jit gemm over
// unpacked weights. The post-op chain is dst = act(acc * (scale_x * scale_w[n]) + b[n]); all
// operands are runtime tensors, so one primitive per shape serves every layer.
#include <algorithm>
#include <cstring>
#include <vector>

#include "tanzhen/error.h"
#include "tanzhen/kernels/linear.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen::kernels {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

constexpr int64_t kLayoutProbeRows = 128;

class Int8Linear final : public Linear::Impl {
 public:
  Int8Linear(const dnnl::engine& engine, GemmCache* cache, const int8_t* weight,
             const float* scales, const float* bias, int out, int in, Activation act)
      : engine_(engine), cache_(cache), in_(in), out_(out), act_(act), has_bias_(bias != nullptr),
        weight_scales_(scales, scales + out) {
    const memory::desc torch_layout({in, out}, dt::s8, tag::ba);
    const memory::desc any({in, out}, dt::s8, tag::any);
    // The packed layout may carry compensation terms (for the src zero point), which the
    // reorder computes from the weights.
    weights_ = memory(make_desc(kLayoutProbeRows, any).weights_desc(), engine_);
    memory src(torch_layout, engine_, const_cast<int8_t*>(weight));
    dnnl::stream stream(engine_);
    dnnl::reorder(src, weights_).execute(stream, src, weights_);
    stream.wait();
    if (has_bias_) {
      bias_ = memory(memory::desc({1, out}, dt::f32, tag::ab), engine_);
      std::memcpy(bias_.get_data_handle(), bias, sizeof(float) * static_cast<size_t>(out));
    }
  }

  LinearPrecision precision() const override { return LinearPrecision::kInt8; }
  int in_features() const override { return in_; }
  int out_features() const override { return out_; }

  std::shared_ptr<const GemmPrimitive> primitive(int64_t rows) const override {
    const GemmKey key{rows, in_, out_, linear_cache_tag(LinearPrecision::kInt8, act_, has_bias_)};
    return cache_->get(key, [&] {
      auto pd = make_desc(rows, weights_.get_desc());
      return GemmPrimitive{dnnl::matmul(pd), own_bytes(rows) + pd.scratchpad_desc().get_size()};
    });
  }

  void run(const GemmPrimitive& gemm, const dnnl::stream& stream, const memory& src,
           const memory& dst, const memory& scratch) const override {
    const int64_t rows = src.get_desc().dims()[0];
    // Scratch layout: [u8 src][combined scales, out floats][zero point][oneDNN scratchpad].
    auto* base = static_cast<uint8_t*>(scratch.get_data_handle());
    uint8_t* q = base;
    auto* scales = reinterpret_cast<float*>(base + src_bytes(rows));
    auto* zp = reinterpret_cast<int32_t*>(base + src_bytes(rows) + align64(out_ * 4));

    const ActivationQuant a = quantize_activations_u8(
        static_cast<const float*>(src.get_data_handle()), static_cast<size_t>(rows) * in_, q);
    for (int n = 0; n < out_; ++n) scales[n] = a.scale * weight_scales_[n];
    *zp = a.zero_point;

    const memory m_src(memory::desc({rows, in_}, dt::u8, tag::ab), engine_, q);
    const memory m_scales(memory::desc({1, out_}, dt::f32, tag::ab), engine_, scales);
    const memory m_zp(memory::desc({1}, dt::s32, tag::a), engine_, zp);
    const size_t pad_bytes = std::max<size_t>(gemm.scratch_bytes - own_bytes(rows), 1);
    const memory m_scratch(memory::desc({static_cast<int64_t>(pad_bytes)}, dt::u8, tag::a),
                           engine_, base + own_bytes(rows));
    if (has_bias_) {
      execute(gemm.prim, stream,
              {{DNNL_ARG_SRC, &m_src}, {DNNL_ARG_WEIGHTS, &weights_}, {DNNL_ARG_DST, &dst},
               {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, &m_zp},
               {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, &m_scales},
               {DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, &bias_},
               {DNNL_ARG_SCRATCHPAD, &m_scratch}});
    } else {
      execute(gemm.prim, stream,
              {{DNNL_ARG_SRC, &m_src}, {DNNL_ARG_WEIGHTS, &weights_}, {DNNL_ARG_DST, &dst},
               {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, &m_zp},
               {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, &m_scales},
               {DNNL_ARG_SCRATCHPAD, &m_scratch}});
    }
  }

 private:
  size_t src_bytes(int64_t rows) const { return align64(static_cast<size_t>(rows) * in_); }
  size_t own_bytes(int64_t rows) const { return src_bytes(rows) + align64(out_ * 4) + 64; }

  dnnl::matmul::primitive_desc make_desc(int64_t rows, const memory::desc& weights) const {
    dnnl::primitive_attr attr = base_attr();
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_mul, memory::desc({1, out_}, dt::f32, tag::ab));
    if (has_bias_) {
      ops.append_binary(dnnl::algorithm::binary_add,
                        memory::desc({1, out_}, dt::f32, tag::ab));
    }
    if (act_ == Activation::kGelu) {
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
    }
    attr.set_post_ops(ops);
    const memory::desc src({rows, in_}, dt::u8, tag::ab);
    const memory::desc dst({rows, out_}, dt::f32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), attr, engine_);
  }

  dnnl::engine engine_;
  GemmCache* cache_;
  int in_, out_;
  Activation act_;
  bool has_bias_;
  std::vector<float> weight_scales_;
  memory weights_;  // packed s8 (+ compensation), owned by oneDNN
  memory bias_;     // [1 x out] f32
};

}  // namespace

std::shared_ptr<const Linear::Impl> make_int8_linear(const dnnl::engine& engine, GemmCache* cache,
                                                     const int8_t* weight, const float* scales,
                                                     const float* bias, int out, int in,
                                                     Activation act) {
  if (out <= 0 || in <= 0) fail("internal", "linear layer with an empty shape");
  return std::make_shared<Int8Linear>(engine, cache, weight, scales, bias, out, in, act);
}

}  // namespace tanzhen::kernels
