// Internal helpers shared by the weight-file readers: a read-only memory map whose lifetime the
// tensors viewing it share, owned byte buffers, and overflow-checked size arithmetic.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tanzhen/tensor.h"

namespace tanzhen::weights_io {

struct MappedFile {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;  // unmaps when the last tensor viewing it goes away
};

// Maps `path` read-only. Throws Error("bad_checkpoint", ...) when it cannot be opened or mapped.
MappedFile map_file(const std::string& path);

// Asks the kernel to reclaim the pages of [p, p + n) now (madvise MADV_PAGEOUT, whole pages
// inside the range only). Clean pages of a read-only file mapping are dropped and read again
// if ever touched; anonymous memory (no swap here) stays. So it never changes data, and is
// safe on any tensor. Used once the weights are packed: their file pages would otherwise stay
// in the RSS until memory pressure. A no-op where the kernel lacks MADV_PAGEOUT (< 5.4).
void release_pages(const void* p, size_t n);

// An uninitialised buffer of `n` bytes (at least 16-byte aligned; large ones are anonymous
// mappings backed by huge pages where the kernel allows, to cut page faults at load time).
std::shared_ptr<uint8_t[]> allocate_bytes(size_t n);

// A new F32 tensor of `shape` owning an uninitialised allocate_bytes buffer, which the caller
// fills through *data.
Tensor allocate_f32(std::vector<int64_t> shape, float** data);

// Runs fn(i) for every i in [0, n) on a few threads (the caller's included); rethrows the first
// exception. Loading is memory-bound, so a handful of threads is all that helps.
void parallel_for(size_t n, const std::function<void(size_t)>& fn);

// memcpy, split over threads when large.
void parallel_copy(uint8_t* dst, const uint8_t* src, size_t n);

// A tensor that views `data` when it is aligned for its dtype, else one that owns a copy.
Tensor view_or_copy(DType dtype, std::vector<int64_t> shape, const uint8_t* data,
                    const std::shared_ptr<const void>& owner);

// F16 / BF16 / F64 -> a new F32 tensor (F16C instructions where available, threads when
// large); F32 is returned as is. Other dtypes: Error("dtype").
Tensor convert_to_f32(const Tensor& t);

// a * b and a + b on sizes; false on overflow (the caller reports which tensor).
inline bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool add_ok(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

// Product of the dims (all >= 0) times `elem_size`; false on overflow.
bool byte_size(const std::vector<int64_t>& shape, size_t elem_size, uint64_t* out);

}  // namespace tanzhen::weights_io
