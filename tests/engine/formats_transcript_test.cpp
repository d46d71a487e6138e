// The engine gives the same tokens from all five formats: the real tiny.en weights (CTranslate2, float16)
// converted by `whisper-speedtest models convert` into .pt, safetensors, ggml and MLX, each loaded by the
// engine and run on jfk.wav, ted_60.wav and the 40 LibriSpeech utterances, against the CTranslate2 original.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "audio/decode.h"
#include "support/paths.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"
#include "wst/engine.h"

namespace wst {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> audio_files() {
  std::vector<fs::path> files = {test::shared_audio_dir() / "jfk.wav", test::shared_audio_dir() / "ted_60.wav"};
  std::vector<fs::path> libri;
  for (const auto& e : fs::directory_iterator(test::shared_audio_dir() / "librispeech"))
    if (e.path().extension() == ".wav") libri.push_back(e.path());
  std::sort(libri.begin(), libri.end());
  files.insert(files.end(), libri.begin(), libri.end());
  return files;
}

// Every segment's tokens, in order.
std::vector<int> tokens_of(const Transcript& t) {
  std::vector<int> out;
  for (const auto& s : t.segments) out.insert(out.end(), s.tokens.begin(), s.tokens.end());
  return out;
}

TEST(FormatsTranscript, AllFiveFormatsGiveTheSameTokens) {
  WST_REQUIRE_TINY_EN();
  const auto files = audio_files();
  ASSERT_EQ(files.size(), 42u);
  std::vector<std::vector<float>> pcm;
  for (const auto& f : files) pcm.push_back(audio::load_audio(f.string()));

  auto engine = Engine::load(test::tiny_en_dir().string(), {});
  std::vector<std::vector<int>> expected;
  for (const auto& p : pcm) expected.push_back(tokens_of(engine->transcribe(p)));
  engine.reset();

  test::TempDir tmp;
  const std::string tokenizer = (test::tiny_en_dir() / "tokenizer.json").string();
  const std::map<std::string, std::string> outputs = {
      {"pt", "tiny.en.pt"}, {"safetensors", "hf"}, {"ggml", "ggml-tiny.en.bin"}, {"mlx", "mlx"}};
  for (const auto& [to, name] : outputs) {
    const std::string out = (tmp / name).string();
    auto r = test::run_cli({"models", "convert", test::tiny_en_dir().string(), "--to", to, "-o", out});
    ASSERT_EQ(r.rc, 0) << to << ": " << r.err;
    EngineOptions eo;
    if (to == "pt" || to == "mlx") eo.tokenizer_json = tokenizer;  // they carry none; ggml uses its own vocabulary
    auto e = Engine::load(out, eo);
    int identical = 0;
    for (size_t i = 0; i < pcm.size(); ++i) {
      std::vector<int> got = tokens_of(e->transcribe(pcm[i]));
      if (got == expected[i]) {
        ++identical;
      } else {
        ADD_FAILURE() << to << ": " << files[i].filename() << " differs from the CTranslate2 original";
      }
    }
    std::printf("%s (%s, stored %s): %d of %zu transcripts token-identical to the CTranslate2 original\n", to.c_str(),
                e->info().format.c_str(), e->info().stored_dtype.c_str(), identical, pcm.size());
  }
}

}  // namespace
}  // namespace wst
