// Small WhisperWeights with every tensor formats::expected_tensors(dims) calls for, filled with
// pseudo-random finite values, for format round trips without real weights.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "formats/whisper_weights.h"
#include "util/half.h"

namespace wst::test {

// A Whisper in miniature: 2 layers each side, width 8, 2 heads, 80 mels (validate() wants 80 or 128).
inline formats::WhisperDims tiny_dims() {
  formats::WhisperDims d;
  d.n_mels = 80;
  d.n_vocab = 12;
  d.n_audio_ctx = 6;
  d.n_audio_state = 8;
  d.n_audio_head = 2;
  d.n_audio_layer = 2;
  d.n_text_ctx = 5;
  d.n_text_state = 8;
  d.n_text_head = 2;
  d.n_text_layer = 2;
  return d;
}

// Every tensor in `dtype`, values uniform in [-2, 2) from a fixed-seed generator (different per tensor).
inline formats::WhisperWeights synthetic_weights(const formats::WhisperDims& dims,
                                                 formats::DType dtype = formats::DType::kF32, uint32_t seed = 1) {
  formats::WhisperWeights w;
  w.dims = dims;
  w.format = "synthetic";
  w.path = "synthetic";
  uint32_t state = seed * 2654435761u + 1;
  for (const auto& [name, shape] : formats::expected_tensors(dims)) {
    size_t n = 1;
    for (int64_t s : shape) n *= static_cast<size_t>(s);
    std::vector<uint8_t> bytes(n * formats::dtype_size(dtype));
    for (size_t i = 0; i < n; ++i) {
      state = state * 1664525u + 1013904223u;
      const float v = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 4.0f - 2.0f;
      if (dtype == formats::DType::kF32) {
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      } else {
        const uint16_t h = dtype == formats::DType::kF16 ? float_to_half(v) : float_to_bfloat16(v);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    }
    w.add_owned(name, shape, dtype, std::move(bytes));
  }
  return w;
}

// The first tensor whose bytes, dtype or shape differ between `a` and `b` (by name, both ways); "" when none.
inline std::string first_difference(const formats::WhisperWeights& a, const formats::WhisperWeights& b) {
  for (const auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end()) return name + " missing from the second";
    const formats::TensorRef& u = it->second;
    if (t.shape != u.shape) return name + " shape " + formats::shape_string(t.shape) + " vs " + formats::shape_string(u.shape);
    if (t.dtype != u.dtype) return name + " dtype " + formats::dtype_name(t.dtype) + " vs " + formats::dtype_name(u.dtype);
    if (t.n_bytes != u.n_bytes || std::memcmp(t.data, u.data, t.n_bytes) != 0) return name + " bytes differ";
  }
  for (const auto& [name, t] : b.tensors)
    if (!a.tensors.count(name)) return name + " missing from the first";
  return "";
}

}  // namespace wst::test
