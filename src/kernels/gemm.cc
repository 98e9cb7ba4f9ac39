#include "tanzhen/kernels/gemm.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "tanzhen/error.h"
#include "tanzhen/kernels/ops.h"

namespace tanzhen::kernels {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {

// The packed weights as avx512::PanelWeights when the panel kernel may run on them; else
// data = null.
avx512::PanelWeights panel_view(const memory& packed, int in, int out) {
  if (!panel_gemms_enabled() || !cpu_has_avx512() || in <= 0 ||
      !is_panel_layout(packed.get_desc(), false)) {
    return {};
  }
  return {static_cast<const float*>(packed.get_data_handle()), in, out,
          packed.get_desc().data.padded_dims[0]};
}
}  // namespace

bool panel_gemms_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("TANZHEN_GEMM");
    return !(v && std::string(v) == "onednn");
  }();
  return enabled;
}

bool avx2_f32_panels_active() {
  return panel_gemms_enabled() && !cpu_has_avx512() && cpu_has_avx2();
}

bool f32_linear_batch_invariant() {
  return panel_gemms_enabled() && (cpu_has_avx512() || avx2_f32_panels_active());
}

bool is_panel_layout(const memory::desc& packed, bool groups_of_4) {
  const dnnl_memory_desc_t& d = packed.data;
  const auto& b = d.format_desc.blocking;
  const int64_t padded_in = d.padded_dims[0];
  const int64_t k_block = groups_of_4 ? 64 : 16;  // k rows per oneDNN block
  const bool blocks = groups_of_4 ? b.inner_nblks == 3 && b.inner_blks[2] == 4 && b.inner_idxs[2] == 0
                                  : b.inner_nblks == 2;
  return d.format_kind == dnnl_blocked && d.ndims == 2 && d.extra.flags == 0 && blocks &&
         b.inner_blks[0] == 16 && b.inner_idxs[0] == 0 &&
         b.inner_blks[1] == avx512::kPanelCols && b.inner_idxs[1] == 1 &&
         b.strides[0] == k_block * avx512::kPanelCols &&
         b.strides[1] == padded_in * avx512::kPanelCols;
}

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

memory byte_memory(const dnnl::engine& engine, void* data, size_t bytes) {
  return memory(memory::desc({static_cast<int64_t>(bytes)}, dt::u8, tag::a), engine, data);
}

dnnl::primitive_attr activation_attr(Activation act) {
  dnnl::primitive_attr a = base_attr();
  if (act == Activation::kGelu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
    a.set_post_ops(ops);
  }
  return a;
}

memory pack_torch_weights(const dnnl::engine& engine, const void* weight, int out, int in,
                          dt type, const memory::desc& packed) {
  memory packed_weights(packed, engine);
  memory src(memory::desc({in, out}, type, tag::ba), engine, const_cast<void*>(weight));
  dnnl::stream stream(engine);
  dnnl::reorder(src, packed_weights).execute(stream, src, packed_weights);
  stream.wait();
  return packed_weights;
}

memory bias_memory(const dnnl::engine& engine, const float* bias, int out) {
  memory m(memory::desc({1, out}, dt::f32, tag::ab), engine);
  std::memcpy(m.get_data_handle(), bias, sizeof(float) * static_cast<size_t>(out));
  return m;
}

PackedLinear::PackedLinear(const dnnl::engine& engine, GemmCache* cache, const float* weight,
                           const float* bias, int out, int in, Activation act)
    : engine_(engine), cache_(cache), in_(in), out_(out), act_(act), has_bias_(bias != nullptr) {
  if (has_bias_) bias_ = bias_memory(engine_, bias, out);
  if (avx2_f32_panels_active()) {
    weights_ = pack_torch_weights(engine_, weight, out, in, dt::f32,
                                  memory::desc({in, out}, dt::f32, tag::BA16a16b));
    avx2_panels_ = {static_cast<const float*>(weights_.get_data_handle()), in, out,
                    weights_.get_desc().data.padded_dims[0]};
    return;
  }
  const memory::desc any({in, out}, dt::f32, tag::any);
  weights_ = pack_torch_weights(engine_, weight, out, in, dt::f32,
                                make_desc(kLayoutProbeRows, any).weights_desc());
  panels_ = panel_view(weights_, in, out);
}

dnnl::primitive_attr PackedLinear::attr() const { return activation_attr(act_); }

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
  if (panels_.data || avx2_panels_.data) {  // a panel kernel: no oneDNN primitive, no scratch
    static const auto kNone = std::make_shared<const GemmPrimitive>();
    return kNone;
  }
  const GemmKey key{rows, in_, out_, static_cast<int>(act_) * 2 + (has_bias_ ? 1 : 0)};
  return cache_->get(key, [&] {
    auto pd = make_desc(rows, weights_.get_desc());
    return GemmPrimitive{dnnl::matmul(pd), pd.scratchpad_desc().get_size()};
  });
}

void PackedLinear::run(const GemmPrimitive& gemm, const dnnl::stream& stream, const memory& src,
                       const memory& dst, const memory& scratch) const {
  if (!gemm.prim && avx2_panels_.data) {  // primitive() said: a panel kernel
    avx2::gemm_f32_panels(static_cast<const float*>(src.get_data_handle()),
                          src.get_desc().dims()[0], avx2_panels_,
                          has_bias_ ? static_cast<const float*>(bias_.get_data_handle()) : nullptr,
                          act_ == Activation::kGelu, static_cast<float*>(dst.get_data_handle()));
    return;
  }
  if (!gemm.prim) {
    avx512::gemm_f32_panels(static_cast<const float*>(src.get_data_handle()),
                            src.get_desc().dims()[0], panels_,
                            has_bias_ ? static_cast<const float*>(bias_.get_data_handle()) : nullptr,
                            act_ == Activation::kGelu, static_cast<float*>(dst.get_data_handle()));
    return;
  }
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
