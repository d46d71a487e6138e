// A whisper.cpp model file (ggml, float16 matrices) of a real architecture with random weights, so whisper.cpp's
// own bench tool can be timed on the GPU machine beside tools/cuda/cuda_bench.cpp with the same shapes (speed
// does not depend on the values). Written by the project's ggml writer (formats/ggml_writer.cpp); the
// vocabulary is placeholder text and the mel filters random, which whisper.cpp's bench does not use.
//   random_ggml ARCH FILE        (ARCH: tiny base small large-v3-turbo large-v3, as bench/random_model.h)
// Builds with a C++20 compiler alone: g++ -std=c++20 -O2 -Isrc -Iinclude -Ibench tools/cuda/random_ggml.cpp
//   src/formats/whisper_weights.cpp src/formats/ggml_writer.cpp src/formats/ggml_types.cpp
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/weight_io.h"
#include "random_model.h"
#include "util/half.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: random_ggml ARCH FILE\n");
    return 2;
  }
  try {
    const wst::ModelInfo h = wst::bench_support::architecture(argv[1]);
    wst::formats::WhisperWeights w;
    auto& d = w.dims;
    d.n_mels = h.n_mels;
    d.n_vocab = h.n_vocab;
    d.n_audio_ctx = h.n_audio_ctx;
    d.n_audio_state = h.n_audio_state;
    d.n_audio_head = h.n_audio_head;
    d.n_audio_layer = h.n_audio_layer;
    d.n_text_ctx = h.n_text_ctx;
    d.n_text_state = h.n_text_state;
    d.n_text_head = h.n_text_head;
    d.n_text_layer = h.n_text_layer;
    w.path = std::string("random ") + argv[1];
    w.format = "random";
    std::mt19937 rng(7);
    // One table of random halves (std 0.02) that every tensor copies from, so a large-v3 file takes seconds.
    std::vector<uint16_t> table(1 << 20);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (auto& v : table) v = wst::float_to_half(normal(rng));
    for (const auto& [name, shape] : wst::formats::expected_tensors(d)) {
      size_t n = 1;
      for (int64_t s : shape) n *= static_cast<size_t>(s);
      std::vector<uint8_t> bytes(n * 2);
      for (size_t i = 0; i < n; i += table.size()) {
        const size_t m = std::min(table.size(), n - i);
        std::memcpy(bytes.data() + 2 * i, table.data(), m * 2);
      }
      w.add_owned(name, shape, wst::formats::DType::kF16, std::move(bytes));
    }
    const int n_text_tokens = h.n_vocab >= 51865 ? 50257 : 50256;
    for (int i = 0; i < n_text_tokens; ++i) w.vocab.push_back("t" + std::to_string(i));
    w.mel_filters.assign(static_cast<size_t>(h.n_mels) * 201, 0.01f);
    wst::formats::write_ggml(w, argv[2], wst::formats::DType::kF16);
    std::printf("wrote %s (%s, random float16 weights)\n", argv[2], argv[1]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "random_ggml: %s\n", e.what());
    return 1;
  }
}
