// BF16 linear layer: packed bf16 weights, activations rounded to bf16 per call, F32 output.
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

class Bf16Linear final : public Linear::Impl {
 public:
  Bf16Linear(const dnnl::engine& engine, GemmCache* cache, const uint16_t* weight,
             const float* bias, int out, int in, Activation act)
      : engine_(engine), cache_(cache), in_(in), out_(out), act_(act), has_bias_(bias != nullptr) {
    const memory::desc any({in, out}, dt::bf16, tag::any);
    weights_ = pack_torch_weights(engine_, weight, out, in, dt::bf16,
                                  make_desc(kLayoutProbeRows, any).weights_desc());
    if (has_bias_) bias_ = bias_memory(engine_, bias, out);
  }

  LinearPrecision precision() const override { return LinearPrecision::kBF16; }
  int in_features() const override { return in_; }
  int out_features() const override { return out_; }

  std::shared_ptr<const GemmPrimitive> primitive(int64_t rows) const override {
    const GemmKey key{rows, in_, out_, linear_cache_tag(LinearPrecision::kBF16, act_, has_bias_)};
    return cache_->get(key, [&] {
      auto pd = make_desc(rows, weights_.get_desc());
      // Scratch layout: [bf16 copy of src][oneDNN scratchpad].
      return GemmPrimitive{dnnl::matmul(pd),
                           src_bytes(rows) + pd.scratchpad_desc().get_size()};
    });
  }

  void run(const GemmPrimitive& gemm, const dnnl::stream& stream, const memory& src,
           const memory& dst, const memory& scratch) const override {
    const int64_t rows = src.get_desc().dims()[0];
    auto* base = static_cast<uint8_t*>(scratch.get_data_handle());
    auto* x16 = reinterpret_cast<uint16_t*>(base);
    convert_to_bf16(static_cast<const float*>(src.get_data_handle()),
                    static_cast<size_t>(rows) * in_, x16);
    const memory m_src(memory::desc({rows, in_}, dt::bf16, tag::ab), engine_, x16);
    const size_t pad_bytes = std::max<size_t>(gemm.scratch_bytes - src_bytes(rows), 1);
    const memory m_scratch(memory::desc({static_cast<int64_t>(pad_bytes)}, dt::u8, tag::a),
                           engine_, base + src_bytes(rows));
    if (has_bias_) {
      execute(gemm.prim, stream,
              {{DNNL_ARG_SRC, &m_src}, {DNNL_ARG_WEIGHTS, &weights_}, {DNNL_ARG_BIAS, &bias_},
               {DNNL_ARG_DST, &dst}, {DNNL_ARG_SCRATCHPAD, &m_scratch}});
    } else {
      execute(gemm.prim, stream,
              {{DNNL_ARG_SRC, &m_src}, {DNNL_ARG_WEIGHTS, &weights_}, {DNNL_ARG_DST, &dst},
               {DNNL_ARG_SCRATCHPAD, &m_scratch}});
    }
  }

 private:
  size_t src_bytes(int64_t rows) const { return align64(static_cast<size_t>(rows) * in_ * 2); }

  dnnl::matmul::primitive_desc make_desc(int64_t rows, const memory::desc& weights) const {
    const dnnl::primitive_attr attr = activation_attr(act_);
    const memory::desc src({rows, in_}, dt::bf16, tag::ab);
    const memory::desc dst({rows, out_}, dt::f32, tag::ab);
    if (has_bias_) {
      const memory::desc bias({1, out_}, dt::f32, tag::ab);
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias, dst), attr,
                                          engine_);
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), attr, engine_);
  }

  dnnl::engine engine_;
  GemmCache* cache_;
  int in_, out_;
  Activation act_;
  bool has_bias_;
  memory weights_;  // packed bf16, owned by oneDNN
  memory bias_;     // [1 x out] f32
};

}  // namespace

bool bf16_gemm_supported() {
  static const bool ok = [] {
    try {
      const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
      const memory::desc x({1, 16}, dt::bf16, tag::ab), w({16, 16}, dt::bf16, tag::any),
          y({1, 16}, dt::f32, tag::ab);
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(x, w, y), engine);
      return true;
    } catch (const dnnl::error&) {
      return false;  // oneDNN has no implementation for this CPU
    }
  }();
  return ok;
}

std::shared_ptr<const Linear::Impl> make_bf16_linear(const dnnl::engine& engine, GemmCache* cache,
                                                     const uint16_t* weight, const float* bias,
                                                     int out, int in, Activation act) {
  if (out <= 0 || in <= 0) fail("internal", "linear layer with an empty shape");
  if (!bf16_gemm_supported()) {
    fail("unsupported_dtype",
         "bf16 needs a CPU with AVX-512 (oneDNN has no bf16 matrix multiply for this one); use "
         "--dtype fp32 or int8");
  }
  return std::make_shared<Bf16Linear>(engine, cache, weight, bias, out, in, act);
}

}  // namespace tanzhen::kernels
