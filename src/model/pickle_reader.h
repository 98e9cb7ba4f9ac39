// A restricted unpickler for PyTorch checkpoints: the pickle VM opcodes torch.save emits, with
// imports limited to the handful of callables a state dict needs (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.*Storage types). Anything else
// (os.system, builtins.eval, torch.storage._load_from_bytes, ...) is refused with
// Error("unsafe_pickle") before it could be called — and nothing is ever called anyway: tensor
// rebuilds are recorded as TensorRecords, storages are resolved by the caller.
//
// All values live in an arena owned by the Unpickler (flat destruction, so hostile nesting or
// cycles cannot overflow the stack); every length is checked against the bytes that remain.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tanzhen::pickle {

enum class Kind : uint8_t {
  kNone, kBool, kInt, kBigInt, kFloat, kString, kBytes, kTuple, kList, kDict, kGlobal, kStorage, kTensor
};

struct Value {
  Kind kind = Kind::kNone;
  int64_t i = 0;              // kBool, kInt; kStorage: the caller's storage index; kTensor: index into tensors()
  double f = 0;               // kFloat
  std::string s;              // kString, kBytes, kBigInt (little-endian two's complement), kGlobal ("module.name")
  std::vector<Value*> items;  // kTuple, kList; kDict: key0, value0, key1, value1, ...
};

// A torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) call, not yet executed.
struct TensorRecord {
  int64_t storage = -1;  // what the PersistentLoader returned for the tensor's storage
  int64_t offset = 0;    // in elements
  std::vector<int64_t> shape, stride;
};

// Turns a BINPERSID id (torch: a tuple ('storage', <storage type>, key, location, numel, ...))
// into a storage index; throws tanzhen::Error when the id is not acceptable.
using PersistentLoader = std::function<int64_t(const Value& pid)>;

class Unpickler {
 public:
  // `file` names the checkpoint in error messages; `data` must outlive the Unpickler.
  Unpickler(const uint8_t* data, size_t size, std::string file, PersistentLoader loader = nullptr);

  // Runs the program up to STOP and returns its result. Throws Error("bad_checkpoint") on a
  // malformed pickle, Error("unsafe_pickle") on a forbidden import.
  Value& load();
  size_t consumed() const { return pos_; }  // bytes up to and including STOP
  const std::vector<TensorRecord>& tensors() const { return tensors_; }

 private:
  [[noreturn]] void corrupt(const std::string& what) const;
  const uint8_t* take(size_t n);
  uint64_t read_le(size_t n);
  std::string read_line();
  Value* make(Kind k);
  void push(Value* v);
  Value* pop();
  Value* top();
  std::vector<Value*> pop_to_mark();
  Value* resolve_global(const std::string& module, const std::string& name);
  Value* call(const Value& callable, const Value& args);
  Value* rebuild_tensor(const Value& args, bool v2);

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_start_ = 0;  // where the opcode being executed began, for messages
  std::string file_;
  PersistentLoader loader_;
  std::deque<Value> arena_;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Value*> memo_;
  std::vector<TensorRecord> tensors_;
};

// Helpers for callers reading the result.
const Value* dict_get(const Value& dict, const std::string& key);  // nullptr when absent / not a dict

}  // namespace tanzhen::pickle
