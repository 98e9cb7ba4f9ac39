#include "tanzhen/kernels/gemm.h"

#include <cstring>
#include <string>

#include "tanzhen/error.h"

namespace tanzhen::kernels {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {
// Row count used to ask oneDNN for its preferred weight layout. The layout depends on the
// weight shape only (checked: identical for M = 1..2000), so any M will do.
constexpr int64_t kLayoutProbeRows = 128;
}  // namespace

dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr attr;
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void execute(const dnnl::primitive& prim, const dnnl::stream& stream,
             std::initializer_list<std::pair<int, const dnnl::memory*>> args) {
  dnnl_exec_arg_t c_args[8];
  int n = 0;
  for (const auto& [id, mem] : args) {
    if (n == 8) fail("internal", "too many primitive arguments");
    c_args[n++] = {id, mem->get()};
  }
  const dnnl_status_t st = dnnl_primitive_execute(prim.get(), stream.get(), n, c_args);
  if (st != dnnl_success) fail("internal", "oneDNN primitive failed, status " + std::to_string(st));
}

memory plain_memory(const dnnl::engine& engine, int64_t rows, int64_t cols, float* data) {
  return memory(memory::desc({rows, cols}, dt::f32, tag::ab), engine, data);
}

PackedLinear::PackedLinear(const dnnl::engine& engine, GemmCache* cache, const float* weight,
                           const float* bias, int out, int in, Activation act)
    : engine_(engine), cache_(cache), in_(in), out_(out), act_(act), has_bias_(bias != nullptr) {
  // PyTorch's [out x in] is oneDNN's weights {K = in, N = out} in "ba" order.
  const memory::desc torch_layout({in, out}, dt::f32, tag::ba);
  const memory::desc any({in, out}, dt::f32, tag::any);
  const memory::desc packed = make_desc(kLayoutProbeRows, any).weights_desc();

  weights_ = memory(packed, engine_);
  memory src(torch_layout, engine_, const_cast<float*>(weight));
  dnnl::stream stream(engine_);
  dnnl::reorder(src, weights_).execute(stream, src, weights_);
  stream.wait();

  if (has_bias_) {
    bias_ = memory(memory::desc({1, out}, dt::f32, tag::ab), engine_);
    std::memcpy(bias_.get_data_handle(), bias, sizeof(float) * static_cast<size_t>(out));
  }
}

dnnl::primitive_attr PackedLinear::attr() const {
  dnnl::primitive_attr a = base_attr();
  if (act_ == Activation::kGelu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
    a.set_post_ops(ops);
  }
  return a;
}

dnnl::matmul::primitive_desc PackedLinear::make_desc(int64_t rows,
                                                     const memory::desc& weights) const {
  const memory::desc src({rows, in_}, dt::f32, tag::ab);
  const memory::desc dst({rows, out_}, dt::f32, tag::ab);
  if (has_bias_) {
    const memory::desc bias({1, out_}, dt::f32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias, dst), attr(),
                                        engine_);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), attr(), engine_);
}

std::shared_ptr<const GemmPrimitive> PackedLinear::primitive(int64_t rows) const {
  const GemmKey key{rows, in_, out_, static_cast<int>(act_) * 2 + (has_bias_ ? 1 : 0)};
  return cache_->get(key, [&] {
    auto pd = make_desc(rows, weights_.get_desc());
    return GemmPrimitive{dnnl::matmul(pd), pd.scratchpad_desc().get_size()};
  });
}

void PackedLinear::run(const GemmPrimitive& gemm, const dnnl::stream& stream, const memory& src,
                       const memory& dst, const memory& scratch) const {
  if (has_bias_) {
    execute(gemm.prim, stream,
            {{DNNL_ARG_SRC, &src}, {DNNL_ARG_WEIGHTS, &weights_}, {DNNL_ARG_BIAS, &bias_},
             {DNNL_ARG_DST, &dst}, {DNNL_ARG_SCRATCHPAD, &scratch}});
  } else {
    execute(gemm.prim, stream,
            {{DNNL_ARG_SRC, &src}, {DNNL_ARG_WEIGHTS, &weights_}, {DNNL_ARG_DST, &dst},
             {DNNL_ARG_SCRATCHPAD, &scratch}});
  }
}

}  // namespace tanzhen::kernels
