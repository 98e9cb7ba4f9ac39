// The parallel driver both fused attention kernels (attention_fused.cc, attention_fused_bf16.cc)
// share: every (sequence, head) pair of a batch is one task of a single parallel region, and
// every thread keeps a work buffer that grows to the longest sequence seen (no allocation per
// call in steady state). Include only from files compiled with OpenMP.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tanzhen/kernels/attention_fused.h"
#include "tanzhen/kernels/cpu/vec_avx512.h"

namespace tanzhen::kernels::detail {

// Total multiply-adds below which one thread does all the heads.
constexpr int64_t kHeadTasksParallelMin = 1 << 16;

// The batch's longest sequence rounded up to whole 16-key blocks (the kernels' padding).
inline int padded_max_len(const std::vector<AttentionRows>& seqs) {
  int max_len = 0;
  for (const AttentionRows& s : seqs) max_len = std::max(max_len, s.len);
  return (max_len + 15) / 16 * 16;
}

// Calls run(seq, head, work) for every non-empty sequence and head, work pointing at a
// 64-byte-aligned per-thread buffer of work_elems Ts.
template <typename T, typename Run>
void for_each_head(const std::vector<AttentionRows>& seqs, int heads, int head_dim,
                   size_t work_elems, Run run) {
  const int64_t tasks = static_cast<int64_t>(seqs.size()) * heads;
  int64_t macs = 0;
  for (const AttentionRows& s : seqs) macs += 2 * static_cast<int64_t>(s.len) * s.len * heads * head_dim;
  constexpr size_t kAlignElems = 64 / sizeof(T);
#pragma omp parallel if (macs >= kHeadTasksParallelMin && tasks > 1)
  {
    thread_local std::vector<T> buf;
    if (buf.size() < work_elems + kAlignElems) buf.resize(work_elems + kAlignElems);
    auto* work = reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const AttentionRows& seq = seqs[t / heads];
      if (seq.len > 0) run(seq, static_cast<int>(t % heads), work);
    }
  }
}

// Stores the first `rows` rows of a block of queries' context: o[r] (16 * C values, a sum
// weighted by unnormalised probabilities) times inv[r] (1 / their sum).
template <int R, int C>
TANZHEN_AVX512 inline void store_context(const __m512 (&o)[R][C], const float (&inv)[R], int rows,
                                         float* ctx, int64_t stride) {
  for (int r = 0; r < rows; ++r) {
    const __m512 vi = _mm512_set1_ps(inv[r]);
    float* out = ctx + r * stride;
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(o[r][c], vi));
  }
}

}  // namespace tanzhen::kernels::detail
