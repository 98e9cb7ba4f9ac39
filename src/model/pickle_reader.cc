#include "pickle_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "tanzhen/error.h"

namespace tanzhen::pickle {

namespace {

// Generous for any state dict (BERT-large: ~5k values), small enough to bound memory.
constexpr size_t kMaxValues = 1u << 19;
constexpr size_t kMaxStack = 1u << 20;
constexpr size_t kMaxMemo = 1u << 20;
constexpr size_t kMaxRank = 16;

// Everything a pickled state dict may import. Storage types name the element type.
bool allowed_global(const std::string& qualified) {
  static const std::set<std::string> kAllowed = {
      "collections.OrderedDict",
      "torch._utils._rebuild_tensor",
      "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter",
      "torch._utils._rebuild_parameter_with_state",
      "torch.FloatStorage",
      "torch.HalfStorage",
      "torch.BFloat16Storage",
      "torch.DoubleStorage",
      "torch.LongStorage",
      "torch.IntStorage",
      "torch.ShortStorage",
      "torch.CharStorage",
      "torch.ByteStorage",
      "torch.BoolStorage",
  };
  return kAllowed.count(qualified) > 0;
}

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 120)) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  return s.size() > 120 ? out + "..." : out;
}

}  // namespace

const Value* dict_get(const Value& dict, const std::string& key) {
  if (dict.kind != Kind::kDict) return nullptr;
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const Value* k = dict.items[i];
    if (k->kind == Kind::kString && k->s == key) return dict.items[i + 1];
  }
  return nullptr;
}

Unpickler::Unpickler(const uint8_t* data, size_t size, std::string file, PersistentLoader loader)
    : data_(data), size_(size), file_(std::move(file)), loader_(std::move(loader)) {}

void Unpickler::corrupt(const std::string& what) const {
  fail("bad_checkpoint", file_ + ": corrupt pickle at byte " + std::to_string(op_start_) + ": " + what);
}

const uint8_t* Unpickler::take(size_t n) {
  if (n > size_ - pos_) corrupt("needs " + std::to_string(n) + " more bytes, " + std::to_string(size_ - pos_) +
                                " left (truncated file?)");
  const uint8_t* p = data_ + pos_;
  pos_ += n;
  return p;
}

uint64_t Unpickler::read_le(size_t n) {
  const uint8_t* p = take(n);
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

std::string Unpickler::read_line() {
  const size_t limit = std::min<size_t>(size_ - pos_, 256);
  const void* nl = std::memchr(data_ + pos_, '\n', limit);
  if (!nl) corrupt("unterminated GLOBAL name");
  const size_t len = static_cast<const uint8_t*>(nl) - (data_ + pos_);
  std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
  pos_ += len + 1;
  return s;
}

Value* Unpickler::make(Kind k) {
  if (arena_.size() >= kMaxValues) corrupt("too many objects");
  arena_.emplace_back();
  arena_.back().kind = k;
  return &arena_.back();
}

void Unpickler::push(Value* v) {
  if (stack_.size() >= kMaxStack) corrupt("stack too deep");
  stack_.push_back(v);
}

Value* Unpickler::pop() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) corrupt("stack underflow");
  Value* v = stack_.back();
  stack_.pop_back();
  return v;
}

Value* Unpickler::top() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) corrupt("stack underflow");
  return stack_.back();
}

std::vector<Value*> Unpickler::pop_to_mark() {
  if (marks_.empty()) corrupt("no MARK");
  const size_t m = marks_.back();
  marks_.pop_back();
  if (m > stack_.size()) corrupt("MARK beyond the stack");
  std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
  stack_.resize(m);
  return items;
}

Value* Unpickler::resolve_global(const std::string& module, const std::string& name) {
  const std::string q = module + "." + name;
  if (!allowed_global(q))
    fail("unsafe_pickle", file_ + ": the pickle imports '" + printable(q) +
                              "', which is not allowed in a checkpoint (only torch tensor/storage rebuilding and "
                              "collections.OrderedDict are); refusing to load it");
  Value* v = make(Kind::kGlobal);
  v->s = q;
  return v;
}

Value* Unpickler::rebuild_tensor(const Value& args, bool v2) {
  const auto& a = args.items;
  if (v2 ? (a.size() < 6 || a.size() > 7) : a.size() != 4) corrupt("bad tensor rebuild arguments");
  if (a[0]->kind != Kind::kStorage) corrupt("tensor without a storage");
  if (a[1]->kind != Kind::kInt) corrupt("tensor storage offset is not an integer");
  if (a[2]->kind != Kind::kTuple || a[3]->kind != Kind::kTuple || a[2]->items.size() != a[3]->items.size() ||
      a[2]->items.size() > kMaxRank)
    corrupt("tensor size/stride are not matching tuples");
  TensorRecord r;
  r.storage = a[0]->i;
  r.offset = a[1]->i;
  for (size_t d = 0; d < a[2]->items.size(); ++d) {
    const Value* n = a[2]->items[d];
    const Value* s = a[3]->items[d];
    if (n->kind != Kind::kInt || s->kind != Kind::kInt) corrupt("tensor size/stride are not integers");
    r.shape.push_back(n->i);
    r.stride.push_back(s->i);
  }
  tensors_.push_back(std::move(r));
  Value* t = make(Kind::kTensor);
  t->i = static_cast<int64_t>(tensors_.size() - 1);
  return t;
}

Value* Unpickler::call(const Value& callable, const Value& args) {
  if (callable.kind != Kind::kGlobal) corrupt("call of something that is not an imported callable");
  if (args.kind != Kind::kTuple) corrupt("call arguments are not a tuple");
  const std::string& f = callable.s;
  if (f == "collections.OrderedDict") {
    if (!args.items.empty()) corrupt("OrderedDict with arguments");
    return make(Kind::kDict);
  }
  if (f == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(args, true);
  if (f == "torch._utils._rebuild_tensor") return rebuild_tensor(args, false);
  if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
    if (args.items.size() < 3 || args.items[0]->kind != Kind::kTensor) corrupt("bad parameter rebuild arguments");
    return args.items[0];
  }
  corrupt("'" + f + "' cannot be called");
}

Value& Unpickler::load() {
  while (true) {
    op_start_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t proto = *take(1);
        if (proto > 5) corrupt("unknown pickle protocol " + std::to_string(proto));
        break;
      }
      case 0x95: read_le(8); break;  // FRAME: a length hint only
      case '.': {                    // STOP
        Value* result = pop();
        return *result;
      }
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(); break;                            // POP
      case '1': pop_to_mark(); break;                    // POP_MARK
      case '2': push(top()); break;                      // DUP
      case 'N': push(make(Kind::kNone)); break;
      case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
        Value* v = make(Kind::kBool);
        v->i = op == 0x88;
        push(v);
        break;
      }
      case 'J': {  // BININT: signed 32-bit
        Value* v = make(Kind::kInt);
        v->i = static_cast<int32_t>(static_cast<uint32_t>(read_le(4)));
        push(v);
        break;
      }
      case 'K': case 'M': {  // BININT1, BININT2: unsigned
        Value* v = make(Kind::kInt);
        v->i = static_cast<int64_t>(read_le(op == 'K' ? 1 : 2));
        push(v);
        break;
      }
      case 0x8a: case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        const uint64_t n = op == 0x8a ? read_le(1) : read_le(4);
        if (op == 0x8b && (n & 0x80000000u)) corrupt("negative LONG4 length");
        const uint8_t* p = take(n);
        if (n <= 8) {
          uint64_t u = 0;
          for (size_t i = n; i-- > 0;) u = (u << 8) | p[i];
          if (n > 0 && n < 8 && (p[n - 1] & 0x80)) u |= ~uint64_t{0} << (8 * n);  // sign-extend
          Value* v = make(Kind::kInt);
          v->i = static_cast<int64_t>(u);
          push(v);
        } else {
          Value* v = make(Kind::kBigInt);
          v->s.assign(reinterpret_cast<const char*>(p), n);
          push(v);
        }
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        const uint8_t* p = take(8);
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
        Value* v = make(Kind::kFloat);
        std::memcpy(&v->f, &u, 8);
        push(v);
        break;
      }
      case 'X': case 0x8c: case 0x8d:   // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
      case 'T': case 'U':               // BINSTRING, SHORT_BINSTRING
      case 'B': case 'C': case 0x8e: {  // BINBYTES, SHORT_BINBYTES, BINBYTES8
        size_t width = 4;
        if (op == 0x8c || op == 'U' || op == 'C') width = 1;
        if (op == 0x8d || op == 0x8e) width = 8;
        const uint64_t n = read_le(width);
        if (op == 'T' && (n & 0x80000000u)) corrupt("negative BINSTRING length");
        const uint8_t* p = take(n);
        Value* v = make(op == 'B' || op == 'C' || op == 0x8e ? Kind::kBytes : Kind::kString);
        v->s.assign(reinterpret_cast<const char*>(p), n);
        push(v);
        break;
      }
      case ')': push(make(Kind::kTuple)); break;  // EMPTY_TUPLE
      case ']': push(make(Kind::kList)); break;   // EMPTY_LIST
      case '}': push(make(Kind::kDict)); break;   // EMPTY_DICT
      case 't': case 'l': {                       // TUPLE, LIST (from MARK)
        std::vector<Value*> items = pop_to_mark();
        Value* v = make(op == 't' ? Kind::kTuple : Kind::kList);
        v->items = std::move(items);
        push(v);
        break;
      }
      case 'd': {  // DICT (from MARK)
        std::vector<Value*> items = pop_to_mark();
        if (items.size() % 2) corrupt("DICT with an odd number of items");
        Value* v = make(Kind::kDict);
        v->items = std::move(items);
        push(v);
        break;
      }
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        const size_t n = op - 0x84;
        Value* v = make(Kind::kTuple);
        v->items.resize(n);
        for (size_t i = n; i-- > 0;) v->items[i] = pop();
        push(v);
        break;
      }
      case 'q': case 'r': case 0x94: {  // BINPUT, LONG_BINPUT, MEMOIZE
        const uint32_t idx = op == 'q'   ? static_cast<uint32_t>(read_le(1))
                             : op == 'r' ? static_cast<uint32_t>(read_le(4))
                                         : static_cast<uint32_t>(memo_.size());
        if (memo_.size() >= kMaxMemo && !memo_.count(idx)) corrupt("memo too large");
        memo_[idx] = top();
        break;
      }
      case 'h': case 'j': {  // BINGET, LONG_BINGET
        const uint32_t idx = static_cast<uint32_t>(read_le(op == 'h' ? 1 : 4));
        auto it = memo_.find(idx);
        if (it == memo_.end()) corrupt("memo key " + std::to_string(idx) + " is not set");
        push(it->second);
        break;
      }
      case 'a': {  // APPEND
        Value* v = pop();
        Value* list = top();
        if (list->kind != Kind::kList) corrupt("APPEND to something that is not a list");
        list->items.push_back(v);
        break;
      }
      case 'e': {  // APPENDS
        std::vector<Value*> items = pop_to_mark();
        Value* list = top();
        if (list->kind != Kind::kList) corrupt("APPENDS to something that is not a list");
        list->items.insert(list->items.end(), items.begin(), items.end());
        break;
      }
      case 's': {  // SETITEM
        Value* value = pop();
        Value* key = pop();
        Value* dict = top();
        if (dict->kind != Kind::kDict) corrupt("SETITEM on something that is not a dict");
        dict->items.push_back(key);
        dict->items.push_back(value);
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<Value*> items = pop_to_mark();
        if (items.size() % 2) corrupt("SETITEMS with an odd number of items");
        Value* dict = top();
        if (dict->kind != Kind::kDict) corrupt("SETITEMS on something that is not a dict");
        dict->items.insert(dict->items.end(), items.begin(), items.end());
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        const std::string module = read_line();
        const std::string name = read_line();
        push(resolve_global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Value* name = pop();
        Value* module = pop();
        if (name->kind != Kind::kString || module->kind != Kind::kString) corrupt("STACK_GLOBAL needs two strings");
        push(resolve_global(module->s, name->s));
        break;
      }
      case 'R': {  // REDUCE
        Value* args = pop();
        Value* callable = pop();
        push(call(*callable, *args));
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
        Value* args = pop();
        Value* cls = pop();
        if (cls->kind != Kind::kGlobal || cls->s != "collections.OrderedDict") corrupt("NEWOBJ of an unsupported class");
        push(call(*cls, *args));
        break;
      }
      case 'b': {  // BUILD: only the OrderedDict._metadata / tensor state torch attaches; ignored
        pop();
        const Value* obj = top();
        if (obj->kind != Kind::kDict && obj->kind != Kind::kTensor) corrupt("BUILD on an unsupported object");
        break;
      }
      case 'Q': {  // BINPERSID
        Value* pid = pop();
        if (!loader_) corrupt("unexpected persistent id");
        Value* v = make(Kind::kStorage);
        v->i = loader_(*pid);
        push(v);
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        corrupt(std::string("unsupported opcode ") + hex);
      }
    }
  }
}

}  // namespace tanzhen::pickle
