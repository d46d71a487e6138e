// Small random Whisper weights for format tests: every tensor formats::expected_tensors() lists, filled
// from a fixed seed, plus a few vocabulary tokens and a mel filterbank, so that writers have all they need.
//
//   auto w = wst::test::synthetic_weights(wst::test::tiny_dims(), wst::formats::DType::kF16);
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
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

// Widths a multiple of 32, so that ggml's quantised blocks fit the rows.
inline formats::WhisperDims block_dims() {
  formats::WhisperDims d = tiny_dims();
  d.n_vocab = 40;
  d.n_audio_state = 32;
  d.n_text_state = 32;
  d.n_text_layer = 1;
  return d;
}

// Every tensor of `dims` as `dtype`, values uniform in [-1, 1) (rounded to the dtype); 8 vocabulary tokens
// (byte strings, one empty, one with a zero byte) and n_mels x 201 filter values.
inline formats::WhisperWeights synthetic_weights(const formats::WhisperDims& dims, formats::DType dtype = formats::DType::kF32,
                                                 uint32_t seed = 1) {
  formats::WhisperWeights w;
  w.dims = dims;
  w.format = "synthetic";
  w.path = "synthetic";
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  for (const auto& [name, shape] : formats::expected_tensors(dims)) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    std::vector<uint8_t> bytes(n * formats::dtype_size(dtype));
    for (size_t i = 0; i < n; ++i) {
      const float v = uni(rng);
      if (dtype == formats::DType::kF32) {
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      } else {
        const uint16_t h = dtype == formats::DType::kF16 ? float_to_half(v) : float_to_bfloat16(v);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    }
    w.add_owned(name, shape, dtype, std::move(bytes));
  }
  w.vocab = {"!", "a", "the", " hello", "", std::string("x\0y", 3), "\xE5\xB9", "\xBF"};
  w.mel_filters.resize(static_cast<size_t>(dims.n_mels) * 201);
  for (float& f : w.mel_filters) f = uni(rng) * 0.02f;
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
