// Test helpers for the checkpoint loader: writing safetensors files (renamed keys, converted
// dtypes), copying/altering config.json, and asserting on tanzhen::Error.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tanzhen/error.h"
#include "tanzhen/model/checkpoint.h"
#include "test_paths.h"

namespace tanzhen::testing {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  // A fresh file rather than truncating: ext4 flushes truncated-and-rewritten files on close,
  // which makes tests that rewrite a file thousands of times crawl.
  std::filesystem::remove(path);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// IEEE binary16 with round-to-nearest-even (finite normal/subnormal inputs in range).
inline uint16_t float_to_half(float f) {
  const uint32_t x = f32_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int exp = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {  // subnormal half
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | h);
}

inline uint16_t float_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  const uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

inline float bf16_to_float(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// Serialises tensors to safetensors bytes. F32 tensors are written as `float_dtype` (F32, F16
// or BF16); other tensors are written as stored.
inline std::string safetensors_bytes(const NamedTensors& tensors, DType float_dtype = DType::F32) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::string data;
  for (const auto& [name, t] : tensors) {
    DType out = t.dtype() == DType::F32 ? float_dtype : t.dtype();
    const size_t begin = data.size();
    if (t.dtype() == DType::F32 && out != DType::F32) {
      const float* p = t.f32();
      for (int64_t i = 0; i < t.numel(); ++i) {
        const uint16_t h = out == DType::F16 ? float_to_half(p[i]) : float_to_bf16(p[i]);
        data.append(reinterpret_cast<const char*>(&h), 2);
      }
    } else {
      data.append(static_cast<const char*>(t.data()), t.nbytes());
    }
    header[name] = {{"dtype", dtype_name(out)}, {"shape", t.shape()}, {"data_offsets", {begin, data.size()}}};
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8) h += ' ';  // keep the data 8-byte aligned, as the reference writer does
  std::string out(8, '\0');
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + h + data;
}

// Header + data written by hand, for corrupt-file tests.
inline std::string safetensors_raw(const std::string& header, const std::string& data, uint64_t declared_len = ~0ull) {
  const uint64_t n = declared_len == ~0ull ? header.size() : declared_len;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// A model folder in a fresh temp dir: `config.json` from `config_source`'s, changed by `edit`.
inline std::string make_model_dir(const std::string& config_source,
                                  const std::function<void(nlohmann::json&)>& edit = nullptr) {
  const std::string dir = make_temp_dir("tanzhen-loader");
  nlohmann::json config = nlohmann::json::parse(read_bytes(config_source + "/config.json"));
  if (edit) edit(config);
  write_bytes(dir + "/config.json", config.dump(2));
  return dir;
}

// Runs `fn`, expects tanzhen::Error with `code`, returns its message.
inline std::string error_message(const std::function<void()>& fn, const std::string& code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected tanzhen::Error(" << code << "), got std::exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected tanzhen::Error(" << code << "), nothing was thrown";
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Bitwise equality of two tensors' shapes, dtypes and bytes.
inline ::testing::AssertionResult same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) return ::testing::AssertionFailure() << "dtype differs";
  if (a.shape() != b.shape()) return ::testing::AssertionFailure() << a.shape_string() << " vs " << b.shape_string();
  if (std::memcmp(a.data(), b.data(), a.nbytes()) != 0) return ::testing::AssertionFailure() << "bytes differ";
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult same_weights(const TensorMap& a, const TensorMap& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << a.size() << " vs " << b.size() << " tensors";
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end()) return ::testing::AssertionFailure() << "second lacks " << name;
    if (auto r = same_tensor(t, it->second); !r) return r << " (" << name << ")";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tanzhen::testing
