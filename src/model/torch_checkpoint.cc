// read_torch_checkpoint: PyTorch's two torch.save formats.
//  * zip (torch >= 1.6): <folder>/data.pkl (the pickled state dict; storages are persistent ids
//    ('storage', torch.FloatStorage, key, location, numel)) and <folder>/data/<key> records
//    holding each storage's raw little-endian bytes. Read with libzip.
//  * legacy: five pickles back to back — magic number, protocol version, sys_info, the state
//    dict (persistent ids ('storage', type, key, location, numel, view_metadata)), the list of
//    storage keys — then, for each key, an 8-byte little-endian element count and the bytes.
//    Memory-mapped; aligned contiguous tensors view the mapping.
// Both go through the restricted unpickler (pickle_reader.h), which refuses foreign imports.
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "pickle_reader.h"
#include "tanzhen/error.h"
#include "tanzhen/model/checkpoint.h"
#include "weights_io.h"

namespace tanzhen {

namespace {

namespace wio = weights_io;
using pickle::Kind;
using pickle::Value;

constexpr uint64_t kMaxPickleBytes = 256u << 20;  // a state dict's pickle is KBs to a few MB
constexpr size_t kMaxRank = 8;

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  fail("bad_checkpoint", path + ": " + what);
}

// One storage a pickle referred to; its bytes are filled in after the pickle ran.
struct Storage {
  std::string key;
  std::string type;  // "torch.FloatStorage"
  bool dtype_known = false;
  DType dtype = DType::F32;
  size_t elem_size = 1;
  uint64_t numel = 0;  // elements
  // legacy views of another storage: root index, element offset
  int64_t root = -1;
  uint64_t view_offset = 0;
  // filled in when loaded
  const uint8_t* data = nullptr;
  std::shared_ptr<const void> owner;
  bool loaded = false;
};

bool storage_dtype(const std::string& type, DType* out) {
  static const std::map<std::string, DType> kTypes = {
      {"torch.FloatStorage", DType::F32},  {"torch.HalfStorage", DType::F16}, {"torch.BFloat16Storage", DType::BF16},
      {"torch.DoubleStorage", DType::F64}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
      {"torch.CharStorage", DType::I8},    {"torch.ByteStorage", DType::U8},  {"torch.BoolStorage", DType::BOOL}};
  auto it = kTypes.find(type);
  if (it == kTypes.end()) return false;
  *out = it->second;
  return true;
}

// Collects the storages named by persistent ids, one per key.
class StorageTable {
 public:
  StorageTable(std::string path, bool legacy) : path_(std::move(path)), legacy_(legacy) {}

  int64_t resolve(const Value& pid) {
    const auto& a = pid.items;
    const size_t expected = legacy_ ? 6 : 5;
    if (pid.kind != Kind::kTuple || a.size() != expected || a[0]->kind != Kind::kString || a[0]->s != "storage")
      corrupt(path_, "unsupported persistent id in the pickle (expected a storage reference)");
    if (a[1]->kind != Kind::kGlobal || a[2]->kind != Kind::kString || a[4]->kind != Kind::kInt || a[4]->i < 0)
      corrupt(path_, "malformed storage reference in the pickle");
    const int64_t root = add(a[2]->s, a[1]->s, static_cast<uint64_t>(a[4]->i));
    if (!legacy_ || a[5]->kind == Kind::kNone) return root;
    // Legacy view: (view_key, offset, size) into the root storage.
    const Value& v = *a[5];
    if (v.kind != Kind::kTuple || v.items.size() != 3 || v.items[0]->kind != Kind::kString ||
        v.items[1]->kind != Kind::kInt || v.items[2]->kind != Kind::kInt || v.items[1]->i < 0 || v.items[2]->i < 0)
      corrupt(path_, "malformed storage view in the pickle");
    const uint64_t off = static_cast<uint64_t>(v.items[1]->i), size = static_cast<uint64_t>(v.items[2]->i);
    if (off > storages_[root].numel || size > storages_[root].numel - off)
      corrupt(path_, "storage view '" + v.items[0]->s + "' lies outside storage '" + a[2]->s + "'");
    const int64_t view = add("view:" + v.items[0]->s, a[1]->s, size);
    storages_[view].root = root;
    storages_[view].view_offset = off;
    return view;
  }

  std::vector<Storage>& storages() { return storages_; }
  const Storage* find(const std::string& key) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &storages_[it->second];
  }
  Storage* find(const std::string& key) {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &storages_[it->second];
  }

 private:
  int64_t add(const std::string& key, const std::string& type, uint64_t numel) {
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      const Storage& s = storages_[it->second];
      if (s.type != type || s.numel != numel)
        corrupt(path_, "storage '" + key + "' is described twice, differently");
      return it->second;
    }
    Storage s;
    s.key = key;
    s.type = type;
    s.numel = numel;
    s.dtype_known = storage_dtype(type, &s.dtype);
    // Allowed but not representable (no DType): still sized right so the file parses.
    s.elem_size = s.dtype_known ? dtype_size(s.dtype) : type == "torch.ShortStorage" ? 2 : 1;
    storages_.push_back(std::move(s));
    by_key_[key] = static_cast<int64_t>(storages_.size() - 1);
    return static_cast<int64_t>(storages_.size() - 1);
  }

  std::string path_;
  bool legacy_;
  std::vector<Storage> storages_;
  std::map<std::string, int64_t> by_key_;
};

// Bytes of the storage's `numel` elements, or error.
uint64_t storage_bytes(const std::string& path, const Storage& s) {
  uint64_t n = 0;
  if (!wio::mul_ok(s.numel, s.elem_size, &n))
    corrupt(path, "storage '" + s.key + "' is impossibly large");
  return n;
}

// A tensor from its storage, honouring offset and strides; contiguous aligned tensors are views.
Tensor make_tensor(const std::string& path, const std::string& name, const pickle::TensorRecord& r,
                   const Storage& s) {
  auto bad = [&](const std::string& what) { corrupt(path, "tensor '" + name + "' " + what); };
  if (!s.dtype_known) bad("has unsupported dtype (" + s.type + ")");
  if (!s.loaded) bad("refers to storage '" + s.key + "', which the file does not hold");
  if (r.shape.size() > kMaxRank) bad("has too many dimensions");
  if (r.offset < 0) bad("has a negative storage offset");
  const size_t esize = dtype_size(s.dtype);
  uint64_t numel = 1, last = static_cast<uint64_t>(r.offset);  // `last`: the furthest element used
  for (size_t d = 0; d < r.shape.size(); ++d) {
    if (r.shape[d] < 0 || r.stride[d] < 0) bad("has a negative size or stride");
    if (!wio::mul_ok(numel, static_cast<uint64_t>(r.shape[d]), &numel)) bad("is impossibly large");
  }
  if (numel == 0) return Tensor(s.dtype, r.shape, s.data, s.owner);
  for (size_t d = 0; d < r.shape.size(); ++d) {
    uint64_t reach = 0;
    if (!wio::mul_ok(static_cast<uint64_t>(r.shape[d] - 1), static_cast<uint64_t>(r.stride[d]), &reach) ||
        !wio::add_ok(last, reach, &last))
      bad("is impossibly large");
  }
  if (last >= s.numel)
    bad("reaches element " + std::to_string(last) + " of storage '" + s.key + "', which holds " +
        std::to_string(s.numel) + " (truncated or inconsistent file)");

  // Row-major strides (size-1 dimensions may have any stride).
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t d = r.shape.size(); d-- > 0;) {
    if (r.shape[d] != 1 && r.stride[d] != expect) contiguous = false;
    expect *= r.shape[d];
  }
  const uint8_t* base = s.data + static_cast<uint64_t>(r.offset) * esize;
  if (contiguous) return wio::view_or_copy(s.dtype, r.shape, base, s.owner);

  // Strided (e.g. a transposed weight saved without .contiguous()): gather into a new buffer.
  auto buf = wio::allocate_bytes(numel * esize);
  std::vector<int64_t> idx(r.shape.size(), 0);
  uint8_t* out = buf.get();
  for (uint64_t i = 0; i < numel; ++i) {
    uint64_t src = 0;
    for (size_t d = 0; d < idx.size(); ++d) src += static_cast<uint64_t>(idx[d] * r.stride[d]);
    std::memcpy(out + i * esize, base + src * esize, esize);
    for (size_t d = idx.size(); d-- > 0;) {  // odometer increment
      if (++idx[d] < r.shape[d]) break;
      idx[d] = 0;
    }
  }
  const uint8_t* p = buf.get();
  return Tensor(s.dtype, r.shape, p, std::shared_ptr<const void>(std::move(buf), p));
}

// The state dict in the pickle's result: the top-level dict, or its "state_dict"/"model"
// entry for training checkpoints that wrap it.
const Value& state_dict(const std::string& path, const Value& root) {
  if (root.kind != Kind::kDict) corrupt(path, "the pickle does not hold a state dict");
  for (const char* wrapper : {"state_dict", "model"}) {
    const Value* inner = pickle::dict_get(root, wrapper);
    if (inner && inner->kind == Kind::kDict) return *inner;
  }
  return root;
}

TensorMap collect_tensors(const std::string& path, const pickle::Unpickler& up, const Value& root,
                          const std::vector<Storage>& storages) {
  const Value& dict = state_dict(path, root);
  TensorMap out;
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const Value& k = *dict.items[i];
    const Value& v = *dict.items[i + 1];
    if (v.kind != Kind::kTensor) continue;  // e.g. a stray hyper-parameter
    if (k.kind != Kind::kString) corrupt(path, "a tensor's key is not a string");
    const pickle::TensorRecord& r = up.tensors().at(static_cast<size_t>(v.i));
    out.insert_or_assign(k.s, make_tensor(path, k.s, r, storages.at(static_cast<size_t>(r.storage))));
  }
  return out;
}

// Resolves legacy views once their roots are loaded.
void load_views(const std::string& path, std::vector<Storage>& storages) {
  for (auto& s : storages) {
    if (s.root < 0) continue;
    const Storage& root = storages[static_cast<size_t>(s.root)];
    if (!root.loaded) continue;
    if (root.type != s.type) corrupt(path, "storage view '" + s.key + "' changes the element type");
    s.data = root.data + s.view_offset * s.elem_size;
    s.owner = root.owner;
    s.loaded = true;
  }
}

// ---- zip format --------------------------------------------------------------------------------

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;

struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

std::string zip_reason(zip_t* z) { return zip_error_strerror(zip_get_error(z)); }

// Reads the first `n` bytes of entry `index` into `out`; with `whole`, checks nothing follows
// (which also makes libzip verify the CRC).
void read_entry(const std::string& path, zip_t* z, zip_uint64_t index, const std::string& name, uint8_t* out,
                uint64_t n, bool whole) {
  std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen_index(z, index, 0));
  if (!f) corrupt(path, "cannot read zip entry '" + name + "': " + zip_reason(z));
  uint64_t got = 0;
  while (got < n) {
    const zip_int64_t r = zip_fread(f.get(), out + got, n - got);
    if (r < 0) corrupt(path, "zip entry '" + name + "' is corrupt: " + zip_file_strerror(f.get()));
    if (r == 0) break;
    got += static_cast<uint64_t>(r);
  }
  if (got != n) corrupt(path, "zip entry '" + name + "' is truncated");
  if (whole) {
    uint8_t extra;
    const zip_int64_t r = zip_fread(f.get(), &extra, 1);
    if (r < 0) corrupt(path, "zip entry '" + name + "' is corrupt: " + zip_file_strerror(f.get()));
    if (r > 0) corrupt(path, "zip entry '" + name + "' is longer than its declared size");
  }
}

// The entry's uncompressed size, refusing sizes the archive cannot plausibly hold.
uint64_t entry_size(const std::string& path, zip_t* z, zip_uint64_t index, const std::string& name,
                    uint64_t file_size) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(z, index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
    corrupt(path, "cannot stat zip entry '" + name + "'");
  if (st.comp_size > file_size) corrupt(path, "zip entry '" + name + "' is larger than the file");
  // Deflate cannot expand more than ~1032:1; a bigger claim is a lie or a bomb.
  const uint64_t limit = st.comp_method == ZIP_CM_STORE ? st.comp_size : st.comp_size * 1032 + 1024;
  if (st.size > limit) corrupt(path, "zip entry '" + name + "' claims an impossible size");
  return st.size;
}

TensorMap read_torch_zip(const std::string& path, uint64_t file_size) {
  int err = 0;
  ZipPtr z(zip_open(path.c_str(), ZIP_RDONLY, &err));
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    const std::string reason = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    corrupt(path, "not a readable zip archive (" + reason + "): truncated or damaged PyTorch checkpoint");
  }
  // The archive's single top-level folder holds data.pkl (its name varies: "archive",
  // "pytorch_model", the saved file's stem...).
  const zip_int64_t count = zip_get_num_entries(z.get(), 0);
  std::string prefix;
  zip_int64_t pkl_index = -1;
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* n = zip_get_name(z.get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
    if (!n) continue;
    const std::string name = n;
    const size_t slash = name.find('/');
    if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      prefix = name.substr(0, slash + 1);
      pkl_index = i;
      break;
    }
  }
  if (pkl_index < 0) corrupt(path, "zip archive without <folder>/data.pkl: not a PyTorch checkpoint");

  if (zip_int64_t bo = zip_name_locate(z.get(), (prefix + "byteorder").c_str(), ZIP_FL_ENC_RAW); bo >= 0) {
    const uint64_t n = entry_size(path, z.get(), static_cast<zip_uint64_t>(bo), prefix + "byteorder", file_size);
    if (n > 16) corrupt(path, "bad byteorder record");
    std::string order(n, '\0');
    read_entry(path, z.get(), static_cast<zip_uint64_t>(bo), prefix + "byteorder",
               reinterpret_cast<uint8_t*>(order.data()), n, true);
    if (order != "little") corrupt(path, "saved on a big-endian machine (byteorder '" + order + "'): not supported");
  }

  const std::string pkl_name = prefix + "data.pkl";
  const uint64_t pkl_size = entry_size(path, z.get(), static_cast<zip_uint64_t>(pkl_index), pkl_name, file_size);
  if (pkl_size > kMaxPickleBytes) corrupt(path, "data.pkl is too large for a state dict");
  std::vector<uint8_t> pkl(pkl_size);
  read_entry(path, z.get(), static_cast<zip_uint64_t>(pkl_index), pkl_name, pkl.data(), pkl_size, true);

  StorageTable table(path, /*legacy=*/false);
  pickle::Unpickler up(pkl.data(), pkl.size(), path + " (" + pkl_name + ")",
                       [&](const Value& pid) { return table.resolve(pid); });
  const Value& root = up.load();

  // Size every record first, then read them on a few threads, each with its own libzip handle
  // (a zip_t is not thread-safe); biggest first so the threads finish together.
  struct Job {
    Storage* storage;
    std::string name;
    zip_uint64_t index;
    uint64_t need, have;
    std::shared_ptr<uint8_t[]> buf;
  };
  std::vector<Job> jobs;
  for (Storage& s : table.storages()) {
    const std::string name = prefix + "data/" + s.key;
    const zip_int64_t idx = zip_name_locate(z.get(), name.c_str(), ZIP_FL_ENC_RAW);
    if (idx < 0) corrupt(path, "storage record '" + name + "' is missing");
    const uint64_t have = entry_size(path, z.get(), static_cast<zip_uint64_t>(idx), name, file_size);
    const uint64_t need = storage_bytes(path, s);
    if (need > have)
      corrupt(path, "storage record '" + name + "' holds " + std::to_string(have) + " bytes, " + std::to_string(need) +
                        " expected");
    jobs.push_back({&s, name, static_cast<zip_uint64_t>(idx), need, have, nullptr});
  }
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.need > b.need; });
  std::mutex pool_mutex;
  std::vector<ZipPtr> pool;
  pool.push_back(std::move(z));
  wio::parallel_for(jobs.size(), [&](size_t i) {
    ZipPtr handle;
    {
      std::lock_guard<std::mutex> lock(pool_mutex);
      if (!pool.empty()) {
        handle = std::move(pool.back());
        pool.pop_back();
      }
    }
    if (!handle) {
      int e = 0;
      handle.reset(zip_open(path.c_str(), ZIP_RDONLY, &e));
      if (!handle) corrupt(path, "cannot reopen the zip archive");
    }
    Job& job = jobs[i];
    job.buf = wio::allocate_bytes(job.need);
    read_entry(path, handle.get(), job.index, job.name, job.buf.get(), job.need, job.need == job.have);
    std::lock_guard<std::mutex> lock(pool_mutex);
    pool.push_back(std::move(handle));
  });
  for (Job& job : jobs) {
    job.storage->data = job.buf.get();
    job.storage->owner = std::shared_ptr<const void>(std::move(job.buf), job.storage->data);
    job.storage->loaded = true;
  }
  return collect_tensors(path, up, root, table.storages());
}

// ---- legacy format -----------------------------------------------------------------------------

// 0x1950a86a20f9469cfc6c, the legacy format's magic number, as pickle's LONG1 bytes.
const std::string kLegacyMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
constexpr int64_t kLegacyProtocol = 1001;

TensorMap read_torch_legacy(const std::string& path, const wio::MappedFile& file) {
  size_t pos = 0;
  auto next_pickle = [&](pickle::Unpickler& up) -> const Value& {
    const Value& v = up.load();
    pos += up.consumed();
    return v;
  };
  auto at = [&](const char* what) { return path + " (" + what + ")"; };

  pickle::Unpickler magic_up(file.data, file.size, at("magic number"));
  const Value& magic = next_pickle(magic_up);
  if (magic.kind != Kind::kBigInt || magic.s != kLegacyMagic) corrupt(path, "not a PyTorch checkpoint (bad magic number)");

  pickle::Unpickler proto_up(file.data + pos, file.size - pos, at("protocol version"));
  const Value& proto = next_pickle(proto_up);
  if (proto.kind != Kind::kInt || proto.i != kLegacyProtocol)
    corrupt(path, "unsupported legacy PyTorch protocol version");

  pickle::Unpickler info_up(file.data + pos, file.size - pos, at("sys_info"));
  const Value& info = next_pickle(info_up);
  if (const Value* le = pickle::dict_get(info, "little_endian"); !le || le->kind != Kind::kBool || !le->i)
    corrupt(path, "saved on a big-endian machine or without sys_info: not supported");

  StorageTable table(path, /*legacy=*/true);
  pickle::Unpickler up(file.data + pos, file.size - pos, at("state dict"),
                       [&](const Value& pid) { return table.resolve(pid); });
  const Value& root = next_pickle(up);

  pickle::Unpickler keys_up(file.data + pos, file.size - pos, at("storage keys"));
  const Value& keys = next_pickle(keys_up);
  if (keys.kind != Kind::kList) corrupt(path, "storage key list is missing");

  for (const Value* k : keys.items) {
    if (k->kind != Kind::kString) corrupt(path, "storage key is not a string");
    Storage* s = table.find(k->s);
    if (!s || s->root >= 0) corrupt(path, "storage '" + k->s + "' is listed but never used");
    if (s->loaded) corrupt(path, "storage '" + k->s + "' is listed twice");
    if (file.size - pos < 8) corrupt(path, "storage '" + k->s + "' is cut off (truncated file)");
    uint64_t count = 0;
    for (int i = 7; i >= 0; --i) count = (count << 8) | file.data[pos + i];
    pos += 8;
    if (count != s->numel)
      corrupt(path, "storage '" + k->s + "' holds " + std::to_string(count) + " elements, the pickle says " +
                        std::to_string(s->numel));
    const uint64_t nbytes = storage_bytes(path, *s);
    if (nbytes > file.size - pos)
      corrupt(path, "storage '" + k->s + "' needs " + std::to_string(nbytes) + " bytes, " +
                        std::to_string(file.size - pos) + " left (truncated file)");
    s->data = file.data + pos;
    s->owner = file.owner;
    s->loaded = true;
    pos += nbytes;
  }
  load_views(path, table.storages());
  return collect_tensors(path, up, root, table.storages());
}

}  // namespace

TensorMap read_torch_checkpoint(const std::string& path) {
  const wio::MappedFile file = wio::map_file(path);
  if (file.size < 4) corrupt(path, "too short for a PyTorch checkpoint");
  if (std::memcmp(file.data, "PK\x03\x04", 4) == 0) return read_torch_zip(path, file.size);
  if (file.data[0] == 0x80) return read_torch_legacy(path, file);
  corrupt(path, "not a PyTorch checkpoint (neither a zip archive nor a pickle)");
}

}  // namespace tanzhen
