// oneDNN matmul wrapper for the encoder's linear layers.
//
// A PackedLinear reorders its PyTorch-layout weight [out x in] once, at construction, into the
// blocked layout oneDNN's matmul prefers (format_tag::any, which does not depend on the row
// count M), and keeps a copy of the bias. On AVX-512 CPUs that layout is the one of
// avx512::gemm_f32_panels, which then runs every call (faster: see its header). On AVX2 CPUs
// the weights are reordered into avx2::gemm_f32_panels' layout instead, and that kernel runs.
// Otherwise (TANZHEN_GEMM=onednn, or older CPUs) oneDNN primitives for a given M are made on
// first use and cached in a GemmCache shared by all linears of a model, so calls never
// re-create them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <tuple>

#include <dnnl.hpp>

#include "tanzhen/kernels/cpu/gemm_f32_avx2.h"
#include "tanzhen/kernels/cpu/gemm_f32_avx512.h"
#include "tanzhen/kernels/primitive_cache.h"

namespace tanzhen::kernels {

// Attributes every primitive of the encoder gets: strict FP32 (never an implicit bf16 path,
// whatever ONEDNN_DEFAULT_FPMATH_MODE says) and a user scratchpad, so that concurrent calls
// each bring their own instead of sharing the library's.
dnnl::primitive_attr base_attr();

// Runs `prim` with the given (arg id, memory) pairs; throws on failure. Uses the C API with a
// stack array, so a steady-state call allocates nothing.
void execute(const dnnl::primitive& prim, const dnnl::stream& stream,
             std::initializer_list<std::pair<int, const dnnl::memory*>> args);

enum class Activation { kNone, kGelu };  // kGelu is exact: 0.5 x (1 + erf(x / sqrt 2))

struct GemmPrimitive {
  dnnl::matmul prim;
  size_t scratch_bytes = 0;
};

// (rows, in, out, activation) -> primitive.
using GemmKey = std::tuple<int64_t, int, int, int>;
using GemmCache = PrimitiveCache<GemmKey, GemmPrimitive>;

class PackedLinear {
 public:
  PackedLinear() = default;
  // weight: [out x in] row-major; bias: [out] or null.
  PackedLinear(const dnnl::engine& engine, GemmCache* cache, const float* weight,
               const float* bias, int out, int in, Activation act);

  int in_features() const { return in_; }
  int out_features() const { return out_; }

  // The primitive for `rows` rows (made once per row count, then cached); an empty one (null
  // prim, no scratch) when the panel kernel runs every call.
  std::shared_ptr<const GemmPrimitive> primitive(int64_t rows) const;

  // dst[rows x out] = act(src[rows x in] · Wᵀ + b), with src/dst plain row-major memories
  // whose row count matches gemm's; scratch must hold gemm.scratch_bytes.
  void run(const GemmPrimitive& gemm, const dnnl::stream& stream, const dnnl::memory& src,
           const dnnl::memory& dst, const dnnl::memory& scratch) const;

 private:
  dnnl::primitive_attr attr() const;
  dnnl::matmul::primitive_desc make_desc(int64_t rows, const dnnl::memory::desc& weights) const;

  dnnl::engine engine_;
  GemmCache* cache_ = nullptr;
  int in_ = 0;
  int out_ = 0;
  Activation act_ = Activation::kNone;
  bool has_bias_ = false;
  dnnl::memory weights_;  // packed, owned by oneDNN
  dnnl::memory bias_;     // [1 x out], owned by oneDNN
  avx512::PanelWeights panels_;     // weights_ seen by avx512::gemm_f32_panels, or data = null
  avx2::PanelWeights avx2_panels_;  // weights_ seen by avx2::gemm_f32_panels, or data = null
};

// What every packed linear layer (F32, BF16, INT8) does once at load:
// kLayoutProbeRows, the row count used to ask oneDNN for its preferred weight layout (the
// layout depends on the weight shape only; checked: identical for M = 1..2000, so any M will do);
inline constexpr int64_t kLayoutProbeRows = 128;
// base_attr() plus the exact-GELU post-op when act is kGelu;
dnnl::primitive_attr activation_attr(Activation act);
// a new memory in the `packed` layout (the weights_desc() a matmul asked for) holding PyTorch's
// [out x in] row-major weights of `type`, which are oneDNN's {K = in, N = out} in "ba" order;
dnnl::memory pack_torch_weights(const dnnl::engine& engine, const void* weight, int out, int in,
                                dnnl::memory::data_type type, const dnnl::memory::desc& packed);
// a [1 x out] F32 memory holding a copy of `bias`.
dnnl::memory bias_memory(const dnnl::engine& engine, const float* bias, int out);

// Whether `packed` (a weights layout oneDNN chose) is the one of the panel GEMMs in
// kernels/cpu/: 64-column panels outermost, then blocks of 16 k rows ("BA16a64b", F32), or of
// 16 groups of 4 k rows with `groups_of_4` ("BA16a64b4a", s8 for VNNI).
bool is_panel_layout(const dnnl::memory::desc& packed, bool groups_of_4);
// False when TANZHEN_GEMM=onednn: every F32 and INT8 layer then runs oneDNN's matmul (the path
// before the panel kernels, kept for comparisons and CPUs without AVX-512).
bool panel_gemms_enabled();
// Whether every row of an F32 linear layer comes out bit-identical whatever the other rows of
// the call, so that a text gets the same scores alone or in any batch: true where a panel
// kernel runs (AVX-512 or AVX2). oneDNN's kernels (TANZHEN_GEMM=onednn, older CPUs) may block
// the sum differently for another row count: scores then differ in the last digits (~1e-6
// relative).
bool f32_linear_batch_invariant();
// Whether F32 linear layers run avx2::gemm_f32_panels (AVX2 + FMA without AVX-512).
bool avx2_f32_panels_active();

// A plain row-major [rows x cols] f32 memory over `data` (not owned).
dnnl::memory plain_memory(const dnnl::engine& engine, int64_t rows, int64_t cols, float* data);

// A 1-D memory of `bytes` u8 over `data` (not owned): the scratchpad argument of a primitive.
// oneDNN wants it non-empty, so callers pass at least 1.
dnnl::memory byte_memory(const dnnl::engine& engine, void* data, size_t bytes);

}  // namespace tanzhen::kernels
