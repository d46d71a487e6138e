// Places a model's weights (any format, read into formats::WhisperWeights) on a backend in the engine's
// layout: the compute type's weight types (model.h's WeightPolicy), q/k/v fused into one [3 n, n] product (the key's bias is zero), the cross-attention's
// k/v fused into one [2 n, n_audio] product computed once per window, conv weights reordered for im2col.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "engine/model.h"
#include "formats/weight_io.h"
#include "util/errors.h"

namespace wst::engine {
namespace {

using formats::TensorRef;
using formats::WhisperWeights;

class Placer {
 public:
  Placer(const WhisperWeights& w, Backend& backend) : w_(w), be_(backend) {}

  // The weight type of decoder tensors `names` under `policy`.
  WeightType decoder_type(const WeightPolicy& policy, const std::vector<std::string>& names,
                          WeightType wanted) const {
    if (!policy.decoder_only_if_stored_f16) return wanted;
    if (!be_.supports(wanted)) return WeightType::float32;  // the same values, widened
    for (const auto& n : names)
      if (w_.tensors.at(n).dtype != formats::DType::kF16) return WeightType::float32;
    return wanted;
  }
  Weights weights(const std::string& name, int rows, int cols, WeightType type) const {
    const formats::TensorRef& t = w_.get(name, {rows, cols});
    if (t.dtype == formats::DType::kF16) {
      // Stored half: straight to the backend, without a float32 copy of the tensor.
      const size_t n = static_cast<size_t>(rows) * cols;
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        if ((h & 0x7c00u) == 0x7c00u) throw Error(w_.path + ": tensor " + name + " holds a non-finite value");
      }
      std::vector<uint16_t> aligned;
      const uint16_t* src = reinterpret_cast<const uint16_t*>(t.data);
      if (reinterpret_cast<uintptr_t>(t.data) % alignof(uint16_t) != 0) {
        aligned.resize(n);
        std::memcpy(aligned.data(), t.data, n * 2);
        src = aligned.data();
      }
      return be_.upload_weights_f16(src, rows, cols, type);
    }
    auto f = floats(name, {rows, cols});
    return be_.upload_weights(f.data(), rows, cols, type);
  }

  std::vector<float> floats(const std::string& name, const std::vector<int64_t>& shape) const {
    std::vector<float> f = w_.get(name, shape).to_f32();
    for (float x : f)
      if (!std::isfinite(x)) throw Error(w_.path + ": tensor " + name + " holds a non-finite value");
    return f;
  }
  Mat mat(const std::string& name, int rows, int cols) const {
    auto f = floats(name, rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols});
    return be_.upload(f.data(), rows, cols);
  }
  LayerNormWeights layer_norm(const std::string& p, int n) const { return {mat(p + ".weight", 1, n), mat(p + ".bias", 1, n)}; }
  LinearWeights linear(const std::string& p, int n_out, int n_in, WeightType type) const {
    return {weights(p + ".weight", n_out, n_in, type), mat(p + ".bias", 1, n_out)};
  }
  // Projections stacked by rows; a part without a bias (the key) gets zeros.
  LinearWeights stacked(const std::string& p, const std::vector<std::string>& parts, int n, int n_in,
                        WeightType type) const {
    std::vector<float> wv, bv;
    for (const auto& part : parts) {
      auto f = floats(p + "." + part + ".weight", {n, n_in});
      wv.insert(wv.end(), f.begin(), f.end());
      if (w_.has(p + "." + part + ".bias")) {
        auto b = floats(p + "." + part + ".bias", {n});
        bv.insert(bv.end(), b.begin(), b.end());
      } else {
        bv.insert(bv.end(), n, 0.0f);
      }
    }
    const int rows = n * static_cast<int>(parts.size());
    return {be_.upload_weights(wv.data(), rows, n_in, type), be_.upload(bv.data(), 1, rows)};
  }
  // Conv weights [c_out, c_in, 3] reordered to [c_out, 3 * c_in] (column k * c_in + c) for im2col.
  Mat conv(const std::string& name, int c_out, int c_in) const {
    auto f = floats(name, {c_out, c_in, 3});
    std::vector<float> r(f.size());
    for (int o = 0; o < c_out; ++o)
      for (int c = 0; c < c_in; ++c)
        for (int k = 0; k < 3; ++k)
          r[(static_cast<size_t>(o) * 3 + k) * c_in + c] = f[(static_cast<size_t>(o) * c_in + c) * 3 + k];
    return be_.upload(r.data(), c_out, 3 * c_in);
  }
  void mlp(const std::string& p, int n, LayerNormWeights& ln, LinearWeights& fc1, LinearWeights& fc2,
           WeightType type) const {
    ln = layer_norm(p + ".mlp_ln", n);
    fc1 = linear(p + ".mlp.0", 4 * n, n, type);
    fc2 = linear(p + ".mlp.2", n, 4 * n, type);
  }

 private:
  const WhisperWeights& w_;
  Backend& be_;
};

}  // namespace

WeightPolicy weight_policy(const std::string& compute_type) {
  WeightPolicy p;
  p.compute_type = compute_type;
  if (compute_type == "float32") {
    p.decoder = p.embedding = WeightType::float16;
    p.decoder_only_if_stored_f16 = true;
  } else if (compute_type == "float16") {
    p.encoder = p.decoder = p.embedding = WeightType::float16;
  } else if (compute_type == "bfloat16") {
    p.encoder = p.decoder = p.embedding = WeightType::bfloat16;
  } else if (compute_type == "int8") {
    p.encoder = p.decoder = WeightType::int8;
    p.embedding = WeightType::float16;
  } else {
    throw Error("compute type \"" + compute_type + "\": unknown (expected float32, float16, bfloat16 or int8)");
  }
  return p;
}

WhisperModel load_whisper(const formats::WhisperWeights& w, Backend& backend, const WeightPolicy& policy) {
  w.validate();
  const formats::WhisperDims& d = w.dims;
  WhisperModel m;
  ModelInfo& h = m.info;
  h.n_mels = d.n_mels;
  h.n_vocab = d.n_vocab;
  h.n_audio_ctx = d.n_audio_ctx;
  h.n_audio_state = d.n_audio_state;
  h.n_audio_head = d.n_audio_head;
  h.n_audio_layer = d.n_audio_layer;
  h.n_text_ctx = d.n_text_ctx;
  h.n_text_state = d.n_text_state;
  h.n_text_head = d.n_text_head;
  h.n_text_layer = d.n_text_layer;
  h.multilingual = h.n_vocab >= 51865;
  h.path = w.path;
  h.format = w.format;
  h.stored_dtype = formats::dtype_name(w.tensors.at("decoder.token_embedding.weight").dtype);
  h.compute_dtype = policy.compute_type;
  h.backend = backend.name();

  if (!backend.supports(policy.encoder) ||
      (!policy.decoder_only_if_stored_f16 && !(backend.supports(policy.decoder) && backend.supports(policy.embedding))))
    throw Error("compute type " + policy.compute_type + ": not supported by the " + backend.name() + " backend");
  Placer p(w, backend);
  // Half-precision encoder weights only where the backend multiplies them fast; elsewhere the same products in
  // float32 (the CPU would widen them again for every window).
  WeightType enc = policy.encoder;
  if ((enc == WeightType::float16 || enc == WeightType::bfloat16) && !backend.fast_matrix_products(enc))
    enc = WeightType::float32;
  const int da = h.n_audio_state, dt = h.n_text_state;
  m.conv1_w = p.conv("encoder.conv1.weight", da, h.n_mels);
  m.conv1_b = p.mat("encoder.conv1.bias", 1, da);
  m.conv2_w = p.conv("encoder.conv2.weight", da, da);
  m.conv2_b = p.mat("encoder.conv2.bias", 1, da);
  m.encoder_pos = p.mat("encoder.positional_embedding", h.n_audio_ctx, da);
  for (int i = 0; i < h.n_audio_layer; ++i) {
    const std::string b = "encoder.blocks." + std::to_string(i);
    EncoderLayerWeights l;
    l.attn_ln = p.layer_norm(b + ".attn_ln", da);
    l.qkv = p.stacked(b + ".attn", {"query", "key", "value"}, da, da, enc);
    l.attn_out = p.linear(b + ".attn.out", da, da, enc);
    p.mlp(b, da, l.mlp_ln, l.fc1, l.fc2, enc);
    m.encoder_layers.push_back(std::move(l));
  }
  m.encoder_ln = p.layer_norm("encoder.ln_post", da);

  m.token_embedding = p.weights("decoder.token_embedding.weight", h.n_vocab, dt,
                                p.decoder_type(policy, {"decoder.token_embedding.weight"}, policy.embedding));
  m.decoder_pos = p.mat("decoder.positional_embedding", h.n_text_ctx, dt);
  for (int i = 0; i < h.n_text_layer; ++i) {
    const std::string b = "decoder.blocks." + std::to_string(i);
    DecoderLayerWeights l;
    l.attn_ln = p.layer_norm(b + ".attn_ln", dt);
    const WeightType dec = p.decoder_type(policy, {b + ".attn.query.weight", b + ".mlp.0.weight"}, policy.decoder);
    l.qkv = p.stacked(b + ".attn", {"query", "key", "value"}, dt, dt, dec);
    l.attn_out = p.linear(b + ".attn.out", dt, dt, dec);
    l.cross_ln = p.layer_norm(b + ".cross_attn_ln", dt);
    l.cross_q = p.linear(b + ".cross_attn.query", dt, dt, dec);
    // Multiplied by the whole window's encoder output once per window: a matrix product, as the encoder's.
    l.cross_kv = p.stacked(b + ".cross_attn", {"key", "value"}, dt, da, enc);
    l.cross_out = p.linear(b + ".cross_attn.out", dt, dt, dec);
    p.mlp(b, dt, l.mlp_ln, l.fc1, l.fc2, dec);
    m.decoder_layers.push_back(std::move(l));
  }
  m.decoder_ln = p.layer_norm("decoder.ln", dt);

  for (auto [layer, head] : w.alignment_heads)
    if (layer < 0 || layer >= h.n_text_layer || head < 0 || head >= h.n_text_head)
      throw Error(w.path + ": alignment head [" + std::to_string(layer) + ", " + std::to_string(head) +
                  "] does not exist in a decoder of " + std::to_string(h.n_text_layer) + " layers x " +
                  std::to_string(h.n_text_head) + " heads");
  m.alignment_heads = w.alignment_heads;
  return m;
}

WhisperModel load_model_files(const std::string& path, Backend& backend, const WeightPolicy& policy) {
  return load_whisper(formats::read_weights(path), backend, policy);
}

}  // namespace wst::engine
