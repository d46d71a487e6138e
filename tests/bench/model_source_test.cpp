// Tests for src/bench/model_source.cpp: format detection of model paths, and one-line errors for names
// (until the catalog is merged), missing paths and formats an implementation cannot load.
#include "bench/model_source.h"

#include <gtest/gtest.h>

#include "support/env_guard.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::bench {
namespace {

std::string error_of(const std::vector<std::string>& formats, const std::string& model) {
  try {
    resolve_model_for(formats, model);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ModelSource, DetectsFormats) {
  test::TempDir d;
  d.write("ct2/model.bin", "x");
  d.write("ct2/config.json", "{}");
  d.write("tiny.en.pt", std::string("PK\3\4", 4) + "rest");  // a zip, as torch writes checkpoints
  d.write("ggml-tiny.bin", std::string("lmgg", 4) + "rest");  // 0x67676d6c little-endian
  d.write("st/model.safetensors", "x");
  d.write("st/config.json", "{}");
  d.write("mlx/weights.npz", "x");
  d.write("mlx/config.json", "{}");
  d.write("named.pt", "not a zip");  // the name alone says nothing
  d.write("other/readme.txt", "x");
  EXPECT_EQ(detect_model_format((d / "ct2").string()), "ctranslate2");
  EXPECT_EQ(detect_model_format((d / "tiny.en.pt").string()), "openai");
  EXPECT_EQ(detect_model_format((d / "ggml-tiny.bin").string()), "ggml");
  EXPECT_EQ(detect_model_format((d / "st").string()), "safetensors");
  EXPECT_EQ(detect_model_format((d / "mlx").string()), "mlx");
  EXPECT_EQ(detect_model_format((d / "other").string()), "");
  EXPECT_EQ(detect_model_format((d / "named.pt").string()), "");
}

TEST(ModelSource, ResolvesAPathOfAFormatTheImplementationLoads) {
  test::TempDir d;
  d.write("ct2/model.bin", "x");
  d.write("ct2/config.json", "{}");
  ResolvedModel m = resolve_model_for({"ctranslate2"}, (d / "ct2").string());
  EXPECT_EQ(m.format, "ctranslate2");
  EXPECT_EQ(m.path, (d / "ct2").string());
  EXPECT_EQ(m.name, "");
  EXPECT_EQ(error_of({"ggml"}, (d / "ct2").string()),
            (d / "ct2").string() + ": a ctranslate2 model, but this implementation loads only ggml");
}

TEST(ModelSource, UnknownNameListsTheCatalog) {
  std::string e = error_of({"ctranslate2"}, "no-such-model");
  EXPECT_EQ(e.rfind("unknown model 'no-such-model' (known: tiny.en, tiny, base.en", 0), 0u) << e;
}

TEST(ModelSource, NameResolvesThroughTheCachesAndSaysHowToGetAMissingFormat) {
  test::TempDir d;
  test::EnvGuard env;
  env.set("WHISPER_SPEEDTEST_MODELS", (d / "models").string());
  env.set("HF_HUB_CACHE", (d / "hf").string());
  env.set("XDG_CACHE_HOME", (d / "xdg").string());
  env.set("HOME", d.path().string());
  env.unset("HF_HOME");
  env.unset("WHISPER_CPP_MODELS");
  // Nothing anywhere: the error names the format and both ways to get it.
  std::string e = error_of({"ctranslate2"}, "tiny.en");
  EXPECT_NE(e.find("model tiny.en: no complete ct2 copy in any cache"), std::string::npos) << e;
  EXPECT_NE(e.find("whisper-speedtest download tiny.en --format ct2"), std::string::npos) << e;
  // An alias resolves to its canonical name before the search.
  EXPECT_NE(error_of({"openai"}, "large").find("model large-v3: no complete openai copy"), std::string::npos);
}

TEST(ModelSource, MissingAndUnrecognisedPaths) {
  test::TempDir d;
  d.write("empty/x.txt", "x");
  EXPECT_EQ(error_of({"ctranslate2"}, (d / "nope").string()), (d / "nope").string() + ": no such model file or directory");
  EXPECT_NE(error_of({"ctranslate2"}, (d / "empty").string()).find("not a model this tool recognises"), std::string::npos);
}

TEST(ModelSource, Sha256OfTheWeightsFile) {
  test::TempDir d;
  d.write("m/model.bin", "abc");
  d.write("m/config.json", "{}");
  // sha256("abc"), FIPS 180-2 example.
  EXPECT_EQ(model_sha256((d / "m").string()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(model_sha256((d / "none").string()), "");
  // An MLX directory: its weights file, whichever of the two it has.
  d.write("mlx/config.json", "{}");
  d.write("mlx/weights.npz", "abc");
  EXPECT_EQ(model_sha256((d / "mlx").string()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  d.write("mlx2/config.json", "{}");
  d.write("mlx2/weights.safetensors", "");
  // sha256 of no bytes.
  EXPECT_EQ(model_sha256((d / "mlx2").string()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace wst::bench
