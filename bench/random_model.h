// Whisper models with random weights of the real shapes, for speed measurements (speed does not depend on
// the values). Architectures as openai-whisper's ModelDimensions for each size.
#pragma once

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/model.h"

namespace wst::bench_support {

inline ModelInfo architecture(const std::string& name) {
  ModelInfo h;
  struct Dims { const char* name; int n_mels, n_vocab, state, head, enc_layers, dec_layers; };
  static const Dims kDims[] = {
      {"tiny.en", 80, 51864, 384, 6, 4, 4},       {"tiny", 80, 51865, 384, 6, 4, 4},
      {"base.en", 80, 51864, 512, 8, 6, 6},       {"base", 80, 51865, 512, 8, 6, 6},
      {"small.en", 80, 51864, 768, 12, 12, 12},   {"small", 80, 51865, 768, 12, 12, 12},
      {"medium", 80, 51865, 1024, 16, 24, 24},    {"large-v3", 128, 51866, 1280, 20, 32, 32},
      {"large-v3-turbo", 128, 51866, 1280, 20, 32, 4},
  };
  for (const auto& d : kDims) {
    if (name != d.name) continue;
    h.n_mels = d.n_mels;
    h.n_vocab = d.n_vocab;
    h.n_audio_state = h.n_text_state = d.state;
    h.n_audio_head = h.n_text_head = d.head;
    h.n_audio_layer = d.enc_layers;
    h.n_text_layer = d.dec_layers;
    h.multilingual = d.n_vocab >= 51865;
    return h;
  }
  throw std::invalid_argument("unknown architecture " + name);
}

// Weight types as model_load.cpp's WeightPolicy for `compute_type` ("float32": the decoder's weights float16, as
// from a float16 file, where the backend keeps float16; "float32-only": every weight float32; "int8").
inline engine::WhisperModel random_model(const std::string& name, engine::Backend& be, uint32_t seed = 1,
                                         const std::string& compute_type = "float32") {
  // (Spelled out rather than through engine::weight_policy, which lives with the format readers: the GPU
  // machine's nvcc-only build of tools/cuda includes this header without them.)
  using engine::WeightType;
  WeightType enc = WeightType::float32, dec = WeightType::float32, emb = WeightType::float32;
  if (compute_type == "float32") {
    dec = emb = WeightType::float16;
  } else if (compute_type == "int8") {
    enc = dec = WeightType::int8;
    emb = WeightType::float16;
  } else if (compute_type != "float32-only") {
    throw std::invalid_argument("unknown compute type " + compute_type);
  }
  if (!be.supports(dec)) dec = WeightType::float32;
  if (!be.supports(emb)) emb = WeightType::float32;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  auto values = [&](int rows, int cols) {
    std::vector<float> v(static_cast<size_t>(rows) * cols);
    for (auto& x : v) x = dist(rng);
    return v;
  };
  auto mat = [&](int rows, int cols) { return be.upload(values(rows, cols).data(), rows, cols); };
  auto weights = [&](int rows, int cols, engine::WeightType t) {
    return be.upload_weights(values(rows, cols).data(), rows, cols, t);
  };
  auto ones = [&](int n) {
    std::vector<float> v(n, 1.0f);
    return be.upload(v.data(), 1, n);
  };
  auto ln = [&](int n) { return engine::LayerNormWeights{ones(n), mat(1, n)}; };
  auto lin = [&](int out, int in, engine::WeightType t) { return engine::LinearWeights{weights(out, in, t), mat(1, out)}; };
  engine::WhisperModel m;
  m.info = architecture(name);
  const ModelInfo& h = m.info;
  const int da = h.n_audio_state, dt = h.n_text_state;
  m.conv1_w = mat(da, 3 * h.n_mels);
  m.conv1_b = mat(1, da);
  m.conv2_w = mat(da, 3 * da);
  m.conv2_b = mat(1, da);
  m.encoder_pos = mat(h.n_audio_ctx, da);
  for (int i = 0; i < h.n_audio_layer; ++i)
    m.encoder_layers.push_back(
        {ln(da), lin(3 * da, da, enc), lin(da, da, enc), ln(da), lin(4 * da, da, enc), lin(da, 4 * da, enc)});
  m.encoder_ln = ln(da);
  m.token_embedding = weights(h.n_vocab, dt, emb);
  m.decoder_pos = mat(h.n_text_ctx, dt);
  for (int i = 0; i < h.n_text_layer; ++i)
    m.decoder_layers.push_back({ln(dt), lin(3 * dt, dt, dec), lin(dt, dt, dec), ln(dt), lin(dt, dt, dec),
                                lin(2 * dt, da, enc), lin(dt, dt, dec), ln(dt), lin(4 * dt, dt, dec),
                                lin(dt, 4 * dt, dec)});
  m.decoder_ln = ln(dt);
  return m;
}

}  // namespace wst::bench_support
