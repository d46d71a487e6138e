// CTranslate2 Whisper directory (model.bin, config.json, tokenizer.json, vocabulary.*) <-> WhisperWeights.
//
// CTranslate2 names: self_attention/linear_0 = fused q,k,v rows; linear_1 = out. Cross "attention": linear_0 =
// q, linear_1 = fused k,v rows, linear_2 = out. ffn/linear_0 = mlp.0, linear_1 = mlp.2. Layer norms are
// gamma/beta. The key rows of a fused bias are zero (Whisper's key has no bias). The output projection is an
// alias of the token embedding. int8 models (weight + weight_scale per output row) are dequantised on read.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "formats/ct2_model.h"
#include "formats/weight_io.h"
#include "util/errors.h"
#include "util/half.h"
#include "util/mapped_file.h"

namespace wst::formats {
namespace {
namespace fs = std::filesystem;

std::vector<int64_t> shape64(const std::vector<uint32_t>& s) { return {s.begin(), s.end()}; }

class Ct2Reader {
 public:
  Ct2Reader(std::shared_ptr<MappedFile> file, Ct2Model model, WhisperWeights& w)
      : file_(std::move(file)), model_(std::move(model)), w_(w) {}

  const Ct2Variable& var(const std::string& name) const {
    const Ct2Variable* v = model_.find(name);
    if (!v) throw Error(file_->path() + ": missing variable " + name);
    return *v;
  }
  bool has(const std::string& name) const { return model_.find(name) != nullptr; }

  int scalar_int(const std::string& name) const {
    const Ct2Variable& v = var(name);
    if (!v.shape.empty()) throw Error(file_->path() + ": variable " + name + " should be a scalar");
    const uint8_t* p = file_->data() + v.offset;
    switch (v.dtype) {
      case Ct2DType::kInt8: return static_cast<int8_t>(p[0]);
      case Ct2DType::kInt16: { int16_t x; std::memcpy(&x, p, 2); return x; }
      case Ct2DType::kInt32: { int32_t x; std::memcpy(&x, p, 4); return x; }
      default: throw Error(file_->path() + ": variable " + name + " should be an integer scalar");
    }
  }

  // Rows [r0, r0 + n) of a float variable (all of it when n < 0) as the tensor `name`, a view into the file.
  void rows(const std::string& ct2_name, const std::string& name, int64_t r0 = 0, int64_t n = -1) {
    const Ct2Variable& v = var(ct2_name);
    std::vector<int64_t> shape = shape64(v.shape);
    if (shape.empty()) throw Error(file_->path() + ": variable " + ct2_name + " should not be a scalar");
    if (n < 0) n = shape[0];
    if (r0 + n > shape[0])
      throw Error(file_->path() + ": variable " + ct2_name + " has " + std::to_string(shape[0]) + " rows, expected at least " +
                  std::to_string(r0 + n));
    size_t row_bytes = v.n_bytes / static_cast<size_t>(shape[0] ? shape[0] : 1);
    shape[0] = n;
    if (v.dtype == Ct2DType::kInt8) return dequantised(ct2_name, name, v, r0, n, shape);
    DType dt;
    switch (v.dtype) {
      case Ct2DType::kFloat32: dt = DType::kF32; break;
      case Ct2DType::kFloat16: dt = DType::kF16; break;
      case Ct2DType::kBFloat16: dt = DType::kBF16; break;
      default: throw Error(file_->path() + ": variable " + ct2_name + " is stored as " + ct2_dtype_name(v.dtype) + ", not a float type");
    }
    w_.add_view(name, shape, dt, file_->data() + v.offset + row_bytes * r0, row_bytes * n);
  }

  // A linear layer's weight (and bias, when there is one) into OpenAI names.
  void linear(const std::string& ct2, const std::string& name, int64_t r0 = 0, int64_t n = -1, bool bias = true) {
    rows(ct2 + "/weight", name + ".weight", r0, n);
    if (bias && has(ct2 + "/bias")) rows(ct2 + "/bias", name + ".bias", r0, n);
  }
  void layer_norm(const std::string& ct2, const std::string& name) {
    rows(ct2 + "/gamma", name + ".weight");
    rows(ct2 + "/beta", name + ".bias");
  }
  // A fused [q; k; v] or [k; v] block split into OpenAI's separate projections; the key's bias rows must be zero.
  void fused(const std::string& ct2, const std::string& prefix, const std::vector<std::string>& parts, int64_t n) {
    for (size_t i = 0; i < parts.size(); ++i) linear(ct2, prefix + "." + parts[i], static_cast<int64_t>(i) * n, n, parts[i] != "key");
    if (!has(ct2 + "/bias")) return;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i] != "key") continue;
      TensorRef key_bias;
      const Ct2Variable& b = var(ct2 + "/bias");
      if (b.shape.size() != 1 || (b.dtype != Ct2DType::kFloat32 && b.dtype != Ct2DType::kFloat16 && b.dtype != Ct2DType::kBFloat16) || static_cast<int64_t>(b.shape[0]) < (static_cast<int64_t>(i) + 1) * n)
        throw Error(file_->path() + ": " + ct2 + "/bias has the wrong shape or type");
      const size_t esize = ct2_dtype_size(b.dtype);
      key_bias.shape = {n};
      key_bias.dtype = b.dtype == Ct2DType::kFloat32 ? DType::kF32 : b.dtype == Ct2DType::kFloat16 ? DType::kF16 : DType::kBF16;
      key_bias.data = file_->data() + b.offset + esize * i * n;
      key_bias.n_bytes = esize * n;
      for (float f : key_bias.to_f32())
        if (f != 0) throw Error(file_->path() + ": " + ct2 + "/bias has a non-zero key bias; not a Whisper model");
    }
  }
  int count_layers(const std::string& prefix) const {
    int n = 0;
    while (has(prefix + "/layer_" + std::to_string(n) + "/ffn/linear_0/weight")) ++n;
    return n;
  }

 private:
  // int8 rows with one float scale per row: value = q / scale (CTranslate2's convention).
  void dequantised(const std::string& ct2_name, const std::string& name, const Ct2Variable& v, int64_t r0, int64_t n,
                   const std::vector<int64_t>& shape) {
    const std::string scale_name = ct2_name.substr(0, ct2_name.rfind('/')) + "/weight_scale";
    const Ct2Variable& s = var(scale_name);
    if (s.shape.size() != 1 || s.shape[0] != v.shape[0] || s.dtype != Ct2DType::kFloat32)
      throw Error(file_->path() + ": " + scale_name + " should be float32 [" + std::to_string(v.shape[0]) + "]");
    const size_t cols = v.n_elements() / v.shape[0];
    std::vector<float> out(static_cast<size_t>(n) * cols);
    for (int64_t r = 0; r < n; ++r) {
      float scale;
      std::memcpy(&scale, file_->data() + s.offset + 4 * (r0 + r), 4);
      if (!std::isfinite(scale) || scale == 0) throw Error(file_->path() + ": " + scale_name + " holds an unusable scale");
      const int8_t* q = reinterpret_cast<const int8_t*>(file_->data() + v.offset) + (r0 + r) * cols;
      for (size_t c = 0; c < cols; ++c) out[r * cols + c] = q[c] / scale;
    }
    std::vector<uint8_t> bytes(out.size() * 4);
    std::memcpy(bytes.data(), out.data(), bytes.size());
    w_.add_owned(name, shape, DType::kF32, std::move(bytes));
  }

  std::shared_ptr<MappedFile> file_;
  Ct2Model model_;
  WhisperWeights& w_;
};

// config.json's alignment heads, after checking every token id and head it names against the weights: a
// config.json from another model is refused here, naming the file.
std::vector<std::pair<int, int>> checked_config(const std::string& config_path, const WhisperDims& d) {
  std::vector<std::pair<int, int>> heads;
  std::ifstream in(config_path);
  if (!in) return heads;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(config_path + ": not valid JSON");
  for (const char* key : {"suppress_ids", "suppress_ids_begin", "lang_ids"}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_array()) throw Error(config_path + ": \"" + key + "\" should be a list of token ids");
    for (const auto& id : j[key]) {
      if (!id.is_number_integer()) throw Error(config_path + ": \"" + key + "\" should be a list of token ids");
      if (id.get<int64_t>() < 0 || id.get<int64_t>() >= d.n_vocab)
        throw Error(config_path + ": token id " + std::to_string(id.get<int64_t>()) +
                    " is outside the model's vocabulary of " + std::to_string(d.n_vocab) +
                    " (config.json disagrees with model.bin)");
    }
  }
  if (!j.contains("alignment_heads")) return heads;
  for (const auto& p : j["alignment_heads"]) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number_integer())
      throw Error(config_path + ": \"alignment_heads\" should be a list of [layer, head] pairs");
    const int layer = p[0].get<int>(), head = p[1].get<int>();
    if (layer < 0 || layer >= d.n_text_layer || head < 0 || head >= d.n_text_head)
      throw Error(config_path + ": alignment head [" + std::to_string(layer) + ", " + std::to_string(head) +
                  "] does not exist in a decoder of " + std::to_string(d.n_text_layer) + " layers x " +
                  std::to_string(d.n_text_head) + " heads (config.json disagrees with model.bin)");
    heads.emplace_back(layer, head);
  }
  return heads;
}

}  // namespace

WhisperWeights read_ct2(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": not a CTranslate2 model directory");
  const std::string bin = (fs::path(dir) / "model.bin").string();
  if (!fs::exists(bin, ec)) throw Error(bin + ": missing (not a CTranslate2 model directory)");
  auto file = std::make_shared<MappedFile>(bin);
  Ct2Model model = parse_ct2_model(file->data(), file->size(), bin);
  if (model.spec_name != "WhisperSpec")
    throw Error(bin + ": holds a " + (model.spec_name.empty() ? std::string("unnamed") : model.spec_name) +
                " model, not Whisper");

  WhisperWeights w;
  w.format = "ctranslate2";
  w.path = dir;
  w.keep_alive(file);
  Ct2Reader r(file, std::move(model), w);

  WhisperDims& d = w.dims;
  const Ct2Variable& conv1 = r.var("encoder/conv1/weight");
  if (conv1.shape.size() != 3 || conv1.shape[2] != 3)
    throw Error(bin + ": encoder/conv1/weight has shape " + shape_string(shape64(conv1.shape)) + ", expected [n_state, n_mels, 3]");
  d.n_audio_state = static_cast<int>(conv1.shape[0]);
  d.n_mels = static_cast<int>(conv1.shape[1]);
  const Ct2Variable& epos = r.var("encoder/position_encodings/encodings");
  const Ct2Variable& emb = r.var("decoder/embeddings/weight");
  const Ct2Variable& dpos = r.var("decoder/position_encodings/encodings");
  for (const Ct2Variable* v : {&epos, &emb, &dpos})
    if (v->shape.size() != 2) throw Error(bin + ": " + v->name + " should be 2-D");
  d.n_audio_ctx = static_cast<int>(epos.shape[0]);
  d.n_audio_layer = r.count_layers("encoder");
  d.n_audio_head = r.scalar_int("encoder/num_heads");
  d.n_vocab = static_cast<int>(emb.shape[0]);
  d.n_text_state = static_cast<int>(emb.shape[1]);
  d.n_text_ctx = static_cast<int>(dpos.shape[0]);
  d.n_text_layer = r.count_layers("decoder");
  d.n_text_head = r.scalar_int("decoder/num_heads");
  if (r.has("decoder/projection/weight") && &r.var("decoder/projection/weight") != &emb)
    throw Error(bin + ": decoder/projection/weight is not tied to the token embedding; not a Whisper model");

  const int64_t a = d.n_audio_state, s = d.n_text_state;
  r.rows("encoder/conv1/weight", "encoder.conv1.weight");
  r.rows("encoder/conv1/bias", "encoder.conv1.bias");
  r.rows("encoder/conv2/weight", "encoder.conv2.weight");
  r.rows("encoder/conv2/bias", "encoder.conv2.bias");
  r.rows("encoder/position_encodings/encodings", "encoder.positional_embedding");
  auto block_common = [&](const std::string& c, const std::string& o, int64_t n) {
    r.layer_norm(c + "/self_attention/layer_norm", o + ".attn_ln");
    r.fused(c + "/self_attention/linear_0", o + ".attn", {"query", "key", "value"}, n);
    r.linear(c + "/self_attention/linear_1", o + ".attn.out");
    r.layer_norm(c + "/ffn/layer_norm", o + ".mlp_ln");
    r.linear(c + "/ffn/linear_0", o + ".mlp.0");
    r.linear(c + "/ffn/linear_1", o + ".mlp.2");
  };
  for (int i = 0; i < d.n_audio_layer; ++i)
    block_common("encoder/layer_" + std::to_string(i), "encoder.blocks." + std::to_string(i), a);
  r.layer_norm("encoder/layer_norm", "encoder.ln_post");
  r.rows("decoder/embeddings/weight", "decoder.token_embedding.weight");
  r.rows("decoder/position_encodings/encodings", "decoder.positional_embedding");
  for (int i = 0; i < d.n_text_layer; ++i) {
    const std::string c = "decoder/layer_" + std::to_string(i), o = "decoder.blocks." + std::to_string(i);
    block_common(c, o, s);
    r.layer_norm(c + "/attention/layer_norm", o + ".cross_attn_ln");
    r.linear(c + "/attention/linear_0", o + ".cross_attn.query");
    r.fused(c + "/attention/linear_1", o + ".cross_attn", {"key", "value"}, s);
    r.linear(c + "/attention/linear_2", o + ".cross_attn.out");
  }
  r.layer_norm("decoder/layer_norm", "decoder.ln");

  const fs::path tok = fs::path(dir) / "tokenizer.json";
  if (fs::exists(tok, ec)) w.tokenizer_json = tok.string();
  w.alignment_heads = checked_config((fs::path(dir) / "config.json").string(), d);
  return w;
}

}  // namespace wst::formats

// ---- Writer -------------------------------------------------------------------------------------------------

namespace wst::formats {
namespace {

// One model.bin variable: its bytes are made when written (variables are written sorted by name).
struct Ct2Out {
  std::vector<int64_t> shape;
  uint8_t dtype;  // Ct2DType
  std::function<std::vector<uint8_t>()> bytes;
};

uint8_t ct2_dtype_of(DType t) {
  switch (t) {
    case DType::kF32: return static_cast<uint8_t>(Ct2DType::kFloat32);
    case DType::kF16: return static_cast<uint8_t>(Ct2DType::kFloat16);
    case DType::kBF16: return static_cast<uint8_t>(Ct2DType::kBFloat16);
  }
  return 0;
}

// Floats in `dt`'s encoding.
std::vector<uint8_t> encode_floats(const std::vector<float>& f, DType dt) {
  std::vector<uint8_t> out(f.size() * dtype_size(dt));
  for (size_t i = 0; i < f.size(); ++i) {
    if (dt == DType::kF32) {
      std::memcpy(out.data() + 4 * i, &f[i], 4);
    } else {
      const uint16_t h = dt == DType::kF16 ? float_to_half(f[i]) : float_to_bfloat16(f[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

// Concatenation of tensors (rows stacked) in `dt`; a null entry is `zeros` zero values.
std::vector<uint8_t> stacked_bytes(const std::vector<const TensorRef*>& parts, size_t zeros, DType dt) {
  std::vector<float> all;
  for (const TensorRef* t : parts) {
    if (!t) {
      all.insert(all.end(), zeros, 0.0f);
      continue;
    }
    if (t->dtype == dt && parts.size() == 1) return {t->data, t->data + t->n_bytes};  // stored as is: exact copy
    auto f = t->to_f32();
    all.insert(all.end(), f.begin(), f.end());
  }
  return encode_floats(all, dt);
}

std::vector<uint8_t> scalar_bytes(int64_t v, size_t size) {
  std::vector<uint8_t> b(size);
  std::memcpy(b.data(), &v, size);  // little-endian
  return b;
}

void put_u16(std::ostream& o, uint16_t v) { o.write(reinterpret_cast<const char*>(&v), 2); }
void put_u32(std::ostream& o, uint32_t v) { o.write(reinterpret_cast<const char*>(&v), 4); }
void put_str(std::ostream& o, const std::string& s) {
  put_u16(o, static_cast<uint16_t>(s.size() + 1));
  o.write(s.data(), static_cast<std::streamsize>(s.size()));
  o.put('\0');
}

// vocabulary.txt lines: each id's token as tokenizer.json spells it (byte-level), timestamps filled in.
std::vector<std::string> vocabulary_lines(const WhisperWeights& w) {
  std::ifstream in(w.tokenizer_json);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("model") || !j["model"].contains("vocab"))
    throw Error(w.tokenizer_json + ": not a tokenizer.json with a model vocabulary");
  std::vector<std::string> lines(w.dims.n_vocab);
  auto place = [&](const std::string& text, int64_t id) {
    if (id >= 0 && id < w.dims.n_vocab) lines[id] = text;
  };
  for (const auto& [text, id] : j["model"]["vocab"].items())
    if (id.is_number_integer()) place(text, id.get<int64_t>());
  if (j.contains("added_tokens"))
    for (const auto& t : j["added_tokens"])
      if (t.contains("id") && t.contains("content") && t["id"].is_number_integer() && t["content"].is_string())
        place(t["content"].get<std::string>(), t["id"].get<int64_t>());
  const int ts0 = w.facts.no_timestamps + 1;
  for (int id = 0; id < w.dims.n_vocab; ++id) {
    if (!lines[id].empty()) continue;
    if (ts0 > 0 && id >= ts0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "<|%.2f|>", (id - ts0) * 0.02);
      lines[id] = buf;
    } else {
      throw Error(w.tokenizer_json + ": has no token with id " + std::to_string(id));
    }
  }
  return lines;
}

}  // namespace

void write_ct2(const WhisperWeights& w, const std::string& dir, std::optional<DType> dtype) {
  if (w.tokenizer_json.empty() || w.facts.eot < 0)
    throw Error(w.path + ": writing a CTranslate2 directory needs a tokenizer (prepare_for_writing was not called)");
  const WhisperDims& d = w.dims;
  std::map<std::string, Ct2Out> vars;
  auto dt_of = [&](const std::string& name) { return dtype ? *dtype : w.tensors.at(name).dtype; };
  auto tensor = [&](const std::string& ct2, const std::string& name) {
    const TensorRef* t = &w.tensors.at(name);
    const DType dt = dt_of(name);
    vars[ct2] = {t->shape, ct2_dtype_of(dt), [t, dt] { return stacked_bytes({t}, 0, dt); }};
  };
  auto linear = [&](const std::string& ct2, const std::string& name) {
    tensor(ct2 + "/weight", name + ".weight");
    tensor(ct2 + "/bias", name + ".bias");
  };
  auto layer_norm = [&](const std::string& ct2, const std::string& name) {
    tensor(ct2 + "/gamma", name + ".weight");
    tensor(ct2 + "/beta", name + ".bias");
  };
  // Projections fused by rows; the key has no bias: zeros in its rows.
  auto fused = [&](const std::string& ct2, const std::string& p, const std::vector<std::string>& parts, int64_t n) {
    std::vector<const TensorRef*> ws, bs;
    for (const auto& part : parts) {
      ws.push_back(&w.tensors.at(p + "." + part + ".weight"));
      bs.push_back(part == "key" ? nullptr : &w.tensors.at(p + "." + part + ".bias"));
    }
    const DType dt = dt_of(p + "." + parts.back() + ".weight");
    const int64_t rows = n * static_cast<int64_t>(parts.size());
    vars[ct2 + "/weight"] = {{rows, ws[0]->shape[1]}, ct2_dtype_of(dt), [ws, dt] { return stacked_bytes(ws, 0, dt); }};
    vars[ct2 + "/bias"] = {{rows}, ct2_dtype_of(dt), [bs, dt, n] { return stacked_bytes(bs, static_cast<size_t>(n), dt); }};
  };
  auto scalar = [&](const std::string& ct2, Ct2DType t, int64_t v) {
    const size_t size = ct2_dtype_size(t);
    vars[ct2] = {{}, static_cast<uint8_t>(t), [v, size] { return scalar_bytes(v, size); }};
  };

  tensor("encoder/conv1/weight", "encoder.conv1.weight");
  tensor("encoder/conv1/bias", "encoder.conv1.bias");
  tensor("encoder/conv2/weight", "encoder.conv2.weight");
  tensor("encoder/conv2/bias", "encoder.conv2.bias");
  tensor("encoder/position_encodings/encodings", "encoder.positional_embedding");
  auto block_common = [&](const std::string& c, const std::string& o, int64_t n) {
    layer_norm(c + "/self_attention/layer_norm", o + ".attn_ln");
    fused(c + "/self_attention/linear_0", o + ".attn", {"query", "key", "value"}, n);
    linear(c + "/self_attention/linear_1", o + ".attn.out");
    layer_norm(c + "/ffn/layer_norm", o + ".mlp_ln");
    linear(c + "/ffn/linear_0", o + ".mlp.0");
    linear(c + "/ffn/linear_1", o + ".mlp.2");
  };
  for (int i = 0; i < d.n_audio_layer; ++i)
    block_common("encoder/layer_" + std::to_string(i), "encoder.blocks." + std::to_string(i), d.n_audio_state);
  layer_norm("encoder/layer_norm", "encoder.ln_post");
  scalar("encoder/num_heads", Ct2DType::kInt16, d.n_audio_head);
  tensor("decoder/embeddings/weight", "decoder.token_embedding.weight");
  tensor("decoder/position_encodings/encodings", "decoder.positional_embedding");
  for (int i = 0; i < d.n_text_layer; ++i) {
    const std::string c = "decoder/layer_" + std::to_string(i), o = "decoder.blocks." + std::to_string(i);
    block_common(c, o, d.n_text_state);
    layer_norm(c + "/attention/layer_norm", o + ".cross_attn_ln");
    linear(c + "/attention/linear_0", o + ".cross_attn.query");
    fused(c + "/attention/linear_1", o + ".cross_attn", {"key", "value"}, d.n_text_state);
    linear(c + "/attention/linear_2", o + ".cross_attn.out");
  }
  layer_norm("decoder/layer_norm", "decoder.ln");
  scalar("decoder/num_heads", Ct2DType::kInt16, d.n_text_head);
  // The decoder options CTranslate2's Whisper converter writes (spec revision 3): GELU (3), pre-norm, no ALiBi,
  // no embedding scaling, one alignment head at the last layer for its own alignment output.
  scalar("decoder/activation", Ct2DType::kInt8, 3);
  scalar("decoder/alibi", Ct2DType::kInt8, 0);
  scalar("decoder/alignment_heads", Ct2DType::kInt16, 1);
  scalar("decoder/alignment_layer", Ct2DType::kInt16, -1);
  scalar("decoder/pre_norm", Ct2DType::kInt8, 1);
  scalar("decoder/scale_embeddings", Ct2DType::kInt8, 0);
  scalar("decoder/start_from_zero_embedding", Ct2DType::kInt8, 0);

  fs::create_directories(dir);
  const std::string bin = (fs::path(dir) / "model.bin").string();
  {
    std::ofstream o(bin, std::ios::binary);
    if (!o) throw Error(bin + ": cannot create");
    put_u32(o, 6);
    put_str(o, "WhisperSpec");
    put_u32(o, 3);
    put_u32(o, static_cast<uint32_t>(vars.size()));
    for (const auto& [name, v] : vars) {  // std::map: sorted by name, as CTranslate2 writes them
      put_str(o, name);
      o.put(static_cast<char>(v.shape.size()));
      for (int64_t dim : v.shape) put_u32(o, static_cast<uint32_t>(dim));
      o.put(static_cast<char>(v.dtype));
      const std::vector<uint8_t> bytes = v.bytes();
      put_u32(o, static_cast<uint32_t>(bytes.size()));
      o.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    put_u32(o, 1);
    put_str(o, "decoder/projection/weight");
    put_str(o, "decoder/embeddings/weight");
    if (!o.flush()) throw Error(bin + ": write failed (disk full?)");
  }

  nlohmann::json config;
  config["alignment_heads"] = nlohmann::json::array();
  for (auto [l, h] : w.alignment_heads) config["alignment_heads"].push_back({l, h});
  config["lang_ids"] = nlohmann::json::array();
  for (const auto& [id, code] : w.facts.languages) config["lang_ids"].push_back(id);
  config["suppress_ids"] = w.facts.non_speech;
  config["suppress_ids_begin"] = w.facts.suppress_begin;
  const fs::path cfg = fs::path(dir) / "config.json";
  std::ofstream(cfg) << config.dump(2) << "\n";

  fs::copy_file(w.tokenizer_json, fs::path(dir) / "tokenizer.json", fs::copy_options::overwrite_existing);
  std::ofstream vocab(fs::path(dir) / "vocabulary.txt", std::ios::binary);
  for (const auto& line : vocabulary_lines(w)) vocab << line << "\n";
  if (!vocab.flush()) throw Error((fs::path(dir) / "vocabulary.txt").string() + ": write failed (disk full?)");
}

}  // namespace wst::formats
