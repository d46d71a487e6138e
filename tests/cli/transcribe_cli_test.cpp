// `whisper-speedtest transcribe` end to end: the real model on real speech, and every kind of bad input
// answered with one line on stderr naming the file and the problem, and exit status 1.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

#include "support/paths.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"

namespace wst {
namespace {

namespace fs = std::filesystem;

std::string jfk() { return (test::shared_audio_dir() / "jfk.wav").string(); }

// A model directory in `dir` whose files link to the real tiny.en ones, except those the test replaces.
void link_model(const fs::path& dir, const std::vector<std::string>& files) {
  fs::create_directories(dir);
  for (const auto& f : files) fs::create_symlink(test::tiny_en_dir() / f, dir / f);
}

// The error is exactly one line that starts with the program's prefix and contains `what`.
void expect_one_line_error(const test::CliResult& r, const std::string& what) {
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(r.err.rfind("whisper-speedtest: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << "expected \"" << what << "\" in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(TranscribeCli, PrintsTextSegmentsAndJson) {
  WST_REQUIRE_TINY_EN();
  const std::string model = test::tiny_en_dir().string();
  auto text = test::run_cli({"transcribe", jfk(), "-m", model, "-t", "2"});
  ASSERT_EQ(text.rc, 0) << text.err;
  EXPECT_EQ(text.out, " And so my fellow Americans ask not what your country can do for you ask what you can do for your country\n");

  auto seg = test::run_cli({"transcribe", jfk(), "-m", model, "--segments"});
  ASSERT_EQ(seg.rc, 0) << seg.err;
  EXPECT_EQ(seg.out,
            "[00:00.000 --> 00:07.740] And so my fellow Americans ask not what your country can do for you\n"
            "[00:07.740 --> 00:10.740] ask what you can do for your country\n");

  auto js = test::run_cli({"transcribe", jfk(), "-m", model, "--json"});
  ASSERT_EQ(js.rc, 0) << js.err;
  auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j["language"], "en");
  ASSERT_EQ(j["segments"].size(), 2u);
  EXPECT_EQ(j["segments"][0]["tokens"][0], 50363);  // <|0.00|> on tiny.en
  EXPECT_EQ(j["segments"][0]["temperature"], 0.0);
  EXPECT_LT(j["segments"][0]["no_speech_prob"].get<double>(), 0.2);
  EXPECT_EQ(j["model"]["stored_dtype"], "float16");
  EXPECT_EQ(j["model"]["n_audio_layer"], 4);
  EXPECT_EQ(j["timings"]["n_windows"], 1);
}

TEST(TranscribeCli, BeamSizeGivesFasterWhispersBeamText) {
  WST_REQUIRE_TINY_EN();
  // tests/reference/faster_whisper_beam_tiny_en.json: beam 5 puts a comma and a full stop that greedy does not.
  auto r = test::run_cli({"transcribe", jfk(), "-m", test::tiny_en_dir().string(), "--beam-size", "5", "--patience",
                          "1", "--best-of", "2", "--segments"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            "[00:00.000 --> 00:08.000] And so, my fellow Americans ask not what your country can do for you\n"
            "[00:08.000 --> 00:11.000] ask what you can do for your country.\n");
}

TEST(TranscribeCli, SeveralFilesInOneBatchGiveEachFilesText) {
  WST_REQUIRE_TINY_EN();
  const std::string model = test::tiny_en_dir().string();
  const std::string other = test::speech_path("1089-134686-0000").string();
  auto one = test::run_cli({"transcribe", jfk(), "-m", model, "--segments"});
  auto two = test::run_cli({"transcribe", other, "-m", model, "--segments"});
  ASSERT_EQ(one.rc, 0) << one.err;
  ASSERT_EQ(two.rc, 0) << two.err;
  auto both = test::run_cli({"transcribe", jfk(), other, "-m", model, "--segments", "--batch-size", "2", "-v"});
  ASSERT_EQ(both.rc, 0) << both.err;
  EXPECT_EQ(both.out, "== " + jfk() + "\n" + one.out + "== " + other + "\n" + two.out);
  EXPECT_NE(both.err.find("batch    2 window(s)"), std::string::npos) << both.err;

  auto js = test::run_cli({"transcribe", jfk(), other, "-m", model, "--json"});
  ASSERT_EQ(js.rc, 0) << js.err;
  auto j = nlohmann::json::parse(js.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["file"], jfk());
  EXPECT_EQ(j[1]["file"], other);
  EXPECT_EQ(j[0]["text"], " And so my fellow Americans ask not what your country can do for you ask what you can do for your country");
  EXPECT_EQ(j[0]["segments"].size(), 2u);
  EXPECT_EQ(j[1]["model"]["n_audio_layer"], 4);
}

TEST(TranscribeCli, ChunkedCutsOneLongFileAndPrintsItsSegmentsInPlace) {
  WST_REQUIRE_TINY_EN();
  auto r = test::run_cli({"transcribe", test::speech_path("ted_60").string(), "-m", test::tiny_en_dir().string(),
                          "--chunked", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_object()) << "one file, one transcript";
  ASSERT_GE(j["segments"].size(), 3u);
  EXPECT_GT(j["segments"].back()["end"].get<double>(), 50.0) << "segments of later chunks moved by their start";
  EXPECT_GE(j["segments"].back()["seek"].get<int>(), 3000);
  EXPECT_NE(j["text"].get<std::string>().find("government major"), std::string::npos) << j["text"];
}

TEST(TranscribeCli, BatchSizeZeroIsRefused) {
  // Checked before anything is loaded.
  expect_one_line_error(
      test::run_cli({"transcribe", jfk(), jfk(), "-m", "/nonexistent/tiny.en", "--batch-size", "0"}),
      "--batch-size must be at least 1 (got 0)");
}

TEST(TranscribeCli, BeamSizeZeroIsRefused) {
  // Checked before anything is loaded.
  expect_one_line_error(test::run_cli({"transcribe", jfk(), "-m", "/nonexistent/tiny.en", "--beam-size", "0"}),
                        "--beam-size must be at least 1 (got 0)");
  expect_one_line_error(test::run_cli({"transcribe", jfk(), "-m", "/nonexistent/tiny.en", "--best-of", "-2"}),
                        "--best-of must be at least 1 (got -2)");
}

TEST(TranscribeCli, Int8ComputeTypeTranscribesAndVerboseSaysWhereTheTimeWent) {
  WST_REQUIRE_TINY_EN();
  auto r = test::run_cli({"transcribe", jfk(), "-m", test::tiny_en_dir().string(), "--compute-type", "int8", "-v"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("ask not what your country can do for you"), std::string::npos) << r.out;
  for (const char* stage : {"compute int8", "load ", "mel ", "encoder ", "1 window(s)", "decoder ", "logit filters"})
    EXPECT_NE(r.err.find(stage), std::string::npos) << stage << " missing in: " << r.err;
}

TEST(TranscribeCli, UnknownComputeTypeIsRefused) {
  WST_REQUIRE_TINY_EN();
  expect_one_line_error(
      test::run_cli({"transcribe", jfk(), "-m", test::tiny_en_dir().string(), "--compute-type", "int4"}),
      "compute type \"int4\": unknown (expected float32, float16, bfloat16 or int8)");
}

TEST(TranscribeCli, ModelPathThatDoesNotExist) {
  auto r = test::run_cli({"transcribe", jfk(), "-m", "/nonexistent/tiny.en"});
  expect_one_line_error(r, "/nonexistent/tiny.en: no such model file or directory");
}

TEST(TranscribeCli, UnknownModelNameListsTheKnownOnes) {
  auto r = test::run_cli({"transcribe", jfk(), "-m", "tiny.eng"});
  expect_one_line_error(r, "unknown model 'tiny.eng' (known: tiny.en, tiny, base.en");
}

TEST(TranscribeCli, CatalogNameFoundInTheModelsDirectory) {
  WST_REQUIRE_TINY_EN();
  test::TempDir models;
  std::map<std::string, std::string> env = {{"WHISPER_SPEEDTEST_MODELS", models.path().string()},
                                            {"HF_HUB_CACHE", (models / "hf").string()},
                                            {"XDG_CACHE_HOME", (models / "xdg").string()}};
  ASSERT_EQ(test::run_cli({"models", "import", test::tiny_en_dir().string(), "--name", "tiny.en"}, env).rc, 0);
  auto r = test::run_cli({"transcribe", jfk(), "-m", "tiny.en"}, env);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, " And so my fellow Americans ask not what your country can do for you ask what you can do for your country\n");
}

TEST(TranscribeCli, TruncatedModelBin) {
  WST_REQUIRE_TINY_EN();
  test::TempDir tmp;
  fs::path dir = tmp / "model";
  link_model(dir, {"config.json", "tokenizer.json", "vocabulary.txt"});
  {
    std::ifstream in(test::tiny_en_dir() / "model.bin", std::ios::binary);
    std::string head(3'000'000, '\0');
    in.read(head.data(), head.size());
    std::ofstream(dir / "model.bin", std::ios::binary) << head;
  }
  auto r = test::run_cli({"transcribe", jfk(), "-m", dir.string()});
  expect_one_line_error(r, (dir / "model.bin").string() + ": truncated at byte");
}

TEST(TranscribeCli, ConfigThatDisagreesWithTheTensors) {
  WST_REQUIRE_TINY_EN();
  test::TempDir tmp;
  fs::path dir = tmp / "model";
  link_model(dir, {"model.bin", "tokenizer.json", "vocabulary.txt"});
  // tiny.en has 4 decoder layers: an alignment head in layer 9 cannot be this model's.
  std::ofstream(dir / "config.json") << R"({"alignment_heads": [[9, 0]], "suppress_ids": [1], "suppress_ids_begin": [220]})";
  auto r = test::run_cli({"transcribe", jfk(), "-m", dir.string()});
  expect_one_line_error(r, "config.json: alignment head [9, 0] does not exist");

  std::ofstream(dir / "config.json", std::ios::trunc) << R"({"suppress_ids": [60000]})";
  r = test::run_cli({"transcribe", jfk(), "-m", dir.string()});
  expect_one_line_error(r, "config.json: token id 60000 is outside the model's vocabulary of 51864");
}

TEST(TranscribeCli, MissingTokenizer) {
  WST_REQUIRE_TINY_EN();
  test::TempDir tmp;
  fs::path dir = tmp / "model";
  link_model(dir, {"model.bin", "config.json", "vocabulary.txt"});
  auto r = test::run_cli({"transcribe", jfk(), "-m", dir.string()});
  expect_one_line_error(r, "tokenizer.json");
}

TEST(TranscribeCli, EmptyWav) {
  WST_REQUIRE_TINY_EN();
  test::TempDir tmp;
  // A valid 44-byte WAV header with a data chunk of 0 bytes.
  std::string h = "RIFF";
  auto u32 = [&](uint32_t v) { h.append(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { h.append(reinterpret_cast<const char*>(&v), 2); };
  u32(36);
  h += "WAVEfmt ";
  u32(16); u16(1); u16(1); u32(16000); u32(32000); u16(2); u16(16);
  h += "data";
  u32(0);
  auto wav = tmp.write("empty.wav", h);
  auto r = test::run_cli({"transcribe", wav.string(), "-m", test::tiny_en_dir().string()});
  expect_one_line_error(r, wav.string() + ": empty audio (0 samples)");
}

TEST(TranscribeCli, FileThatIsNotAudio) {
  test::TempDir tmp;
  auto txt = tmp.write("notes.wav", "these are not the samples you are looking for\n");
  auto r = test::run_cli({"transcribe", txt.string(), "-m", "/nonexistent/model"});
  expect_one_line_error(r, txt.string() + ": not an audio file");
}

TEST(TranscribeCli, MissingAudioFile) {
  auto r = test::run_cli({"transcribe", "/nonexistent/a.wav", "-m", "/nonexistent/model"});
  expect_one_line_error(r, "/nonexistent/a.wav");
}

TEST(TranscribeCli, EnglishOnlyModelRefusesOtherLanguages) {
  WST_REQUIRE_TINY_EN();
  auto r = test::run_cli({"transcribe", jfk(), "-m", test::tiny_en_dir().string(), "--language", "de"});
  expect_one_line_error(r, "--language de: this model is English-only");
}

}  // namespace
}  // namespace wst
