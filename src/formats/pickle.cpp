// The restricted pickle reader and writer; see pickle.h for the subset and the limits.
#include "formats/pickle.h"

#include <cstring>
#include <unordered_map>

#include "util/errors.h"

namespace wst::formats {

const std::set<std::string> kTorchGlobals = {
    "collections.OrderedDict",       "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch.HalfStorage",             "torch.FloatStorage",              "torch.BFloat16Storage",
};

const PyObj* Pickle::dict_get(const PyObj& dict, std::string_view key) const {
  if (dict.type != PyType::kDict) return nullptr;
  for (size_t k = 0; k + 1 < dict.items.size(); k += 2) {
    const PyObj& o = objects[dict.items[k]];
    if (o.type == PyType::kStr && o.s == key) return &objects[dict.items[k + 1]];
  }
  return nullptr;
}

namespace {

// Opcodes, as Python's pickle.py names them.
enum : uint8_t {
  kMark = '(', kStop = '.', kPop = '0', kBinFloat = 'G', kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M', kNone = 'N',
  kBinPersId = 'Q', kReduce = 'R', kBinString = 'T', kShortBinString = 'U', kBinUnicode = 'X', kAppend = 'a',
  kBuild = 'b', kGlobal = 'c', kAppends = 'e', kBinGet = 'h', kLongBinGet = 'j', kBinPut = 'q', kLongBinPut = 'r',
  kSetItem = 's', kTuple = 't', kSetItems = 'u', kEmptyDict = '}', kEmptyList = ']', kEmptyTuple = ')',
  kProto = 0x80, kTuple1 = 0x85, kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88, kNewFalse = 0x89, kLong1 = 0x8a,
  kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kStackGlobal = 0x93, kMemoize = 0x94, kFrame = 0x95,
};

constexpr size_t kMaxMarkDepth = 64;
constexpr size_t kMaxObjects = size_t{1} << 20;
constexpr size_t kMaxGlobalPart = 256;

// A name as it may appear in a one-line message: printable ASCII only.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& path, const std::set<std::string>& allowed)
      : d_(data), size_(size), path_(path), allowed_(allowed) {}

  Pickle run() {
    for (;;) {
      op_pos_ = pos_;
      const uint8_t op = take(1)[0];
      switch (op) {
        case kProto: {
          const uint8_t v = take(1)[0];
          if (v < 2 || v > 5) fail("pickle protocol " + std::to_string(v) + " (2 to 5 are read)");
          break;
        }
        case kFrame: {
          uint64_t n;
          std::memcpy(&n, take(8), 8);
          if (n > size_ - pos_) fail("frame of " + std::to_string(n) + " bytes runs past the end");
          break;
        }
        case kStop: {
          if (!marks_.empty() || stack_.size() != 1) fail("STOP with " + std::to_string(stack_.size()) + " values on the stack");
          if (pos_ != size_) fail(std::to_string(size_ - pos_) + " bytes after STOP");
          p_.root_index = stack_.back();
          return std::move(p_);
        }
        case kMark:
          if (marks_.size() >= kMaxMarkDepth) fail("MARKs nested deeper than " + std::to_string(kMaxMarkDepth));
          marks_.push_back(std::move(stack_));
          stack_.clear();
          break;
        case kPop: pop(); break;
        case kNone: push(PyObj{}); break;
        case kNewTrue: push_int(PyType::kBool, 1); break;
        case kNewFalse: push_int(PyType::kBool, 0); break;
        case kBinInt: {
          int32_t v;
          std::memcpy(&v, take(4), 4);
          push_int(PyType::kInt, v);
          break;
        }
        case kBinInt1: push_int(PyType::kInt, take(1)[0]); break;
        case kBinInt2: {
          const uint8_t* b = take(2);
          push_int(PyType::kInt, b[0] | (b[1] << 8));
          break;
        }
        case kLong1: {
          const uint8_t n = take(1)[0];
          if (n > 8) fail("integer of " + std::to_string(n) + " bytes (at most 8 are read)");
          const uint8_t* b = take(n);
          uint64_t v = 0;
          for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(b[k]) << (8 * k);
          if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          push_int(PyType::kInt, static_cast<int64_t>(v));
          break;
        }
        case kBinFloat: {
          const uint8_t* b = take(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | b[k];  // big-endian
          PyObj o;
          o.type = PyType::kFloat;
          std::memcpy(&o.f, &bits, 8);
          push(std::move(o));
          break;
        }
        case kBinUnicode: case kBinString: push_str(read_u32()); break;
        case kShortBinUnicode: case kShortBinString: push_str(take(1)[0]); break;
        case kBinUnicode8: {
          uint64_t n;
          std::memcpy(&n, take(8), 8);
          push_str(n);
          break;
        }
        case kEmptyTuple: push(container(PyType::kTuple, {})); break;
        case kTuple1: case kTuple2: case kTuple3: {
          const size_t n = op - kTuple1 + 1;
          if (stack_.size() < n) fail("tuple of " + std::to_string(n) + " with fewer values on the stack");
          std::vector<uint32_t> items(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(container(PyType::kTuple, std::move(items)));
          break;
        }
        case kTuple: push(container(PyType::kTuple, pop_mark())); break;
        case kEmptyList: push(container(PyType::kList, {})); break;
        case kEmptyDict: push(container(PyType::kDict, {})); break;
        case kAppend: {
          const uint32_t v = pop();
          append(top(PyType::kList, "APPEND"), {v});
          break;
        }
        case kAppends: {
          auto items = pop_mark();
          append(top(PyType::kList, "APPENDS"), items);
          break;
        }
        case kSetItem: {
          const uint32_t v = pop(), k = pop();
          set_item(top(PyType::kDict, "SETITEM"), k, v);
          break;
        }
        case kSetItems: {
          auto items = pop_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of values");
          const uint32_t dict = top(PyType::kDict, "SETITEMS");
          for (size_t k = 0; k < items.size(); k += 2) set_item(dict, items[k], items[k + 1]);
          break;
        }
        case kBinPut: memo_[take(1)[0]] = peek(); break;
        case kLongBinPut: memo_[read_u32()] = peek(); break;
        case kMemoize: memo_[static_cast<uint32_t>(memo_.size())] = peek(); break;
        case kBinGet: get(take(1)[0]); break;
        case kLongBinGet: get(read_u32()); break;
        case kGlobal: {
          std::string module = read_line(), name = read_line();
          push_global(module, name);
          break;
        }
        case kStackGlobal: {
          const uint32_t name = pop(), module = pop();
          if (p_.objects[name].type != PyType::kStr || p_.objects[module].type != PyType::kStr)
            fail("STACK_GLOBAL of non-strings");
          push_global(p_.objects[module].s, p_.objects[name].s);
          break;
        }
        case kReduce: {
          const uint32_t args = pop(), fn = pop();
          if (p_.objects[fn].type != PyType::kGlobal || p_.objects[args].type != PyType::kTuple)
            fail("REDUCE of something other than an allowed global and a tuple");
          if (p_.objects[fn].s == "collections.OrderedDict") {
            if (!p_.objects[args].items.empty()) fail("OrderedDict built with arguments");
            push(container(PyType::kDict, {}));
          } else {
            push(container(PyType::kCall, {fn, args}));
          }
          break;
        }
        case kBuild: {
          const uint32_t state = pop();
          top(PyType::kDict, "BUILD");  // an OrderedDict's attributes (torch's _metadata): not needed, dropped
          if (p_.objects[state].type != PyType::kDict && p_.objects[state].type != PyType::kNone)
            fail("BUILD with a state that is not a dict");
          break;
        }
        case kBinPersId: push(container(PyType::kPersistent, {pop()})); break;
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          throw Error(path_ + ": unknown or unsupported pickle opcode " + hex + " at byte " + std::to_string(op_pos_));
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw Error(path_ + ": corrupt pickle at byte " + std::to_string(op_pos_) + ": " + why);
  }
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) throw Error(path_ + ": pickle truncated at byte " + std::to_string(pos_) + " (needs " +
                                      std::to_string(n) + " more bytes, " + std::to_string(size_ - pos_) + " left)");
    const uint8_t* p = d_ + pos_;
    pos_ += n;
    return p;
  }
  uint32_t read_u32() {
    uint32_t v;
    std::memcpy(&v, take(4), 4);
    return v;
  }
  std::string read_line() {
    size_t end = pos_;
    while (end < size_ && d_[end] != '\n' && end - pos_ <= kMaxGlobalPart) ++end;
    if (end >= size_ || d_[end] != '\n') fail("GLOBAL name without an end of line");
    std::string s(reinterpret_cast<const char*>(d_ + pos_), end - pos_);
    pos_ = end + 1;
    return s;
  }

  uint32_t push(PyObj o) {
    if (p_.objects.size() >= kMaxObjects) fail("more than " + std::to_string(kMaxObjects) + " objects");
    p_.objects.push_back(std::move(o));
    stack_.push_back(static_cast<uint32_t>(p_.objects.size() - 1));
    return stack_.back();
  }
  void push_int(PyType t, int64_t v) {
    PyObj o;
    o.type = t;
    o.i = v;
    push(std::move(o));
  }
  void push_str(uint64_t n) {
    const uint8_t* b = take(n);
    PyObj o;
    o.type = PyType::kStr;
    o.s.assign(reinterpret_cast<const char*>(b), static_cast<size_t>(n));
    push(std::move(o));
  }
  void push_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!allowed_.count(full))
      throw Error(path_ + ": pickle uses the global " + printable(full) + ", which is not allowed");
    PyObj o;
    o.type = PyType::kGlobal;
    o.s = full;
    push(std::move(o));
  }
  static PyObj container(PyType t, std::vector<uint32_t> items) {
    PyObj o;
    o.type = t;
    o.items = std::move(items);
    return o;
  }
  uint32_t pop() {
    if (stack_.empty()) fail("a value is taken from an empty stack");
    const uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t peek() {
    if (stack_.empty()) fail("memo of an empty stack");
    return stack_.back();
  }
  std::vector<uint32_t> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    std::vector<uint32_t> items = std::move(stack_);
    stack_ = std::move(marks_.back());
    marks_.pop_back();
    return items;
  }
  uint32_t top(PyType want, const char* op) {
    if (stack_.empty() || p_.objects[stack_.back()].type != want)
      fail(std::string(op) + " on something other than a " + (want == PyType::kDict ? "dict" : "list"));
    return stack_.back();
  }
  void get(uint32_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key " + std::to_string(key) + " was never stored");
    stack_.push_back(it->second);
  }
  void append(uint32_t list, const std::vector<uint32_t>& items) {
    auto& v = p_.objects[list].items;
    v.insert(v.end(), items.begin(), items.end());
  }
  // A later value for an existing key replaces it, as in Python; only str and int keys are read.
  void set_item(uint32_t dict, uint32_t key, uint32_t value) {
    const PyObj& k = p_.objects[key];
    std::string id;
    if (k.type == PyType::kStr) id = "s" + k.s;
    else if (k.type == PyType::kInt) id = "i" + std::to_string(k.i);
    else fail("dict key that is neither a string nor an integer");
    auto& index = key_index_[dict];
    auto& items = p_.objects[dict].items;
    if (auto it = index.find(id); it != index.end()) {
      items[it->second + 1] = value;
    } else {
      index.emplace(std::move(id), items.size());
      items.push_back(key);
      items.push_back(value);
    }
  }

  const uint8_t* d_;
  size_t size_;
  size_t pos_ = 0, op_pos_ = 0;
  const std::string& path_;
  const std::set<std::string>& allowed_;
  Pickle p_;
  std::vector<uint32_t> stack_;
  std::vector<std::vector<uint32_t>> marks_;
  std::unordered_map<uint32_t, uint32_t> memo_;
  std::unordered_map<uint32_t, std::unordered_map<std::string, size_t>> key_index_;  // dict -> key -> position
};

}  // namespace

Pickle parse_pickle(const uint8_t* data, size_t size, const std::string& path, const std::set<std::string>& allowed) {
  return Unpickler(data, size, path, allowed).run();
}

// ---- writer ----

PickleWriter::PickleWriter() {
  op(kProto);
  out_ += char(2);
}

PickleWriter& PickleWriter::op(uint8_t code) {
  out_ += static_cast<char>(code);
  return *this;
}

PickleWriter& PickleWriter::none() { return op(kNone); }
PickleWriter& PickleWriter::boolean(bool v) { return op(v ? kNewTrue : kNewFalse); }

PickleWriter& PickleWriter::integer(int64_t v) {
  auto le = [&](uint64_t x, int n) {
    for (int k = 0; k < n; ++k) out_ += static_cast<char>(x >> (8 * k));
  };
  if (v >= 0 && v < 256) {
    op(kBinInt1), le(v, 1);
  } else if (v >= 0 && v < 65536) {
    op(kBinInt2), le(v, 2);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    op(kBinInt), le(static_cast<uint32_t>(v), 4);
  } else {
    // LONG1: the shortest little-endian two's complement that keeps the sign.
    int n = 1;
    while (n < 8 && !(v >= -(int64_t{1} << (8 * n - 1)) && v < (int64_t{1} << (8 * n - 1)))) ++n;
    op(kLong1);
    out_ += static_cast<char>(n);
    le(static_cast<uint64_t>(v), n);
  }
  return *this;
}

PickleWriter& PickleWriter::str(std::string_view s) {
  op(kBinUnicode);
  const uint32_t n = static_cast<uint32_t>(s.size());
  for (int k = 0; k < 4; ++k) out_ += static_cast<char>(n >> (8 * k));
  out_ += s;
  return *this;
}

PickleWriter& PickleWriter::global(std::string_view module, std::string_view name) {
  op(kGlobal);
  out_.append(module).append("\n").append(name).append("\n");
  return *this;
}

PickleWriter& PickleWriter::mark() { return op(kMark); }

PickleWriter& PickleWriter::tuple(size_t n) {
  if (n > 3) throw Error("PickleWriter::tuple: " + std::to_string(n) + " values; use mark() and tuple_from_mark()");
  return op(n == 0 ? static_cast<uint8_t>(kEmptyTuple) : static_cast<uint8_t>(kTuple1 + n - 1));
}

PickleWriter& PickleWriter::tuple_from_mark() { return op(kTuple); }
PickleWriter& PickleWriter::empty_dict() { return op(kEmptyDict); }
PickleWriter& PickleWriter::setitems() { return op(kSetItems); }
PickleWriter& PickleWriter::reduce() { return op(kReduce); }
PickleWriter& PickleWriter::persid() { return op(kBinPersId); }

std::string PickleWriter::finish() {
  op(kStop);
  return std::move(out_);
}

}  // namespace wst::formats
