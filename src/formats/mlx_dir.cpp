// An mlx-whisper model directory (the mlx-community/whisper-* layout), read into and written from WhisperWeights:
//
//   <dir>/
//   ├── config.json          openai-whisper's ModelDimensions (n_mels, n_audio_ctx, ... n_text_layer), with
//   │                        "model_type": "whisper"; a "quantization" entry marks a quantized model (refused)
//   └── weights.safetensors  or weights.npz: OpenAI's names except blocks.N.mlp1 / mlp2 for mlp.0 / mlp.2,
//                            conv weights [out, kernel, in] (MLX's Conv1d) instead of [out, in, kernel], and no
//                            encoder.positional_embedding (mlx-whisper computes the sinusoids; its update()
//                            refuses a tensor the model does not have)
//
// mlx-whisper 0.4.3's load_model() takes weights.safetensors when present, else weights.npz (read through
// formats/npz.h); the writer writes weights.safetensors. The reader computes the positional embedding as
// openai-whisper does (sinusoids.h).
#include <cstring>
#include <filesystem>
#include <memory>

#include "formats/json_file.h"
#include "formats/npz.h"
#include "formats/safetensors.h"
#include "formats/sinusoids.h"
#include "formats/weight_io.h"
#include "formats/weight_names.h"
#include "util/errors.h"
#include "util/mapped_file.h"

namespace wst::formats {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDimNames[] = {"n_mels", "n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head",
                                     "n_audio_layer", "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer"};

int* dim_field(WhisperDims& d, int i) {
  int* f[] = {&d.n_mels, &d.n_vocab, &d.n_audio_ctx, &d.n_audio_state, &d.n_audio_head,
              &d.n_audio_layer, &d.n_text_ctx, &d.n_text_state, &d.n_text_head, &d.n_text_layer};
  return f[i];
}

bool is_conv_weight(const std::string& openai_name) {
  return openai_name == "encoder.conv1.weight" || openai_name == "encoder.conv2.weight";
}

// [a, b, c] -> [a, c, b] for elements of `elem` bytes.
std::vector<uint8_t> swap_last_two(const uint8_t* src, int64_t a, int64_t b, int64_t c, size_t elem) {
  std::vector<uint8_t> dst(static_cast<size_t>(a * b * c) * elem);
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t k = 0; k < c; ++k)
        std::memcpy(dst.data() + ((i * c + k) * b + j) * elem, src + ((i * b + j) * c + k) * elem, elem);
  return dst;
}

WhisperDims mlx_dims(const fs::path& config) {
  const std::string path = config.string();
  nlohmann::json c = read_json_file(path);
  if (auto t = c.find("model_type"); t != c.end() && *t != "whisper")
    throw Error(path + ": not a Whisper config (model_type " + t->dump() + ")");
  for (const char* k : kDimNames)
    if (!c.contains(k)) throw Error(path + ": not an MLX Whisper config (no " + k + ")");
  if (c.contains("quantization")) throw Error(path + ": quantized MLX models are not read (only float weights)");
  WhisperDims d;
  for (int i = 0; i < 10; ++i) *dim_field(d, i) = json_int(c, kDimNames[i], path, 1);
  return d;
}

}  // namespace

WhisperWeights read_mlx(const std::string& dir) {
  const fs::path d(dir);
  WhisperWeights w;
  w.format = "mlx";
  w.path = dir;
  std::error_code ec;
  if (!fs::is_regular_file(d / "config.json", ec)) throw Error(dir + ": not an MLX Whisper directory (no config.json)");
  w.dims = mlx_dims(d / "config.json");
  // The stored tensors under MLX's names, from weights.safetensors when present, else weights.npz (as
  // mlx-whisper's load_model() chooses).
  std::vector<std::pair<std::string, TensorRef>> stored;
  std::string weights = (d / "weights.safetensors").string();
  if (fs::is_regular_file(weights, ec)) {
    auto file = std::make_shared<MappedFile>(weights);
    w.keep_alive(file);
    const SafetensorsFile st = parse_safetensors(file->data(), file->size(), weights);
    for (const auto& t : st.tensors) stored.push_back({t.name, TensorRef{t.shape, t.dtype, file->data() + t.offset, t.n_bytes}});
  } else if (weights = (d / "weights.npz").string(); fs::is_regular_file(weights, ec)) {
    NpzFile npz = read_npz(weights);
    w.keep_alive(npz.keep_alive);
    for (auto& [name, t] : npz.arrays) stored.push_back({name, t});
  } else {
    throw Error(dir + ": not an MLX Whisper directory (no weights.safetensors or weights.npz)");
  }
  for (const auto& [mlx_name, t] : stored) {
    const std::string name = mlx_to_openai(mlx_name);
    const uint8_t* data = t.data;
    if (is_conv_weight(name)) {
      if (t.shape.size() != 3)
        throw Error(weights + ": tensor " + mlx_name + " has shape " + shape_string(t.shape) +
                    ", expected [out, kernel, in]");
      const auto& s = t.shape;  // [out, kernel, in] -> [out, in, kernel]
      w.add_owned(name, {s[0], s[2], s[1]}, t.dtype, swap_last_two(data, s[0], s[1], s[2], dtype_size(t.dtype)));
    } else {
      w.add_view(name, t.shape, t.dtype, data, t.n_bytes);
    }
  }
  if (!w.has("encoder.positional_embedding")) {
    if (w.dims.n_audio_state % 2 != 0 || w.dims.n_audio_state < 4)
      throw Error(dir + ": n_audio_state " + std::to_string(w.dims.n_audio_state) + " cannot hold sinusoids");
    std::vector<float> pe = openai_sinusoids(w.dims.n_audio_ctx, w.dims.n_audio_state);
    std::vector<uint8_t> bytes(pe.size() * 4);
    std::memcpy(bytes.data(), pe.data(), bytes.size());
    w.add_owned("encoder.positional_embedding", {w.dims.n_audio_ctx, w.dims.n_audio_state}, DType::kF32,
                std::move(bytes));
  }
  w.validate();
  return w;
}

void write_mlx(const WhisperWeights& w, const std::string& dir, std::optional<DType> dtype) {
  std::vector<SafetensorsEntry> entries;
  std::vector<std::vector<uint8_t>> reordered;  // the conv weights in MLX's layout
  reordered.reserve(2);
  for (const auto& [name, shape] : expected_tensors(w.dims)) {
    if (name == "encoder.positional_embedding") continue;
    const TensorRef& t = w.get(name, shape);
    if (!is_conv_weight(name)) {
      entries.push_back({openai_to_mlx(name), t});
      continue;
    }
    // [out, in, kernel] -> [out, kernel, in]
    reordered.push_back(swap_last_two(t.data, shape[0], shape[1], shape[2], dtype_size(t.dtype)));
    entries.push_back({name, TensorRef{{shape[0], shape[2], shape[1]}, t.dtype, reordered.back().data(), t.n_bytes}});
  }
  nlohmann::json config = {{"model_type", "whisper"}};
  WhisperDims dims = w.dims;
  for (int i = 0; i < 10; ++i) config[kDimNames[i]] = *dim_field(dims, i);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the directory (" + ec.message() + ")");
  write_json_file((fs::path(dir) / "config.json").string(), config);
  write_safetensors((fs::path(dir) / "weights.safetensors").string(), entries, {{"format", "mlx"}}, dtype);
}

}  // namespace wst::formats
