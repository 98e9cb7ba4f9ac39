// INT8 linear layer: s8 weights with per-output-channel scales, u8 activations quantized per
// call (per row, with a zero point), F32 output.
//
// On CPUs with AVX512-VNNI, avx512::gemm_u8s8_panels runs the GEMM and the epilogue in one pass
// over oneDNN's packed weights (kernels/cpu/gemm_u8s8_avx512.h); on other AVX2 CPUs
// avx2::gemm_u8s8_panels does, on weights packed here (gemm_u8s8_avx2.h). Elsewhere (or with
// TANZHEN_GEMM=onednn) oneDNN runs the bare u8 x s8 -> s32 matmul, with no attributes at all, and
// dequantize_s32 (linear_quant.h) then does everything else in one pass over the output:
// zero-point correction, scale_x[r] * scale_w[n], bias, GELU. Two INT8 layers in a row
// (run_int8_chain) skip the F32 tensor between them: the first one's epilogue quantizes its
// rows for the second. Why not oneDNN's own attributes:
// in oneDNN 2.6 runtime output scales move the matmul off its brgemm (AMX / VNNI) kernels,
// and the replacement (scales and bias as binary post-ops, zero point as an attribute) made
// the GEMMs 2-2.5x slower than the bare matmul at BERT-base shapes. The zero point is removed
// exactly, in integers: Σ_k (q_x - zp[r]) q_w[n, k] = acc - zp[r] · colsum[n].
#include <algorithm>
#include <cstring>
#include <vector>

#include "tanzhen/error.h"
#include "tanzhen/kernels/cpu/gemm_u8s8_avx2.h"
#include "tanzhen/kernels/cpu/gemm_u8s8_avx512.h"
#include "tanzhen/kernels/linear.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen::kernels {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

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
    // (The AVX2 kernel needs 7-bit codes, so it is never supported where the VNNI one is.)
    if (panel_gemms_enabled() && avx2::gemm_u8s8_panels_supported() && in % 4 == 0) {
      avx2_packed_ = avx2::pack_s8_panels(weight, out, in);  // no oneDNN copy of the weights
      avx2_panels_ = avx2::s8_panel_view(avx2_packed_, out, in);
      return;
    }
    const memory::desc any({in, out}, dt::s8, tag::any);
    weights_ = pack_torch_weights(engine_, weight, out, in, dt::s8,
                                  make_desc(kLayoutProbeRows, any).weights_desc());
    if (panel_gemms_enabled() && avx512::gemm_u8s8_panels_supported() && in % 4 == 0 &&
        is_panel_layout(weights_.get_desc(), true)) {
      panels_ = {static_cast<const int8_t*>(weights_.get_data_handle()), in, out,
                 weights_.get_desc().data.padded_dims[0]};
    }
  }

  // Whether a panel kernel runs this layer's GEMMs (then with no oneDNN primitive).
  bool uses_panels() const { return panels_.data != nullptr || avx2_panels_.data != nullptr; }

  LinearPrecision precision() const override { return LinearPrecision::kInt8; }
  int in_features() const override { return in_; }
  int out_features() const override { return out_; }

  std::shared_ptr<const GemmPrimitive> primitive(int64_t rows) const override {
    const GemmKey key{rows, in_, out_,
                      linear_cache_tag(LinearPrecision::kInt8, act_, !bias_.empty())};
    return cache_->get(key, [&] {
      if (uses_panels()) return GemmPrimitive{dnnl::matmul(), own_bytes(rows)};
      auto pd = make_desc(rows, weights_.get_desc());
      return GemmPrimitive{dnnl::matmul(pd), own_bytes(rows) + pd.scratchpad_desc().get_size()};
    });
  }

  void run(const GemmPrimitive& gemm, const dnnl::stream& stream, const memory& src,
           const memory& dst, const memory& scratch) const override {
    const int64_t rows = src.get_desc().dims()[0];
    const Input in = quantize_input(src, scratch);
    if (panels_.data) {
      avx512::gemm_u8s8_panels(in.q, rows, panels_, epilogue(in),
                               static_cast<float*>(dst.get_data_handle()));
      return;
    }
    if (avx2_panels_.data) {
      avx2::gemm_u8s8_panels(in.q, rows, avx2_panels_, epilogue(in),
                             static_cast<float*>(dst.get_data_handle()));
      return;
    }
    // The s32 accumulators go straight into dst (4-byte elements, same layout), and are
    // turned into F32 outputs in place.
    int32_t* acc = multiply(gemm, stream, in, rows, dst.get_data_handle(), scratch);
    dequantize_s32(acc, rows, out_, epilogue(in), static_cast<float*>(dst.get_data_handle()));
  }

  // Quantized activations: u8 rows with their scales and zero points, laid out from `base`
  // as [u8, rows x cols][scales, rows floats][zero points, rows s32], each 64-byte aligned.
  // The layers' input slot in scratch and run_int8_chain's link both use this layout.
  struct Input {
    uint8_t* q;
    float* scale;
    int32_t* zero_point;

    static size_t bytes(int64_t rows, int cols) {
      return align64(static_cast<size_t>(rows) * cols) + 2 * align64(rows * 4);
    }
    static Input at(void* base, int64_t rows, int cols) {
      auto* b = static_cast<uint8_t*>(base);
      const size_t q_bytes = align64(static_cast<size_t>(rows) * cols);
      return Input{b, reinterpret_cast<float*>(b + q_bytes),
                   reinterpret_cast<int32_t*>(b + q_bytes + align64(rows * 4))};
    }
  };

  // This layer's input slot at the start of `scratch`, for rows = the GEMM's rows.
  Input input_slot(const memory& scratch, int64_t rows) const {
    return Input::at(scratch.get_data_handle(), rows, in_);
  }

  Input quantize_input(const memory& src, const memory& scratch) const {
    const int64_t rows = src.get_desc().dims()[0];
    const Input in = input_slot(scratch, rows);
    quantize_rows_u8(static_cast<const float*>(src.get_data_handle()), rows, in_, in.q, in.scale,
                     in.zero_point);
    return in;
  }

  // The u8 x s8 -> s32 GEMM of `in` into acc ([rows x out] 4-byte elements).
  int32_t* multiply(const GemmPrimitive& gemm, const dnnl::stream& stream, const Input& in,
                    int64_t rows, void* acc, const memory& scratch) const {
    auto* base = static_cast<uint8_t*>(scratch.get_data_handle());
    const memory m_src(memory::desc({rows, in_}, dt::u8, tag::ab), engine_, in.q);
    const memory m_acc(memory::desc({rows, out_}, dt::s32, tag::ab), engine_, acc);
    const size_t pad_bytes = std::max<size_t>(gemm.scratch_bytes - own_bytes(rows), 1);
    const memory m_scratch(memory::desc({static_cast<int64_t>(pad_bytes)}, dt::u8, tag::a),
                           engine_, base + own_bytes(rows));
    execute(gemm.prim, stream,
            {{DNNL_ARG_SRC, &m_src}, {DNNL_ARG_WEIGHTS, &weights_}, {DNNL_ARG_DST, &m_acc},
             {DNNL_ARG_SCRATCHPAD, &m_scratch}});
    return static_cast<int32_t*>(acc);
  }

  Int8Epilogue epilogue(const Input& in) const {
    Int8Epilogue e;
    e.colsum = colsum_.data();
    e.w_scale = weight_scales_.data();
    e.x_scale = in.scale;
    e.x_zero_point = in.zero_point;
    e.bias = bias_.empty() ? nullptr : bias_.data();
    e.gelu = act_ == Activation::kGelu;
    return e;
  }

 private:
  // Scratch layout: [the input slot, Input::bytes(rows, in)][oneDNN's scratchpad].
  size_t own_bytes(int64_t rows) const { return Input::bytes(rows, in_); }

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
  avx512::PanelWeightsS8 panels_;  // weights_ for gemm_u8s8_panels, or data = null
  std::vector<int8_t> avx2_packed_;   // the weights for avx2::gemm_u8s8_panels (then no weights_)
  avx2::PanelWeightsS8 avx2_panels_;  // avx2_packed_, or data = null
};

}  // namespace

bool run_int8_chain(const Linear::Impl& first, const GemmPrimitive& g1,
                    const Linear::Impl& second, const GemmPrimitive& g2,
                    const dnnl::stream& stream, const dnnl::memory& src, const dnnl::memory& mid,
                    const dnnl::memory& dst, const dnnl::memory& scratch, void* link) {
  const auto* a = dynamic_cast<const Int8Linear*>(&first);
  const auto* b = dynamic_cast<const Int8Linear*>(&second);
  // The panel kernel's epilogue already writes F32 rows from registers: two plain runs.
  if (!a || !b || a->uses_panels() || b->uses_panels()) return false;
  const int64_t rows = src.get_desc().dims()[0];
  // first: quantize src into its scratch slot, GEMM into mid (as s32), then its epilogue
  // quantizes every output row into `link`, the second layer's input; second: GEMM + epilogue.
  const auto in = a->quantize_input(src, scratch);
  int32_t* acc = a->multiply(g1, stream, in, rows, mid.get_data_handle(), scratch);
  const auto next = Int8Linear::Input::at(link, rows, a->out_features());
  dequantize_s32_to_u8(acc, rows, a->out_features(), a->epilogue(in), next.q, next.scale,
                       next.zero_point);
  int32_t* out = b->multiply(g2, stream, next, rows, dst.get_data_handle(), scratch);
  dequantize_s32(out, rows, b->out_features(), b->epilogue(next),
                 static_cast<float*>(dst.get_data_handle()));
  return true;
}

size_t int8_chain_link_bytes(const Linear::Impl& first, const Linear::Impl& second,
                             int64_t rows) {
  const auto* a = dynamic_cast<const Int8Linear*>(&first);
  const auto* b = dynamic_cast<const Int8Linear*>(&second);
  if (!a || !b || a->uses_panels() || b->uses_panels()) return 0;
  return Int8Linear::Input::bytes(rows, a->out_features());
}

std::shared_ptr<const Linear::Impl> make_int8_linear(const dnnl::engine& engine, GemmCache* cache,
                                                     const int8_t* weight, const float* scales,
                                                     const float* bias, int out, int in,
                                                     Activation act) {
  if (out <= 0 || in <= 0) fail("internal", "linear layer with an empty shape");
  return std::make_shared<Int8Linear>(engine, cache, weight, scales, bias, out, in, act);
}

}  // namespace tanzhen::kernels
