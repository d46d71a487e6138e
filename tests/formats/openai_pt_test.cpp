// openai-whisper checkpoints (.pt) on synthetic weights: round trips bit-exact in every dtype, the layout
// torch 1.13 expects, torch's own checkpoints read to the bytes torch sees (views, a transposed tensor, a
// Parameter, tensors sharing one storage), openai-whisper's load_model() loads what we write, and bad files
// give one line naming the file. The real tiny.en weights: tests/formats/openai_pt_real_test.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "formats/openai_pt.h"
#include "formats/pickle.h"
#include "formats/weight_io.h"
#include "formats/zip_archive.h"
#include "support/python_script.h"
#include "support/synthetic_weights.h"
#include "util/errors.h"
#include "util/half.h"
#include "util/mapped_file.h"
#include "util/sha256.h"

namespace wst::formats {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string read_error(const std::filesystem::path& p) {
  try {
    read_weights(p.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// One tensor as a checkpoint's pickle describes it; each field may be made wrong on purpose.
struct TensorSpec {
  std::string name;
  std::string storage_class = "FloatStorage";
  std::string key = "0";
  int64_t numel = 0, offset = 0;
  std::vector<int64_t> shape, stride;
};

// A checkpoint's data.pkl, built opcode by opcode as torch.save would (protocol 2).
std::string checkpoint_pickle(const WhisperDims& d, const std::vector<TensorSpec>& tensors,
                              const std::string& extra_global = "") {
  PickleWriter p;
  p.empty_dict().mark().str("dims").empty_dict().mark();
  const std::pair<const char*, int> dims[] = {
      {"n_mels", d.n_mels},         {"n_audio_ctx", d.n_audio_ctx},     {"n_audio_state", d.n_audio_state},
      {"n_audio_head", d.n_audio_head}, {"n_audio_layer", d.n_audio_layer}, {"n_vocab", d.n_vocab},
      {"n_text_ctx", d.n_text_ctx}, {"n_text_state", d.n_text_state}, {"n_text_head", d.n_text_head},
      {"n_text_layer", d.n_text_layer}};
  for (const auto& [k, v] : dims) p.str(k).integer(v);
  p.setitems();
  p.str("model_state_dict").global("collections", "OrderedDict").tuple(0).reduce().mark();
  for (const auto& t : tensors) {
    p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").mark();
    p.mark().str("storage").global("torch", t.storage_class).str(t.key).str("cpu").integer(t.numel);
    p.tuple_from_mark().persid().integer(t.offset);
    p.mark();
    for (int64_t s : t.shape) p.integer(s);
    p.tuple_from_mark().mark();
    for (int64_t s : t.stride) p.integer(s);
    p.tuple_from_mark().boolean(false).global("collections", "OrderedDict").tuple(0).reduce();
    p.tuple_from_mark().reduce();
  }
  p.setitems();
  if (!extra_global.empty()) p.str("x").global(extra_global.substr(0, extra_global.find('.')), extra_global.substr(extra_global.find('.') + 1));
  p.setitems();
  return p.finish();
}

void write_zip(const std::filesystem::path& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  ZipWriter z(path.string());
  for (const auto& [name, bytes] : entries) z.add(name, {{bytes.data(), bytes.size()}});
  z.finish();
}

WhisperWeights parse_file(const std::filesystem::path& p, std::string* bytes) {
  *bytes = slurp(p);
  return parse_openai_pt(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(), p.string());
}

std::string parse_error(const std::filesystem::path& p) {
  std::string bytes;
  try {
    parse_file(p, &bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string floats(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(v.begin()), v.size() * 4);
}

TEST(OpenaiPt, RoundTripIsBitExactInEveryDtype) {
  test::TempDir dir;
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(dt));
    const WhisperWeights w = test::synthetic_weights(test::tiny_dims(), dt);
    const auto path = dir / (std::string(dtype_name(dt)) + ".pt");
    write_weights(w, WeightFormat::kOpenai, path.string());
    EXPECT_EQ(detect_format(path.string()), WeightFormat::kOpenai);
    const WhisperWeights r = read_weights(path.string());
    EXPECT_EQ(r.dims, w.dims);
    EXPECT_EQ(r.format, "openai");
    EXPECT_EQ(test::first_difference(w, r), "");
  }
}

TEST(OpenaiPt, ConvertsOnWriteWithNearestEvenRounding) {
  test::TempDir dir;
  const WhisperWeights w = test::synthetic_weights(test::tiny_dims(), DType::kF32);
  for (DType dt : {DType::kF16, DType::kBF16}) {
    const auto path = dir / (std::string(dtype_name(dt)) + ".pt");
    write_weights(w, WeightFormat::kOpenai, path.string(), dt);
    const WhisperWeights r = read_openai_pt(path.string());
    for (const auto& [name, t] : w.tensors) {
      const TensorRef& u = r.tensors.at(name);
      ASSERT_EQ(u.dtype, dt) << name;
      const std::vector<float> f = t.to_f32();
      for (size_t i = 0; i < f.size(); ++i) {
        uint16_t got;
        std::memcpy(&got, u.data + 2 * i, 2);
        const uint16_t want = dt == DType::kF16 ? float_to_half(f[i]) : float_to_bfloat16(f[i]);
        ASSERT_EQ(got, want) << name << " element " << i << " (" << f[i] << ")";
      }
    }
  }
}

TEST(OpenaiPt, LayoutIsTheOneTorchWrites) {
  test::TempDir dir;
  const WhisperWeights w = test::synthetic_weights(test::tiny_dims(), DType::kF16);
  const auto path = dir / "t.pt";
  write_weights(w, WeightFormat::kOpenai, path.string());
  MappedFile f(path.string());
  ZipArchive z(f.data(), f.size(), path.string());
  // torch takes the archive name from the first entry, and that entry is data.pkl.
  EXPECT_EQ(z.entries().at(0).name, "archive/data.pkl");
  auto text = [&](const std::string& n) {
    ZipData d = z.read(*z.find(n));
    return std::string(reinterpret_cast<const char*>(d.data), d.size);
  };
  EXPECT_EQ(text("archive/version"), "3\n");
  EXPECT_EQ(text("archive/byteorder"), "little");
  EXPECT_EQ(z.entries().size(), 3 + expected_tensors(w.dims).size());
  for (const auto& e : z.entries()) {
    EXPECT_EQ(e.name.rfind("archive/", 0), 0u);
    EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
    EXPECT_EQ(e.method, 0) << e.name;
  }
}

// torch's tensors as bytes: "name dtype sha256" per line, from torch's own view of each tensor.
const char* kTorchHashes =
    "import hashlib\n"
    "def hashes(sd):\n"
    "    out = []\n"
    "    for k, v in sd.items():\n"
    "        v = v.detach().contiguous()\n"
    "        raw = v.view(torch.int16 if v.element_size() == 2 else torch.int32).numpy().tobytes()\n"
    "        out.append(f'{k} {str(v.dtype)[6:]} {hashlib.sha256(raw).hexdigest()}')\n"
    "    return '\\n'.join(out)\n";

std::string our_hashes(const WhisperWeights& w, const std::vector<std::string>& order) {
  std::string out;
  for (const auto& name : order) {
    const TensorRef& t = w.tensors.at(name);
    Digest d(DigestKind::kSha256);
    d.update(t.data, t.n_bytes);
    out += (out.empty() ? "" : "\n") + name + " " + dtype_name(t.dtype) + " " + d.hex();
  }
  return out;
}

// ModelDimensions' keyword arguments as JSON, for the Python side.
std::string dims_json(const WhisperDims& d) {
  return "'{\"n_mels\": " + std::to_string(d.n_mels) + ", \"n_audio_ctx\": " + std::to_string(d.n_audio_ctx) +
         ", \"n_audio_state\": " + std::to_string(d.n_audio_state) + ", \"n_audio_head\": " + std::to_string(d.n_audio_head) +
         ", \"n_audio_layer\": " + std::to_string(d.n_audio_layer) + ", \"n_vocab\": " + std::to_string(d.n_vocab) +
         ", \"n_text_ctx\": " + std::to_string(d.n_text_ctx) + ", \"n_text_state\": " + std::to_string(d.n_text_state) +
         ", \"n_text_head\": " + std::to_string(d.n_text_head) + ", \"n_text_layer\": " + std::to_string(d.n_text_layer) + "}'";
}

std::vector<std::string> names_of(const std::string& lines) {
  std::vector<std::string> names;
  std::istringstream in(lines);
  for (std::string l; std::getline(in, l);) names.push_back(l.substr(0, l.find(' ')));
  return names;
}

TEST(OpenaiPt, ReadsTorchSaveOutputAsTorchSeesIt) {
  const std::string py = test::torch_python();
  if (py.empty()) GTEST_SKIP() << "no Python with torch and openai-whisper (set WST_TORCH_PYTHON)";
  test::TempDir dir;
  const std::string code = std::string("import sys, json, torch, whisper\n") + kTorchHashes +
      "d = whisper.model.ModelDimensions(**json.loads(sys.argv[2]))\n"
      "torch.manual_seed(0)\n"
      "sd = whisper.model.Whisper(d).state_dict()\n"
      "for k in sd: sd[k] = torch.randn(sd[k].shape)\n"
      "sd['encoder.conv1.weight'] = sd['encoder.conv1.weight'].half()\n"
      "sd['decoder.token_embedding.weight'] = sd['decoder.token_embedding.weight'].to(torch.bfloat16)\n"
      "q = 'encoder.blocks.0.attn.query.weight'\n"
      "sd[q] = sd[q].t().contiguous().t()  # same values, column-major strides\n"
      "assert not sd[q].is_contiguous()\n"
      "n = d.n_audio_state  # two tensors in one storage, the second at an offset\n"
      "both = torch.randn(2 * n)\n"
      "sd['encoder.ln_post.weight'], sd['encoder.ln_post.bias'] = both[:n], both[n:]\n"
      "sd['decoder.ln.weight'] = torch.nn.Parameter(sd['decoder.ln.weight'])\n"
      "torch.save({'dims': d.__dict__, 'model_state_dict': sd}, sys.argv[1])\n"
      "print(hashes(sd))\n";
  const auto path = dir / "torch.pt";
  const std::string torch_view = test::run_python(py, code, dir, path.string() + " " + dims_json(test::tiny_dims()));
  ASSERT_FALSE(torch_view.empty());
  const WhisperWeights r = read_weights(path.string());
  EXPECT_EQ(r.dims, test::tiny_dims());
  EXPECT_EQ(our_hashes(r, names_of(torch_view)), torch_view);
}

TEST(OpenaiPt, OpenaiWhisperLoadModelLoadsWhatWeWrite) {
  const std::string py = test::torch_python();
  if (py.empty()) GTEST_SKIP() << "no Python with torch and openai-whisper (set WST_TORCH_PYTHON)";
  test::TempDir dir;
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(dt));
    const WhisperWeights w = test::synthetic_weights(test::tiny_dims(), dt);
    const auto path = dir / (std::string(dtype_name(dt)) + ".pt");
    write_weights(w, WeightFormat::kOpenai, path.string());
    // load_model() goes through torch.load(weights_only=True) and a strict load_state_dict(); the raw
    // checkpoint is hashed as torch loads it.
    const std::string code = std::string("import sys, json, torch, whisper\n") + kTorchHashes +
        "m = whisper.load_model(sys.argv[1], device='cpu')\n"
        "assert m.dims == whisper.model.ModelDimensions(**json.loads(sys.argv[2])), m.dims\n"
        "ck = torch.load(sys.argv[1], weights_only=True)\n"
        "print(hashes(ck['model_state_dict']))\n";
    const std::string torch_view = test::run_python(py, code, dir, path.string() + " " + dims_json(w.dims));
    ASSERT_FALSE(torch_view.empty());
    EXPECT_EQ(names_of(torch_view).size(), w.tensors.size());
    EXPECT_EQ(our_hashes(w, names_of(torch_view)), torch_view);
  }
}

TEST(OpenaiPt, RefusesAPickleThatNamesAForbiddenGlobal) {
  test::TempDir dir;
  const auto path = dir / "evil.pt";
  write_zip(path, {{"evil/data.pkl", checkpoint_pickle(test::tiny_dims(), {}, "os.system")}, {"evil/version", "3\n"}});
  EXPECT_EQ(read_error(path), path.string() + ": pickle uses the global os.system, which is not allowed");
  const auto path2 = dir / "long.pt";
  TensorSpec t{"encoder.conv1.bias", "LongStorage", "0", 8, 0, {8}, {1}};
  write_zip(path2, {{"a/data.pkl", checkpoint_pickle(test::tiny_dims(), {t})}, {"a/data/0", std::string(64, '\0')}});
  EXPECT_EQ(read_error(path2), path2.string() + ": pickle uses the global torch.LongStorage, which is not allowed");
}

TEST(OpenaiPt, RefusesAnUnknownOpcode) {
  test::TempDir dir;
  const auto path = dir / "op.pt";
  std::string pkl = checkpoint_pickle(test::tiny_dims(), {});
  pkl.insert(2, "\xfe");
  write_zip(path, {{"a/data.pkl", pkl}});
  EXPECT_EQ(read_error(path), path.string() + ": unknown or unsupported pickle opcode 0xfe at byte 2");
}

TEST(OpenaiPt, RefusesAStorageTooSmallForItsTensor) {
  test::TempDir dir;
  const auto small = dir / "small.pt";
  // The pickle says 8 floats, the storage holds 7.
  TensorSpec t{"encoder.conv1.bias", "FloatStorage", "0", 8, 0, {8}, {1}};
  write_zip(small, {{"a/data.pkl", checkpoint_pickle(test::tiny_dims(), {t})}, {"a/data/0", std::string(28, '\0')}});
  EXPECT_EQ(parse_error(small), small.string() + ": tensor encoder.conv1.bias: storage data/0 holds 28 bytes, its pickle says 8 elements of 4");
  // The storage matches its pickle, but the tensor reaches past it (offset 1 + 8 elements).
  const auto past = dir / "past.pt";
  t.offset = 1;
  write_zip(past, {{"a/data.pkl", checkpoint_pickle(test::tiny_dims(), {t})}, {"a/data/0", std::string(32, '\0')}});
  EXPECT_EQ(parse_error(past), past.string() + ": tensor encoder.conv1.bias: shape [8] with stride [1] at offset 1 does not fit in its storage of 8 elements");
  const auto missing = dir / "missing.pt";
  t.offset = 0;
  write_zip(missing, {{"a/data.pkl", checkpoint_pickle(test::tiny_dims(), {t})}});
  EXPECT_EQ(parse_error(missing), missing.string() + ": tensor encoder.conv1.bias: its storage a/data/0 is missing");
  const auto broadcast = dir / "broadcast.pt";
  TensorSpec b{"encoder.conv1.bias", "FloatStorage", "0", 1, 0, {8}, {0}};
  write_zip(broadcast, {{"a/data.pkl", checkpoint_pickle(test::tiny_dims(), {b})}, {"a/data/0", std::string(4, '\0')}});
  EXPECT_EQ(parse_error(broadcast), broadcast.string() + ": tensor encoder.conv1.bias: stride 0 (a broadcast view) is not supported");
}

TEST(OpenaiPt, CopiesAStridedTensorIntoRowMajorOrder) {
  test::TempDir dir;
  const auto path = dir / "strided.pt";
  // A [2, 3] tensor stored column-major from offset 1 of a 7-float storage.
  TensorSpec t{"x", "FloatStorage", "k", 7, 1, {2, 3}, {1, 2}};
  write_zip(path, {{"a/data.pkl", checkpoint_pickle(test::tiny_dims(), {t})}, {"a/data/k", floats({9, 0, 3, 1, 4, 2, 5})}});
  std::string bytes;
  const WhisperWeights w = parse_file(path, &bytes);
  EXPECT_EQ(w.tensors.at("x").to_f32(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
}

TEST(OpenaiPt, RefusesATensorOfTheWrongShape) {
  test::TempDir dir;
  const auto path = dir / "shape.pt";
  WhisperWeights w = test::synthetic_weights(test::tiny_dims());
  write_weights(w, WeightFormat::kOpenai, path.string());
  // The same tensors under dims that call for a larger vocabulary.
  WhisperDims d = test::tiny_dims();
  d.n_vocab += 1;
  std::vector<TensorSpec> specs;
  std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", ""}};
  size_t i = 0;
  for (const auto& [name, shape] : expected_tensors(test::tiny_dims())) {
    const TensorRef& t = w.tensors.at(name);
    std::vector<int64_t> stride(shape.size(), 1);
    for (size_t k = shape.size(); k-- > 1;) stride[k - 1] = stride[k] * shape[k];
    specs.push_back({name, "FloatStorage", std::to_string(i), static_cast<int64_t>(t.n_elements()), 0, shape, stride});
    entries.push_back({"archive/data/" + std::to_string(i++), std::string(reinterpret_cast<const char*>(t.data), t.n_bytes)});
  }
  entries[0].second = checkpoint_pickle(d, specs);
  const auto bad = dir / "bad_shape.pt";
  write_zip(bad, entries);
  const int64_t v = test::tiny_dims().n_vocab, s = test::tiny_dims().n_text_state;
  EXPECT_EQ(read_error(bad), bad.string() + ": tensor decoder.token_embedding.weight has shape " + shape_string({v, s}) +
                                 ", expected " + shape_string({v + 1, s}));
}

TEST(OpenaiPt, TruncatedOrDamagedFilesAreOneLineErrors) {
  test::TempDir dir;
  const auto path = dir / "t.pt";
  write_weights(test::synthetic_weights(test::tiny_dims()), WeightFormat::kOpenai, path.string());
  const std::string b = slurp(path);
  for (size_t n = 0; n < b.size(); n += 997) {
    const auto cut = dir / "cut.pt";
    std::ofstream(cut, std::ios::binary) << b.substr(0, n);
    const std::string e = parse_error(cut);
    EXPECT_EQ(e.rfind(cut.string() + ": ", 0), 0u) << "cut at " << n << ": " << e;
  }
  const auto half = dir / "half.pt";
  std::ofstream(half, std::ios::binary) << b.substr(0, b.size() / 2);
  EXPECT_EQ(read_error(half), half.string() + ": not a zip archive (no end of central directory record)");
  // A flipped bit in a storage fails its CRC.
  ZipArchive z(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "t.pt");
  std::string flipped = b;
  flipped[z.find("archive/data/0")->data_offset + 3] ^= 1;
  const auto bad = dir / "flipped.pt";
  std::ofstream(bad, std::ios::binary) << flipped;
  EXPECT_EQ(read_error(bad), bad.string() + ": zip entry archive/data/0: CRC-32 mismatch (corrupt data)");
}

}  // namespace
}  // namespace wst::formats
