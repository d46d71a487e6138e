// `whisper-speedtest models convert`: by catalog name into the models directory (where the resolver then finds
// it), by path with -o, refusals with one clear line and nothing left behind.
#include <gtest/gtest.h>

#include <sstream>

#include "formats/weight_io.h"
#include "support/paths.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"

namespace wst {
namespace {

namespace fs = std::filesystem;

std::map<std::string, std::string> isolated_env(const test::TempDir& t) {
  return {{"HOME", (t / "home").string()},
          {"XDG_CACHE_HOME", (t / "cache").string()},
          {"HF_HUB_CACHE", (t / "hub").string()},
          {"WHISPER_SPEEDTEST_MODELS", (t / "wst").string()},
          {"HF_HUB_OFFLINE", "1"}};
}

TEST(ModelsConvertCli, ByNameIntoTheModelsDirectoryThenFoundThere) {
  WST_REQUIRE_TINY_EN();
  test::TempDir t;
  auto env = isolated_env(t);
  auto imp = test::run_cli({"models", "import", test::tiny_en_dir().string(), "--name", "tiny.en"}, env);
  ASSERT_EQ(imp.rc, 0) << imp.err;
  // The same format at another precision, under an explicit name: tiny.en as float32 CTranslate2.
  auto conv = test::run_cli({"models", "convert", "tiny.en", "--to", "ct2", "--dtype", "f32", "-o", (t / "f32").string()}, env);
  ASSERT_EQ(conv.rc, 0) << conv.err;
  EXPECT_NE(conv.out.find("converted tiny.en: ctranslate2 -> "), std::string::npos) << conv.out;
  EXPECT_NE(conv.err.find("tokenizer: "), std::string::npos) << conv.err;
  formats::WhisperWeights w = formats::read_weights((t / "f32").string());
  EXPECT_EQ(w.tensors.at("decoder.ln.weight").dtype, formats::DType::kF32);

  // Transcribing the copy gives the original's text.
  auto a = test::run_cli({"transcribe", (test::shared_audio_dir() / "jfk.wav").string(), "--model", (t / "f32").string()}, env);
  auto b = test::run_cli({"transcribe", (test::shared_audio_dir() / "jfk.wav").string(), "--model", "tiny.en"}, env);
  ASSERT_EQ(a.rc, 0) << a.err;
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
}

// whisper.cpp's q8_0 file by name: into the models directory under the catalog's upstream file name, where
// `models list` finds it complete (its header checked: file type q8_0) and the engine transcribes it.
TEST(ModelsConvertCli, Q8_0ByNameLandsUnderTheCatalogsFileName) {
  WST_REQUIRE_TINY_EN();
  test::TempDir t;
  auto env = isolated_env(t);
  auto imp = test::run_cli({"models", "import", test::tiny_en_dir().string(), "--name", "tiny.en"}, env);
  ASSERT_EQ(imp.rc, 0) << imp.err;
  auto conv = test::run_cli({"models", "convert", "tiny.en", "--to", "ggml-q8_0"}, env);
  ASSERT_EQ(conv.rc, 0) << conv.err;
  const fs::path out = t / "wst" / "tiny.en" / "ggml-q8_0" / "ggml-tiny.en-q8_0.bin";
  EXPECT_NE(conv.out.find("converted tiny.en: ctranslate2 -> " + out.string() + " (ggml-q8_0)"), std::string::npos)
      << conv.out;
  EXPECT_EQ(formats::detect_format(out.string()), formats::WeightFormat::kGgmlQ8_0);
  auto list = test::run_cli({"models", "list"}, env);
  ASSERT_EQ(list.rc, 0) << list.err;
  bool listed = false;
  std::istringstream lines(list.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string model, format, where, state;
    f >> model >> format >> where >> state;
    if (model == "tiny.en" && format == "ggml-q8_0") listed = state == "complete";
  }
  EXPECT_TRUE(listed) << list.out;
  auto tr = test::run_cli({"transcribe", (test::shared_audio_dir() / "jfk.wav").string(), "--model", out.string()}, env);
  ASSERT_EQ(tr.rc, 0) << tr.err;
  EXPECT_NE(tr.out.find("ask what you can do for your country"), std::string::npos) << tr.out;
  // q8_0 is a format, not a dtype: the error says where it goes.
  auto bad = test::run_cli({"models", "convert", "tiny.en", "--to", "ggml", "--dtype", "q8_0"}, env);
  EXPECT_NE(bad.rc, 0);
  EXPECT_EQ(bad.err, "whisper-speedtest: error: --dtype q8_0: q8_0 is a format of its own: --to ggml-q8_0\n");
}

TEST(ModelsConvertCli, ExistingOutputIsKeptWithoutForce) {
  WST_REQUIRE_TINY_EN();
  test::TempDir t;
  auto env = isolated_env(t);
  t.write("out/keep.txt", "mine");
  auto conv = test::run_cli({"models", "convert", test::tiny_en_dir().string(), "--to", "ct2", "-o", (t / "out").string()}, env);
  EXPECT_NE(conv.rc, 0);
  EXPECT_NE(conv.err.find("already exists (pass --force to replace it)"), std::string::npos) << conv.err;
  EXPECT_EQ(test::slurp(t / "out/keep.txt"), "mine");
}

TEST(ModelsConvertCli, WrongNameForTheArchitectureIsRefused) {
  WST_REQUIRE_TINY_EN();
  test::TempDir t;
  auto conv = test::run_cli({"models", "convert", test::tiny_en_dir().string(), "--to", "ct2", "--name", "base",
                             "-o", (t / "out").string()},
                            isolated_env(t));
  EXPECT_NE(conv.rc, 0);
  EXPECT_NE(conv.err.find("its architecture is not base's"), std::string::npos) << conv.err;
  EXPECT_FALSE(fs::exists(t / "out"));
}

TEST(ModelsConvertCli, UnknownFormatAndMissingSourceAreOneLine) {
  test::TempDir t;
  auto env = isolated_env(t);
  auto a = test::run_cli({"models", "convert", (t / "nothing").string(), "--to", "ct2"}, env);
  EXPECT_NE(a.rc, 0);
  EXPECT_NE(a.err.find("no such file or directory, and not a model name"), std::string::npos) << a.err;
  auto b = test::run_cli({"models", "convert", "tiny.en", "--to", "onnx"}, env);
  EXPECT_NE(b.rc, 0);
  EXPECT_NE(b.err.find("format \"onnx\": unknown"), std::string::npos) << b.err;
  auto c = test::run_cli({"models", "convert", "tiny.en", "--to", "ct2"}, env);
  EXPECT_NE(c.rc, 0);
  EXPECT_NE(c.err.find("model tiny.en: no complete copy"), std::string::npos) << c.err;
}

}  // namespace
}  // namespace wst
