// Writer of whisper.cpp's ggml model file (layout: ggml_file.h), as float32 (file type 0) or with float16
// matrices and conv kernels (file type 1), the two files whisper.cpp's convert-pt-to-ggml.py makes, or as
// q8_0 (file type 7, quantisation version 2), the file whisper.cpp's quantize tool makes from a float16 one:
// every matrix but the positional embeddings in q8_0 blocks, the conv kernels float16, the rest float32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include "formats/ggml_types.h"
#include "formats/weight_io.h"
#include "util/errors.h"
#include "util/half.h"

namespace wst::formats {

namespace {

constexpr uint32_t kMagic = 0x67676d6c;
constexpr int kMelBins = 201;
constexpr size_t kChunk = 1 << 16;  // elements converted at a time

// What whisper.cpp stores in float16 in a file of type 1: matrices and conv kernels; the positional
// embeddings stay float32 (whisper_model_load creates them as GGML_TYPE_F32), as does every vector.
bool half_in_f16_file(const std::string& name, const std::vector<int64_t>& shape) {
  return shape.size() >= 2 && name != "encoder.positional_embedding" && name != "decoder.positional_embedding";
}

// How a file stores its tensors: all float32, float16 matrices, or q8_0 matrices.
enum class Layout { kF32, kF16, kQ8_0 };

// The dims whisper.cpp expects: numpy's shape reversed; conv biases as [n_state, 1].
std::vector<int32_t> ggml_dims(const std::string& name, const std::vector<int64_t>& shape) {
  std::vector<int64_t> stored = shape;
  if (name == "encoder.conv1.bias" || name == "encoder.conv2.bias") stored.push_back(1);
  return std::vector<int32_t>(stored.rbegin(), stored.rend());
}

class Out {
 public:
  explicit Out(const std::string& path) : path_(path), f_(path, std::ios::binary | std::ios::trunc) {
    if (!f_) throw Error(path + ": cannot create the file");
  }
  void bytes(const void* p, size_t n) { f_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); }
  void i32(int32_t v) { bytes(&v, 4); }
  void u32(uint32_t v) { bytes(&v, 4); }
  void finish() {
    f_.flush();
    f_.close();
    if (!f_) throw Error(path_ + ": write failed (disk full?)");
  }

 private:
  std::string path_;
  std::ofstream f_;
};

// Elements [start, start + m) of `t` widened to float32 into `f`.
void widen(const TensorRef& t, size_t start, size_t m, float* f) {
  const uint8_t* src = t.data + start * dtype_size(t.dtype);
  for (size_t i = 0; i < m; ++i) {
    uint16_t v;
    switch (t.dtype) {
      case DType::kF32: std::memcpy(&f[i], src + 4 * i, 4); break;
      case DType::kF16: std::memcpy(&v, src + 2 * i, 2); f[i] = half_to_float(v); break;
      case DType::kBF16: std::memcpy(&v, src + 2 * i, 2); f[i] = bfloat16_to_float(v); break;
    }
  }
}

// Writes tensor `t`'s elements as `half` ? float16 : float32, converting in chunks when the dtypes differ.
void write_data(Out& out, const TensorRef& t, bool half) {
  const DType target = half ? DType::kF16 : DType::kF32;
  if (t.dtype == target) {
    out.bytes(t.data, t.n_bytes);
    return;
  }
  const size_t n = t.n_elements();
  std::vector<float> f(kChunk);
  std::vector<uint16_t> h(half ? kChunk : 0);
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t m = std::min(kChunk, n - start);
    widen(t, start, m, f.data());
    if (half) {
      float_to_half_n(f.data(), h.data(), m);
      out.bytes(h.data(), m * 2);
    } else {
      out.bytes(f.data(), m * 4);
    }
  }
}

// Writes tensor `t` as q8_0 blocks of 32 along its rows (ne[0]: a multiple of 32 in every real Whisper; chunks
// of kChunk, itself a multiple of 32, never split a block).
void write_q8_0(Out& out, const std::string& file, const std::string& name, const TensorRef& t) {
  if (t.shape.back() % 32 != 0)
    throw Error(file + ": " + name + " has rows of " + std::to_string(t.shape.back()) +
                " values; q8_0 needs a multiple of 32");
  const size_t n = t.n_elements();
  std::vector<float> f(kChunk);
  std::vector<uint8_t> q(kChunk / 32 * 34);
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t m = std::min(kChunk, n - start);
    widen(t, start, m, f.data());
    for (size_t i = 0; i < m; ++i)
      if (!std::isfinite(f[i]))
        throw Error(file + ": " + name + " holds a NaN or an infinity at element " + std::to_string(start + i) +
                    "; such weights cannot be quantised");
    ggml_quantize_q8_0(f.data(), m / 32, q.data());
    out.bytes(q.data(), m / 32 * 34);
  }
}

// The ggml type id tensor `name` is stored as in a file of `layout`.
int32_t stored_type(Layout layout, const std::string& name, const std::vector<int64_t>& shape) {
  if (layout == Layout::kF32 || !half_in_f16_file(name, shape)) return static_cast<int32_t>(GgmlType::kF32);
  if (layout == Layout::kQ8_0 && shape.size() == 2) return static_cast<int32_t>(GgmlType::kQ8_0);
  return static_cast<int32_t>(GgmlType::kF16);  // float16 matrices; the conv kernels (3-D) of a q8_0 file
}

void write_file(const WhisperWeights& w, const std::string& file, std::optional<DType> dtype, bool q8_0) {
  if (dtype == DType::kBF16)
    throw Error(file + ": ggml files hold float32 or float16 weights, not bfloat16 (choose float16 or float32)");
  if (q8_0 && dtype == DType::kF32)
    throw Error(file + ": a q8_0 ggml file keeps its conv kernels float16 and quantises the matrices; "
                "--dtype f32 does not apply (write --to ggml --dtype f32 for a float32 file)");
  w.validate();
  if (w.vocab.empty())
    throw Error(file + ": cannot write a ggml file without the vocabulary (token bytes by id) of " + w.path);
  const size_t n_filters = static_cast<size_t>(w.dims.n_mels) * kMelBins;
  if (w.mel_filters.empty())
    throw Error(file + ": cannot write a ggml file without the mel filters of " + w.path);
  if (w.mel_filters.size() != n_filters)
    throw Error(file + ": the mel filters hold " + std::to_string(w.mel_filters.size()) + " values, expected " +
                std::to_string(w.dims.n_mels) + " x " + std::to_string(kMelBins));
  for (const auto& t : w.vocab)
    if (t.size() > (1u << 20)) throw Error(file + ": a vocabulary token of " + std::to_string(t.size()) + " bytes");

  const auto tensors = expected_tensors(w.dims);
  // Without a dtype asked for, a model whose matrices are 16-bit stays 16-bit (as float16).
  bool half = dtype == DType::kF16;
  if (!dtype)
    for (const auto& [name, shape] : tensors)
      if (half_in_f16_file(name, shape) && w.get(name, shape).dtype != DType::kF32) half = true;
  const Layout layout = q8_0 ? Layout::kQ8_0 : half ? Layout::kF16 : Layout::kF32;

  Out out(file);
  out.u32(kMagic);
  const WhisperDims& d = w.dims;
  for (int v : {d.n_vocab, d.n_audio_ctx, d.n_audio_state, d.n_audio_head, d.n_audio_layer, d.n_text_ctx,
                d.n_text_state, d.n_text_head, d.n_text_layer, d.n_mels})
    out.i32(v);
  // File type; unquantised files carry no quantisation version.
  out.i32(layout == Layout::kQ8_0 ? kGgmlQuantVersion * kGgmlQuantVersionFactor + kGgmlFileTypeQ8_0
                                  : layout == Layout::kF16 ? 1 : 0);
  out.i32(d.n_mels);
  out.i32(kMelBins);
  out.bytes(w.mel_filters.data(), n_filters * sizeof(float));
  out.i32(static_cast<int32_t>(w.vocab.size()));
  for (const auto& t : w.vocab) {
    out.u32(static_cast<uint32_t>(t.size()));
    out.bytes(t.data(), t.size());
  }
  for (const auto& [name, shape] : tensors) {
    const TensorRef& t = w.get(name, shape);
    const int32_t type = stored_type(layout, name, shape);
    const std::vector<int32_t> ne = ggml_dims(name, shape);
    out.i32(static_cast<int32_t>(ne.size()));
    out.i32(static_cast<int32_t>(name.size()));
    out.i32(type);
    for (int32_t v : ne) out.i32(v);
    out.bytes(name.data(), name.size());
    if (type == static_cast<int32_t>(GgmlType::kQ8_0))
      write_q8_0(out, file, name, t);
    else
      write_data(out, t, type == static_cast<int32_t>(GgmlType::kF16));
  }
  out.finish();
}

}  // namespace

void write_ggml(const WhisperWeights& w, const std::string& file, std::optional<DType> dtype) {
  write_file(w, file, dtype, /*q8_0=*/false);
}

void write_ggml_q8_0(const WhisperWeights& w, const std::string& file, std::optional<DType> dtype) {
  write_file(w, file, dtype, /*q8_0=*/true);
}

}  // namespace wst::formats
