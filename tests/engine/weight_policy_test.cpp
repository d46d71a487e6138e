// Which weight type each part of a model gets for a compute type, per backend (model.h's WeightPolicy and
// Backend::fast_matrix_products): the CPU keeps the encoder in float32 under "float16" (it would widen half
// weights for every window), refuses "bfloat16" with a one-line error, and an unknown name is refused.
#include <gtest/gtest.h>

#include <vector>

#include "engine/backend.h"
#include "engine/model.h"
#include "formats/whisper_weights.h"
#include "util/errors.h"

namespace wst::engine {
namespace {

// A Whisper of toy size (every tensor the loader asks for), float16 values, as a CTranslate2 file would hold.
formats::WhisperWeights toy_model() {
  formats::WhisperWeights w;
  auto& d = w.dims;
  d.n_mels = 80;
  d.n_vocab = 51864;
  d.n_audio_ctx = 8;
  d.n_audio_state = 16;
  d.n_audio_head = 2;
  d.n_audio_layer = 1;
  d.n_text_ctx = 8;
  d.n_text_state = 16;
  d.n_text_head = 2;
  d.n_text_layer = 1;
  w.path = "toy";
  w.format = "test";
  for (const auto& [name, shape] : formats::expected_tensors(d)) {
    size_t n = 1;
    for (int64_t s : shape) n *= static_cast<size_t>(s);
    std::vector<uint8_t> bytes(2 * n);
    for (size_t i = 0; i < n; ++i) {
      const uint16_t h = 0x2000 + static_cast<uint16_t>(i % 512);  // small positive halves
      bytes[2 * i] = static_cast<uint8_t>(h & 0xff);
      bytes[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
    w.add_owned(name, shape, formats::DType::kF16, std::move(bytes));
  }
  return w;
}

TEST(WeightPolicy, CpuKeepsTheEncoderFloat32UnderFloat16) {
  auto cpu = make_cpu_backend(1);
  ASSERT_FALSE(cpu->fast_matrix_products(WeightType::float16));
  WhisperModel m = load_whisper(toy_model(), *cpu, weight_policy("float16"));
  EXPECT_EQ(m.encoder_layers[0].qkv.w.type, WeightType::float32);
  EXPECT_EQ(m.decoder_layers[0].cross_kv.w.type, WeightType::float32);
  EXPECT_EQ(m.decoder_layers[0].fc1.w.type, WeightType::float16);
  EXPECT_EQ(m.token_embedding.type, WeightType::float16);
  EXPECT_EQ(m.info.compute_dtype, "float16");
}

TEST(WeightPolicy, CpuRefusesBfloat16InOneLine) {
  auto cpu = make_cpu_backend(1);
  EXPECT_FALSE(cpu->supports(WeightType::bfloat16));
  try {
    load_whisper(toy_model(), *cpu, weight_policy("bfloat16"));
    FAIL() << "bfloat16 loaded on the CPU";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "compute type bfloat16: not supported by the cpu backend");
  }
}

TEST(WeightPolicy, NamesEveryTypeAndRefusesUnknownOnes) {
  EXPECT_EQ(weight_policy("bfloat16").encoder, WeightType::bfloat16);
  EXPECT_EQ(weight_policy("float16").encoder, WeightType::float16);
  EXPECT_EQ(weight_policy("int8").decoder, WeightType::int8);
  EXPECT_STREQ(weight_type_name(WeightType::bfloat16), "bfloat16");
  EXPECT_THROW(weight_policy("fp8"), Error);
}

}  // namespace
}  // namespace wst::engine
