// BertEncoder: embeddings -> N transformer layers -> heads, over variable-length batches.
//
// A batch is processed as one [tokens x hidden] matrix (sequences concatenated, no padding):
// every GEMM runs once per layer over all tokens, attention runs per sequence over its own
// tokens only. Big batches are split into chunks of at most kMaxChunkTokens tokens (whole
// sequences) so that the workspace stays bounded whatever the caller sends.
#include "tanzhen/model/bert.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "bert_weights.h"
#include "encoder_workspace.h"
#include "weights_io.h"
#include "tanzhen/error.h"
#include "tanzhen/kernels/attention.h"
#include "tanzhen/kernels/gemm.h"
#include "tanzhen/kernels/ops.h"
#include "tanzhen/kernels/threads.h"

namespace tanzhen {
namespace {

using Batch = std::vector<std::vector<int32_t>>;

// Tokens encoded together at most: large enough for GEMMs to run at full speed, small enough
// that the workspace ((6 + I/H) x H floats per token: 63 MB for BERT-base) stays modest.
constexpr int64_t kMaxChunkTokens = 2048;
// Rows of vocabulary logits computed per decoder GEMM (bounds the [rows x vocab] buffer).
constexpr int64_t kDecoderBlockRows = 256;
// (rows, shape) pairs whose GEMM primitives are kept: gemm_rows() yields ~150 row counts up to
// kMaxChunkTokens, times 5-6 shapes per model.
constexpr size_t kGemmCacheCapacity = 1024;

// Row count a GEMM over n rows runs with. Making a oneDNN primitive costs 0.1-1 ms, so instead
// of one per distinct token count, counts above 64 are rounded up to 1/32 of the next power of
// two (at most 6.25% padding rows, which are computed and ignored). That leaves few enough row
// counts for all of them to stay cached in a long-running service.
int64_t gemm_rows(int64_t n) {
  if (n <= 64) return n;
  const int64_t step = static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(n))) / 32;
  return (n + step - 1) / step * step;
}

// A run of whole sequences [begin, end) encoded together.
struct Chunk {
  size_t begin = 0, end = 0;
  int64_t tokens = 0;
  int max_len = 0;
};

std::vector<Chunk> make_chunks(const Batch& batch) {
  std::vector<Chunk> chunks;
  Chunk c;
  for (size_t i = 0; i < batch.size(); ++i) {
    const int len = static_cast<int>(batch[i].size());
    if (c.end > c.begin && c.tokens + len > kMaxChunkTokens) {
      chunks.push_back(c);
      c = Chunk{i, i, 0, 0};
    }
    c.end = i + 1;
    c.tokens += len;
    c.max_len = std::max(c.max_len, len);
  }
  if (c.end > c.begin) chunks.push_back(c);
  return chunks;
}

// A scratchpad memory over `buf` (at least 1 byte, as oneDNN wants a non-empty memory).
dnnl::memory scratch_memory(const dnnl::engine& engine, bert::FloatBuffer& buf, size_t bytes) {
  bytes = std::max<size_t>(bytes, 1);
  float* p = buf.ensure((bytes + sizeof(float) - 1) / sizeof(float));
  return kernels::byte_memory(engine, p, bytes);
}

Matrix copy_rows(const float* src, int rows, int cols) {
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.data.assign(src, src + static_cast<size_t>(rows) * cols);
  return m;
}

}  // namespace

struct BertEncoder::Impl {
  Impl(const Checkpoint& ckpt, EncoderOptions opts)
      : cfg(ckpt.config),
        threads(opts.threads > 0 ? opts.threads : kernels::available_cores()),
        engine(dnnl::engine::kind::cpu, 0),
        gemm_cache(kGemmCacheCapacity),
        w((kernels::set_compute_threads(threads),
           bert::pack_weights(ckpt, engine, &gemm_cache, opts.dtype))),
        // Reduced-precision layers (asked for, or stored so in a pre-quantized checkpoint) get
        // attention on bf16 operands too (F32 accumulation): at L = 300 F32 attention is a
        // third of the int8 encoder's time.
        attention(engine, cfg.num_heads > 0 ? cfg.num_heads : 1,
                  cfg.num_heads > 0 ? cfg.hidden_size / cfg.num_heads : 1,
                  w.layers.front().qkv.precision() != kernels::LinearPrecision::kF32),
        pool(engine) {
    // The GEMM weights are now packed in oneDNN's memory and word embeddings of reduced
    // precision are F32 copies: the checkpoint's own bytes (mostly pages of the memory-mapped
    // file, touched while packing) are not needed any more. Hand them back to the kernel, or
    // they count in the RSS twice (FP32 BERT-base: +400 MB). The few tensors still viewed
    // (LayerNorm, position embeddings, F32 word embeddings) fault back in as they are read.
    for (const auto& [name, t] : ckpt.weights) weights_io::release_pages(t.data(), t.nbytes());
  }

  void validate(const Batch& batch) const;
  // Runs embeddings + all layers on batch[c.begin, c.end); the final hidden states are left in
  // ws.hidden, sequence i's rows starting at row offsets[i - c.begin], followed by zero rows
  // up to gemm_rows(c.tokens). c.tokens must be positive (oneDNN has no empty GEMMs).
  void encode_chunk(const Batch& batch, const Chunk& c, bert::Workspace& ws,
                    std::vector<int64_t>& offsets) const;

  ModelConfig cfg;
  int threads;
  dnnl::engine engine;
  mutable kernels::GemmCache gemm_cache;
  bert::EncoderWeights w;  // before attention, whose precision follows the weights'
  kernels::MultiHeadAttention attention;
  mutable bert::WorkspacePool pool;
};

void BertEncoder::Impl::validate(const Batch& batch) const {
  for (size_t i = 0; i < batch.size(); ++i) {
    if (static_cast<int64_t>(batch[i].size()) > cfg.max_position_embeddings) {
      fail("sequence_too_long", "sequence " + std::to_string(i) + " has " +
                                    std::to_string(batch[i].size()) + " tokens, the model takes " +
                                    std::to_string(cfg.max_position_embeddings));
    }
    for (int32_t id : batch[i]) {
      if (id < 0 || id >= cfg.vocab_size) {
        fail("bad_token_id", "token id " + std::to_string(id) + " in sequence " +
                                 std::to_string(i) + " is outside the vocabulary");
      }
    }
  }
}

void BertEncoder::Impl::encode_chunk(const Batch& batch, const Chunk& c, bert::Workspace& ws,
                                     std::vector<int64_t>& offsets) const {
  const int H = cfg.hidden_size, I = cfg.intermediate_size;
  const int64_t T = c.tokens, M = gemm_rows(T);
  const float eps = cfg.layer_norm_eps;

  offsets.assign(1, 0);
  for (size_t i = c.begin; i < c.end; ++i) offsets.push_back(offsets.back() + batch[i].size());

  // Size every buffer before taking pointers into them. Padding rows [T, M) of the GEMM inputs
  // that nothing else writes are zeroed, so that they hold finite values.
  float* x = ws.hidden.ensure(M * H);
  float* qkv = ws.qkv.ensure(M * 3 * H);
  float* ctx = ws.context.ensure(M * H);
  float* proj = ws.projected.ensure(M * H);
  float* ffn = ws.ffn.ensure(M * I);
  // Only INT8 models chain the FFN pair through quantized rows; for the others this is empty.
  const bert::LayerWeights& l0 = w.layers.front();
  void* ffn_link = ws.ffn_link.ensure(
      (kernels::Linear::chain_link_bytes(l0.ffn_in, l0.ffn_out, M) + sizeof(float) - 1) /
      sizeof(float));
  std::fill(x + T * H, x + M * H, 0.f);
  std::fill(ctx + T * H, ctx + M * H, 0.f);

  // Every layer has the same shapes, so layer 0's primitives serve all of them.
  const auto g_qkv = l0.qkv.primitive(M), g_attn_out = l0.attn_out.primitive(M),
             g_ffn_in = l0.ffn_in.primitive(M), g_ffn_out = l0.ffn_out.primitive(M);
  size_t scratch_bytes = std::max({g_qkv->scratch_bytes, g_attn_out->scratch_bytes,
                                   g_ffn_in->scratch_bytes, g_ffn_out->scratch_bytes});

  // Sequences the fused kernels take run in one call per layer; the others oneDNN's path,
  // whose work space (with the [heads x L x L] scores) is sized for the longest of them only.
  int onednn_max_len = 0;
  for (size_t i = c.begin; i < c.end; ++i) {
    const int len = static_cast<int>(batch[i].size());
    if (len > 0 && !attention.runs_fused(len)) onednn_max_len = std::max(onednn_max_len, len);
  }
  float* attn_work = ws.attention.ensure(
      std::max<size_t>(onednn_max_len > 0 ? attention.work_floats(onednn_max_len) : 0, 1));
  std::vector<kernels::MultiHeadAttention::Bound> seqs;
  kernels::MultiHeadAttention::FusedBatch fused_seqs;
  for (size_t i = c.begin; i < c.end; ++i) {
    const int len = static_cast<int>(batch[i].size());
    if (len == 0) continue;
    const int64_t off = offsets[i - c.begin];
    if (attention.runs_fused(len)) {
      attention.add_fused(fused_seqs, {len, qkv + off * 3 * H, ctx + off * H});
      continue;
    }
    seqs.push_back(attention.bind(len, qkv + off * 3 * H, attn_work, ctx + off * H));
    scratch_bytes = std::max(scratch_bytes, seqs.back().prims->scratch_bytes);
  }

  const dnnl::memory scratch = scratch_memory(engine, ws.scratch, scratch_bytes);
  const dnnl::memory m_x = kernels::plain_memory(engine, M, H, x);
  const dnnl::memory m_qkv = kernels::plain_memory(engine, M, 3 * H, qkv);
  const dnnl::memory m_ctx = kernels::plain_memory(engine, M, H, ctx);
  const dnnl::memory m_proj = kernels::plain_memory(engine, M, H, proj);
  const dnnl::memory m_ffn = kernels::plain_memory(engine, M, I, ffn);

  for (size_t i = c.begin; i < c.end; ++i) {
    kernels::embed_layer_norm(batch[i].data(), static_cast<int>(batch[i].size()), w.word.f32(),
                              w.position.f32(), w.token_type.f32(), w.emb_ln_gamma.f32(),
                              w.emb_ln_beta.f32(), x + offsets[i - c.begin] * H, H, eps);
  }

  for (const bert::LayerWeights& layer : w.layers) {
    layer.qkv.run(*g_qkv, ws.stream, m_x, m_qkv, scratch);
    attention.run_fused(fused_seqs);
    for (const auto& seq : seqs) attention.run(seq, ws.stream, scratch);
    layer.attn_out.run(*g_attn_out, ws.stream, m_ctx, m_proj, scratch);
    kernels::add_layer_norm(proj, x, layer.attn_ln_gamma.f32(), layer.attn_ln_beta.f32(), x, T,
                            H, eps);
    kernels::Linear::run_chain(layer.ffn_in, *g_ffn_in, layer.ffn_out, *g_ffn_out, ws.stream, m_x,
                               m_ffn, m_proj, scratch, ffn_link);
    kernels::add_layer_norm(proj, x, layer.out_ln_gamma.f32(), layer.out_ln_beta.f32(), x, T, H,
                            eps);
  }
}

BertEncoder::BertEncoder(const Checkpoint& ckpt, EncoderOptions opts)
    : impl_(std::make_unique<Impl>(ckpt, opts)) {}

BertEncoder::~BertEncoder() = default;

const ModelConfig& BertEncoder::config() const { return impl_->cfg; }

ComputeType BertEncoder::compute_type() const {
  switch (impl_->w.layers.front().qkv.precision()) {
    case kernels::LinearPrecision::kBF16: return ComputeType::kBF16;
    case kernels::LinearPrecision::kInt8: return ComputeType::kInt8;
    case kernels::LinearPrecision::kF32: break;
  }
  return ComputeType::kF32;
}

std::vector<Matrix> BertEncoder::encode(const Batch& batch) const {
  impl_->validate(batch);
  kernels::set_compute_threads(impl_->threads);
  const int H = impl_->cfg.hidden_size;
  std::vector<Matrix> out(batch.size());
  auto ws = impl_->pool.take();
  std::vector<int64_t> offsets;
  for (const Chunk& c : make_chunks(batch)) {
    if (c.tokens == 0) continue;  // only empty sequences: nothing to run
    impl_->encode_chunk(batch, c, *ws, offsets);
    for (size_t i = c.begin; i < c.end; ++i) {
      out[i] = copy_rows(ws->hidden.data() + offsets[i - c.begin] * H,
                         static_cast<int>(batch[i].size()), H);
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) out[i].cols = H;
  return out;
}

std::vector<Matrix> BertEncoder::token_logits(const Batch& batch) const {
  if (!impl_->w.classifier) {
    fail("wrong_head", "this model has no token classification head");
  }
  impl_->validate(batch);
  kernels::set_compute_threads(impl_->threads);
  const kernels::Linear& classifier = *impl_->w.classifier;
  const int H = impl_->cfg.hidden_size, labels = classifier.out_features();
  std::vector<Matrix> out(batch.size());
  for (auto& m : out) m.cols = labels;
  auto ws = impl_->pool.take();
  std::vector<int64_t> offsets;
  for (const Chunk& c : make_chunks(batch)) {
    if (c.tokens == 0) continue;
    impl_->encode_chunk(batch, c, *ws, offsets);
    const int64_t M = gemm_rows(c.tokens);
    float* logits = ws->head_out.ensure(M * labels);
    const auto gemm = classifier.primitive(M);
    const dnnl::memory scratch = scratch_memory(impl_->engine, ws->scratch, gemm->scratch_bytes);
    classifier.run(*gemm, ws->stream,
                   kernels::plain_memory(impl_->engine, M, H, ws->hidden.data()),
                   kernels::plain_memory(impl_->engine, M, labels, logits), scratch);
    for (size_t i = c.begin; i < c.end; ++i) {
      out[i] = copy_rows(logits + offsets[i - c.begin] * labels,
                         static_cast<int>(batch[i].size()), labels);
    }
  }
  return out;
}

std::vector<Matrix> BertEncoder::mlm_logits(const Batch& batch,
                                            const std::vector<std::vector<int>>& positions) const {
  if (!impl_->w.mlm) fail("wrong_head", "this model has no masked-LM head");
  if (positions.size() != batch.size()) {
    fail("bad_request", "mlm_logits needs one position list per sequence");
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    for (int p : positions[i]) {
      if (p < 0 || p >= static_cast<int>(batch[i].size())) {
        fail("bad_request", "position " + std::to_string(p) + " is outside sequence " +
                                std::to_string(i));
      }
    }
  }
  impl_->validate(batch);
  kernels::set_compute_threads(impl_->threads);
  const bert::MlmHead& head = *impl_->w.mlm;
  const dnnl::engine& engine = impl_->engine;
  const int H = impl_->cfg.hidden_size, V = head.decoder.out_features();
  const float eps = impl_->cfg.layer_norm_eps;

  std::vector<Matrix> out(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    out[i].rows = static_cast<int>(positions[i].size());
    out[i].cols = V;
    out[i].data.resize(positions[i].size() * static_cast<size_t>(V));
  }
  auto ws = impl_->pool.take();
  std::vector<int64_t> offsets;
  for (const Chunk& c : make_chunks(batch)) {
    int64_t P = 0;
    for (size_t i = c.begin; i < c.end; ++i) P += positions[i].size();
    if (P == 0) continue;  // nothing asked of these sequences: skip the encoder too
    impl_->encode_chunk(batch, c, *ws, offsets);

    // Only the requested rows go through the (per-token) transform and the decoder. Both
    // buffers get room for the GEMMs' padding rows (the last decoder block may read up to
    // kDecoderBlockRows past P); those rows are zeroed.
    const int64_t PM = gemm_rows(P), rows_room = std::max(PM, P + kDecoderBlockRows);
    float* gathered = ws->head_in.ensure(2 * rows_room * H);
    float* transformed = gathered + rows_room * H;
    int64_t row = 0;
    for (size_t i = c.begin; i < c.end; ++i) {
      for (int p : positions[i]) {
        std::memcpy(gathered + row * H, ws->hidden.data() + (offsets[i - c.begin] + p) * H,
                    sizeof(float) * H);
        ++row;
      }
    }
    std::fill(gathered + P * H, gathered + PM * H, 0.f);
    {
      const auto gemm = head.transform.primitive(PM);
      const dnnl::memory scratch = scratch_memory(engine, ws->scratch, gemm->scratch_bytes);
      head.transform.run(*gemm, ws->stream, kernels::plain_memory(engine, PM, H, gathered),
                         kernels::plain_memory(engine, PM, H, transformed), scratch);
      kernels::add_layer_norm(transformed, nullptr, head.ln_gamma.f32(), head.ln_beta.f32(),
                              transformed, P, H, eps);
      std::fill(transformed + P * H, transformed + rows_room * H, 0.f);
    }

    // Decoder in row blocks; block rows are scattered back to (sequence, position) outputs.
    float* logits = ws->head_out.ensure(gemm_rows(std::min(P, kDecoderBlockRows)) * V);
    size_t seq = c.begin, k = 0;  // next output row: positions[seq][k]
    for (int64_t r0 = 0; r0 < P; r0 += kDecoderBlockRows) {
      const int64_t rows = std::min(kDecoderBlockRows, P - r0), block = gemm_rows(rows);
      const auto gemm = head.decoder.primitive(block);
      const dnnl::memory scratch = scratch_memory(engine, ws->scratch, gemm->scratch_bytes);
      head.decoder.run(*gemm, ws->stream,
                       kernels::plain_memory(engine, block, H, transformed + r0 * H),
                       kernels::plain_memory(engine, block, V, logits), scratch);
      for (int64_t r = 0; r < rows; ++r) {
        while (k == positions[seq].size()) {
          ++seq;
          k = 0;
        }
        std::memcpy(out[seq].row(static_cast<int>(k)), logits + r * V, sizeof(float) * V);
        ++k;
      }
    }
  }
  return out;
}

}  // namespace tanzhen
