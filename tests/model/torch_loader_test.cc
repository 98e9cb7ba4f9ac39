// read_torch_checkpoint / load_checkpoint on PyTorch files: the reference zip and legacy
// checkpoints against their safetensors twins, hand-built files (strides, offsets, shared and
// half storages, deflate, other folder names), hostile pickles and corrupt files.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "loader_test_util.h"
#include "loader_torch_writer.h"
#include "tanzhen/model/checkpoint.h"
#include "test_paths.h"

namespace tanzhen::testing {
namespace {

namespace fs = std::filesystem;

// A folder with `model`'s config.json and its pytorch_model.bin only (so load_checkpoint
// cannot prefer model.safetensors).
std::string torch_only_dir(const std::string& model) {
  const std::string dir = make_model_dir(reference_model(model));
  fs::copy_file(reference_model(model) + "/pytorch_model.bin", dir + "/pytorch_model.bin");
  return dir;
}

std::string temp_path(const std::string& name) { return make_temp_dir("tanzhen-torch") + "/" + name; }

std::vector<uint32_t> first_bits(const Tensor& t, int n) {
  std::vector<uint32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(f32_bits(t.f32()[i]));
  return out;
}

// Expects read_torch_checkpoint to fail with `code`, naming the file and every `parts`.
std::string expect_rejected(const std::string& path, const std::string& code, const std::vector<std::string>& parts) {
  const std::string msg = error_message([&] { read_torch_checkpoint(path); }, code);
  EXPECT_TRUE(contains(msg, path)) << msg;
  for (const auto& p : parts) EXPECT_TRUE(contains(msg, p)) << "'" << p << "' not in: " << msg;
  return msg;
}

std::string write_legacy(const std::string& main_pickle, const std::vector<StorageBytes>& storages) {
  const std::string path = temp_path("legacy.bin");
  write_bytes(path, legacy_checkpoint(main_pickle, storages));
  return path;
}

std::string write_zip_pickle(const std::string& data_pkl, const std::vector<StorageBytes>& storages = {}) {
  const std::string path = temp_path("zip.bin");
  write_torch_zip(path, "archive", data_pkl, storages);
  return path;
}

// ---- reference checkpoints ---------------------------------------------------------------------

TEST(TorchCheckpoint, ZipMatchesSafetensorsBitForBit) {
  const Checkpoint st = load_checkpoint(reference_model("tiny-bert-ner"));
  const Checkpoint zip = load_checkpoint(torch_only_dir("tiny-bert-ner"));
  EXPECT_TRUE(contains(zip.weights_file, "pytorch_model.bin"));
  EXPECT_EQ(zip.config.head, HeadKind::kTokenClassification);
  EXPECT_EQ(zip.config.labels, st.config.labels);
  EXPECT_TRUE(same_weights(zip.weights, st.weights));
  // The raw readers agree too, names included.
  EXPECT_TRUE(same_weights(read_torch_checkpoint(reference_model("tiny-bert-ner") + "/pytorch_model.bin"),
                           read_safetensors(reference_model("tiny-bert-ner") + "/model.safetensors")));
}

TEST(TorchCheckpoint, LegacyMlmMatchesSafetensorsBitForBit) {
  const std::string bin = reference_model("tiny-bert-mlm") + "/pytorch_model.bin";
  const TensorMap raw = read_torch_checkpoint(bin);
  EXPECT_EQ(raw.size(), 47u);  // with decoder, pooler and NSP head
  EXPECT_TRUE(raw.count("cls.seq_relationship.weight"));
  EXPECT_TRUE(raw.count("bert.pooler.dense.weight"));

  const Checkpoint legacy = load_checkpoint(torch_only_dir("tiny-bert-mlm"));
  const Checkpoint st = load_checkpoint(reference_model("tiny-bert-mlm"));
  EXPECT_EQ(legacy.config.head, HeadKind::kMaskedLM);
  // The legacy file stores the tied decoder explicitly; its bytes equal the word embeddings,
  // which is what the safetensors checkpoint ties to.
  EXPECT_TRUE(same_weights(legacy.weights, st.weights));
}

TEST(TorchCheckpoint, ModelScopeRanerZip) {
  const Checkpoint ck = load_checkpoint(reference_model("tiny-bert-crf-modelscope"));
  EXPECT_EQ(ck.config.head, HeadKind::kCrf);
  ASSERT_EQ(ck.config.labels.size(), 13u);
  EXPECT_EQ(ck.weights.size(), 5u + 2 * 16 + 2 + 3);  // pooler dropped
  EXPECT_EQ(ck.weights.at("classifier.weight").shape(), (std::vector<int64_t>{13, 64}));
  EXPECT_EQ(ck.weights.at("crf.transitions").shape(), (std::vector<int64_t>{13, 13}));
  // Values read with torch.load.
  EXPECT_EQ(first_bits(ck.weights.at("crf.transitions"), 4),
            (std::vector<uint32_t>{1062595534u, 1058762719u, 3214668806u, 3216739601u}));
  EXPECT_EQ(first_bits(ck.weights.at("classifier.bias"), 4),
            (std::vector<uint32_t>{1016304104u, 1034218554u, 1034062926u, 3178678343u}));
  EXPECT_EQ(first_bits(ck.weights.at("crf.start_transitions"), 4),
            (std::vector<uint32_t>{1036635690u, 1044159430u, 3209354902u, 3204899245u}));
}

// ---- hand-built files ----------------------------------------------------------------------------

// Storage "0": 12 floats 0..11; storage "1": 3 halves 1, 2, -0.5.
std::vector<StorageBytes> sample_storages() {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i);
  const std::string halves("\x00\x3c\x00\x40\x00\xb8", 6);
  return {{"0", 12, f32_bytes(v)}, {"1", 3, halves}};
}

std::vector<FakeTensor> sample_tensors() {
  return {
      {"transposed", "FloatStorage", "0", 12, 0, {3, 2}, {1, 3}},  // t[i][j] = s[i + 3j]
      {"offset", "FloatStorage", "0", 12, 4, {2, 2}, {2, 1}},      // s[4..7]
      {"strided", "FloatStorage", "0", 12, 1, {2}, {3}},           // s[1], s[4]
      {"expanded", "FloatStorage", "0", 12, 2, {3}, {0}},          // s[2] three times
      {"scalar", "FloatStorage", "0", 12, 11, {}, {}},             // s[11]
      {"empty", "FloatStorage", "0", 12, 0, {0, 5}, {5, 1}},
      {"half", "HalfStorage", "1", 3, 0, {3}, {1}},
  };
}

void check_sample(const TensorMap& m) {
  ASSERT_EQ(m.size(), 7u);
  auto values = [&](const std::string& name) {
    const Tensor& t = m.at(name);
    EXPECT_EQ(t.dtype(), DType::F32) << name;
    return std::vector<float>(t.f32(), t.f32() + t.numel());
  };
  EXPECT_EQ(m.at("transposed").shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(values("transposed"), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(values("offset"), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(values("strided"), (std::vector<float>{1, 4}));
  EXPECT_EQ(values("expanded"), (std::vector<float>{2, 2, 2}));
  EXPECT_EQ(values("scalar"), (std::vector<float>{11}));
  EXPECT_EQ(m.at("empty").numel(), 0);
  EXPECT_EQ(m.at("half").dtype(), DType::F16);
  const Tensor h = m.at("half").to_f32();
  EXPECT_EQ(std::vector<float>(h.f32(), h.f32() + 3), (std::vector<float>{1, 2, -0.5f}));
}

TEST(TorchCheckpoint, LegacyStridesOffsetsAndSharedStorage) {
  check_sample(read_torch_checkpoint(write_legacy(state_dict_pickle(sample_tensors(), true), sample_storages())));
}

TEST(TorchCheckpoint, ZipStridesOffsetsAndSharedStorage) {
  const std::string path = temp_path("model.pt");
  write_torch_zip(path, "archive", state_dict_pickle(sample_tensors(), false), sample_storages());
  check_sample(read_torch_checkpoint(path));
}

TEST(TorchCheckpoint, ZipWithDeflateAndAnotherFolderName) {
  const std::string path = temp_path("model.pt");
  write_torch_zip(path, "my_checkpoint", state_dict_pickle(sample_tensors(), false), sample_storages(), true);
  check_sample(read_torch_checkpoint(path));
}

TEST(TorchCheckpoint, NestedStateDictAndOrderedDictWithMetadata) {
  // {"epoch": 3, "state_dict": OrderedDict(w=...)} with OrderedDict._metadata set via BUILD.
  PickleWriter w;
  w.proto().op('}').mark().str("epoch").integer(3).str("state_dict");
  w.global("collections", "OrderedDict").op(')').op('R');
  w.mark().str("w").global("torch._utils", "_rebuild_tensor_v2").mark();
  w.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").integer(12).op('t').op('Q');
  w.integer(0).int_tuple({12}).int_tuple({1}).boolean(false).global("collections", "OrderedDict").op(')').op('R');
  w.op('t').op('R').op('u');
  w.op('}').str("_metadata").op('}').op('s').op('b');  // BUILD with state {"_metadata": {}}
  w.op('u').stop();
  const TensorMap m = read_torch_checkpoint(write_zip_pickle(w.bytes(), {sample_storages()[0]}));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m.at("w").f32()[11], 11.0f);
}

TEST(TorchCheckpoint, ParameterWrapperIsUnwrapped) {
  PickleWriter w;
  w.proto().op('}').mark().str("p").global("torch._utils", "_rebuild_parameter").mark();
  w.global("torch._utils", "_rebuild_tensor_v2").mark();
  w.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").integer(12).op('t').op('Q');
  w.integer(1).int_tuple({2}).int_tuple({1}).boolean(false).global("collections", "OrderedDict").op(')').op('R');
  w.op('t').op('R');
  w.boolean(true).global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
  w.op('u').stop();
  const TensorMap m = read_torch_checkpoint(write_zip_pickle(w.bytes(), {sample_storages()[0]}));
  EXPECT_EQ(std::vector<float>(m.at("p").f32(), m.at("p").f32() + 2), (std::vector<float>{1, 2}));
}

// ---- hostile pickles -------------------------------------------------------------------------------

TEST(TorchCheckpointUnsafe, GlobalOsSystemInZip) {
  PickleWriter w;
  w.proto().global("os", "system").str("touch /tmp/tanzhen-pwned").op('\x85').op('R').stop();
  expect_rejected(write_zip_pickle(w.bytes()), "unsafe_pickle", {"'os.system'"});
  EXPECT_FALSE(fs::exists("/tmp/tanzhen-pwned"));
}

TEST(TorchCheckpointUnsafe, StackGlobalBuiltinsEvalInLegacy) {
  PickleWriter w;
  w.proto().str("builtins").str("eval").op('\x93').str("__import__('os').system('id')").op('\x85').op('R').stop();
  expect_rejected(write_legacy(w.bytes(), {}), "unsafe_pickle", {"'builtins.eval'"});
}

TEST(TorchCheckpointUnsafe, ForbiddenImportsAnywhere) {
  // Also inside an otherwise normal state dict, and in the legacy magic-number pickle.
  for (auto [module, name] : {std::pair{"torch.storage", "_load_from_bytes"}, std::pair{"posix", "system"},
                              std::pair{"subprocess", "Popen"}, std::pair{"torch", "load"},
                              std::pair{"__builtin__", "getattr"}}) {
    SCOPED_TRACE(std::string(module) + "." + name);
    PickleWriter w;
    w.proto().op('}').mark().str("x").global(module, name).str("payload").op('\x85').op('R').op('u').stop();
    expect_rejected(write_zip_pickle(w.bytes()), "unsafe_pickle", {std::string("'") + module + "." + name + "'"});
  }
  PickleWriter magic;
  magic.proto().global("os", "system").str("id").op('\x85').op('R').stop();
  const std::string path = temp_path("evil.bin");
  write_bytes(path, magic.bytes());
  expect_rejected(path, "unsafe_pickle", {"'os.system'"});
}

TEST(TorchCheckpointUnsafe, AllowedCallablesWithHostileArguments) {
  // A storage type is importable but not callable; OrderedDict takes no arguments here.
  PickleWriter a;
  a.proto().global("torch", "FloatStorage").str("x").op('\x85').op('R').stop();
  expect_rejected(write_zip_pickle(a.bytes()), "bad_checkpoint", {"cannot be called"});
  PickleWriter b;
  b.proto().global("collections", "OrderedDict").str("x").op('\x85').op('R').stop();
  expect_rejected(write_zip_pickle(b.bytes()), "bad_checkpoint", {"OrderedDict"});
  PickleWriter c;  // _rebuild_tensor_v2 with a string instead of a storage
  c.proto().global("torch._utils", "_rebuild_tensor_v2").mark().str("not a storage").integer(0).int_tuple({1});
  c.int_tuple({1}).boolean(false).none().op('t').op('R').stop();
  expect_rejected(write_zip_pickle(c.bytes()), "bad_checkpoint", {"storage"});
  PickleWriter d;  // a persistent id that is not a storage reference
  d.proto().mark().str("module").str("x").op('t').op('Q').stop();
  expect_rejected(write_zip_pickle(d.bytes()), "bad_checkpoint", {"persistent id"});
}

// ---- malformed pickles and files ------------------------------------------------------------------

TEST(TorchCheckpointCorrupt, MalformedPickles) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("\x80\x02\xff", 3), "unsupported opcode 0xff"},
      {std::string("\x80\x02.", 3), "stack underflow"},
      {std::string("\x80\x02h\x05.", 4), "memo key 5 is not set"},
      {std::string("\x80\x02u.", 4), "no MARK"},
      {std::string("\x80\x02X\xff\xff\xff\xff", 7), "more bytes"},
      {std::string("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff", 11), "more bytes"},
      {std::string("\x80\x02\x8b\x00\x00\x00\x80", 7), "negative LONG4"},
      {std::string("\x80\x02(0.", 5), "stack underflow"},  // popping below a MARK
      {std::string("\x80\x02" "cos", 5), "unterminated GLOBAL"},
      {std::string("\x80\x02}", 3), "more bytes"},  // no STOP
      {std::string("\x80\x02Na.", 5), "stack underflow"},
      {std::string("\x80\x02]N}s.", 6), "not a dict"},
      {std::string("\x80\x07}.", 4), "protocol"},
      {std::string("\x80\x02N.", 4), "state dict"},  // a valid pickle, but not a dict
  };
  for (const auto& [bytes, part] : cases) {
    SCOPED_TRACE(part);
    expect_rejected(write_zip_pickle(bytes), "bad_checkpoint", {part});
  }
}

TEST(TorchCheckpointCorrupt, DeepNestingAndCyclesDoNotCrash) {
  PickleWriter deep;
  deep.proto().none();
  for (int i = 0; i < 300000; ++i) deep.op('\x85');  // TUPLE1 around TUPLE1 around ...
  deep.stop();
  expect_rejected(write_zip_pickle(deep.bytes()), "bad_checkpoint", {"state dict"});

  PickleWriter cycle;  // l = []; l.append(l)
  cycle.proto().op(']').raw(std::string("q\0h\0", 4)).op('a').stop();
  expect_rejected(write_zip_pickle(cycle.bytes()), "bad_checkpoint", {"state dict"});

  PickleWriter many;
  many.proto().mark();
  for (int i = 0; i < (1 << 19) + 10; ++i) many.none();
  many.op('l').stop();
  expect_rejected(write_zip_pickle(many.bytes()), "bad_checkpoint", {"too many objects"});
}

TEST(TorchCheckpointCorrupt, TensorOutsideItsStorage) {
  auto one = [](std::vector<int64_t> shape, std::vector<int64_t> stride, int64_t offset, int64_t numel = 12) {
    return write_legacy(state_dict_pickle({{"w", "FloatStorage", "0", numel, offset, shape, stride}}, true),
                        {sample_storages()[0]});
  };
  expect_rejected(one({13}, {1}, 0), "bad_checkpoint", {"tensor 'w'", "reaches element 12"});
  expect_rejected(one({4, 4}, {4, 1}, 0), "bad_checkpoint", {"tensor 'w'", "reaches element 15"});
  expect_rejected(one({2}, {1}, 11), "bad_checkpoint", {"tensor 'w'"});
  expect_rejected(one({2}, {-1}, 5), "bad_checkpoint", {"tensor 'w'", "negative"});
  expect_rejected(one({-2}, {1}, 0), "bad_checkpoint", {"tensor 'w'", "negative"});
  expect_rejected(one({2}, {1}, -1), "bad_checkpoint", {"tensor 'w'", "negative"});
  // Products that overflow 64 bits must not wrap around.
  expect_rejected(one({1LL << 40, 1LL << 40}, {1, 1}, 0), "bad_checkpoint", {"tensor 'w'", "impossibly large"});
  expect_rejected(one({2, 2}, {1LL << 62, 1LL << 62}, 0), "bad_checkpoint", {"tensor 'w'"});
}

TEST(TorchCheckpointCorrupt, AbsurdStorageSizes) {
  const std::string pkl_huge = state_dict_pickle({{"w", "FloatStorage", "0", 1LL << 62, 0, {2}, {1}}}, true);
  // The pickle and the count agree on 2^62 elements, whose byte size overflows 64 bits.
  expect_rejected(write_legacy(pkl_huge, {{"0", 1LL << 62, f32_bytes({1, 2})}}), "bad_checkpoint",
                  {"storage '0'", "impossibly large"});
  const std::string pkl_big = state_dict_pickle({{"w", "FloatStorage", "0", 1LL << 40, 0, {2}, {1}}}, true);
  expect_rejected(write_legacy(pkl_big, {{"0", 1LL << 40, f32_bytes({1, 2})}}), "bad_checkpoint",
                  {"storage '0'", "left (truncated file)"});
  // Count and pickle disagree.
  const std::string pkl = state_dict_pickle({{"w", "FloatStorage", "0", 2, 0, {2}, {1}}}, true);
  expect_rejected(write_legacy(pkl, {{"0", 3, f32_bytes({1, 2, 3})}}), "bad_checkpoint", {"storage '0'", "3 elements"});
  // Zip: record shorter than the storage, or missing.
  const std::string zpkl = state_dict_pickle({{"w", "FloatStorage", "0", 1LL << 40, 0, {2}, {1}}}, false);
  expect_rejected(write_zip_pickle(zpkl, {{"0", 2, f32_bytes({1, 2})}}), "bad_checkpoint", {"archive/data/0"});
  expect_rejected(write_zip_pickle(zpkl), "bad_checkpoint", {"archive/data/0", "missing"});
}

TEST(TorchCheckpointCorrupt, UnsupportedElementType) {
  // ShortStorage is a legitimate torch type, but not a weight dtype tanzhen knows.
  const std::string pkl = state_dict_pickle({{"w", "ShortStorage", "0", 2, 0, {2}, {1}}}, true);
  expect_rejected(write_legacy(pkl, {{"0", 2, std::string("\x01\x00\x02\x00", 4)}}), "bad_checkpoint",
                  {"tensor 'w'", "unsupported dtype", "torch.ShortStorage"});
}

TEST(TorchCheckpointCorrupt, StorageListMismatch) {
  const std::string pkl = state_dict_pickle({{"w", "FloatStorage", "0", 12, 0, {12}, {1}}}, true);
  expect_rejected(write_legacy(pkl, {}), "bad_checkpoint", {"tensor 'w'", "storage '0'"});
  expect_rejected(write_legacy(pkl, {sample_storages()[0], {"7", 12, sample_storages()[0].bytes}}), "bad_checkpoint",
                  {"storage '7'", "never used"});
}

TEST(TorchCheckpointCorrupt, TruncatedZipAtManyPoints) {
  const std::string full = read_bytes(reference_model("tiny-bert-ner") + "/pytorch_model.bin");
  for (size_t cut : {size_t{0}, size_t{3}, size_t{10}, size_t{1000}, full.size() / 2, full.size() - 22,
                     full.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string path = temp_path("pytorch_model.bin");
    write_bytes(path, full.substr(0, cut));
    expect_rejected(path, "bad_checkpoint", {});
  }
}

TEST(TorchCheckpointCorrupt, TruncatedLegacyAtManyPoints) {
  const std::string full = read_bytes(reference_model("tiny-bert-mlm") + "/pytorch_model.bin");
  // 0-14 magic, 15-20 protocol, 21-136 sys_info, 137-5774 state dict, 5775-6559 keys, then storages.
  const std::vector<std::pair<size_t, std::string>> cuts = {
      {1, "too short"},        {8, "magic number"},       {18, "protocol version"}, {100, "sys_info"},
      {3000, "state dict"},    {6000, "storage keys"},    {6564, "cut off"},        {6600, "truncated"},
      {full.size() / 2, "truncated"}, {full.size() - 1, "truncated"},
  };
  for (const auto& [cut, part] : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string path = temp_path("pytorch_model.bin");
    write_bytes(path, full.substr(0, cut));
    expect_rejected(path, "bad_checkpoint", {part});
  }
}

TEST(TorchCheckpointCorrupt, NotACheckpoint) {
  const std::string text = temp_path("pytorch_model.bin");
  write_bytes(text, "version https://git-lfs.github.com/spec/v1\noid sha256:abc\n");
  expect_rejected(text, "bad_checkpoint", {"not a PyTorch checkpoint"});
  const std::string zip = temp_path("other.zip");
  write_zip(zip, {{"readme.txt", "hello"}});
  expect_rejected(zip, "bad_checkpoint", {"data.pkl"});
  const std::string big_endian = temp_path("be.bin");
  write_zip(big_endian, {{"archive/data.pkl", state_dict_pickle({}, false)}, {"archive/byteorder", "big"}});
  expect_rejected(big_endian, "bad_checkpoint", {"big-endian"});
}

// Byte corruptions must end in a clean Error or a successful load, never a crash.
void flip_bytes(const std::string& original, size_t from, size_t to, size_t step, int* errors) {
  const std::string path = temp_path("pytorch_model.bin");
  for (size_t pos = from; pos < std::min(to, original.size()); pos += step) {
    for (uint8_t x : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::string bytes = original;
      bytes[pos] = static_cast<char>(bytes[pos] ^ x);
      write_bytes(path, bytes);
      try {
        read_torch_checkpoint(path);
      } catch (const Error& e) {
        ++*errors;
        EXPECT_TRUE(e.code() == "bad_checkpoint" || e.code() == "unsafe_pickle") << e.code();
      }
    }
  }
}

TEST(TorchCheckpointCorrupt, ByteFlipsNeverCrash) {
  int errors = 0;
  // Small hand-built files: every byte.
  flip_bytes(legacy_checkpoint(state_dict_pickle(sample_tensors(), true), sample_storages()), 0, ~size_t{0}, 1, &errors);
  const std::string zip = temp_path("sample.pt");
  write_torch_zip(zip, "archive", state_dict_pickle(sample_tensors(), false), sample_storages());
  flip_bytes(read_bytes(zip), 0, ~size_t{0}, 1, &errors);
  // The reference legacy file's pickles (17 MB each time: sparsely).
  flip_bytes(read_bytes(reference_model("tiny-bert-mlm") + "/pytorch_model.bin"), 0, 6600, 661, &errors);
  EXPECT_GT(errors, 1000);
}

}  // namespace
}  // namespace tanzhen::testing
