// Test helpers that write PyTorch checkpoints byte by byte — pickle opcodes, the legacy
// format's five pickles + raw storages, and the zip format (via libzip) — so the tests can
// build strided / shared / hostile / corrupt files without Python.
#pragma once
#include <zip.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tanzhen::testing {

// Appends pickle opcodes (protocol 2, as torch.save writes them).
class PickleWriter {
 public:
  PickleWriter& proto() { return raw("\x80\x02"); }
  PickleWriter& op(char c) { bytes_ += c; return *this; }
  PickleWriter& raw(const std::string& b) { bytes_ += b; return *this; }
  PickleWriter& mark() { return op('('); }
  PickleWriter& stop() { return op('.'); }
  PickleWriter& none() { return op('N'); }
  PickleWriter& boolean(bool v) { return op(v ? '\x88' : '\x89'); }
  PickleWriter& str(const std::string& s) {  // BINUNICODE
    op('X');
    le(s.size(), 4);
    return raw(s);
  }
  PickleWriter& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').le(static_cast<uint64_t>(v), 1);
    if (v >= INT32_MIN && v <= INT32_MAX) return op('J').le(static_cast<uint32_t>(v), 4);
    return op('\x8a').le(8, 1).le(static_cast<uint64_t>(v), 8);  // LONG1, 8 bytes
  }
  PickleWriter& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  PickleWriter& int_tuple(const std::vector<int64_t>& v) {
    mark();
    for (auto x : v) integer(x);
    return op('t');
  }
  PickleWriter& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_ += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// One tensor entry of a state dict: _rebuild_tensor_v2(storage, offset, shape, stride, ...).
struct FakeTensor {
  std::string name;
  std::string storage_type;  // "FloatStorage", "HalfStorage", ...
  std::string key;
  int64_t storage_numel;
  int64_t offset;
  std::vector<int64_t> shape, stride;
};

// A pickled state dict as torch.save writes it (legacy ids carry a 6th element, view_metadata).
inline std::string state_dict_pickle(const std::vector<FakeTensor>& tensors, bool legacy) {
  PickleWriter w;
  w.proto().op('}').mark();
  for (const auto& t : tensors) {
    w.str(t.name).global("torch._utils", "_rebuild_tensor_v2").mark();
    w.mark().str("storage").global("torch", t.storage_type).str(t.key).str("cpu").integer(t.storage_numel);
    if (legacy) w.none();
    w.op('t').op('Q');
    w.integer(t.offset).int_tuple(t.shape).int_tuple(t.stride).boolean(false);
    w.global("collections", "OrderedDict").op(')').op('R');
    w.op('t').op('R');
  }
  return w.op('u').stop().bytes();
}

struct StorageBytes {
  std::string key;
  int64_t numel;      // what the file says
  std::string bytes;  // raw little-endian elements
};

// The legacy format: magic, protocol, sys_info, `main_pickle`, key list, storages.
inline std::string legacy_checkpoint(const std::string& main_pickle, const std::vector<StorageBytes>& storages) {
  PickleWriter w;
  // LONG1 0x1950a86a20f9469cfc6c
  w.proto().op('\x8a').le(10, 1).raw(std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10)).stop();
  w.proto().op('M').le(1001, 2).stop();
  w.proto().op('}').mark().str("protocol_version").op('M').le(1001, 2).str("little_endian").boolean(true);
  w.str("type_sizes").op('}').mark().str("short").integer(2).str("int").integer(4).str("long").integer(4);
  w.op('u').op('u').stop();
  w.raw(main_pickle);
  w.proto().op(']').mark();
  for (const auto& s : storages) w.str(s.key);
  w.op('e').stop();
  for (const auto& s : storages) w.le(static_cast<uint64_t>(s.numel), 8).raw(s.bytes);
  return w.bytes();
}

struct ZipEntry {
  std::string name;
  std::string bytes;
  bool deflate = false;
};

// Writes a zip archive with libzip (entries stored unless `deflate`).
inline void write_zip(const std::string& path, const std::vector<ZipEntry>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) throw std::runtime_error("zip_open failed");
  for (const auto& e : entries) {
    zip_source_t* src = zip_source_buffer(z, e.bytes.data(), e.bytes.size(), 0);
    const zip_int64_t idx = zip_file_add(z, e.name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) throw std::runtime_error("zip_file_add failed");
    zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), e.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  if (zip_close(z) != 0) throw std::runtime_error("zip_close failed");
}

// A torch >= 1.6 zip checkpoint under `folder`/.
inline void write_torch_zip(const std::string& path, const std::string& folder, const std::string& data_pkl,
                            const std::vector<StorageBytes>& storages, bool deflate = false) {
  std::vector<ZipEntry> entries = {{folder + "/data.pkl", data_pkl, deflate}};
  for (const auto& s : storages) entries.push_back({folder + "/data/" + s.key, s.bytes, deflate});
  entries.push_back({folder + "/version", "3\n", false});
  write_zip(path, entries);
}

inline std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

}  // namespace tanzhen::testing
