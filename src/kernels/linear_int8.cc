// INT8 linear layer: s8 weights with per-output-channel scales, u8 activations quantized per
// call (per tensor, with a zero point), F32 output.
//
// oneDNN runs the bare u8 x s8 -> s32 matmul, with no attributes at all, and
// dequantize_s32 (linear_quant.h) then does everything else in one pass over the output:
// zero-point correction, scale_x * scale_w[n], bias, GELU. Why not oneDNN's own attributes:
// in oneDNN 2.6 runtime output scales move the matmul off its brgemm (AMX / VNNI) kernels,
// and the replacement (scales and bias as binary post-ops, zero point as an attribute) made
// the GEMMs 2-2.5x slower than the bare matmul at BERT-base shapes. The zero point is removed
// exactly, in integers: Σ_k (q_x - zp) q_w[n, k] = acc - zp · colsum[n].
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
      : engine_(engine), cache_(cache), in_(in), out_(out), act_(act),
        weight_scales_(scales, scales + out), colsum_(out, 0) {
    if (bias) bias_.assign(bias, bias + out);
    for (int n = 0; n < out; ++n) {
      const int8_t* row = weight + static_cast<size_t>(n) * in;
      for (int k = 0; k < in; ++k) colsum_[n] += row[k];
    }
    const memory::desc any({in, out}, dt::s8, tag::any);
    weights_ = pack_torch_weights(engine_, weight, out, in, dt::s8,
                                  make_desc(kLayoutProbeRows, any).weights_desc());
  }

  LinearPrecision precision() const override { return LinearPrecision::kInt8; }
  int in_features() const override { return in_; }
  int out_features() const override { return out_; }

  std::shared_ptr<const GemmPrimitive> primitive(int64_t rows) const override {
    const GemmKey key{rows, in_, out_,
                      linear_cache_tag(LinearPrecision::kInt8, act_, !bias_.empty())};
    return cache_->get(key, [&] {
      auto pd = make_desc(rows, weights_.get_desc());
      return GemmPrimitive{dnnl::matmul(pd), own_bytes(rows) + pd.scratchpad_desc().get_size()};
    });
  }

  void run(const GemmPrimitive& gemm, const dnnl::stream& stream, const memory& src,
           const memory& dst, const memory& scratch) const override {
    const int64_t rows = src.get_desc().dims()[0];
    // Scratch layout: [u8 src][combined scales, out floats][zp · colsum, out s32][scratchpad].
    auto* base = static_cast<uint8_t*>(scratch.get_data_handle());
    uint8_t* q = base;
    auto* scales = reinterpret_cast<float*>(base + src_bytes(rows));
    auto* zp_colsum = reinterpret_cast<int32_t*>(base + src_bytes(rows) + align64(out_ * 4));

    const ActivationQuant a = quantize_activations_u8(
        static_cast<const float*>(src.get_data_handle()), static_cast<size_t>(rows) * in_, q);
    for (int n = 0; n < out_; ++n) {
      scales[n] = a.scale * weight_scales_[n];
      zp_colsum[n] = a.zero_point * colsum_[n];
    }

    // The s32 accumulators go straight into dst (4-byte elements, same layout), and are
    // turned into F32 outputs in place.
    const memory m_src(memory::desc({rows, in_}, dt::u8, tag::ab), engine_, q);
    const memory m_acc(memory::desc({rows, out_}, dt::s32, tag::ab), engine_,
                       dst.get_data_handle());
    const size_t pad_bytes = std::max<size_t>(gemm.scratch_bytes - own_bytes(rows), 1);
    const memory m_scratch(memory::desc({static_cast<int64_t>(pad_bytes)}, dt::u8, tag::a),
                           engine_, base + own_bytes(rows));
    execute(gemm.prim, stream,
            {{DNNL_ARG_SRC, &m_src}, {DNNL_ARG_WEIGHTS, &weights_}, {DNNL_ARG_DST, &m_acc},
             {DNNL_ARG_SCRATCHPAD, &m_scratch}});
    auto* out = static_cast<float*>(dst.get_data_handle());
    dequantize_s32(reinterpret_cast<const int32_t*>(out), rows, out_, zp_colsum, scales,
                   bias_.empty() ? nullptr : bias_.data(), act_ == Activation::kGelu, out);
  }

 private:
  size_t src_bytes(int64_t rows) const { return align64(static_cast<size_t>(rows) * in_); }
  size_t own_bytes(int64_t rows) const { return src_bytes(rows) + 2 * align64(out_ * 4); }

  dnnl::matmul::primitive_desc make_desc(int64_t rows, const memory::desc& weights) const {
    const memory::desc src({rows, in_}, dt::u8, tag::ab);
    const memory::desc dst({rows, out_}, dt::s32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), base_attr(),
                                        engine_);
  }

  dnnl::engine engine_;
  GemmCache* cache_;
  int in_, out_;
  Activation act_;
  std::vector<float> weight_scales_;
  std::vector<int32_t> colsum_;  // Σ_k q_w[n, k], for the zero-point correction
  std::vector<float> bias_;      // [out], empty without bias
  memory weights_;               // packed s8, owned by oneDNN
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
