// The second fault of the tool this project reimplements, pinned with the real catalog and real weights: a
// model already in the Hugging Face cache (as huggingface_hub lays it out) is found and loaded by the
// benchmark — the native engine and faster-whisper both — and nothing is downloaded (the loopback server
// standing in for the hub counts zero requests).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/download.h"
#include "support/http_server.h"
#include "support/paths.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"
#include "util/sha256.h"

namespace wst::models {
namespace {

namespace fs = std::filesystem;

TEST(NoRedownload, BenchmarkLoadsFromTheHfCacheWithoutARequest) {
  WST_REQUIRE_TINY_EN();
  test::TempDir t;
  fs::create_directories(t / "www");
  test::HttpServer server(t / "www");
  ASSERT_TRUE(server.ok()) << "loopback test server did not start";

  // tiny.en (CTranslate2) committed into the HF cache exactly as huggingface_hub would write it.
  const fs::path repo = t / "hub" / "models--Systran--faster-whisper-tiny.en";
  for (std::string n : {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}) {
    const fs::path tmp = t / ("tmp-" + n);
    fs::copy_file(test::tiny_en_dir() / n, tmp);
    hf_commit_file(repo, "main", std::string(40, 'a'), n, sha256_file(tmp), tmp);
  }
  std::map<std::string, std::string> env = {
      {"HOME", (t / "home").string()},          {"XDG_CACHE_HOME", (t / "cache").string()},
      {"HF_HUB_CACHE", (t / "hub").string()},   {"WHISPER_SPEEDTEST_MODELS", (t / "wst").string()},
      {"HF_ENDPOINT", server.url()},            {"WHISPER_SPEEDTEST_OPENAI_URL", server.url() + "/models"},
      {"HF_HUB_OFFLINE", "0"}};
  auto check = test::run_cli({"check-models", "-m", "tiny.en", "-i", "native-cpu,faster-whisper", "--json"}, env);
  EXPECT_EQ(check.rc, 0) << check.out << check.err;
  auto bench = test::run_cli({"benchmark", "-a", (test::shared_audio_dir() / "jfk.wav").string(), "-m", "tiny.en",
                              "-i", "native-cpu,faster-whisper", "-n", "1", "--warmup", "0", "--json",
                              (t / "out.json").string()},
                             env);
  ASSERT_EQ(bench.rc, 0) << bench.err;
  auto j = nlohmann::json::parse(test::slurp(t / "out.json"));
  ASSERT_EQ(j["results"].size(), 2u);
  for (const auto& row : j["results"]) {
    EXPECT_EQ(row["status"], "ok") << row["id"] << ": " << row["error"];
    EXPECT_NE(row["used"]["model_file"].get<std::string>().find(repo.string()), std::string::npos) << row["used"];
  }
  EXPECT_EQ(server.requests(), std::vector<std::string>{}) << "nothing may be downloaded again";
}

}  // namespace
}  // namespace wst::models
