// read_safetensors: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data.
// Offsets are relative to the end of the header. Tensors view the memory map directly unless
// their offset is misaligned for their dtype (then they are copied).
#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "tanzhen/error.h"
#include "tanzhen/model/checkpoint.h"
#include "weights_io.h"

namespace tanzhen {

namespace {

using nlohmann::json;
namespace wio = weights_io;

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit
constexpr size_t kMaxRank = 8;

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  fail("bad_checkpoint", path + ": " + what);
}

bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kTable[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
      {"I64", DType::I64}, {"I32", DType::I32}, {"I8", DType::I8},     {"U8", DType::U8},
      {"BOOL", DType::BOOL}};
  for (const auto& [name, t] : kTable) {
    if (s == name) {
      *out = t;
      return true;
    }
  }
  return false;
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& path, const std::string& name, const json& v, uint64_t data_size) {
  const std::string where = "tensor '" + name + "'";
  if (!v.is_object()) corrupt(path, where + ": header entry is not an object");
  Entry e{name, DType::F32, {}, 0, 0};

  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) corrupt(path, where + ": missing dtype");
  if (!parse_dtype(dt->get<std::string>(), &e.dtype))
    corrupt(path, where + ": unsupported dtype '" + dt->get<std::string>() + "'");

  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) corrupt(path, where + ": missing shape");
  if (sh->size() > kMaxRank) corrupt(path, where + ": rank " + std::to_string(sh->size()) + " is too high");
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40))
      corrupt(path, where + ": bad shape " + sh->dump());
    e.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }

  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    corrupt(path, where + ": data_offsets must be [begin, end]");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.begin > e.end || e.end > data_size)
    corrupt(path, where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                      "] are outside the " + std::to_string(data_size) + " data bytes (truncated file?)");
  uint64_t nbytes = 0;
  if (!wio::byte_size(e.shape, dtype_size(e.dtype), &nbytes))
    corrupt(path, where + ": shape " + sh->dump() + " is too large");
  if (nbytes != e.end - e.begin)
    corrupt(path, where + ": shape " + sh->dump() + " of " + dtype_name(e.dtype) + " needs " +
                      std::to_string(nbytes) + " bytes but data_offsets span " + std::to_string(e.end - e.begin));
  return e;
}

}  // namespace

TensorMap read_safetensors(const std::string& path) {
  const wio::MappedFile file = wio::map_file(path);
  if (file.size < 8) corrupt(path, "too short for a safetensors file (" + std::to_string(file.size) + " bytes)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file.data[i];
  if (header_len > kMaxHeaderBytes || header_len > file.size - 8)
    corrupt(path, "header length " + std::to_string(header_len) + " exceeds the file size " +
                      std::to_string(file.size) + " (or 100 MB): truncated or not a safetensors file");
  const char* header_text = reinterpret_cast<const char*>(file.data + 8);
  json header = json::parse(header_text, header_text + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) corrupt(path, "the header is not a valid JSON object");

  const uint8_t* data = file.data + 8 + header_len;
  const uint64_t data_size = file.size - 8 - header_len;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") continue;
    entries.push_back(parse_entry(path, name, value, data_size));
  }
  // Tensors may not share bytes (the reference writer lays them out back to back).
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const Entry* furthest = nullptr;  // the non-empty tensor reaching furthest so far
  for (const Entry* cur : by_offset) {
    if (cur->begin == cur->end) continue;
    if (furthest && cur->begin < furthest->end)
      corrupt(path, "tensor '" + cur->name + "' overlaps tensor '" + furthest->name + "' in the data section");
    if (!furthest || cur->end > furthest->end) furthest = cur;
  }

  TensorMap out;
  for (auto& e : entries) out.emplace(e.name, wio::view_or_copy(e.dtype, std::move(e.shape), data + e.begin, file.owner));
  return out;
}

}  // namespace tanzhen
