// read_safetensors: the raw reader on the reference file, on misaligned data, and on every kind
// of corrupt file (each must throw tanzhen::Error naming the file, and the tensor if any).
#include <gtest/gtest.h>

#include "loader_test_util.h"
#include "tanzhen/model/checkpoint.h"
#include "test_paths.h"

namespace tanzhen::testing {
namespace {

std::string reference_file() { return reference_model("tiny-bert-ner") + "/model.safetensors"; }

std::string temp_file(const std::string& bytes) {
  const std::string path = make_temp_dir("tanzhen-safetensors") + "/model.safetensors";
  write_bytes(path, bytes);
  return path;
}

// Expects read_safetensors(path) to fail with a message naming the file and every `parts`.
void expect_corrupt(const std::string& bytes, const std::vector<std::string>& parts) {
  const std::string path = temp_file(bytes);
  const std::string msg = error_message([&] { read_safetensors(path); }, "bad_checkpoint");
  EXPECT_TRUE(contains(msg, path)) << msg;
  for (const auto& p : parts) EXPECT_TRUE(contains(msg, p)) << "'" << p << "' not in: " << msg;
}

TEST(ReadSafetensors, RawNamesDtypesAndZeroCopy) {
  const TensorMap raw = read_safetensors(reference_file());
  EXPECT_EQ(raw.size(), 39u);
  const Tensor& emb = raw.at("bert.embeddings.word_embeddings.weight");
  EXPECT_EQ(emb.dtype(), DType::F32);
  EXPECT_EQ(emb.shape(), (std::vector<int64_t>{21128, 64}));
  // Views into the mapping: consecutive tensors in the file are consecutive in memory
  // (data_offsets: LayerNorm.bias [0, 256], LayerNorm.weight [256, 512]).
  const auto* bias = static_cast<const uint8_t*>(raw.at("bert.embeddings.LayerNorm.bias").data());
  const auto* weight = static_cast<const uint8_t*>(raw.at("bert.embeddings.LayerNorm.weight").data());
  EXPECT_EQ(weight - bias, 256);

  const TensorMap f16 = read_safetensors(reference_model("tiny-bert-ner-bioes-f16") + "/model.safetensors");
  EXPECT_EQ(f16.at("classifier.bias").dtype(), DType::F16);
  EXPECT_EQ(static_cast<const uint16_t*>(f16.at("classifier.bias").data())[0], 9337);  // numpy view as uint16
}

TEST(ReadSafetensors, MisalignedF32IsCopied) {
  // A 2-byte F16 tensor first puts the F32 one at an odd-for-F32 offset.
  const float values[2] = {1.5f, -2.25f};
  const std::string data = std::string("\x00\x3c", 2)  // F16 1.0
                           + std::string(reinterpret_cast<const char*>(values), 8);
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"f":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})";
  std::string padded = header;
  while ((8 + padded.size()) % 8) padded += ' ';
  const TensorMap t = read_safetensors(temp_file(safetensors_raw(padded, data)));
  const Tensor& f = t.at("f");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data()) % 4, 0u);
  EXPECT_EQ(f.f32()[0], 1.5f);
  EXPECT_EQ(f.f32()[1], -2.25f);
  EXPECT_EQ(t.at("h").to_f32().f32()[0], 1.0f);
}

TEST(ReadSafetensors, EmptyTensorsAndMetadataAreFine) {
  const TensorMap t = read_safetensors(temp_file(safetensors_raw(
      R"({"__metadata__":{"format":"pt"},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
      R"("x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
      std::string(8, '\x01'))));
  EXPECT_EQ(t.at("e").numel(), 0);
  EXPECT_EQ(t.at("x").dtype(), DType::I64);
  EXPECT_EQ(t.size(), 2u);
}

TEST(ReadSafetensorsErrors, TruncatedAtManyPoints) {
  const std::string full = read_bytes(reference_file());
  const size_t header_end = 8 + 4288;
  // name of the tensor whose bytes a cut lands in (or after), when the cut is in the data
  const std::vector<std::pair<size_t, std::string>> cuts = {
      {0, "too short"},
      {5, "too short"},
      {8, "header length"},
      {100, "header length"},
      {header_end - 1, "header length"},
      {header_end, "outside"},
      {header_end + 1000, "outside"},
      {full.size() / 2, "outside"},
      {full.size() - 1, "'classifier.weight'"},
  };
  for (const auto& [cut, part] : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expect_corrupt(full.substr(0, cut), {part});
  }
}

TEST(ReadSafetensorsErrors, HeaderLengthBeyondFileOrLimit) {
  expect_corrupt(safetensors_raw("{}", "", ~0ull - 1), {"header length"});
  expect_corrupt(safetensors_raw("{}", "", 1ull << 62), {"header length"});
  // 200 MB declared, more than the 100 MB limit (and than the file).
  expect_corrupt(safetensors_raw("{}", std::string(64, ' '), 200ull << 20), {"header length"});
}

TEST(ReadSafetensorsErrors, BadJson) {
  expect_corrupt(safetensors_raw("{\"a\": {\"dtype\": ", ""), {"not a valid JSON object"});
  expect_corrupt(safetensors_raw("[1, 2, 3]", ""), {"not a valid JSON object"});
  expect_corrupt(safetensors_raw(std::string("\xff\xfe{}", 4), ""), {"not a valid JSON object"});
}

TEST(ReadSafetensorsErrors, BadEntries) {
  const std::string data(16, '\0');
  auto one = [&](const std::string& entry) { return safetensors_raw(R"({"w":)" + entry + "}", data); };
  expect_corrupt(one(R"({"dtype":"F32","shape":[8],"data_offsets":[0,32]})"), {"'w'", "outside"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"), {"'w'", "needs 12 bytes"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), {"'w'", "data_offsets"});
  expect_corrupt(one(R"({"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]})"), {"'w'", "unsupported dtype 'F8_E4M3'"});
  expect_corrupt(one(R"({"dtype":"I16","shape":[8],"data_offsets":[0,16]})"), {"'w'", "unsupported dtype"});
  expect_corrupt(one(R"({"shape":[4],"data_offsets":[0,16]})"), {"'w'", "dtype"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"), {"'w'", "shape"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,16]})"), {"'w'", "shape"});
  expect_corrupt(one(R"({"dtype":"F32","shape":"4","data_offsets":[0,16]})"), {"'w'", "shape"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0]})"), {"'w'", "data_offsets"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,-16]})"), {"'w'", "data_offsets"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[4]})"), {"'w'", "data_offsets"});
  expect_corrupt(one(R"([1,2])"), {"'w'"});
  // Products that overflow 64 bits must not wrap around to a small size.
  expect_corrupt(one(R"({"dtype":"F32","shape":[1099511627776,1099511627776,1099511627776],"data_offsets":[0,16]})"),
                 {"'w'", "too large"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]})"), {"'w'", "shape"});
  expect_corrupt(one(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]})"), {"'w'", "rank"});
}

TEST(ReadSafetensorsErrors, OverlappingTensors) {
  expect_corrupt(safetensors_raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 std::string(12, '\0')),
                 {"'b' overlaps tensor 'a'"});
  // An empty tensor in between does not hide the overlap.
  expect_corrupt(safetensors_raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                 R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                 std::string(16, '\0')),
                 {"'b' overlaps tensor 'a'"});
}

TEST(ReadSafetensorsErrors, MissingOrNonRegularFile) {
  const std::string dir = make_temp_dir("tanzhen-safetensors");
  EXPECT_TRUE(contains(error_message([&] { read_safetensors(dir + "/nope.safetensors"); }, "bad_checkpoint"),
                       dir + "/nope.safetensors"));
  EXPECT_TRUE(contains(error_message([&] { read_safetensors(dir); }, "bad_checkpoint"), dir));
}

}  // namespace
}  // namespace tanzhen::testing
