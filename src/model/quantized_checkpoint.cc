// Writing and loading pre-quantized checkpoints (see quantized_checkpoint.h and
// docs/quantized-format.md). Loading is read_safetensors() plus checks: the stored values are
// used as they are, so a quantized folder loads as fast as it can be mapped.
#include "tanzhen/model/quantized_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <vector>

#include <nlohmann/json.hpp>

#include "tanzhen/error.h"
#include "tanzhen/kernels/linear_quant.h"

namespace tanzhen {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kWeightsName = "model.safetensors";
constexpr const char* kScaleSuffix = ".scale";
constexpr const char* kWordEmbeddings = "embeddings.word_embeddings.weight";
constexpr const char* kDecoderWeight = "cls.predictions.decoder.weight";
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The JSON header of a safetensors file (only the header is read).
json read_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("bad_checkpoint", path + ": cannot be opened");
  unsigned char len_bytes[8];
  if (!in.read(reinterpret_cast<char*>(len_bytes), 8)) fail("bad_checkpoint", path + ": too short");
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec || len > kMaxHeaderBytes || len > size - 8) {
    fail("bad_checkpoint", path + ": header length " + std::to_string(len) + " exceeds the file");
  }
  std::string text(len, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(len))) {
    fail("bad_checkpoint", path + ": truncated header");
  }
  json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    fail("bad_checkpoint", path + ": the header is not a valid JSON object");
  }
  return header;
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.data() == b.data() || std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

// Files that hold weights (never copied into the quantized folder).
bool is_weights_file(const fs::path& p) {
  static const char* kExt[] = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5",
                               ".msgpack", ".gguf"};
  const std::string ext = p.extension().string();
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* e) { return ext == e; }) ||
         p.filename() == "model.safetensors.index.json" ||
         p.filename() == "pytorch_model.bin.index.json";
}

// One tensor of the file to write: dtype, shape and its bytes.
struct OutTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

template <class T>
std::vector<uint8_t> as_bytes(const T* p, size_t n) {
  const auto* b = reinterpret_cast<const uint8_t*>(p);
  return std::vector<uint8_t>(b, b + n * sizeof(T));
}

// Writes the tensors as a safetensors file (via a temporary, renamed when complete). Tensors
// are laid out back to back, widest dtype first, after a header padded to 8 bytes, so every
// tensor is aligned for its dtype and can be viewed without a copy.
void write_safetensors(const std::string& path, std::vector<OutTensor> tensors,
                       const json& metadata) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const OutTensor& a, const OutTensor& b) {
    return dtype_size(a.dtype) > dtype_size(b.dtype);
  });
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("io_error", "cannot write " + tmp);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(text.size() >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : tensors) {
      out.write(reinterpret_cast<const char*>(t.bytes.data()),
                static_cast<std::streamsize>(t.bytes.size()));
    }
    if (!out.flush()) fail("io_error", "cannot write " + tmp + " (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) fail("io_error", "cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace

bool is_quantized_tensor(const std::string& name) {
  static const std::regex kLayerDense(
      R"(encoder\.layer\.[0-9]+\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)\.weight)");
  return name == kWordEmbeddings || std::regex_match(name, kLayerDense);
}

std::string checkpoint_quantization(const std::string& dir) {
  const fs::path path = fs::path(dir) / kWeightsName;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return "";
  const json header = read_header(path.string());
  auto meta = header.find("__metadata__");
  if (meta == header.end() || !meta->is_object()) return "";
  auto q = meta->find("tanzhen_quantization");
  if (q == meta->end() || !q->is_string()) return "";
  return q->get<std::string>();
}

ComputeType quantization_compute_type(const std::string& quantization) {
  if (quantization == kQuantizationInt8) return ComputeType::kInt8;
  if (quantization == kQuantizationBf16) return ComputeType::kBF16;
  fail("bad_checkpoint", "unknown tanzhen_quantization '" + quantization + "' (this build reads '" +
                             kQuantizationInt8 + "' and '" + kQuantizationBf16 + "')");
}

Checkpoint load_quantized_checkpoint(const std::string& dir) {
  const std::string path = (fs::path(dir) / kWeightsName).string();
  const json header = read_header(path);
  const json meta = header.value("__metadata__", json::object());
  const std::string quantization = meta.value("tanzhen_quantization", "");
  const ComputeType type = quantization_compute_type(quantization);
  if (meta.value("format_version", "") != kQuantizedFormatVersion) {
    fail("bad_checkpoint", path + ": quantized format_version " +
                               meta.value("format_version", std::string("(missing)")) +
                               " is not supported (expected " + kQuantizedFormatVersion + ")");
  }

  Checkpoint ckpt;
  ckpt.dir = dir;
  ckpt.weights_file = path;
  ckpt.config = read_model_config(dir);
  ckpt.weights = read_safetensors(path);

  // Every tensor has the dtype the format gives it; shapes are checked by the encoder.
  const DType want = type == ComputeType::kInt8 ? DType::I8 : DType::BF16;
  for (const auto& [name, t] : ckpt.weights) {
    if (is_quantized_tensor(name)) {
      if (t.dtype() != want || t.rank() != 2) {
        fail("bad_checkpoint", path + ": tensor " + name + " is " + dtype_name(t.dtype()) + " " +
                                   t.shape_string() + ", expected 2-D " + dtype_name(want));
      }
      if (type == ComputeType::kInt8) {
        auto s = ckpt.weights.find(name + kScaleSuffix);
        if (s == ckpt.weights.end() || s->second.dtype() != DType::F32 ||
            s->second.shape() != std::vector<int64_t>{t.dim(0)}) {
          fail("bad_checkpoint", path + ": tensor " + name + " needs an F32 " + name +
                                     kScaleSuffix + " of shape [" + std::to_string(t.dim(0)) + "]");
        }
      }
    } else if (!(type == ComputeType::kInt8 && ends_with(name, kScaleSuffix) &&
                 is_quantized_tensor(name.substr(0, name.size() - 6))) &&
               t.dtype() != DType::F32) {
      fail("bad_checkpoint", path + ": tensor " + name + " is " + dtype_name(t.dtype()) +
                                 ", expected F32");
    }
  }
  if (!ckpt.weights.count(kWordEmbeddings)) {
    fail("bad_checkpoint", path + ": missing tensor " + std::string(kWordEmbeddings));
  }

  auto has_prefix = [&](const std::string& p) {
    auto it = ckpt.weights.lower_bound(p);
    return it != ckpt.weights.end() && it->first.compare(0, p.size(), p) == 0;
  };
  ckpt.config.head = has_prefix("crf.")               ? HeadKind::kCrf
                     : has_prefix("classifier.")       ? HeadKind::kTokenClassification
                     : has_prefix("cls.predictions.")  ? HeadKind::kMaskedLM
                                                       : HeadKind::kNone;
  if ((ckpt.config.head == HeadKind::kCrf || ckpt.config.head == HeadKind::kTokenClassification)) {
    const Tensor& c = ckpt.weights.at("classifier.weight");
    if (c.rank() != 2 || (!ckpt.config.labels.empty() &&
                          c.dim(0) != static_cast<int64_t>(ckpt.config.labels.size()))) {
      fail("bad_checkpoint", path + ": classifier.weight " + c.shape_string() +
                                 " does not match the " +
                                 std::to_string(ckpt.config.labels.size()) + " labels of the config");
    }
  }
  return ckpt;
}

Checkpoint load_any_checkpoint(const std::string& dir) {
  return is_quantized_checkpoint(dir) ? load_quantized_checkpoint(dir) : load_checkpoint(dir);
}

QuantizeSummary write_quantized_checkpoint(const std::string& src_dir, ComputeType dtype,
                                           const std::string& out_dir) {
  if (dtype != ComputeType::kInt8 && dtype != ComputeType::kBF16) {
    fail("bad_request", "quantize to int8 or bf16 (got fp32)");
  }
  if (is_quantized_checkpoint(src_dir)) {
    fail("bad_request", src_dir + " is already quantized (" + checkpoint_quantization(src_dir) + ")");
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) fail("io_error", "cannot create " + out_dir + ": " + ec.message());
  if (fs::equivalent(src_dir, out_dir, ec)) {
    fail("bad_request", "the output folder must differ from the model folder");
  }
  const Checkpoint ckpt = load_checkpoint(src_dir);

  QuantizeSummary summary;
  std::vector<OutTensor> tensors;
  const Tensor& word = ckpt.weights.at(kWordEmbeddings);
  for (const auto& [name, t] : ckpt.weights) {
    // A tied decoder is the word-embedding table: the loader ties it again.
    if (name == kDecoderWeight && same_values(t, word)) continue;
    summary.f32_bytes += t.nbytes();
    if (!is_quantized_tensor(name)) {
      tensors.push_back({name, DType::F32, t.shape(), as_bytes(t.f32(), t.numel())});
      continue;
    }
    ++summary.quantized_tensors;
    if (dtype == ComputeType::kInt8) {
      const kernels::QuantizedRows q = kernels::quantize_rows_s8(t.f32(), t.dim(0), t.dim(1));
      tensors.push_back({name, DType::I8, t.shape(), as_bytes(q.values.data(), q.values.size())});
      tensors.push_back({name + kScaleSuffix, DType::F32, {t.dim(0)},
                         as_bytes(q.scales.data(), q.scales.size())});
    } else {
      const std::vector<uint16_t> b = kernels::to_bf16(t.f32(), t.numel());
      tensors.push_back({name, DType::BF16, t.shape(), as_bytes(b.data(), b.size())});
    }
  }
  const json metadata = {
      {"tanzhen_quantization", dtype == ComputeType::kInt8 ? kQuantizationInt8 : kQuantizationBf16},
      {"format_version", kQuantizedFormatVersion}};
  summary.weights_file = (fs::path(out_dir) / kWeightsName).string();
  write_safetensors(summary.weights_file, std::move(tensors), metadata);
  summary.bytes = fs::file_size(summary.weights_file);

  for (const auto& entry : fs::directory_iterator(src_dir)) {
    if (!entry.is_regular_file() || is_weights_file(entry.path())) continue;
    fs::copy_file(entry.path(), fs::path(out_dir) / entry.path().filename(),
                  fs::copy_options::overwrite_existing, ec);
    if (ec) fail("io_error", "cannot copy " + entry.path().string() + ": " + ec.message());
    // Copies keep the source's mode; a read-only source must not make the next run fail.
    fs::permissions(fs::path(out_dir) / entry.path().filename(), fs::perms::owner_write,
                    fs::perm_options::add, ec);
    ++summary.copied_files;
  }
  return summary;
}

}  // namespace tanzhen
