// A linear layer y = act(x · Wᵀ + b) at one of three precisions, behind one interface, so the
// encoder runs the same code whatever precision was selected at load:
//   kF32   the F32 PackedLinear (gemm.h), unchanged.
//   kBF16  weights stored BF16 (packed for oneDNN); each call rounds x to BF16; oneDNN's
//          bf16 x bf16 matmul accumulates and writes F32, bias and GELU fused as post-ops.
//   kInt8  weights s8 with per-output-channel scales (linear_quant.h); each call quantizes x
//          per row to u8 with a zero point; oneDNN's u8 x s8 matmul (VNNI / AMX) accumulates
//          in s32 (no attributes: its fastest kernels); one fused pass then removes the zero
//          point, applies scale_x * scale_w[n], bias and GELU (dequantize_s32).
// Inputs and outputs are F32 at every precision: only the GEMM changes. The per-call operand
// (u8 / bf16 copy of x, the combined scales) lives in the caller's scratch memory, whose size
// primitive(rows)->scratch_bytes includes it, so concurrent calls share nothing.
#pragma once
#include <cstdint>
#include <memory>

#include <dnnl.hpp>

#include "tanzhen/kernels/gemm.h"

namespace tanzhen::kernels {

enum class LinearPrecision { kF32, kBF16, kInt8 };

class Linear {
 public:
  Linear() = default;

  // weight [out x in] row-major (PyTorch layout), bias [out] or null. Weights are copied.
  static Linear f32(const dnnl::engine& engine, GemmCache* cache, const float* weight,
                    const float* bias, int out, int in, Activation act);
  static Linear bf16(const dnnl::engine& engine, GemmCache* cache, const uint16_t* weight,
                     const float* bias, int out, int in, Activation act);
  // scales [out]: w[r, c] ≈ weight[r, c] * scales[r].
  static Linear int8(const dnnl::engine& engine, GemmCache* cache, const int8_t* weight,
                     const float* scales, const float* bias, int out, int in, Activation act);

  LinearPrecision precision() const;
  int in_features() const;
  int out_features() const;

  // The primitive for `rows` rows (cached); its scratch_bytes covers oneDNN's scratchpad and
  // this layer's per-call operand buffers.
  std::shared_ptr<const GemmPrimitive> primitive(int64_t rows) const;

  // dst[rows x out] = act(src[rows x in] · Wᵀ + b); src/dst plain row-major F32 memories whose
  // row count matches gemm's; scratch holds at least gemm.scratch_bytes bytes.
  void run(const GemmPrimitive& gemm, const dnnl::stream& stream, const dnnl::memory& src,
           const dnnl::memory& dst, const dnnl::memory& scratch) const;

  // dst = second(first(src)), with first's output in `mid` ([rows x first.out] F32 memory).
  // When both layers are INT8 the F32 intermediate is skipped: first's epilogue quantizes its
  // rows straight into `link` (chain_link_bytes) for second, and mid only holds first's s32
  // accumulators. Otherwise it is run(first), run(second) and `link` is not touched. Same
  // results either way.
  static void run_chain(const Linear& first, const GemmPrimitive& g1, const Linear& second,
                        const GemmPrimitive& g2, const dnnl::stream& stream,
                        const dnnl::memory& src, const dnnl::memory& mid,
                        const dnnl::memory& dst, const dnnl::memory& scratch, void* link);
  // Bytes of run_chain's `link` for `rows` rows: 0 unless both layers are INT8.
  static size_t chain_link_bytes(const Linear& first, const Linear& second, int64_t rows);

  class Impl;

 private:
  explicit Linear(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

class Linear::Impl {
 public:
  virtual ~Impl() = default;
  virtual LinearPrecision precision() const = 0;
  virtual int in_features() const = 0;
  virtual int out_features() const = 0;
  virtual std::shared_ptr<const GemmPrimitive> primitive(int64_t rows) const = 0;
  virtual void run(const GemmPrimitive& gemm, const dnnl::stream& stream, const dnnl::memory& src,
                   const dnnl::memory& dst, const dnnl::memory& scratch) const = 0;
};

// True when oneDNN has a bf16 matmul for the running CPU (AVX-512 ones; not AVX2-only ones),
// checked once. Without it Linear::bf16 throws Error("unsupported_dtype") and the attention of
// reduced-precision models keeps F32 operands.
bool bf16_gemm_supported();

// Makers of the reduced-precision implementations (linear_bf16.cc, linear_int8.cc).
std::shared_ptr<const Linear::Impl> make_bf16_linear(const dnnl::engine& engine, GemmCache* cache,
                                                     const uint16_t* weight, const float* bias,
                                                     int out, int in, Activation act);
std::shared_ptr<const Linear::Impl> make_int8_linear(const dnnl::engine& engine, GemmCache* cache,
                                                     const int8_t* weight, const float* scales,
                                                     const float* bias, int out, int in,
                                                     Activation act);

// run_chain's INT8 path (linear_int8.cc): false, doing nothing, unless both layers are INT8.
bool run_int8_chain(const Linear::Impl& first, const GemmPrimitive& g1,
                    const Linear::Impl& second, const GemmPrimitive& g2,
                    const dnnl::stream& stream, const dnnl::memory& src, const dnnl::memory& mid,
                    const dnnl::memory& dst, const dnnl::memory& scratch, void* link);
size_t int8_chain_link_bytes(const Linear::Impl& first, const Linear::Impl& second,
                             int64_t rows);

// GemmCache keys of the reduced-precision layers: the 4th field is offset per precision so
// that they never collide with PackedLinear's (activation * 2 + has_bias, below 4).
inline int linear_cache_tag(LinearPrecision p, Activation act, bool has_bias) {
  return static_cast<int>(p) * 16 + static_cast<int>(act) * 2 + (has_bias ? 1 : 0);
}

// Rounds a byte count up to a 64-byte boundary (sub-buffers of the scratch memory).
inline size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

}  // namespace tanzhen::kernels
