// The transformers and MLX name tables: every OpenAI name maps to one other name and back.
#include "formats/weight_names.h"

#include <gtest/gtest.h>

#include <set>

#include "support/synthetic_weights.h"

namespace wst::formats {
namespace {

TEST(WeightNames, EveryOpenaiNameMapsToTransformersAndBack) {
  WhisperDims d = test::tiny_dims();
  d.n_audio_layer = 12;  // two-digit layer indices
  std::set<std::string> seen;
  for (const auto& [name, shape] : expected_tensors(d)) {
    auto hf = openai_to_hf(name);
    ASSERT_TRUE(hf) << name;
    EXPECT_EQ(hf->rfind("model.", 0), 0u) << *hf;
    EXPECT_TRUE(seen.insert(*hf).second) << "two names map to " << *hf;
    EXPECT_EQ(hf_to_openai(*hf), name);
    EXPECT_EQ(mlx_to_openai(openai_to_mlx(name)), name);
  }
}

TEST(WeightNames, TransformersNamesAsTheHubHasThem) {
  EXPECT_EQ(openai_to_hf("encoder.blocks.11.attn.key.weight"), "model.encoder.layers.11.self_attn.k_proj.weight");
  EXPECT_EQ(openai_to_hf("decoder.blocks.0.cross_attn.out.bias"), "model.decoder.layers.0.encoder_attn.out_proj.bias");
  EXPECT_EQ(openai_to_hf("decoder.blocks.3.cross_attn_ln.weight"), "model.decoder.layers.3.encoder_attn_layer_norm.weight");
  EXPECT_EQ(openai_to_hf("encoder.blocks.1.mlp.2.bias"), "model.encoder.layers.1.fc2.bias");
  EXPECT_EQ(openai_to_hf("encoder.blocks.1.mlp_ln.bias"), "model.encoder.layers.1.final_layer_norm.bias");
  EXPECT_EQ(openai_to_hf("encoder.positional_embedding"), "model.encoder.embed_positions.weight");
  EXPECT_EQ(openai_to_hf("decoder.token_embedding.weight"), "model.decoder.embed_tokens.weight");
  EXPECT_EQ(openai_to_hf("encoder.ln_post.bias"), "model.encoder.layer_norm.bias");
  EXPECT_EQ(hf_to_openai("model.decoder.layer_norm.weight"), "decoder.ln.weight");
  EXPECT_EQ(openai_to_mlx("decoder.blocks.2.mlp.0.weight"), "decoder.blocks.2.mlp1.weight");
}

TEST(WeightNames, NamesOutsideWhisperHaveNoMapping) {
  for (const char* n : {"proj_out.weight", "model.encoder.layers.x.fc1.weight", "model.encoder.layers.01.fc1.weight",
                        "model.encoder.layers.1.fc1.scales", "model.encoder.conv1.weight.extra", "model.decoder.embed_tokens",
                        "model.encoder.layers.1.fc1.", ""})
    EXPECT_FALSE(hf_to_openai(n)) << n;
  EXPECT_FALSE(openai_to_hf("encoder.blocks.0.attn.key.bias.x"));
}

}  // namespace
}  // namespace wst::formats
