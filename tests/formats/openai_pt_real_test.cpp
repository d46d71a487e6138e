// openai-whisper checkpoints with the real tiny.en weights: our checkpoint of the CTranslate2 weights is
// loaded by openai-whisper (torch 1.13's weights_only loader) and transcribes jfk.wav to faster-whisper's text
// (tests/reference/faster_whisper_tiny_en.json); the committed Python converter's checkpoint
// (tests/reference/ct2_to_openai_checkpoint.py, torch.save) reads to exactly read_ct2's values.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>

#include "formats/weight_io.h"
#include "support/python_script.h"
#include "util/errors.h"

namespace wst::formats {
namespace {

std::string faster_whisper_jfk_text() {
  std::ifstream in(test::source_dir() / "tests/reference/faster_whisper_tiny_en.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  for (const auto& f : ref["files"])
    if (f["id"] == "jfk") return f["text"].get<std::string>();
  return "";
}

TEST(OpenaiPtReal, OpenaiWhisperTranscribesJfkFromOurCheckpointOfTinyEn) {
  WST_REQUIRE_TINY_EN();
  const std::string py = test::torch_python();
  if (py.empty()) {
    if (test::models_required()) FAIL() << "no Python with torch and openai-whisper";
    GTEST_SKIP() << "no Python with torch and openai-whisper (set WST_TORCH_PYTHON)";
  }
  test::TempDir dir;
  const auto pt = dir / "tiny.en.pt";
  const WhisperWeights w = read_weights(test::tiny_en_dir().string());
  write_weights(w, WeightFormat::kOpenai, pt.string());
  // Greedy with openai's temperature fallback, as faster-whisper's reference ran; the audio read as the
  // reference read it (16-bit samples / 32768).
  const std::string code =
      "import sys, wave, numpy as np, whisper\n"
      "m = whisper.load_model(sys.argv[1], device='cpu')\n"
      "with wave.open(sys.argv[2]) as f: pcm = f.readframes(f.getnframes())\n"
      "audio = np.frombuffer(pcm, dtype='<i2').astype(np.float32) / 32768\n"
      "print(m.transcribe(audio, fp16=False, language='en')['text'])\n";
  const std::string text =
      test::run_python(py, code, dir, pt.string() + " '" + (test::shared_audio_dir() / "jfk.wav").string() + "'");
  const std::string want = faster_whisper_jfk_text();
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(text, want);
}

TEST(OpenaiPtReal, ReferenceConvertersCheckpointReadsToTheCt2Values) {
  WST_REQUIRE_TINY_EN();
  const std::string py = test::torch_python();
  if (py.empty()) {
    if (test::models_required()) FAIL() << "no Python with torch and openai-whisper";
    GTEST_SKIP() << "no Python with torch and openai-whisper (set WST_TORCH_PYTHON)";
  }
  test::TempDir dir;
  const auto pt = dir / "ref.pt";
  const std::string log = test::capture(py + " " + (test::source_dir() / "tests/reference/ct2_to_openai_checkpoint.py").string() +
                                        " --model-dir '" + test::tiny_en_dir().string() + "' --out '" + pt.string() + "' 2>&1");
  ASSERT_TRUE(std::filesystem::exists(pt)) << log;
  const WhisperWeights ct2 = read_weights(test::tiny_en_dir().string());
  const WhisperWeights ref = read_weights(pt.string());
  EXPECT_EQ(ref.format, "openai");
  EXPECT_EQ(ref.dims, ct2.dims);
  ASSERT_EQ(ref.tensors.size(), ct2.tensors.size());
  // The converter stores float32; tiny.en's CTranslate2 weights are float16. Widening is exact, so the
  // values must be equal bit for bit.
  for (const auto& [name, t] : ct2.tensors) {
    ASSERT_TRUE(ref.has(name)) << name;
    const TensorRef& r = ref.tensors.at(name);
    ASSERT_EQ(r.shape, t.shape) << name;
    const std::vector<float> a = t.to_f32(), b = r.to_f32();
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_EQ(std::memcmp(&a[i], &b[i], 4), 0) << name << " element " << i << ": " << a[i] << " vs " << b[i];
  }
}

}  // namespace
}  // namespace wst::formats
