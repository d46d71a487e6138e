// .npy/.npz: our archives round-trip bit-exact and numpy (and mlx, for bfloat16) read them; numpy's and
// mlx's archives (stored, deflated, Fortran order, bfloat16 as '<V2') read to the bytes they hold; bad
// headers and sizes give one line naming the entry.
#include "formats/npz.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "formats/zip_archive.h"
#include "support/python_script.h"
#include "util/errors.h"
#include "util/mapped_file.h"
#include "util/sha256.h"

namespace wst::formats {
namespace {

// Arrays of several ranks and every dtype, with distinct bytes.
struct Arrays {
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<std::pair<std::string, TensorRef>> list;
  void add(const std::string& name, std::vector<int64_t> shape, DType dt) {
    TensorRef t;
    t.shape = std::move(shape);
    t.dtype = dt;
    std::vector<uint8_t> b(t.n_elements() * dtype_size(dt));
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>((i * 37 + name.size()) & 0x7f);  // no NaN bit patterns needed
    buffers.push_back(std::move(b));
    t.data = buffers.back().data();
    t.n_bytes = buffers.back().size();
    list.emplace_back(name, t);
  }
};

Arrays sample() {
  Arrays a;
  a.buffers.reserve(8);
  a.add("encoder.conv1.weight", {4, 3, 3}, DType::kF32);
  a.add("half", {5, 2}, DType::kF16);
  a.add("bf16", {7}, DType::kBF16);
  a.add("scalar", {}, DType::kF32);
  a.add("empty", {0, 3}, DType::kF16);
  return a;
}

std::string hash(const uint8_t* data, size_t n) {
  Digest d(DigestKind::kSha256);
  d.update(data, n);
  return d.hex();
}

// "name dtype shape sha256" per array, sorted by name, as Python prints it below.
std::string describe(const NpzFile& npz) {
  std::string out;
  for (const auto& [name, t] : npz.arrays)
    out += (out.empty() ? "" : "\n") + name + " " + dtype_name(t.dtype) + " " + shape_string(t.shape) + " " +
           hash(t.data, t.n_bytes);
  return out;
}

const char* kPyDescribe =
    "import hashlib\n"
    "def describe(arrays, bf16_names=()):\n"
    "    out = []\n"
    "    for k in sorted(arrays):\n"
    "        a = arrays[k]\n"
    "        if 'bfloat16' in str(getattr(a, 'dtype', '')):\n"
    "            import numpy as np; a = np.array(a.view(mx.uint16), copy=False); dt = 'bfloat16'\n"
    "        else:\n"
    "            import numpy as np; a = np.asarray(a)\n"
    "            dt = {'float32': 'float32', 'float16': 'float16', '|V2': 'bfloat16', 'void16': 'bfloat16'}[str(a.dtype)]\n"
    "        shape = '[' + ', '.join(str(s) for s in a.shape) + ']'\n"
    "        out.append(f'{k} {dt} {shape} {hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}')\n"
    "    return '\\n'.join(out)\n";

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Npz, RoundTripIsBitExactWithDataAlignedTo64) {
  test::TempDir dir;
  Arrays a = sample();
  const auto path = dir / "w.npz";
  write_npz(path.string(), a.list);
  const NpzFile npz = read_npz(path.string());
  ASSERT_EQ(npz.arrays.size(), a.list.size());
  MappedFile f(path.string());
  for (const auto& [name, t] : a.list) {
    const TensorRef& u = npz.arrays.at(name);
    EXPECT_EQ(u.shape, t.shape) << name;
    EXPECT_EQ(u.dtype, t.dtype) << name;
    ASSERT_EQ(u.n_bytes, t.n_bytes) << name;
    // An empty tensor's data may be null, and memcmp of a null pointer is undefined even for 0 bytes (UBSan).
    if (t.n_bytes > 0) {
      EXPECT_EQ(std::memcmp(u.data, t.data, t.n_bytes), 0) << name;
    }
    EXPECT_EQ((u.data - f.data()) % 64, 0) << name;  // a view into the file, at a multiple of 64
  }
}

TEST(Npz, NumpyReadsWhatWeWrite) {
  test::TempDir dir;
  Arrays a = sample();
  const auto path = dir / "w.npz";
  write_npz(path.string(), a.list);
  const std::string code = std::string("import sys, numpy as np\nmx = None\n") + kPyDescribe +
                           "print(describe(dict(np.load(sys.argv[1]))))\n";
  const std::string py = test::run_python(test::python(), code, dir, path.string());
  ASSERT_FALSE(py.empty());
  EXPECT_EQ(py, describe(read_npz(path.string())));
}

TEST(Npz, ReadsNumpysStoredDeflatedAndFortranOrderArrays) {
  test::TempDir dir;
  const std::string code = std::string("import sys, numpy as np\nmx = None\n") + kPyDescribe +
      "r = np.random.default_rng(0)\n"
      "arrays = {'c': r.standard_normal((3, 4)).astype(np.float32), 'f': np.asfortranarray(r.standard_normal((2, 3, 4)).astype(np.float16)),\n"
      "          'one': np.float32([7.5]), 's': np.float32(2.5).reshape(())}\n"
      "np.savez(sys.argv[1] + '/plain.npz', **arrays)\n"
      "np.savez_compressed(sys.argv[1] + '/small.npz', **arrays)\n"
      "print(describe(arrays))\n";
  const std::string py = test::run_python(test::python(), code, dir, dir.path().string());
  ASSERT_FALSE(py.empty());
  EXPECT_EQ(describe(read_npz((dir / "plain.npz").string())), py);
  const NpzFile small = read_npz((dir / "small.npz").string());
  EXPECT_EQ(describe(small), py);
  EXPECT_EQ(small.arrays.at("f").shape, (std::vector<int64_t>{2, 3, 4}));
}

TEST(Npz, ReadsMlxBfloat16AndMlxReadsOurs) {
  const std::string py = test::torch_python();
  if (py.empty() || test::capture(py + " -c 'import mlx.core, os; print(1, flush=True); os._exit(0)' 2>/dev/null") != "1")
    GTEST_SKIP() << "no Python with mlx (pip install mlx[cpu])";
  test::TempDir dir;
  // mlx writes bfloat16 as '<V2' and a transposed array in Fortran order.
  const std::string code = std::string("import sys, mlx.core as mx\n") + kPyDescribe +
      "a = {'b': mx.arange(12, dtype=mx.float32).reshape(3, 4).astype(mx.bfloat16) / 7,\n"
      "     't': (mx.arange(6, dtype=mx.float16).reshape(2, 3) / 3).T, 'v': mx.array([1.5, -2.25], dtype=mx.bfloat16)}\n"
      "mx.savez(sys.argv[1] + '/mlx.npz', **a)\n"
      "print(describe({k: mx.array(v) for k, v in a.items()}))\n";
  const std::string mlx_view = test::run_python(py, code, dir, dir.path().string());
  ASSERT_FALSE(mlx_view.empty());
  EXPECT_EQ(describe(read_npz((dir / "mlx.npz").string())), mlx_view);
  // And back: our bfloat16 '<V2' is what mlx reads as bfloat16.
  Arrays a = sample();
  write_npz((dir / "ours.npz").string(), a.list);
  const std::string back = test::run_python(py, std::string("import sys, mlx.core as mx\n") + kPyDescribe +
                                                    "print(describe(mx.load(sys.argv[1])))\n",
                                            dir, (dir / "ours.npz").string());
  EXPECT_EQ(back, describe(read_npz((dir / "ours.npz").string())));
}

std::string npy(const std::string& dict, const std::string& data, const std::string& version = std::string("\x01\x00", 2)) {
  std::string h = dict + "\n";
  std::string out = "\x93NUMPY" + version;
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h + data;
}

std::string npy_error(const std::string& bytes) {
  std::vector<uint8_t> copy;
  try {
    parse_npy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "w.npz: a.npy", &copy);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Npz, BadHeadersAndSizesAreOneLineErrors) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  EXPECT_EQ(npy_error(npy(ok, std::string(8, '\0'))), "");
  EXPECT_EQ(npy_error(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0'))),
            "w.npz: a.npy: dtype '<i8' is not supported (float32 '<f4', float16 '<f2', bfloat16 '<V2')");
  EXPECT_EQ(npy_error(npy(ok, std::string(12, '\0'))),
            "w.npz: a.npy: shape [2] of float32 needs 8 bytes, the array holds 12");
  EXPECT_EQ(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999, 99999999, 9999999), }", "")),
            "w.npz: a.npy: shape [99999999, 99999999, 9999999] of float32 needs more than 0 bytes, the array holds 0");
  EXPECT_EQ(npy_error(npy("{'descr': '<f4', 'shape': (2,), }", std::string(8, '\0'))),
            "w.npz: a.npy: bad .npy header at character 33: header lacks descr, fortran_order or shape");
  EXPECT_EQ(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", std::string(8, '\0'))),
            "w.npz: a.npy: bad .npy header at character 53: a one-element shape needs a trailing comma");
  EXPECT_EQ(npy_error(npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", std::string(8, '\0'))),
            "w.npz: a.npy: bad .npy header at character 34: expected True or False");
  EXPECT_EQ(npy_error(npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'))),
            "w.npz: a.npy: bad .npy header at character 26: unexpected or repeated key 'descr'");
  EXPECT_EQ(npy_error(npy(ok, std::string(8, '\0'), std::string("\x04\x00", 2))),
            "w.npz: a.npy: .npy format version 4.0 is not supported");
  EXPECT_EQ(npy_error("\x93NUMPX\x01\x00\x00\x00"), "w.npz: a.npy: not a .npy array (no \\x93NUMPY magic)");
  const std::string good = npy(ok, std::string(8, '\0'));
  for (size_t n = 0; n < good.size(); ++n) {
    const std::string e = npy_error(good.substr(0, n));
    EXPECT_EQ(e.rfind("w.npz: a.npy: ", 0), 0u) << "cut at " << n << ": " << e;
  }
}

TEST(Npz, AnEntryThatIsNoArrayIsRefused) {
  test::TempDir dir;
  const auto path = dir / "x.npz";
  ZipWriter z(path.string());
  z.add("readme.txt", {{"hi", 2}});
  z.finish();
  try {
    read_npz(path.string());
    FAIL() << "must throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": readme.txt: not a .npy entry");
  }
}

}  // namespace
}  // namespace wst::formats
