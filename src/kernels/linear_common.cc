// Linear: the precision-independent front (dispatch to one implementation) and the F32
// implementation, which is the encoder's PackedLinear unchanged.
#include "tanzhen/kernels/linear.h"

#include "tanzhen/error.h"

namespace tanzhen::kernels {
namespace {

class F32Linear final : public Linear::Impl {
 public:
  F32Linear(const dnnl::engine& engine, GemmCache* cache, const float* weight, const float* bias,
            int out, int in, Activation act)
      : packed_(engine, cache, weight, bias, out, in, act) {}

  LinearPrecision precision() const override { return LinearPrecision::kF32; }
  int in_features() const override { return packed_.in_features(); }
  int out_features() const override { return packed_.out_features(); }
  std::shared_ptr<const GemmPrimitive> primitive(int64_t rows) const override {
    return packed_.primitive(rows);
  }
  void run(const GemmPrimitive& gemm, const dnnl::stream& stream, const dnnl::memory& src,
           const dnnl::memory& dst, const dnnl::memory& scratch) const override {
    packed_.run(gemm, stream, src, dst, scratch);
  }

 private:
  PackedLinear packed_;
};

const Linear::Impl& checked(const std::shared_ptr<const Linear::Impl>& impl) {
  if (!impl) fail("internal", "use of an empty Linear");
  return *impl;
}

}  // namespace

Linear Linear::f32(const dnnl::engine& engine, GemmCache* cache, const float* weight,
                   const float* bias, int out, int in, Activation act) {
  return Linear(std::make_shared<F32Linear>(engine, cache, weight, bias, out, in, act));
}

Linear Linear::bf16(const dnnl::engine& engine, GemmCache* cache, const uint16_t* weight,
                    const float* bias, int out, int in, Activation act) {
  return Linear(make_bf16_linear(engine, cache, weight, bias, out, in, act));
}

Linear Linear::int8(const dnnl::engine& engine, GemmCache* cache, const int8_t* weight,
                    const float* scales, const float* bias, int out, int in, Activation act) {
  return Linear(make_int8_linear(engine, cache, weight, scales, bias, out, in, act));
}

LinearPrecision Linear::precision() const { return checked(impl_).precision(); }
int Linear::in_features() const { return checked(impl_).in_features(); }
int Linear::out_features() const { return checked(impl_).out_features(); }

std::shared_ptr<const GemmPrimitive> Linear::primitive(int64_t rows) const {
  return checked(impl_).primitive(rows);
}

void Linear::run(const GemmPrimitive& gemm, const dnnl::stream& stream, const dnnl::memory& src,
                 const dnnl::memory& dst, const dnnl::memory& scratch) const {
  checked(impl_).run(gemm, stream, src, dst, scratch);
}

void Linear::run_chain(const Linear& first, const GemmPrimitive& g1, const Linear& second,
                       const GemmPrimitive& g2, const dnnl::stream& stream,
                       const dnnl::memory& src, const dnnl::memory& mid, const dnnl::memory& dst,
                       const dnnl::memory& scratch, void* link) {
  if (run_int8_chain(checked(first.impl_), g1, checked(second.impl_), g2, stream, src, mid, dst,
                     scratch, link)) {
    return;
  }
  first.run(g1, stream, src, mid, scratch);
  second.run(g2, stream, mid, dst, scratch);
}

size_t Linear::chain_link_bytes(const Linear& first, const Linear& second, int64_t rows) {
  return int8_chain_link_bytes(checked(first.impl_), checked(second.impl_), rows);
}

}  // namespace tanzhen::kernels
