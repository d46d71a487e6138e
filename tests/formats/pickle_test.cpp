// The restricted pickle reader: pickles made by Python's own pickle (protocols 2 to 5) read to the right
// values; the writer's output reads back; refused globals, unknown opcodes and damaged bytes give one line.
#include "formats/pickle.h"

#include <gtest/gtest.h>

#include "support/python_script.h"
#include "util/errors.h"

namespace wst::formats {
namespace {

const std::set<std::string> kNoGlobals;

Pickle parse(const std::string& b, const std::set<std::string>& allowed = kTorchGlobals) {
  return parse_pickle(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "x.pkl", allowed);
}

std::string error_of(const std::string& b, const std::set<std::string>& allowed = kTorchGlobals) {
  try {
    parse(b, allowed);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// A short description of a value, for comparing whole trees.
std::string show(const Pickle& p, const PyObj& o, int depth = 0) {
  if (depth > 10) return "...";
  auto list = [&](const char* open, const char* close) {
    std::string s = open;
    for (size_t k = 0; k < o.items.size(); ++k) s += (k ? "," : "") + show(p, p.at(o.items[k]), depth + 1);
    return s + close;
  };
  switch (o.type) {
    case PyType::kNone: return "None";
    case PyType::kBool: return o.i ? "True" : "False";
    case PyType::kInt: return std::to_string(o.i);
    case PyType::kFloat: return std::to_string(o.f);
    case PyType::kStr: return "'" + o.s + "'";
    case PyType::kTuple: return list("(", ")");
    case PyType::kList: return list("[", "]");
    case PyType::kDict: return list("{", "}");
    case PyType::kGlobal: return o.s;
    case PyType::kCall: return list("call(", ")");
    case PyType::kPersistent: return list("pid(", ")");
  }
  return "?";
}

TEST(Pickle, ReadsWhatPythonWritesInEveryProtocol) {
  test::TempDir dir;
  const std::string code =
      "import pickle, sys, collections\n"
      "od = collections.OrderedDict(); od['w'] = (1, 2, 3, 4)\n"
      "obj = {'a': 1, 'b': [1.5, True, None, False], 'c': ('x', -5, 2**40, -2**40, 300, 70000), 'd': od, 'a': 7}\n"
      "print(pickle.dumps(obj, protocol=int(sys.argv[1])).hex())\n";
  for (int proto : {2, 3, 4, 5}) {
    SCOPED_TRACE("protocol " + std::to_string(proto));
    const std::string hex = test::run_python(test::python(), code, dir, std::to_string(proto));
    ASSERT_FALSE(hex.empty());
    Pickle p = parse(unhex(hex));
    // OrderedDict is read as a dict.
    EXPECT_EQ(show(p, p.root()),
              "{'a',7,'b',[1.500000,True,None,False],'c',('x',-5,1099511627776,-1099511627776,300,70000),"
              "'d',{'w',(1,2,3,4)}}");
    ASSERT_NE(p.dict_get(p.root(), "a"), nullptr);
    EXPECT_EQ(p.dict_get(p.root(), "a")->i, 7);
    EXPECT_EQ(p.dict_get(p.root(), "zz"), nullptr);
  }
}

TEST(Pickle, WriterOutputReadsBack) {
  PickleWriter w;
  w.empty_dict().mark().str("n").integer(-3).str("big").integer(int64_t{1} << 40).str("t");
  w.mark().integer(1).integer(2).integer(3).integer(4).tuple_from_mark();
  w.str("f").global("torch._utils", "_rebuild_tensor_v2").integer(5).tuple(1).reduce();
  w.str("p").mark().str("storage").integer(0).tuple_from_mark().persid();
  w.str("b").boolean(true).str("z").none().setitems();
  Pickle p = parse(w.finish());
  EXPECT_EQ(show(p, p.root()),
            "{'n',-3,'big',1099511627776,'t',(1,2,3,4),'f',call(torch._utils._rebuild_tensor_v2,(5)),"
            "'p',pid(('storage',0)),'b',True,'z',None}");
}

TEST(Pickle, ARepeatedKeyKeepsItsPlaceAndTakesTheLaterValue) {
  PickleWriter w;
  w.empty_dict().mark().str("a").integer(1).str("b").integer(2).str("a").integer(3).setitems();
  Pickle p = parse(w.finish());
  EXPECT_EQ(show(p, p.root()), "{'a',3,'b',2}");
}

TEST(Pickle, WriterIntegersRoundTripAtEveryWidth) {
  for (int64_t v : {int64_t{0}, int64_t{255}, int64_t{256}, int64_t{65535}, int64_t{65536}, int64_t{-1},
                    int64_t{INT32_MIN}, int64_t{INT32_MAX}, int64_t{INT32_MAX} + 1, int64_t{-1} << 40,
                    INT64_MAX, INT64_MIN}) {
    PickleWriter w;
    w.integer(v);
    Pickle p = parse(w.finish());
    EXPECT_EQ(p.root().i, v);
  }
}

TEST(Pickle, RefusesGlobalsOutsideTheList) {
  // GLOBAL 'os system', as a malicious checkpoint would start.
  EXPECT_EQ(error_of("\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00ls\x85R."),
            "x.pkl: pickle uses the global os.system, which is not allowed");
  // STACK_GLOBAL (protocol 4) is checked the same way.
  EXPECT_EQ(error_of("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93."),
            "x.pkl: pickle uses the global builtins.eval, which is not allowed");
  // An allowed name is refused when the caller allows nothing.
  EXPECT_EQ(error_of("\x80\x02" "ctorch\nFloatStorage\n.", kNoGlobals),
            "x.pkl: pickle uses the global torch.FloatStorage, which is not allowed");
}

TEST(Pickle, RefusesUnknownOpcodesByValueAndPlace) {
  EXPECT_EQ(error_of(std::string("\x80\x02}\xff.", 5)), "x.pkl: unknown or unsupported pickle opcode 0xff at byte 3");
  // INST (protocol 0's way of calling a class) is a real opcode, outside the subset.
  EXPECT_EQ(error_of("\x80\x02(ios\nsystem\n."), "x.pkl: unknown or unsupported pickle opcode 0x69 at byte 3");
}

TEST(Pickle, RefusesOldProtocolsAndMisuse) {
  EXPECT_EQ(error_of("\x80\x01N."), "x.pkl: corrupt pickle at byte 0: pickle protocol 1 (2 to 5 are read)");
  EXPECT_EQ(error_of("\x80\x02hK."), "x.pkl: corrupt pickle at byte 2: memo key 75 was never stored");
  EXPECT_EQ(error_of("\x80\x02NN."), "x.pkl: corrupt pickle at byte 4: STOP with 2 values on the stack");
  EXPECT_EQ(error_of("\x80\x02N.N"), "x.pkl: corrupt pickle at byte 3: 1 bytes after STOP");
  EXPECT_EQ(error_of("\x80\x02]NNs."), "x.pkl: corrupt pickle at byte 5: SETITEM on something other than a dict");
  EXPECT_EQ(error_of("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\nNR."),
            "x.pkl: corrupt pickle at byte 36: REDUCE of something other than an allowed global and a tuple");
  EXPECT_EQ(error_of("\x80\x02}]]s."), "x.pkl: corrupt pickle at byte 5: dict key that is neither a string nor an integer");
  EXPECT_NE(error_of("\x80\x02" + std::string(70, '(')).find("MARKs nested deeper than 64"), std::string::npos);
}

TEST(Pickle, EveryTruncationIsAnError) {
  PickleWriter w;
  w.empty_dict().mark().str("dims").integer(70000).str("x").global("collections", "OrderedDict").tuple(0).reduce();
  w.setitems();
  const std::string b = w.finish();
  ASSERT_NO_THROW(parse(b));
  for (size_t n = 0; n < b.size(); ++n) {
    const std::string e = error_of(b.substr(0, n));
    EXPECT_EQ(e.rfind("x.pkl: ", 0), 0u) << "cut at " << n << ": " << e;
  }
  // A string length beyond the end, and a frame beyond the end.
  EXPECT_EQ(error_of(std::string("\x80\x02X\xff\xff\xff\xff", 7)),
            "x.pkl: pickle truncated at byte 7 (needs 4294967295 more bytes, 0 left)");
  EXPECT_EQ(error_of(std::string("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x01N.", 13)),
            "x.pkl: corrupt pickle at byte 2: frame of 72057594037927936 bytes runs past the end");
}

}  // namespace
}  // namespace wst::formats
