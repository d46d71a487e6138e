// A reader and a writer for the subset of Python's pickle that torch checkpoints use (torch.save writes
// protocol 2; protocols 3-5 add framing and short strings, read too). The reader never runs anything: it
// builds plain values, and a call (REDUCE) is kept as (callable, arguments) for the caller to interpret.
//
//   Pickle p = parse_pickle(bytes, n, "tiny.en.pt", kTorchGlobals);
//   const PyObj* dims = p.dict_get(p.root(), "dims");
//
// Opcodes read: PROTO FRAME STOP MARK POP, NONE NEWTRUE NEWFALSE, BININT BININT1 BININT2 LONG1, BINFLOAT,
// BINUNICODE SHORT_BINUNICODE BINUNICODE8 BINSTRING SHORT_BINSTRING, EMPTY_TUPLE TUPLE TUPLE1-3, EMPTY_LIST
// APPEND APPENDS, EMPTY_DICT SETITEM SETITEMS, BINPUT LONG_BINPUT MEMOIZE BINGET LONG_BINGET, GLOBAL
// STACK_GLOBAL, REDUCE, BUILD (on a dict only: an OrderedDict's attributes, which are dropped), BINPERSID.
// Everything else is refused: "<path>: unknown or unsupported pickle opcode 0x.. at byte N". A global not in
// `allowed` is refused by name: "<path>: pickle uses the global os.system, which is not allowed".
// collections.OrderedDict() is read as a dict. Limits: 64 nested MARKs, 1M objects, integers of 64 bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace wst::formats {

enum class PyType : uint8_t { kNone, kBool, kInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kCall, kPersistent };

// One Python value. Containers refer to other objects by index into Pickle::objects.
struct PyObj {
  PyType type = PyType::kNone;
  int64_t i = 0;               // kInt; kBool (0/1)
  double f = 0;                // kFloat
  std::string s;               // kStr (raw bytes as stored: UTF-8 for unicode); kGlobal: "module.name"
  std::vector<uint32_t> items; // kTuple/kList: elements; kDict: key, value, key, value, ...;
                               // kCall: {callable (a kGlobal), args (a kTuple)}; kPersistent: {persistent id}
};

struct Pickle {
  std::vector<PyObj> objects;
  uint32_t root_index = 0;

  const PyObj& root() const { return objects[root_index]; }
  const PyObj& at(uint32_t i) const { return objects[i]; }
  // The value under string key `key` of a kDict; nullptr when absent or when `dict` is no dict.
  const PyObj* dict_get(const PyObj& dict, std::string_view key) const;
};

// The globals a torch checkpoint of Whisper needs (tensors of half, float and bfloat16 storages).
extern const std::set<std::string> kTorchGlobals;

// Parses a whole pickle. `path` names the file in errors.
Pickle parse_pickle(const uint8_t* data, size_t size, const std::string& path, const std::set<std::string>& allowed);

// Emits protocol-2 opcodes, the ones torch 1.13's weights_only loader accepts. The caller composes values
// as Python's own pickler would: e.g. a dict is empty_dict(), mark(), key, value, ..., setitems().
class PickleWriter {
 public:
  PickleWriter();  // writes PROTO 2
  PickleWriter& none();
  PickleWriter& boolean(bool v);
  PickleWriter& integer(int64_t v);  // BININT1/BININT2/BININT, or LONG1 beyond 32 bits
  PickleWriter& str(std::string_view s);
  PickleWriter& global(std::string_view module, std::string_view name);
  PickleWriter& mark();
  PickleWriter& tuple(size_t n);     // a tuple of the n values just written, n <= 3
  PickleWriter& tuple_from_mark();   // a tuple of everything written since mark()
  PickleWriter& empty_dict();
  PickleWriter& setitems();       // the key/value pairs since mark() into the dict below the mark
  PickleWriter& reduce();
  PickleWriter& persid();
  // Ends the pickle and returns its bytes.
  std::string finish();

 private:
  PickleWriter& op(uint8_t code);
  std::string out_;
};

}  // namespace wst::formats
