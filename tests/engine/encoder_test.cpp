// The encoder's output for jfk.wav's first window against CTranslate2's own encoder on the same weights
// (tests/reference/ct2_encoder_jfk.json, made by make_ct2_layer_reference.py).
#include "engine/encoder.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "audio/decode.h"
#include "engine/mel.h"
#include "support/paths.h"

namespace wst::engine {
namespace {

// Both sides compute in float32 with different summation orders over 4 layers (observed max difference
// 2.9e-6 on the sampled frames); 1e-4 leaves room for another BLAS, and is far below what a wrong op gives.
constexpr double kEncoderAbsTolerance = 1e-4;
constexpr double kStatTolerance = 1e-5;

TEST(Encoder, JfkFirstWindowMatchesCTranslate2) {
  WST_REQUIRE_TINY_EN();
  std::ifstream in(test::source_dir() / "tests/reference/ct2_encoder_jfk.json");
  const nlohmann::json ref = nlohmann::json::parse(in)["encoder_output"];

  auto be = make_cpu_backend(2);
  WhisperModel m = load_model_files(test::tiny_en_dir().string(), *be);
  std::vector<float> pcm = audio::load_audio((test::shared_audio_dir() / "jfk.wav").string());
  int n_frames = 0;
  std::vector<float> mel = log_mel_spectrogram(pcm.data(), pcm.size(), 80, 480000, 1, &n_frames);
  const int content = n_frames - 3000;
  std::vector<float> window = mel_window(mel, 80, n_frames, 0, content, 3000);
  Mat out = encode(m, *be, window.data());
  ASSERT_EQ(out.rows, 1500);
  ASSERT_EQ(out.cols, 384);
  std::vector<float> host(1500 * 384);
  be->download(out, host.data());

  double max_diff = 0;
  for (const auto& [frame, values] : ref["frames"].items()) {
    const int f = std::stoi(frame);
    for (size_t i = 0; i < values.size(); ++i) {
      const double want = values[i].get<double>(), got = host[static_cast<size_t>(f) * 384 + i];
      max_diff = std::max(max_diff, std::abs(want - got));
      ASSERT_NEAR(got, want, kEncoderAbsTolerance) << "frame " << f << ", channel " << i;
    }
  }
  double sum = 0, sq = 0;
  for (float v : host) {
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double mean = sum / host.size(), std_dev = std::sqrt(sq / host.size() - mean * mean);
  std::cout << "max |ours - ctranslate2| on sampled frames: " << max_diff << ", mean " << mean << " vs "
            << ref["mean"].get<double>() << ", std " << std_dev << " vs " << ref["std"].get<double>() << "\n";
  EXPECT_NEAR(mean, ref["mean"].get<double>(), kStatTolerance);
  EXPECT_NEAR(std_dev, ref["std"].get<double>(), kStatTolerance);
}

}  // namespace
}  // namespace wst::engine
