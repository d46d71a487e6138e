// Loads a CTranslate2 Whisper directory (as faster-whisper uses) into the engine's model.
//
// The architecture is read from the tensors: n_mels and n_audio_state from encoder/conv1/weight
// [n_audio_state, n_mels, 3], n_audio_ctx from the encoder positions, layer counts from the layer_N names,
// head counts from encoder/num_heads and decoder/num_heads, n_vocab from the token embedding.
// CTranslate2 names: self_attention/linear_0 = fused q,k,v; linear_1 = out. Cross "attention": linear_0 = q,
// linear_1 = fused k,v, linear_2 = out. ffn/linear_0 = fc1, linear_1 = fc2. The output projection is an alias
// of the token embedding.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/model.h"
#include "formats/ct2_model.h"
#include "util/errors.h"
#include "util/half.h"
#include "util/mapped_file.h"

namespace wst::engine {
namespace {

namespace fs = std::filesystem;
using formats::Ct2DType;
using formats::Ct2Model;
using formats::Ct2Variable;

std::string shape_str(const std::vector<uint32_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

class Ct2Loader {
 public:
  Ct2Loader(const MappedFile& file, const Ct2Model& model, Backend& backend)
      : file_(file), model_(model), backend_(backend) {}

  const Ct2Variable& var(const std::string& name) const {
    const Ct2Variable* v = model_.find(name);
    if (!v) throw Error(file_.path() + ": missing variable " + name);
    return *v;
  }
  bool has(const std::string& name) const { return model_.find(name) != nullptr; }

  // Reads a variable as float32, checking its shape.
  std::vector<float> floats(const std::string& name, const std::vector<uint32_t>& expect) const {
    const Ct2Variable& v = var(name);
    if (v.shape != expect)
      throw Error(file_.path() + ": variable " + name + " has shape " + shape_str(v.shape) + ", expected " +
                  shape_str(expect));
    std::vector<float> out(v.n_elements());
    const uint8_t* src = file_.data() + v.offset;
    switch (v.dtype) {
      case Ct2DType::kFloat32: std::memcpy(out.data(), src, v.n_bytes); break;
      case Ct2DType::kFloat16: half_to_float_n(src, out.data(), out.size()); break;
      case Ct2DType::kBFloat16:
        for (size_t i = 0; i < out.size(); ++i) {
          uint16_t h;
          std::memcpy(&h, src + 2 * i, 2);
          out[i] = bfloat16_to_float(h);
        }
        break;
      default:
        throw Error(file_.path() + ": variable " + name + " is stored as " + formats::ct2_dtype_name(v.dtype) +
                    "; int8 models are not supported yet (TODO(#7)), use a float16 or float32 conversion");
    }
    for (float f : out)
      if (!std::isfinite(f)) throw Error(file_.path() + ": variable " + name + " holds a non-finite value");
    return out;
  }

  Mat mat(const std::string& name, int rows, int cols) const {
    std::vector<uint32_t> shape = rows == 1 ? std::vector<uint32_t>{static_cast<uint32_t>(cols)}
                                            : std::vector<uint32_t>{static_cast<uint32_t>(rows), static_cast<uint32_t>(cols)};
    auto f = floats(name, shape);
    return backend_.upload(f.data(), rows, cols);
  }

  int scalar_int(const std::string& name) const {
    const Ct2Variable& v = var(name);
    if (!v.shape.empty()) throw Error(file_.path() + ": variable " + name + " should be a scalar");
    const uint8_t* p = file_.data() + v.offset;
    switch (v.dtype) {
      case Ct2DType::kInt8: return static_cast<int8_t>(p[0]);
      case Ct2DType::kInt16: { int16_t x; std::memcpy(&x, p, 2); return x; }
      case Ct2DType::kInt32: { int32_t x; std::memcpy(&x, p, 4); return x; }
      default: throw Error(file_.path() + ": variable " + name + " should be an integer scalar");
    }
  }

  LayerNormWeights layer_norm(const std::string& prefix, int n) const {
    return {mat(prefix + "/gamma", 1, n), mat(prefix + "/beta", 1, n)};
  }

  LinearWeights linear(const std::string& prefix, int n_out, int n_in) const {
    LinearWeights l;
    if (has(prefix + "/weight_scale"))
      throw Error(file_.path() + ": " + prefix + " is quantised (int8); int8 models are not supported yet (TODO(#7))");
    l.w = mat(prefix + "/weight", n_out, n_in);
    if (has(prefix + "/bias")) l.b = mat(prefix + "/bias", 1, n_out);
    return l;
  }

  // Conv weights [c_out, c_in, 3] reordered to [c_out, 3 * c_in] (column k * c_in + c) for im2col.
  Mat conv(const std::string& name, int c_out, int c_in) const {
    auto f = floats(name, {static_cast<uint32_t>(c_out), static_cast<uint32_t>(c_in), 3});
    std::vector<float> r(f.size());
    for (int o = 0; o < c_out; ++o)
      for (int c = 0; c < c_in; ++c)
        for (int k = 0; k < 3; ++k)
          r[(static_cast<size_t>(o) * 3 + k) * c_in + c] = f[(static_cast<size_t>(o) * c_in + c) * 3 + k];
    return backend_.upload(r.data(), c_out, 3 * c_in);
  }

  // A block's feed-forward part: ffn/layer_norm, ffn/linear_0 (fc1) and ffn/linear_1 (fc2); the hidden size
  // is read from fc1 (4 * n_state in every Whisper, but the file says).
  void mlp(const std::string& p, int n_state, LayerNormWeights& ln, LinearWeights& fc1, LinearWeights& fc2) const {
    ln = layer_norm(p + "/ffn/layer_norm", n_state);
    const Ct2Variable& w1 = var(p + "/ffn/linear_0/weight");
    const int n_mlp = w1.shape.empty() ? 0 : w1.shape[0];
    fc1 = linear(p + "/ffn/linear_0", n_mlp, n_state);
    fc2 = linear(p + "/ffn/linear_1", n_state, n_mlp);
  }

  int count_layers(const std::string& prefix) const {
    int n = 0;
    while (has(prefix + "/layer_" + std::to_string(n) + "/ffn/linear_0/weight")) ++n;
    return n;
  }

 private:
  const MappedFile& file_;
  const Ct2Model& model_;
  Backend& backend_;
};

std::vector<int> int_list(const nlohmann::json& j, const char* key, const std::string& path) {
  std::vector<int> out;
  if (!j.contains(key)) return out;
  if (!j[key].is_array()) throw Error(path + ": \"" + key + "\" should be a list of token ids");
  for (const auto& x : j[key]) {
    if (!x.is_number_integer()) throw Error(path + ": \"" + key + "\" should be a list of token ids");
    out.push_back(x.get<int>());
  }
  return out;
}

ModelConfig read_config(const std::string& path, const ModelInfo& info) {
  ModelConfig c;
  std::ifstream in(path);
  if (!in) throw Error(path + ": missing (a CTranslate2 model directory needs config.json)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object()) throw Error(path + ": not a JSON object");
  c.suppress_ids = int_list(j, "suppress_ids", path);
  c.suppress_ids_begin = int_list(j, "suppress_ids_begin", path);
  c.lang_ids = int_list(j, "lang_ids", path);
  for (const auto* list : {&c.suppress_ids, &c.suppress_ids_begin, &c.lang_ids})
    for (int id : *list)
      if (id < 0 || id >= info.n_vocab)
        throw Error(path + ": token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                    std::to_string(info.n_vocab) + " (config.json disagrees with model.bin)");
  if (j.contains("alignment_heads")) {
    for (const auto& p : j["alignment_heads"]) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number_integer())
        throw Error(path + ": \"alignment_heads\" should be a list of [layer, head] pairs");
      int layer = p[0], head = p[1];
      if (layer < 0 || layer >= info.n_text_layer || head < 0 || head >= info.n_text_head)
        throw Error(path + ": alignment head [" + std::to_string(layer) + ", " + std::to_string(head) +
                    "] does not exist in a decoder of " + std::to_string(info.n_text_layer) + " layers x " +
                    std::to_string(info.n_text_head) + " heads (config.json disagrees with model.bin)");
      c.alignment_heads.emplace_back(layer, head);
    }
  }
  return c;
}

}  // namespace

WhisperModel load_ct2_whisper(const std::string& dir, Backend& backend) {
  if (!fs::exists(dir)) throw Error(dir + ": model path does not exist");
  if (!fs::is_directory(dir)) throw Error(dir + ": not a model directory (expected model.bin, config.json, tokenizer.json)");
  const std::string bin_path = (fs::path(dir) / "model.bin").string();
  if (!fs::exists(bin_path)) throw Error(bin_path + ": missing (not a CTranslate2 model directory)");

  MappedFile file(bin_path);
  Ct2Model ct2 = formats::parse_ct2_model(file.data(), file.size(), bin_path);
  if (ct2.spec_name != "WhisperSpec")
    throw Error(bin_path + ": holds a " + (ct2.spec_name.empty() ? std::string("unnamed") : ct2.spec_name) +
                " model, not Whisper");
  Ct2Loader ld(file, ct2, backend);

  WhisperModel m;
  ModelInfo& h = m.info;
  const Ct2Variable& conv1 = ld.var("encoder/conv1/weight");
  if (conv1.shape.size() != 3 || conv1.shape[2] != 3)
    throw Error(bin_path + ": encoder/conv1/weight has shape " + shape_str(conv1.shape) + ", expected [n_state, n_mels, 3]");
  h.n_audio_state = conv1.shape[0];
  h.n_mels = conv1.shape[1];
  const Ct2Variable& epos = ld.var("encoder/position_encodings/encodings");
  if (epos.shape.size() != 2) throw Error(bin_path + ": encoder positions should be 2-D");
  h.n_audio_ctx = epos.shape[0];
  h.n_audio_layer = ld.count_layers("encoder");
  h.n_audio_head = ld.scalar_int("encoder/num_heads");
  const Ct2Variable& emb = ld.var("decoder/embeddings/weight");
  if (emb.shape.size() != 2) throw Error(bin_path + ": decoder/embeddings/weight should be 2-D");
  h.n_vocab = emb.shape[0];
  h.n_text_state = emb.shape[1];
  const Ct2Variable& dpos = ld.var("decoder/position_encodings/encodings");
  if (dpos.shape.size() != 2) throw Error(bin_path + ": decoder positions should be 2-D");
  h.n_text_ctx = dpos.shape[0];
  h.n_text_layer = ld.count_layers("decoder");
  h.n_text_head = ld.scalar_int("decoder/num_heads");
  h.multilingual = h.n_vocab >= 51865;
  h.path = dir;
  h.format = "ctranslate2";
  h.stored_dtype = formats::ct2_dtype_name(emb.dtype);
  h.compute_dtype = "float32";
  h.backend = backend.name();
  if (h.n_audio_layer == 0 || h.n_text_layer == 0 || h.n_audio_head <= 0 || h.n_text_head <= 0 ||
      h.n_audio_state % h.n_audio_head != 0 || h.n_text_state % h.n_text_head != 0 || (h.n_mels != 80 && h.n_mels != 128))
    throw Error(bin_path + ": not a Whisper architecture (" + std::to_string(h.n_audio_layer) + " encoder layers, " +
                std::to_string(h.n_audio_head) + " heads, " + std::to_string(h.n_mels) + " mel bins)");

  const int da = h.n_audio_state, dt = h.n_text_state;
  m.conv1_w = ld.conv("encoder/conv1/weight", da, h.n_mels);
  m.conv1_b = ld.mat("encoder/conv1/bias", 1, da);
  m.conv2_w = ld.conv("encoder/conv2/weight", da, da);
  m.conv2_b = ld.mat("encoder/conv2/bias", 1, da);
  m.encoder_pos = ld.mat("encoder/position_encodings/encodings", h.n_audio_ctx, da);
  for (int i = 0; i < h.n_audio_layer; ++i) {
    const std::string p = "encoder/layer_" + std::to_string(i);
    EncoderLayerWeights l;
    l.attn_ln = ld.layer_norm(p + "/self_attention/layer_norm", da);
    l.qkv = ld.linear(p + "/self_attention/linear_0", 3 * da, da);
    l.attn_out = ld.linear(p + "/self_attention/linear_1", da, da);
    ld.mlp(p, da, l.mlp_ln, l.fc1, l.fc2);
    m.encoder_layers.push_back(std::move(l));
  }
  m.encoder_ln = ld.layer_norm("encoder/layer_norm", da);

  m.token_embedding = ld.mat("decoder/embeddings/weight", h.n_vocab, dt);
  m.decoder_pos = ld.mat("decoder/position_encodings/encodings", h.n_text_ctx, dt);
  for (int i = 0; i < h.n_text_layer; ++i) {
    const std::string p = "decoder/layer_" + std::to_string(i);
    DecoderLayerWeights l;
    l.attn_ln = ld.layer_norm(p + "/self_attention/layer_norm", dt);
    l.qkv = ld.linear(p + "/self_attention/linear_0", 3 * dt, dt);
    l.attn_out = ld.linear(p + "/self_attention/linear_1", dt, dt);
    l.cross_ln = ld.layer_norm(p + "/attention/layer_norm", dt);
    l.cross_q = ld.linear(p + "/attention/linear_0", dt, dt);
    l.cross_kv = ld.linear(p + "/attention/linear_1", 2 * dt, da);
    l.cross_out = ld.linear(p + "/attention/linear_2", dt, dt);
    ld.mlp(p, dt, l.mlp_ln, l.fc1, l.fc2);
    m.decoder_layers.push_back(std::move(l));
  }
  m.decoder_ln = ld.layer_norm("decoder/layer_norm", dt);
  // The output projection must be the token embedding (Whisper ties them).
  if (ld.has("decoder/projection/weight") && &ld.var("decoder/projection/weight") != &emb)
    throw Error(bin_path + ": decoder/projection/weight is not tied to the token embedding; not a Whisper model");

  m.config = read_config((fs::path(dir) / "config.json").string(), h);
  return m;
}

}  // namespace wst::engine
