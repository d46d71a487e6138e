// Catalog: names, aliases, OpenAI URL rules, hostile catalogs, and the agreement of loader (resolver.find),
// checker (resolver.probe) and downloader (plan_download + hf_commit_file) on every name and format.
#include "models/catalog.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "models/download.h"
#include "models/hf_cache.h"
#include "models/resolver.h"
#include "support/env_guard.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/data_dir.h"
#include "util/errors.h"
#include "util/sha256.h"

namespace wst::models {
namespace {

namespace fs = std::filesystem;

const Catalog& repo_catalog() {
  static const Catalog c = Catalog::load(fs::path(WST_SOURCE_DIR) / "data" / "catalog.json");
  return c;
}

CacheDirs dirs_under(const fs::path& root) {
  CacheDirs d;
  d.models_dir = root / "wst";
  d.openai_dir = root / "whisper";
  d.hf_hub_dir = root / "hf" / "hub";
  d.whisper_cpp_dir = root / "whisper.cpp";
  return d;
}

TEST(Catalog, HasEveryModelNameAndAlias) {
  const Catalog& c = repo_catalog();
  std::vector<std::string> want = {"tiny",   "tiny.en",   "base",     "base.en",  "small",    "small.en",
                                   "medium", "medium.en", "large-v1", "large-v2", "large-v3", "large-v3-turbo"};
  std::set<std::string> have(c.names().begin(), c.names().end());
  EXPECT_EQ(have, std::set<std::string>(want.begin(), want.end()));
  EXPECT_EQ(c.canonical("large"), "large-v3");
  EXPECT_EQ(c.canonical("turbo"), "large-v3-turbo");
  EXPECT_EQ(c.canonical("tiny.en"), "tiny.en");
}

TEST(Catalog, DataDirFindsTheRepoCatalog) {
  // Without WHISPER_SPEEDTEST_DATA the tests run from the build tree: the source tree's data/ is used.
  if (std::getenv("WHISPER_SPEEDTEST_DATA")) GTEST_SKIP() << "WHISPER_SPEEDTEST_DATA is set";
  EXPECT_TRUE(fs::exists(data_dir() / "catalog.json")) << data_dir();
}

TEST(Catalog, DataDirFromEnvironment) {
  test::EnvGuard env;
  env.set("WHISPER_SPEEDTEST_DATA", "/somewhere/data");
  EXPECT_EQ(data_dir(), "/somewhere/data");
  env.unset("WHISPER_SPEEDTEST_DATA");
  // The test binary has no ../share/whisper-speedtest beside it: the source tree's data/ is next.
  EXPECT_EQ(data_dir(), fs::path(WST_SOURCE_DIR) / "data");
}

TEST(Catalog, OpenaiFileNameAndShaComeFromTheUrl) {
  const Catalog& c = repo_catalog();
  for (const auto& name : c.names()) {
    const Artifact& a = c.artifact(name, Format::kOpenai);
    ASSERT_EQ(a.files.size(), 1u) << name;
    std::string url = a.url;
    auto last = url.rfind('/');
    auto prev = url.rfind('/', last - 1);
    EXPECT_EQ(a.files[0].name(), url.substr(last + 1)) << name;
    EXPECT_EQ(a.files[0].name(), name + ".pt") << name;
    EXPECT_EQ(*a.files[0].sha256, url.substr(prev + 1, last - prev - 1)) << name;
    EXPECT_EQ(url.rfind(c.openai_base_url() + "/", 0), 0u) << url;
  }
  // The first fault of the tool we replace: "large" is large-v3.pt, never large.pt.
  EXPECT_EQ(c.artifact("large", Format::kOpenai).files[0].name(), "large-v3.pt");
  EXPECT_EQ(*c.artifact("large", Format::kOpenai).files[0].sha256,
            "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb");
  EXPECT_EQ(c.artifact("turbo", Format::kOpenai).files[0].name(), "large-v3-turbo.pt");
}

TEST(Catalog, HubRepos) {
  const Catalog& c = repo_catalog();
  EXPECT_EQ(c.artifact("tiny.en", Format::kCt2).repo, "Systran/faster-whisper-tiny.en");
  EXPECT_EQ(c.artifact("turbo", Format::kCt2).repo, "mobiuslabsgmbh/faster-whisper-large-v3-turbo");
  EXPECT_EQ(c.artifact("large-v2", Format::kHf).repo, "openai/whisper-large-v2");
  EXPECT_EQ(c.artifact("base", Format::kGgml).files[0].name(), "ggml-base.bin");
  EXPECT_EQ(c.artifact("base", Format::kGgml).repo, "ggerganov/whisper.cpp");
  EXPECT_TRUE(c.artifact("base", Format::kGgml).files[0].sha1.has_value());
  // whisper.cpp's q8_0 files: upstream has them for every model but large-v1 and large-v3.
  EXPECT_EQ(c.artifact("tiny.en", Format::kGgmlQ8_0).files[0].name(), "ggml-tiny.en-q8_0.bin");
  EXPECT_EQ(c.artifact("turbo", Format::kGgmlQ8_0).files[0].name(), "ggml-large-v3-turbo-q8_0.bin");
  EXPECT_EQ(*c.artifact("base", Format::kGgmlQ8_0).files[0].sha256,
            "c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9");
  EXPECT_TRUE(c.artifact("base", Format::kGgmlQ8_0).single_file());
  EXPECT_EQ(c.find_artifact("large-v3", Format::kGgmlQ8_0), nullptr);
  EXPECT_EQ(c.find_artifact("large-v1", Format::kGgmlQ8_0), nullptr);
  EXPECT_EQ(c.model("large").arch.n_mels, 128);
  EXPECT_EQ(c.model("medium").arch.n_mels, 80);
  EXPECT_EQ(c.model("turbo").arch.n_text_layer, 4);
}

TEST(Catalog, ImplementationFormats) {
  const Catalog& c = repo_catalog();
  EXPECT_EQ(c.formats_for("faster-whisper"), std::vector<Format>{Format::kCt2});
  EXPECT_EQ(c.formats_for("openai-whisper"), std::vector<Format>{Format::kOpenai});
  EXPECT_EQ(c.formats_for("whisper.cpp"), std::vector<Format>{Format::kGgml});
  EXPECT_EQ(c.formats_for("transformers"), std::vector<Format>{Format::kHf});
  EXPECT_EQ(c.formats_for("mlx-whisper"), std::vector<Format>{Format::kMlx});
  EXPECT_EQ(c.formats_for("whisper.cpp-q8_0"), std::vector<Format>{Format::kGgmlQ8_0});
  EXPECT_EQ(c.formats_for("native-cpu").size(), 6u);
  EXPECT_EQ(c.formats_for("native-cuda").size(), 6u);
  EXPECT_EQ(parse_format("ggml-q8_0"), Format::kGgmlQ8_0);
  EXPECT_EQ(format_id(Format::kGgmlQ8_0), "ggml-q8_0");
  try {
    c.formats_for("whisperx");
    FAIL() << "no error for an unknown implementation";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown implementation 'whisperx'"), std::string::npos) << e.what();
  }
}

TEST(Catalog, UnknownModelNamesTheKnownOnes) {
  try {
    repo_catalog().canonical("huge");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("unknown model 'huge'"), std::string::npos) << m;
    EXPECT_NE(m.find("large-v3-turbo"), std::string::npos) << m;
  }
}

// Rewrites one part of the repo catalog and expects load() to fail with `message`.
void expect_rejected(const std::string& from, const std::string& to, const std::string& message) {
  std::ifstream in(fs::path(WST_SOURCE_DIR) / "data" / "catalog.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  test::TempDir t;
  auto p = t.write("catalog.json", text);
  try {
    Catalog::load(p);
    FAIL() << "accepted: " << to;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("catalog.json"), std::string::npos) << e.what();
  }
}

TEST(Catalog, RejectsHostileNames) {
  expect_rejected("\"name\": \"model.bin\"", "\"name\": \"../../../etc/passwd\"", "unsafe file name '../../../etc/passwd'");
  expect_rejected("\"name\": \"model.bin\"", "\"name\": \"/etc/passwd\"", "unsafe file name '/etc/passwd'");
  expect_rejected("\"repo\": \"Systran/faster-whisper-tiny.en\"", "\"repo\": \"../evil\"", "unsafe repo id '../evil'");
  expect_rejected("\"repo\": \"Systran/faster-whisper-tiny.en\"", "\"repo\": \"a/b/c\"", "unsafe repo id 'a/b/c'");
  expect_rejected("d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03/tiny.en.pt", "nothex/..",
                  "no SHA-256");
  expect_rejected("\"large\": \"large-v3\"", "\"large\": \"large-v9\"", "unknown model");
}

TEST(Catalog, RejectsMalformedFiles) {
  test::TempDir t;
  try {
    Catalog::load(t.write("catalog.json", "{ not json"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
  try {
    Catalog::load(t / "absent.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read the model catalog"), std::string::npos) << e.what();
  }
}

// For every name and alias and every published format: put files exactly where the downloader would
// write them, then the checker must call the artifact complete and the loader must find those same files.
TEST(Catalog, LoaderCheckerDownloaderAgree) {
  const Catalog& c = repo_catalog();
  std::vector<std::string> names = c.names();
  for (const auto& [alias, target] : c.aliases()) names.push_back(alias);
  size_t n_checked = 0;
  for (const auto& name : names) {
    for (Format f : kAllFormats) {
      const Artifact* art = c.find_artifact(name, f);
      if (!art) continue;
      SCOPED_TRACE(name + " / " + std::string(format_id(f)));
      test::TempDir t;
      Resolver r(c, dirs_under(t.path()));
      const std::string commit(40, 'c');
      std::vector<fs::path> written;
      for (const PlannedFile& pf : plan_download(r, *art, DownloadOptions{})) {
        std::string content = "bytes of " + pf.names[0];
        if (pf.hub) {
          fs::path tmp = t.write("tmp/" + pf.names[0], content);
          hf_commit_file(pf.dir, art->revision, commit, pf.names[0], sha256_hex(content), tmp);
          written.push_back(pf.final_path(0, commit));
        } else {
          fs::create_directories(pf.dir);
          std::ofstream(pf.final_path(0), std::ios::binary) << content;
          written.push_back(pf.final_path(0));
        }
        EXPECT_TRUE(fs::exists(written.back()));
      }
      Probe home = r.probe(*art, r.download_home(*art), Verify::kSize);
      EXPECT_EQ(home.status, Status::kComplete) << home.detail;
      auto found = r.find(name, {f}, Verify::kSize);
      ASSERT_TRUE(found.has_value());
      EXPECT_EQ(found->location, r.download_home(*art));
      EXPECT_EQ(found->files, written);
      ++n_checked;
    }
  }
  // mlx is not published for large-v1; the two aliases have all five; ggml-q8_0 for 10 models and turbo.
  EXPECT_EQ(n_checked, 12u * 5u - 1u + 2u * 5u + 10u + 1u);
}

TEST(Catalog, LargeIsLargeV3Pt) {
  const Catalog& c = repo_catalog();
  test::TempDir t;
  Resolver r(c, dirs_under(t.path()));
  t.write("whisper/large.pt", "old name");
  EXPECT_FALSE(r.find("large", {Format::kOpenai}, Verify::kSize).has_value());
  t.write("whisper/large-v3.pt", "a checkpoint");
  auto found = r.find("large", {Format::kOpenai}, Verify::kSize);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->path, t.path() / "whisper" / "large-v3.pt");
  EXPECT_EQ(found->location, Location::kOpenaiCache);
}

}  // namespace
}  // namespace wst::models
