#include "formats/whisper_weights.h"

#include <cstring>
#include <set>

#include "util/errors.h"
#include "util/half.h"

namespace wst::formats {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
  }
  return "?";
}

size_t dtype_size(DType t) { return t == DType::kF32 ? 4 : 2; }

size_t TensorRef::n_elements() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

std::vector<float> TensorRef::to_f32() const {
  const size_t n = n_elements();
  std::vector<float> out(n);
  switch (dtype) {
    case DType::kF32: std::memcpy(out.data(), data, n * 4); break;
    case DType::kF16: half_to_float_n(data, out.data(), n); break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, data + 2 * i, 2);
        out[i] = bfloat16_to_float(b);
      }
      break;
  }
  return out;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string r = "[";
  for (size_t i = 0; i < shape.size(); ++i) r += (i ? ", " : "") + std::to_string(shape[i]);
  return r + "]";
}

const TensorRef& WhisperWeights::get(const std::string& name, const std::vector<int64_t>& shape) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw Error(path + ": missing tensor " + name);
  if (it->second.shape != shape)
    throw Error(path + ": tensor " + name + " has shape " + shape_string(it->second.shape) + ", expected " +
                shape_string(shape));
  return it->second;
}

namespace {

size_t checked_bytes(const std::string& path, const std::string& name, const std::vector<int64_t>& shape, DType dtype) {
  size_t n = dtype_size(dtype);
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (size_t{1} << 48) / static_cast<size_t>(d)))
      throw Error(path + ": tensor " + name + " has an impossible shape " + shape_string(shape));
    n *= static_cast<size_t>(d);
  }
  return n;
}

}  // namespace

const TensorRef& WhisperWeights::add_owned(const std::string& name, std::vector<int64_t> shape, DType dtype,
                                           std::vector<uint8_t> bytes) {
  if (bytes.size() != checked_bytes(path, name, shape, dtype))
    throw Error(path + ": tensor " + name + " holds " + std::to_string(bytes.size()) + " bytes, its shape " +
                shape_string(shape) + " needs " + std::to_string(checked_bytes(path, name, shape, dtype)));
  auto buf = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  owners_.push_back(buf);
  TensorRef t{std::move(shape), dtype, buf->data(), buf->size()};
  return tensors[name] = std::move(t);
}

void WhisperWeights::add_view(const std::string& name, std::vector<int64_t> shape, DType dtype, const uint8_t* data,
                              size_t n_bytes) {
  if (n_bytes != checked_bytes(path, name, shape, dtype))
    throw Error(path + ": tensor " + name + " holds " + std::to_string(n_bytes) + " bytes, its shape " +
                shape_string(shape) + " needs " + std::to_string(checked_bytes(path, name, shape, dtype)));
  tensors[name] = TensorRef{std::move(shape), dtype, data, n_bytes};
}

std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const WhisperDims& d) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  const int64_t a = d.n_audio_state, s = d.n_text_state;
  auto ln = [&](const std::string& p, int64_t n) {
    t.push_back({p + ".weight", {n}});
    t.push_back({p + ".bias", {n}});
  };
  auto attn = [&](const std::string& p, int64_t n, int64_t n_kv_in) {
    t.push_back({p + ".query.weight", {n, n}});
    t.push_back({p + ".query.bias", {n}});
    t.push_back({p + ".key.weight", {n, n_kv_in}});
    t.push_back({p + ".value.weight", {n, n_kv_in}});
    t.push_back({p + ".value.bias", {n}});
    t.push_back({p + ".out.weight", {n, n}});
    t.push_back({p + ".out.bias", {n}});
  };
  auto mlp = [&](const std::string& p, int64_t n) {
    t.push_back({p + ".mlp.0.weight", {4 * n, n}});
    t.push_back({p + ".mlp.0.bias", {4 * n}});
    t.push_back({p + ".mlp.2.weight", {n, 4 * n}});
    t.push_back({p + ".mlp.2.bias", {n}});
    ln(p + ".mlp_ln", n);
  };
  t.push_back({"encoder.conv1.weight", {a, d.n_mels, 3}});
  t.push_back({"encoder.conv1.bias", {a}});
  t.push_back({"encoder.conv2.weight", {a, a, 3}});
  t.push_back({"encoder.conv2.bias", {a}});
  t.push_back({"encoder.positional_embedding", {d.n_audio_ctx, a}});
  for (int i = 0; i < d.n_audio_layer; ++i) {
    const std::string p = "encoder.blocks." + std::to_string(i);
    attn(p + ".attn", a, a);
    ln(p + ".attn_ln", a);
    mlp(p, a);
  }
  ln("encoder.ln_post", a);
  t.push_back({"decoder.token_embedding.weight", {d.n_vocab, s}});
  t.push_back({"decoder.positional_embedding", {d.n_text_ctx, s}});
  for (int i = 0; i < d.n_text_layer; ++i) {
    const std::string p = "decoder.blocks." + std::to_string(i);
    attn(p + ".attn", s, s);
    ln(p + ".attn_ln", s);
    attn(p + ".cross_attn", s, a);
    ln(p + ".cross_attn_ln", s);
    mlp(p, s);
  }
  ln("decoder.ln", s);
  return t;
}

void WhisperWeights::validate() const {
  const WhisperDims& d = dims;
  auto positive = {d.n_mels, d.n_vocab, d.n_audio_ctx, d.n_audio_state, d.n_audio_head, d.n_audio_layer,
                   d.n_text_ctx, d.n_text_state, d.n_text_head, d.n_text_layer};
  for (int v : positive)
    if (v <= 0 || v > (1 << 20)) throw Error(path + ": not a Whisper architecture (a dimension is " + std::to_string(v) + ")");
  if ((d.n_mels != 80 && d.n_mels != 128) || d.n_audio_state % d.n_audio_head != 0 || d.n_text_state % d.n_text_head != 0)
    throw Error(path + ": not a Whisper architecture (" + std::to_string(d.n_mels) + " mel bins, width " +
                std::to_string(d.n_audio_state) + " with " + std::to_string(d.n_audio_head) + " heads)");
  std::set<std::string> seen;
  for (const auto& [name, shape] : expected_tensors(d)) {
    get(name, shape);
    seen.insert(name);
  }
  for (const auto& [name, t] : tensors)
    if (!seen.count(name)) throw Error(path + ": unexpected tensor " + name + " for this architecture");
}

}  // namespace wst::formats
