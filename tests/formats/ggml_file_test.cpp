// whisper.cpp's ggml model file on small synthetic weights: the writer's layout, bit-exact round trips,
// quantised tensors read as ggml's gguf package dequantises them, and one clear error for each bad input.
#include "formats/ggml_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "formats/ggml_types.h"
#include "formats/weight_io.h"
#include "support/ggml_builder.h"
#include "support/paths.h"
#include "support/synthetic_weights.h"
#include "support/temp_dir.h"
#include "util/errors.h"
#include "util/half.h"

namespace wst::formats {
namespace {

using test::GgmlBuilder;

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

WhisperWeights parse(const std::string& b, const std::string& path = "m.bin") {
  return parse_ggml(reinterpret_cast<const uint8_t*>(b.data()), b.size(), path);
}

std::string error_of(const std::string& b) {
  try {
    parse(b);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void put_i32(std::string& b, size_t at, int32_t v) { std::memcpy(b.data() + at, &v, 4); }

// "" when both hold the same tensors with the same dtype and bytes, else the first difference.
std::string first_tensor_difference(const WhisperWeights& a, const WhisperWeights& b) {
  if (a.tensors.size() != b.tensors.size()) return "tensor counts differ";
  for (const auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end()) return "missing " + name;
    const TensorRef& u = it->second;
    if (t.shape != u.shape) return name + ": shape " + shape_string(t.shape) + " vs " + shape_string(u.shape);
    if (t.dtype != u.dtype) return name + ": dtype " + dtype_name(t.dtype) + " vs " + dtype_name(u.dtype);
    for (size_t i = 0; i < t.n_bytes; ++i)
      if (t.data[i] != u.data[i]) return name + ": first different byte " + std::to_string(i);
  }
  return "";
}

// A tensor record as the file holds it, walked here without the reader.
struct Record {
  int32_t type;
  std::vector<int32_t> ne;
};
std::map<std::string, Record> records_of(const std::string& b, size_t first_tensor_at) {
  std::map<std::string, Record> out;
  auto i32 = [&](size_t at) {
    int32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
  };
  for (size_t at = first_tensor_at; at < b.size();) {
    const int32_t n_dims = i32(at), name_len = i32(at + 4), type = i32(at + 8);
    Record r{type, {}};
    size_t n = 1;
    for (int32_t k = 0; k < n_dims; ++k) {
      r.ne.push_back(i32(at + 12 + 4 * k));
      n *= static_cast<size_t>(r.ne.back());
    }
    at += 12 + 4 * n_dims;
    std::string name = b.substr(at, name_len);
    at += name_len + (type == 8 ? n / 32 * 34 : n * (type == 1 ? 2 : 4));
    out[name] = r;
  }
  return out;
}

size_t first_tensor_at(const WhisperWeights& w) {
  GgmlBuilder b;
  b.header(w.dims, 0, w.mel_filters, w.vocab);
  return b.bytes().size();
}

// ---- The writer -----------------------------------------------------------------------------------

TEST(GgmlFile, F32RoundTripIsBitExact) {
  auto w = test::synthetic_weights(test::block_dims(), DType::kF32);
  test::TempDir dir;
  write_ggml(w, (dir / "m.bin").string(), std::nullopt);
  WhisperWeights r = read_ggml((dir / "m.bin").string());
  EXPECT_EQ(r.dims, w.dims);
  EXPECT_EQ(r.format, "ggml");
  EXPECT_EQ(first_tensor_difference(w, r), "");
  EXPECT_EQ(r.vocab, w.vocab);
  EXPECT_EQ(r.mel_filters, w.mel_filters);
  // The same bytes as the independent builder's float32 file.
  EXPECT_EQ(read_bytes(dir / "m.bin"), test::ggml_f32_file(w).bytes());
}

TEST(GgmlFile, F16FileKeepsWhatWhisperCppWantsInF32) {
  auto w = test::synthetic_weights(test::block_dims(), DType::kF16);
  test::TempDir dir;
  write_ggml(w, (dir / "m.bin").string(), std::nullopt);  // 16-bit source: stays float16
  const std::string b = read_bytes(dir / "m.bin");
  int32_t ftype;
  std::memcpy(&ftype, b.data() + 44, 4);
  EXPECT_EQ(ftype, 1);
  auto records = records_of(b, first_tensor_at(w));
  ASSERT_EQ(records.size(), w.tensors.size());
  // whisper_model_load: f16 matrices and conv kernels; f32 vectors, conv biases and positional embeddings.
  EXPECT_EQ(records["encoder.conv1.weight"].type, 1);
  EXPECT_EQ(records["encoder.conv1.weight"].ne, (std::vector<int32_t>{3, 80, 32}));
  EXPECT_EQ(records["encoder.conv2.weight"].type, 1);
  EXPECT_EQ(records["encoder.conv1.bias"].type, 0);
  EXPECT_EQ(records["encoder.conv1.bias"].ne, (std::vector<int32_t>{1, 32}));
  EXPECT_EQ(records["encoder.conv2.bias"].ne, (std::vector<int32_t>{1, 32}));
  EXPECT_EQ(records["encoder.positional_embedding"].type, 0);
  EXPECT_EQ(records["decoder.positional_embedding"].type, 0);
  EXPECT_EQ(records["decoder.token_embedding.weight"].type, 1);
  EXPECT_EQ(records["decoder.token_embedding.weight"].ne, (std::vector<int32_t>{32, 40}));
  EXPECT_EQ(records["decoder.blocks.0.cross_attn.key.weight"].type, 1);
  EXPECT_EQ(records["encoder.blocks.1.mlp.0.bias"].type, 0);
  EXPECT_EQ(records["decoder.ln.weight"].type, 0);

  // Read back: float16 tensors unchanged, float32 ones hold the float16 values exactly.
  WhisperWeights r = read_ggml((dir / "m.bin").string());
  for (const auto& [name, t] : w.tensors) {
    const TensorRef& u = r.tensors.at(name);
    EXPECT_EQ(u.dtype, records[name].type == 1 ? DType::kF16 : DType::kF32) << name;
    EXPECT_EQ(u.shape, t.shape) << name;
    EXPECT_EQ(u.to_f32(), t.to_f32()) << name;
  }
}

TEST(GgmlFile, DtypeOptionConverts) {
  test::TempDir dir;
  // float32 -> float16: matrices rounded as float_to_half; vectors untouched.
  auto w = test::synthetic_weights(test::block_dims(), DType::kF32);
  write_ggml(w, (dir / "h.bin").string(), DType::kF16);
  WhisperWeights r = read_ggml((dir / "h.bin").string());
  const auto& q = r.tensors.at("encoder.blocks.0.attn.query.weight");
  ASSERT_EQ(q.dtype, DType::kF16);
  std::vector<float> src = w.tensors.at("encoder.blocks.0.attn.query.weight").to_f32(), got = q.to_f32();
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(got[i], half_to_float(float_to_half(src[i]))) << i;
  EXPECT_EQ(r.tensors.at("encoder.ln_post.bias").to_f32(), w.tensors.at("encoder.ln_post.bias").to_f32());
  // bfloat16 source -> float32 file: exact.
  auto bf = test::synthetic_weights(test::block_dims(), DType::kBF16);
  write_ggml(bf, (dir / "f.bin").string(), DType::kF32);
  WhisperWeights rf = read_ggml((dir / "f.bin").string());
  for (const auto& [name, t] : bf.tensors) {
    EXPECT_EQ(rf.tensors.at(name).dtype, DType::kF32);
    EXPECT_EQ(rf.tensors.at(name).to_f32(), t.to_f32()) << name;
  }
}

TEST(GgmlFile, WriterRefusesWhatGgmlCannotHold) {
  test::TempDir dir;
  const std::string out = (dir / "m.bin").string();
  auto w = test::synthetic_weights(test::block_dims(), DType::kF32);
  try {
    write_ggml(w, out, DType::kBF16);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              out + ": ggml files hold float32 or float16 weights, not bfloat16 (choose float16 or float32)");
  }
  auto no_vocab = w;
  no_vocab.vocab.clear();
  try {
    write_ggml(no_vocab, out, std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              out + ": cannot write a ggml file without the vocabulary (token bytes by id) of synthetic");
  }
  auto no_filters = w;
  no_filters.mel_filters.clear();
  try {
    write_ggml(no_filters, out, std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), out + ": cannot write a ggml file without the mel filters of synthetic");
  }
  auto missing = w;
  missing.tensors.erase("decoder.ln.bias");
  try {
    write_ggml(missing, out, std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "synthetic: missing tensor decoder.ln.bias");
  }
}

TEST(GgmlFile, ReadWeightsDetectsAndReadsIt) {
  auto w = test::synthetic_weights(test::block_dims(), DType::kF32);
  test::TempDir dir;
  write_weights(w, WeightFormat::kGgml, (dir / "ggml-x.bin").string(), std::nullopt);
  EXPECT_EQ(detect_format((dir / "ggml-x.bin").string()), WeightFormat::kGgml);
  EXPECT_EQ(first_tensor_difference(w, read_weights((dir / "ggml-x.bin").string())), "");
}

TEST(GgmlFile, Q8_0FileIsWhatWhisperCppsQuantizeMakes) {
  auto w = test::synthetic_weights(test::block_dims(), DType::kF16);
  test::TempDir dir;
  const std::string path = (dir / "ggml-x-q8_0.bin").string();
  write_weights(w, WeightFormat::kGgmlQ8_0, path, std::nullopt);
  EXPECT_EQ(detect_format(path), WeightFormat::kGgmlQ8_0);
  const std::string b = read_bytes(path);
  int32_t ftype;
  std::memcpy(&ftype, b.data() + 44, 4);
  EXPECT_EQ(ftype, 2007);  // quantisation version 2 * 1000 + GGML_FTYPE_MOSTLY_Q8_0
  auto records = records_of(b, first_tensor_at(w));
  ASSERT_EQ(records.size(), w.tensors.size());
  // quantize.cpp's rule: 2-D tensors in q8_0 except the positional embeddings and the conv biases (stored
  // [n, 1]); the conv kernels (3-D) keep float16, vectors float32.
  for (const auto& [name, r] : records) {
    const bool pos = name.find("positional_embedding") != std::string::npos;
    const bool conv_bias = name == "encoder.conv1.bias" || name == "encoder.conv2.bias";
    const int32_t want = r.ne.size() == 3 ? 1 : r.ne.size() == 2 && !pos && !conv_bias ? 8 : 0;
    EXPECT_EQ(r.type, want) << name;
  }
  EXPECT_EQ(records["decoder.token_embedding.weight"].type, 8);
  EXPECT_EQ(records["encoder.blocks.0.mlp.0.weight"].type, 8);
  EXPECT_EQ(records["encoder.conv2.weight"].type, 1);
  EXPECT_EQ(records["decoder.positional_embedding"].type, 0);

  // Read back: every q8_0 tensor is exactly the dequantisation of the quantisation of the source values;
  // the others unchanged.
  WhisperWeights r = read_weights(path);
  EXPECT_EQ(r.vocab, w.vocab);
  for (const auto& [name, t] : w.tensors) {
    const std::vector<float> src = t.to_f32(), got = r.tensors.at(name).to_f32();
    ASSERT_EQ(got.size(), src.size()) << name;
    if (records[name].type != 8) {
      EXPECT_EQ(got, src) << name;
      continue;
    }
    std::vector<uint8_t> q(src.size() / 32 * 34);
    ggml_quantize_q8_0(src.data(), src.size() / 32, q.data());
    std::vector<float> want(src.size());
    ggml_dequantize(GgmlType::kQ8_0, q.data(), src.size() / 32, want.data());
    EXPECT_EQ(got, want) << name;
  }
}

TEST(GgmlFile, Q8_0WriterRefusesWhatItCannotHold) {
  test::TempDir dir;
  const std::string out = (dir / "q.bin").string();
  auto w = test::synthetic_weights(test::block_dims(), DType::kF32);
  try {
    write_ggml_q8_0(w, out, DType::kF32);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), out + ": a q8_0 ggml file keeps its conv kernels float16 and quantises the "
                                           "matrices; --dtype f32 does not apply (write --to ggml --dtype f32 for a "
                                           "float32 file)");
  }
  // A NaN in a matrix is refused by name and place, and write_weights leaves nothing behind.
  std::vector<float> bad = w.tensors.at("decoder.blocks.0.attn.out.weight").to_f32();
  bad[7] = std::nanf("");
  std::vector<uint8_t> bytes(bad.size() * 4);
  std::memcpy(bytes.data(), bad.data(), bytes.size());
  w.add_owned("decoder.blocks.0.attn.out.weight", w.tensors.at("decoder.blocks.0.attn.out.weight").shape, DType::kF32,
              std::move(bytes));
  try {
    write_weights(w, WeightFormat::kGgmlQ8_0, out, std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(": decoder.blocks.0.attn.out.weight holds a NaN or an infinity at element 7; "
                                         "such weights cannot be quantised"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  // Rows that are no whole number of blocks (width 8 here) are refused by tensor name.
  try {
    write_weights(test::synthetic_weights(test::tiny_dims(), DType::kF16), WeightFormat::kGgmlQ8_0, out, std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(" has rows of 8 values; q8_0 needs a multiple of 32"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// ---- The reader -----------------------------------------------------------------------------------

nlohmann::json quant_reference() {
  auto path = test::source_dir() / "tests/reference/ggml_quant_reference.json";
  auto ref = nlohmann::json::parse(read_bytes(path));
  EXPECT_EQ(ref.at("format"), "wst-ggml-quant-reference");
  EXPECT_EQ(ref.at("format_version"), 2) << "remake with " << ref.value("command", "");
  return ref;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

TEST(GgmlFile, QuantisedTensorsAreDequantisedAsGguf) {
  const auto ref = quant_reference();
  auto w = test::synthetic_weights(test::block_dims(), DType::kF32);
  // One [32, 32] matrix per quantised type, its 32 blocks cycling through the reference's blocks.
  const char* targets[] = {"encoder.blocks.0.attn.query.weight", "encoder.blocks.0.attn.key.weight",
                           "encoder.blocks.0.attn.value.weight", "encoder.blocks.0.attn.out.weight",
                           "decoder.blocks.0.cross_attn.key.weight"};
  ASSERT_EQ(ref.at("cases").size(), std::size(targets));
  std::map<std::string, std::pair<int, std::string>> quantised;  // name -> (type, data)
  std::map<std::string, std::vector<float>> expected;
  std::map<std::string, std::string> type_of;
  for (size_t k = 0; k < std::size(targets); ++k) {
    const auto& c = ref.at("cases")[k];
    const std::string blocks = from_hex(c.at("blocks_hex"));
    const size_t n_ref = c.at("n_blocks"), block_bytes = blocks.size() / n_ref;
    std::string data;
    for (size_t i = 0; i < 32; ++i) {
      data += blocks.substr((i % n_ref) * block_bytes, block_bytes);
      for (size_t j = 0; j < 32; ++j) expected[targets[k]].push_back(c.at("values")[(i % n_ref) * 32 + j].get<float>());
    }
    quantised[targets[k]] = {c.at("type_id").get<int>(), data};
    type_of[targets[k]] = c.at("type").get<std::string>();
  }
  GgmlBuilder b;
  b.header(w.dims, 2000 + 9, w.mel_filters, w.vocab);  // quantisation version 2
  for (const auto& [name, shape] : expected_tensors(w.dims)) {
    if (auto q = quantised.find(name); q != quantised.end()) {
      b.tensor(name, test::ggml_ne(name, shape), q->second.first, q->second.second);
    } else {
      std::vector<float> v = w.get(name, shape).to_f32();
      b.tensor(name, test::ggml_ne(name, shape), 0, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    }
  }
  WhisperWeights r = parse(b.bytes());
  for (const auto& [name, values] : expected) {
    const TensorRef& t = r.tensors.at(name);
    EXPECT_EQ(t.dtype, DType::kF32) << name;
    EXPECT_EQ(t.shape, (std::vector<int64_t>{32, 32})) << name;
    std::vector<float> got = t.to_f32();
    for (size_t i = 0; i < values.size(); ++i)
      ASSERT_EQ(got[i], values[i]) << name << " (" << type_of[name] << ") index " << i;
  }
  // An older quantisation version has other block layouts: refused, not misread.
  std::string old = b.bytes();
  put_i32(old, 44, 1000 + 9);
  EXPECT_EQ(error_of(old), "m.bin: tensor encoder.blocks.0.attn.query.weight is q4_0 of quantisation version 1, this "
                           "tool reads version 2");
}

TEST(GgmlFile, UnalignedDataIsCopiedAlignedIsAView) {
  auto w = test::synthetic_weights(test::block_dims(), DType::kF32);
  for (size_t shift = 0; shift < 4; ++shift) {
    auto v = w;
    v.vocab.back() += std::string(shift, 'z');  // moves every tensor's data by `shift` bytes
    GgmlBuilder b = test::ggml_f32_file(v);
    WhisperWeights r = parse(b.bytes());
    const auto* begin = reinterpret_cast<const uint8_t*>(b.bytes().data());
    for (const auto& [name, t] : r.tensors) {
      const bool inside = t.data >= begin && t.data < begin + b.bytes().size();
      const bool aligned = (reinterpret_cast<uintptr_t>(begin) + b.data_at(name)) % 4 == 0;
      EXPECT_EQ(inside, aligned) << name << " shift " << shift;
      if (inside) {
        EXPECT_EQ(t.data, begin + b.data_at(name)) << name;
      }
    }
    EXPECT_EQ(first_tensor_difference(w, r), "");
  }
}

TEST(GgmlFile, VocabularyKeepsOrdinaryTokensOnly) {
  // A Hugging Face-converted file lists the specials' text after the ordinary tokens; n_vocab 51864 has
  // 50256 ordinary tokens. Checked on the header alone (the tensors' absence is the error after it).
  auto w = test::synthetic_weights(test::block_dims(), DType::kF32);
  w.dims.n_vocab = 51864;
  std::vector<std::string> vocab(50258, "t");
  vocab[50256] = "<|endoftext|>";
  vocab[50257] = "<|startoftranscript|>";
  GgmlBuilder b;
  b.header(w.dims, 0, w.mel_filters, vocab);
  EXPECT_EQ(error_of(b.bytes()), "m.bin: missing tensor encoder.conv1.weight");
  EXPECT_EQ(ggml_ordinary_tokens(51864), 50256);
  EXPECT_EQ(ggml_ordinary_tokens(51865), 50257);
  EXPECT_EQ(ggml_ordinary_tokens(51866), 50257);
}

// ---- Bad input: one line naming the file and the problem ------------------------------------------

class GgmlBadInput : public ::testing::Test {
 protected:
  WhisperWeights w = test::synthetic_weights(test::block_dims(), DType::kF32);
  GgmlBuilder b = test::ggml_f32_file(w);
};

TEST_F(GgmlBadInput, WrongMagic) {
  std::string s = b.bytes();
  s[0] = 'P';
  EXPECT_EQ(error_of(s), "m.bin: not a ggml model file (magic 0x67676d50, expected 0x67676d6c)");
  EXPECT_EQ(error_of(""), "m.bin: truncated at byte 0 while reading the magic number (file is 0 bytes)");
}

TEST_F(GgmlBadInput, TruncatedHeaderVocabAndTensor) {
  const std::string& s = b.bytes();
  EXPECT_EQ(error_of(s.substr(0, 22)),
            "m.bin: truncated at byte 20 while reading the hyperparameter n_audio_layer (file is 22 bytes)");
  const size_t token3 = b.vocab_at() + 4 + (4 + 1) + (4 + 1) + (4 + 3);
  EXPECT_EQ(error_of(s.substr(0, token3 + 5)), "m.bin: truncated at byte " + std::to_string(token3 + 4) +
                                                   " while reading vocabulary token 3 (file is " +
                                                   std::to_string(token3 + 5) + " bytes)");
  const size_t data = b.data_at("decoder.ln.bias");
  EXPECT_EQ(error_of(s.substr(0, data + 10)), "m.bin: truncated at byte " + std::to_string(data) +
                                                  " while reading the data of tensor decoder.ln.bias (file is " +
                                                  std::to_string(data + 10) + " bytes)");
  const size_t header = b.tensor_at("decoder.ln.bias");
  EXPECT_EQ(error_of(s.substr(0, header + 6)), "m.bin: truncated at byte " + std::to_string(header + 4) +
                                                   " while reading the tensor header at byte " +
                                                   std::to_string(header) + " (file is " +
                                                   std::to_string(header + 6) + " bytes)");
}

TEST_F(GgmlBadInput, EveryTruncationIsAnErrorNamingTheFile) {
  const std::string& s = b.bytes();
  // Every byte up to the first tensor's data, then every 61st (the file is ~250 kB).
  for (size_t n = 0; n < s.size(); n += n < b.data_at("encoder.conv1.weight") + 64 ? 1 : 61) {
    std::string e = error_of(s.substr(0, n));
    ASSERT_EQ(e.rfind("m.bin: ", 0), 0u) << "length " << n << ": " << e;
  }
}

TEST_F(GgmlBadInput, WrongShape) {
  std::string s = b.bytes();
  // encoder.conv1.weight [32, 80, 3] stored as ne {3, 40, 64}: the same size, the wrong shape.
  const size_t at = b.tensor_at("encoder.conv1.weight");
  put_i32(s, at + 16, 40);
  put_i32(s, at + 20, 64);
  EXPECT_EQ(error_of(s), "m.bin: tensor encoder.conv1.weight has shape [64, 40, 3], expected [32, 80, 3]");
}

TEST_F(GgmlBadInput, UnknownOrUnreadType) {
  std::string s = b.bytes();
  put_i32(s, b.tensor_at("encoder.blocks.1.mlp.0.weight") + 8, 14);
  EXPECT_EQ(error_of(s),
            "m.bin: tensor encoder.blocks.1.mlp.0.weight has ggml type 14 (q6_K), which this tool does not read");
  put_i32(s, b.tensor_at("encoder.blocks.1.mlp.0.weight") + 8, 4);
  EXPECT_EQ(error_of(s),
            "m.bin: tensor encoder.blocks.1.mlp.0.weight has ggml type 4 (unknown), which this tool does not read");
  put_i32(s, b.tensor_at("encoder.blocks.1.mlp.0.weight") + 8, -1);
  EXPECT_EQ(error_of(s),
            "m.bin: tensor encoder.blocks.1.mlp.0.weight has ggml type -1 (unknown), which this tool does not read");
}

TEST_F(GgmlBadInput, TooManyDimensions) {
  std::string s = b.bytes();
  const size_t at = b.tensor_at("encoder.ln_post.weight");
  put_i32(s, at, 5);
  EXPECT_EQ(error_of(s), "m.bin: the tensor at byte " + std::to_string(at) + " has 5 dimensions (ggml allows 0 to 4)");
}

TEST_F(GgmlBadInput, AbsurdNameLength) {
  std::string s = b.bytes();
  const size_t at = b.tensor_at("encoder.ln_post.weight");
  put_i32(s, at + 4, 1 << 30);
  EXPECT_EQ(error_of(s), "m.bin: the tensor at byte " + std::to_string(at) +
                             " has a name of 1073741824 bytes (expected 1 to 1024)");
  put_i32(s, at + 4, 0);
  EXPECT_EQ(error_of(s), "m.bin: the tensor at byte " + std::to_string(at) + " has a name of 0 bytes (expected 1 to 1024)");
}

TEST_F(GgmlBadInput, HugeDimensionsDoNotOverflow) {
  std::string s = b.bytes();
  const size_t at = b.tensor_at("decoder.token_embedding.weight");
  put_i32(s, at + 12, 0x7fffffff);
  put_i32(s, at + 16, 0x7fffffff);
  const size_t data = at + 12 + 8 + std::string("decoder.token_embedding.weight").size();
  EXPECT_EQ(error_of(s), "m.bin: truncated at byte " + std::to_string(data) +
                             " while reading the data of tensor decoder.token_embedding.weight (file is " +
                             std::to_string(s.size()) + " bytes)");
  put_i32(s, at + 12, -3);
  EXPECT_EQ(error_of(s), "m.bin: tensor decoder.token_embedding.weight has a dimension of -3");
}

TEST_F(GgmlBadInput, CorruptHeaderFields) {
  std::string s = b.bytes();
  put_i32(s, 4 + 4 * 2, 0);  // n_audio_state
  EXPECT_EQ(error_of(s), "m.bin: not a Whisper model (n_audio_state is 0)");
  s = b.bytes();
  put_i32(s, 48, 40);  // mel filter rows
  EXPECT_EQ(error_of(s), "m.bin: the mel filters are [40, 201], expected [80, 201]");
  s = b.bytes();
  put_i32(s, b.vocab_at(), -2);
  EXPECT_EQ(error_of(s), "m.bin: corrupt vocabulary size -2");
  s = b.bytes();
  put_i32(s, b.vocab_at(), 0x7fffffff);  // reads on into the tensors, then runs out of file
  const std::string e = error_of(s);
  EXPECT_EQ(e.rfind("m.bin: truncated at byte ", 0), 0u) << e;
  EXPECT_NE(e.find(" while reading vocabulary token "), std::string::npos) << e;
  s = b.bytes();
  put_i32(s, 44, -1);
  EXPECT_EQ(error_of(s), "m.bin: corrupt file type -1");
}

TEST_F(GgmlBadInput, DuplicateAndUnknownTensors) {
  std::string s = b.bytes();
  std::string again = s.substr(b.tensor_at("decoder.ln.weight"), b.tensor_at("decoder.ln.bias") - b.tensor_at("decoder.ln.weight"));
  EXPECT_EQ(error_of(s + again), "m.bin: tensor decoder.ln.weight appears twice");
  GgmlBuilder extra = b;
  extra.tensor("decoder.extra", {4}, 0, std::string(16, '\0'));
  EXPECT_EQ(error_of(extra.bytes()), "m.bin: unexpected tensor decoder.extra for this architecture");
}

TEST_F(GgmlBadInput, QuantisedRowsMustBeWholeBlocks) {
  // decoder.ln.weight [32] as q8_0 would be one block; as ne {16, 2} it is rows of 16.
  GgmlBuilder q;
  q.header(w.dims, 2007, w.mel_filters, w.vocab);
  q.tensor("decoder.ln.weight", {16, 2}, 8, std::string(34, '\0'));
  EXPECT_EQ(error_of(q.bytes()), "m.bin: tensor decoder.ln.weight is q8_0 but its rows are not whole 32-weight blocks");
}

TEST(GgmlFile, MissingFileNamesIt) {
  test::TempDir dir;
  const std::string p = (dir / "nope.bin").string();
  try {
    read_ggml(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(p + ": ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace wst::formats
