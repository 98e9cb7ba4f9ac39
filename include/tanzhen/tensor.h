// The one tensor type: a typed, shaped view of contiguous row-major memory whose lifetime is
// tied to a shared owner (an mmap'ed file, a heap buffer). Copying a Tensor copies the view.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tanzhen {

enum class DType : uint8_t { F32, F16, BF16, I8, U8, I32, I64, F64, BOOL };

size_t dtype_size(DType t);
const char* dtype_name(DType t);

class Tensor {
 public:
  Tensor() = default;
  // A view over memory kept alive by `owner` (no copy).
  Tensor(DType dtype, std::vector<int64_t> shape, const void* data, std::shared_ptr<const void> owner);
  // A tensor owning a fresh F32 buffer.
  static Tensor from_f32(std::vector<int64_t> shape, std::vector<float> values);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  const void* data() const { return data_; }
  bool empty() const { return data_ == nullptr; }

  // Typed access; throws tanzhen::Error if the dtype differs.
  const float* f32() const;
  // Converts F16/BF16/F64/F32 to a new owned F32 tensor (F32 is returned as is, sharing memory).
  Tensor to_f32() const;
  std::string shape_string() const;  // "[768, 3072]"

 private:
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  const void* data_ = nullptr;
  std::shared_ptr<const void> owner_;
};

}  // namespace tanzhen
