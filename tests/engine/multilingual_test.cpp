// The engine on a multilingual model (base, real weights): language detection, non-English transcription
// (UTF-8 across tokens, Chinese included) and translation, against faster-whisper
// (tests/reference/faster_whisper_base.json, made by make_faster_whisper_base_reference.py).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "audio/decode.h"
#include "support/paths.h"
#include "wst/engine.h"

namespace wst {
namespace {

TEST(Multilingual, DetectsTranscribesAndTranslatesAsFasterWhisper) {
  WST_REQUIRE_BASE();
  std::ifstream in(test::source_dir() / "tests/reference/faster_whisper_base.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  auto engine = Engine::load(test::base_dir().string(), {});
  EXPECT_TRUE(engine->info().multilingual);
  EXPECT_EQ(engine->info().n_vocab, 51865);
  for (const auto& f : ref["files"]) {
    const std::string id = f["id"];
    auto path = id == "jfk" ? test::shared_audio_dir() / "jfk.wav" : test::shared_audio_dir() / "multilingual" / (id + ".wav");
    TranscribeOptions opt;
    opt.task = f["task"];
    Transcript t = engine->transcribe(audio::load_audio(path.string()), opt);
    EXPECT_EQ(t.language, f["language"].get<std::string>()) << id;
    EXPECT_EQ(t.text, f["text"].get<std::string>()) << id << " (" << opt.task << ")";
    std::vector<std::vector<int>> ours, theirs;
    for (const auto& s : t.segments) ours.push_back(s.tokens);
    for (const auto& s : f["segments"]) theirs.push_back(s["tokens"].get<std::vector<int>>());
    EXPECT_EQ(ours, theirs) << id;
  }
}

TEST(Multilingual, ExplicitLanguageIsUsedAndUnknownRefused) {
  WST_REQUIRE_BASE();
  auto engine = Engine::load(test::base_dir().string(), {});
  auto pcm = audio::load_audio((test::shared_audio_dir() / "multilingual" / "fleurs_es_419_test_002.wav").string());
  TranscribeOptions opt;
  opt.language = "es";
  EXPECT_EQ(engine->transcribe(pcm, opt).language, "es");
  opt.language = "xx";
  EXPECT_THROW(engine->transcribe(pcm, opt), std::exception);
}

}  // namespace
}  // namespace wst
