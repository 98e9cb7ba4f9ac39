#include "tanzhen/tensor.h"

#include <cstring>

#include "model/weights_io.h"
#include "tanzhen/error.h"

namespace tanzhen {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
    case DType::I64: case DType::F64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::F64: return "F64";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape, const void* data,
               std::shared_ptr<const void> owner)
    : dtype_(dtype), shape_(std::move(shape)), data_(data), owner_(std::move(owner)) {}

Tensor Tensor::from_f32(std::vector<int64_t> shape, std::vector<float> values) {
  auto buf = std::make_shared<std::vector<float>>(std::move(values));
  const void* p = buf->data();
  return Tensor(DType::F32, std::move(shape), p, std::shared_ptr<const void>(buf, p));
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (auto d : shape_) n *= d;
  return n;
}

const float* Tensor::f32() const {
  if (dtype_ != DType::F32) fail("dtype", std::string("expected F32 tensor, got ") + dtype_name(dtype_));
  return static_cast<const float*>(data_);
}

// One conversion for the whole project: the loaders' (F16C and threads when large).
Tensor Tensor::to_f32() const { return weights_io::convert_to_f32(*this); }

std::string Tensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape_.size(); ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "]";
}

}  // namespace tanzhen
