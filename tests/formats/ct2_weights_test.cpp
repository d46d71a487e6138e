// CTranslate2 directory <-> WhisperWeights: the real tiny.en read into OpenAI names, written back byte for
// byte, loaded by faster-whisper after a dtype change; int8 dequantised; refusals with one clear line.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "formats/weight_io.h"
#include "models/convert.h"
#include "support/ct2_writer.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/errors.h"
#include "util/half.h"

namespace wst::formats {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_error(const std::string& dir) {
  try {
    read_weights(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Ct2Weights, ReadsTinyEnIntoOpenaiNames) {
  WST_REQUIRE_TINY_EN();
  WhisperWeights w = read_weights(test::tiny_en_dir().string());
  EXPECT_EQ(w.format, "ctranslate2");
  EXPECT_EQ(w.dims, (WhisperDims{80, 51864, 1500, 384, 6, 4, 448, 384, 6, 4}));
  EXPECT_EQ(w.tensors.size(), expected_tensors(w.dims).size());
  EXPECT_EQ(w.alignment_heads.size(), 8u);
  EXPECT_EQ(w.tokenizer_json, (test::tiny_en_dir() / "tokenizer.json").string());
  // The fused q/k/v rows split apart: the value block starts 2 * 384 rows into the file's linear_0.
  const TensorRef& v = w.tensors.at("encoder.blocks.0.attn.value.weight");
  const TensorRef& q = w.tensors.at("encoder.blocks.0.attn.query.weight");
  EXPECT_EQ(v.dtype, DType::kF16);
  EXPECT_EQ(v.data - q.data, 2 * 384 * 384 * 2);
  EXPECT_FALSE(w.has("encoder.blocks.0.attn.key.bias"));
}

TEST(Ct2Weights, WritesTinyEnBackByteForByte) {
  WST_REQUIRE_TINY_EN();
  WhisperWeights w = read_weights(test::tiny_en_dir().string());
  models::prepare_for_writing(w, {w.tokenizer_json, false, "test"});
  test::TempDir tmp;
  write_weights(w, WeightFormat::kCt2, (tmp / "out").string());
  // model.bin: the same variables, order, dtypes and bytes as CTranslate2's own converter wrote.
  EXPECT_TRUE(read_file(tmp / "out/model.bin") == read_file(test::tiny_en_dir() / "model.bin"));
  EXPECT_EQ(read_file(tmp / "out/vocabulary.txt"), read_file(test::tiny_en_dir() / "vocabulary.txt"));
  EXPECT_EQ(read_file(tmp / "out/tokenizer.json"), read_file(test::tiny_en_dir() / "tokenizer.json"));
  // Nothing else is left beside it (the temporary name is gone).
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(tmp.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(Ct2Weights, Float32CopyLoadsInFasterWhisperWithTheSameText) {
  WST_REQUIRE_TINY_EN();
  WhisperWeights w = read_weights(test::tiny_en_dir().string());
  models::prepare_for_writing(w, {w.tokenizer_json, false, "test"});
  test::TempDir tmp;
  const std::string out = (tmp / "f32").string();
  write_weights(w, WeightFormat::kCt2, out, DType::kF32);
  WhisperWeights back = read_weights(out);
  // float16 -> float32 is exact: every value equal.
  for (const auto& [name, t] : w.tensors) ASSERT_EQ(back.tensors.at(name).to_f32(), t.to_f32()) << name;
  EXPECT_EQ(back.tensors.at("decoder.ln.weight").dtype, DType::kF32);

  const std::string script =
      "import sys\n"
      "from faster_whisper import WhisperModel\n"
      "m = WhisperModel(sys.argv[1], device='cpu', compute_type='float32', cpu_threads=2)\n"
      "segs, _ = m.transcribe(sys.argv[2], beam_size=1, language='en')\n"
      "print(''.join(s.text for s in segs).strip())\n";
  tmp.write("fw.py", script);
  auto run = [&](const std::string& model) {
    return test::capture(test::python() + " " + (tmp / "fw.py").string() + " '" + model + "' '" +
                         (test::shared_audio_dir() / "jfk.wav").string() + "' 2>&1");
  };
  const std::string original = run(test::tiny_en_dir().string());
  ASSERT_NE(original.find("ask not what your country can do for you"), std::string::npos) << original;
  EXPECT_EQ(run(out), original);
}

// A Whisper-shaped model.bin with n_state 4 and one layer per side, every float zero, linear weights int8
// with a scale per row when `int8`.
std::string fake_model(bool int8, float scale = 2.0f) {
  test::Ct2Writer w;
  std::vector<std::pair<std::string, std::vector<uint32_t>>> floats, linears;
  auto block = [&](const std::string& p, bool cross) {
    for (const char* ln : {"/self_attention/layer_norm", "/ffn/layer_norm"}) {
      floats.push_back({p + ln + "/gamma", {4}});
      floats.push_back({p + ln + "/beta", {4}});
    }
    linears.push_back({p + "/self_attention/linear_0", {12, 4}});
    linears.push_back({p + "/self_attention/linear_1", {4, 4}});
    linears.push_back({p + "/ffn/linear_0", {16, 4}});
    linears.push_back({p + "/ffn/linear_1", {4, 16}});
    if (cross) {
      floats.push_back({p + "/attention/layer_norm/gamma", {4}});
      floats.push_back({p + "/attention/layer_norm/beta", {4}});
      linears.push_back({p + "/attention/linear_0", {4, 4}});
      linears.push_back({p + "/attention/linear_1", {8, 4}});
      linears.push_back({p + "/attention/linear_2", {4, 4}});
    }
  };
  floats.push_back({"encoder/conv1/weight", {4, 80, 3}});
  floats.push_back({"encoder/conv1/bias", {4}});
  floats.push_back({"encoder/conv2/weight", {4, 4, 3}});
  floats.push_back({"encoder/conv2/bias", {4}});
  floats.push_back({"encoder/position_encodings/encodings", {1500, 4}});
  floats.push_back({"encoder/layer_norm/gamma", {4}});
  floats.push_back({"encoder/layer_norm/beta", {4}});
  floats.push_back({"decoder/embeddings/weight", {51864, 4}});
  floats.push_back({"decoder/position_encodings/encodings", {448, 4}});
  floats.push_back({"decoder/layer_norm/gamma", {4}});
  floats.push_back({"decoder/layer_norm/beta", {4}});
  block("encoder/layer_0", false);
  block("decoder/layer_0", true);
  size_t n_vars = floats.size() + linears.size() * (int8 ? 3 : 2) + 2;
  w.u32(6).str("WhisperSpec").u32(3).u32(static_cast<uint32_t>(n_vars));
  for (const auto& [name, shape] : floats) w.var(name, shape, 0, 4, true);
  for (const auto& [name, shape] : linears) {
    if (int8) {
      w.var(name + "/weight", shape, 1, 1);  // bytes 0, 1, 2, ...: int8 values 0, 1, 2, ...
      w.str(name + "/weight_scale").u8(1).u32(shape[0]).u8(0).u32(4 * shape[0]);
      for (uint32_t r = 0; r < shape[0]; ++r) w.raw(&scale, 4);
    } else {
      w.var(name + "/weight", shape, 0, 4, true);
    }
    w.var(name + "/bias", {shape[0]}, 0, 4, true);
  }
  w.str("encoder/num_heads").u8(0).u8(2).u32(2).u16(2);
  w.str("decoder/num_heads").u8(0).u8(2).u32(2).u16(2);
  w.u32(0);
  return w.bytes();
}

TEST(Ct2Weights, Int8WeightsAreDequantisedWithTheirRowScale) {
  test::TempDir tmp;
  tmp.write("m/model.bin", fake_model(true, 4.0f));
  WhisperWeights w = read_weights((tmp / "m").string());
  // ffn/linear_0 holds bytes 0..63 as int8 values; CTranslate2's scale divides: value = q / 4.
  std::vector<float> fc1 = w.tensors.at("encoder.blocks.0.mlp.0.weight").to_f32();
  ASSERT_EQ(fc1.size(), 64u);
  for (size_t i = 0; i < fc1.size(); ++i) EXPECT_EQ(fc1[i], static_cast<float>(i) / 4.0f);
  // The value rows of the fused q/k/v come from rows 8..11 of the int8 block.
  EXPECT_EQ(w.tensors.at("encoder.blocks.0.attn.value.weight").to_f32()[0], 32.0f / 4.0f);
  EXPECT_EQ(w.tensors.at("encoder.blocks.0.attn.value.weight").dtype, DType::kF32);
}

TEST(Ct2Weights, ZeroScaleIsRefused) {
  test::TempDir tmp;
  tmp.write("m/model.bin", fake_model(true, 0.0f));
  EXPECT_NE(read_error((tmp / "m").string()).find("weight_scale holds an unusable scale"), std::string::npos);
}

TEST(Ct2Weights, FakeFloatModelPassesValidation) {
  test::TempDir tmp;
  tmp.write("m/model.bin", fake_model(false));
  WhisperWeights w = read_weights((tmp / "m").string());
  EXPECT_EQ(w.dims, (WhisperDims{80, 51864, 1500, 4, 2, 1, 448, 4, 2, 1}));
}

TEST(Ct2Weights, MissingVariableIsNamed) {
  test::TempDir tmp;
  std::string bytes = fake_model(false);
  // Rename the conv1 bias so that it is missing under its real name.
  auto at = bytes.find("encoder/conv1/bias");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 8] = 'X';
  tmp.write("m/model.bin", bytes);
  EXPECT_NE(read_error((tmp / "m").string()).find("model.bin: missing variable encoder/conv1/bias"), std::string::npos)
      << read_error((tmp / "m").string());
}

TEST(Ct2Weights, NotAWhisperSpec) {
  test::TempDir tmp;
  test::Ct2Writer w;
  w.u32(6).str("TransformerSpec").u32(1).u32(0).u32(0);
  tmp.write("m/model.bin", w.bytes());
  EXPECT_NE(read_error((tmp / "m").string()).find("holds a TransformerSpec model, not Whisper"), std::string::npos);
}

TEST(Ct2Weights, DirectoryWithoutWeightsIsNotAModel) {
  test::TempDir tmp;
  tmp.write("m/config.json", "{}");
  EXPECT_NE(read_error((tmp / "m").string()).find("not a Whisper model in a format this tool reads"), std::string::npos);
}

TEST(Ct2Weights, WriterNeedsATokenizer) {
  test::TempDir tmp;
  tmp.write("m/model.bin", fake_model(false));
  WhisperWeights w = read_weights((tmp / "m").string());
  try {
    write_weights(w, WeightFormat::kCt2, (tmp / "out").string());
    FAIL() << "wrote a CTranslate2 directory without a tokenizer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs a tokenizer"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(tmp / "out"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(tmp.path())) ++entries;
  EXPECT_EQ(entries, 1);  // only m/: no partial output left behind
}

TEST(HalfConversion, FloatToHalfRoundsToNearestEvenAndRoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (f != f) continue;  // NaN payloads need not survive
    ASSERT_EQ(float_to_half(f), h) << h;
  }
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // halfway between 1 and the next half: to even (1)
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);  // halfway, odd below: up
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);            // rounds past the largest half: inf
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0);     // half the smallest subnormal: to even (0)
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 1);
  EXPECT_EQ(float_to_bfloat16(1.0f + 1.0f / 256), 0x3f80);  // halfway: to even
  EXPECT_EQ(float_to_bfloat16(1.0f + 3.0f / 256), 0x3f82);
}

}  // namespace
}  // namespace wst::formats
