// Resolver: cache directories from the environment, search order, the HF hub layout, and path safety
// against hostile names from refs files and symlinks.
#include "models/resolver.h"

#include <gtest/gtest.h>

#include <fstream>

#include "models/hf_cache.h"
#include "support/env_guard.h"
#include "support/temp_dir.h"
#include "support/test_catalog.h"
#include "util/errors.h"
#include "util/paths.h"
#include "util/sha256.h"

namespace wst::models {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  test::TempDir t;
  test::TestCatalog tc = test::write_test_catalog(t / "data");
  Catalog cat = Catalog::load(tc.path);
  CacheDirs dirs() const {
    CacheDirs d;
    d.models_dir = t / "wst";
    d.openai_dir = t / "whisper";
    d.hf_hub_dir = t / "hub";
    return d;
  }
  // Writes a file into the HF hub cache exactly as huggingface_hub lays it out.
  fs::path put_hf(const std::string& repo, const std::string& name, const std::string& bytes,
                  const std::string& commit = std::string(40, 'a')) const {
    fs::path rd = t / "hub" / hf::repo_folder(repo);
    std::string etag = sha256_hex(bytes);
    fs::create_directories(rd / "blobs");
    std::ofstream(rd / "blobs" / etag, std::ios::binary) << bytes;
    fs::create_directories(rd / "snapshots" / commit);
    fs::create_symlink(fs::path("../../blobs") / etag, rd / "snapshots" / commit / name);
    fs::create_directories(rd / "refs");
    std::ofstream(rd / "refs" / "main") << commit;
    return rd;
  }
  void put_ct2_hf(const std::string& model) const {
    for (std::string n : {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"})
      put_hf("test-org/faster-whisper-" + model, n, tc.file(model, n));
  }
};

TEST(Resolver, CacheDirsFromEnvironment) {
  test::EnvGuard env;
  env.set("HOME", "/home/u");
  env.unset("XDG_CACHE_HOME");
  env.unset("HF_HOME");
  env.unset("HF_HUB_CACHE");
  env.unset("WHISPER_SPEEDTEST_MODELS");
  env.unset("WHISPER_CPP_MODELS");
  CacheDirs d = CacheDirs::from_env();
  EXPECT_EQ(d.models_dir, "/home/u/.cache/whisper-speedtest");
  EXPECT_EQ(d.openai_dir, "/home/u/.cache/whisper");
  EXPECT_EQ(d.hf_hub_dir, "/home/u/.cache/huggingface/hub");
  EXPECT_FALSE(d.whisper_cpp_dir.has_value());

  env.set("XDG_CACHE_HOME", "/x");
  d = CacheDirs::from_env();
  EXPECT_EQ(d.models_dir, "/x/whisper-speedtest");
  EXPECT_EQ(d.openai_dir, "/x/whisper");
  EXPECT_EQ(d.hf_hub_dir, "/x/huggingface/hub");

  env.set("HF_HOME", "/hfhome");
  EXPECT_EQ(CacheDirs::from_env().hf_hub_dir, "/hfhome/hub");
  env.set("HF_HUB_CACHE", "/hubcache");
  EXPECT_EQ(CacheDirs::from_env().hf_hub_dir, "/hubcache");
  env.set("WHISPER_SPEEDTEST_MODELS", "/m");
  EXPECT_EQ(CacheDirs::from_env().models_dir, "/m");
  EXPECT_EQ(CacheDirs::from_env("/flag").models_dir, "/flag");  // --models-dir beats the environment
  env.set("WHISPER_CPP_MODELS", "/wcpp");
  EXPECT_EQ(*CacheDirs::from_env().whisper_cpp_dir, "/wcpp");
  EXPECT_EQ(*CacheDirs::from_env({}, "/w2").whisper_cpp_dir, "/w2");
}

TEST(Resolver, FindsHfSnapshot) {
  Fixture f;
  f.put_ct2_hf("tiny.en");
  Resolver r(f.cat, f.dirs());
  auto p = r.find("tiny.en", {Format::kCt2}, Verify::kChecksum);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->location, Location::kHfCache);
  EXPECT_EQ(p->path, f.t / "hub" / "models--test-org--faster-whisper-tiny.en" / "snapshots" / std::string(40, 'a'));
  EXPECT_EQ(p->files.size(), 4u);
  Probe hdr = r.probe(f.cat.artifact("tiny.en", Format::kCt2), Location::kHfCache, Verify::kHeader);
  EXPECT_EQ(hdr.status, Status::kComplete) << hdr.detail;
}

TEST(Resolver, ModelsDirComesBeforeOtherCaches) {
  Fixture f;
  f.t.write("whisper/base.en.pt", f.tc.file("base.en", "base.en.pt"));
  f.t.write("wst/base.en/openai/base.en.pt", f.tc.file("base.en", "base.en.pt"));
  Resolver r(f.cat, f.dirs());
  auto p = r.find("base.en", {Format::kOpenai}, Verify::kSize);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->location, Location::kModelsDir);
  fs::remove_all(f.t / "wst");
  p = r.find("base.en", {Format::kOpenai}, Verify::kSize);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->location, Location::kOpenaiCache);
}

TEST(Resolver, FormatPreferenceAndNa) {
  Fixture f;
  f.t.write("whisper/tiny.en.pt", f.tc.file("tiny.en", "tiny.en.pt"));
  Resolver r(f.cat, f.dirs());
  EXPECT_FALSE(r.find("tiny.en", {Format::kCt2}, Verify::kSize).has_value());
  auto p = r.find("tiny", {Format::kCt2, Format::kOpenai}, Verify::kSize);  // alias
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->format, Format::kOpenai);
  const Artifact& ct2 = f.cat.artifact("tiny.en", Format::kCt2);
  EXPECT_EQ(r.probe(ct2, Location::kOpenaiCache, Verify::kSize).status, Status::kNa);
  EXPECT_EQ(r.probe(ct2, Location::kWhisperCpp, Verify::kSize).status, Status::kNa);
}

TEST(Resolver, WhisperCppFolderOnlyWhenConfigured) {
  Fixture f;
  f.t.write("wcpp/ggml-small.en.bin", f.tc.file("small.en", "ggml-small.en.bin"));
  CacheDirs d = f.dirs();
  EXPECT_FALSE(Resolver(f.cat, d).find("small.en", {Format::kGgml}, Verify::kSize).has_value());
  d.whisper_cpp_dir = f.t / "wcpp";
  auto p = Resolver(f.cat, d).find("small.en", {Format::kGgml}, Verify::kChecksum);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->location, Location::kWhisperCpp);
}

TEST(Resolver, HfIncompleteBlobIsIncomplete) {
  Fixture f;
  f.t.write("hub/models--test-org--faster-whisper-tiny.en/blobs/" + std::string(64, 'b') + ".incomplete", "part");
  Resolver r(f.cat, f.dirs());
  Probe p = r.probe(f.cat.artifact("tiny.en", Format::kCt2), Location::kHfCache, Verify::kSize);
  EXPECT_EQ(p.status, Status::kIncomplete);
  EXPECT_NE(p.detail.find(".incomplete"), std::string::npos) << p.detail;
}

TEST(Resolver, HfTruncatedFileIsIncomplete) {
  Fixture f;
  f.put_ct2_hf("tiny.en");
  fs::path blob = f.t / "hub" / "models--test-org--faster-whisper-tiny.en" / "blobs" /
                  sha256_hex(f.tc.file("tiny.en", "model.bin"));
  fs::resize_file(blob, 1000);
  Resolver r(f.cat, f.dirs());
  Probe p = r.probe(f.cat.artifact("tiny.en", Format::kCt2), Location::kHfCache, Verify::kSize);
  EXPECT_EQ(p.status, Status::kIncomplete);
  EXPECT_NE(p.detail.find("model.bin: truncated: 1000 of"), std::string::npos) << p.detail;
}

TEST(Resolver, HfMissingFileInSnapshotIsIncomplete) {
  Fixture f;
  f.put_ct2_hf("tiny.en");
  fs::remove(f.t / "hub" / "models--test-org--faster-whisper-tiny.en" / "snapshots" / std::string(40, 'a') /
             "tokenizer.json");
  Resolver r(f.cat, f.dirs());
  Probe p = r.probe(f.cat.artifact("tiny.en", Format::kCt2), Location::kHfCache, Verify::kSize);
  EXPECT_EQ(p.status, Status::kIncomplete);
  EXPECT_EQ(p.detail, "tokenizer.json missing");
}

TEST(Resolver, CorruptChecksumIsCorrupt) {
  Fixture f;
  std::string bad = f.tc.file("small.en", "small.en.pt");
  bad[1000] ^= 0x55;
  f.t.write("whisper/small.en.pt", bad);
  Resolver r(f.cat, f.dirs());
  const Artifact& a = f.cat.artifact("small.en", Format::kOpenai);
  EXPECT_EQ(r.probe(a, Location::kOpenaiCache, Verify::kSize).status, Status::kComplete);
  Probe p = r.probe(a, Location::kOpenaiCache, Verify::kChecksum);
  EXPECT_EQ(p.status, Status::kCorrupt);
  EXPECT_NE(p.detail.find("small.en.pt: SHA-256"), std::string::npos) << p.detail;
}

TEST(Resolver, HostileRefIsCorruptNotFollowed) {
  Fixture f;
  f.put_ct2_hf("tiny.en");
  fs::path rd = f.t / "hub" / "models--test-org--faster-whisper-tiny.en";
  // A refs file naming a path outside the cache must never be used as one.
  std::ofstream(rd / "refs" / "main", std::ios::trunc) << "../../../../../../etc";
  Resolver r(f.cat, f.dirs());
  Probe p = r.probe(f.cat.artifact("tiny.en", Format::kCt2), Location::kHfCache, Verify::kSize);
  EXPECT_EQ(p.status, Status::kCorrupt);
  EXPECT_NE(p.detail.find("refs/main: not a commit hash"), std::string::npos) << p.detail;
  EXPECT_TRUE(p.files.empty());
}

TEST(Resolver, SnapshotSymlinkEscapeIsCorrupt) {
  Fixture f;
  f.put_ct2_hf("tiny.en");
  fs::path snap = f.t / "hub" / "models--test-org--faster-whisper-tiny.en" / "snapshots" / std::string(40, 'a');
  f.t.write("outside/secret", "not a model");
  fs::remove(snap / "config.json");
  fs::create_symlink("../../../../outside/secret", snap / "config.json");
  Resolver r(f.cat, f.dirs());
  Probe p = r.probe(f.cat.artifact("tiny.en", Format::kCt2), Location::kHfCache, Verify::kSize);
  EXPECT_EQ(p.status, Status::kCorrupt);
  EXPECT_EQ(p.detail, "config.json: symlink points outside the cache");
  fs::remove(snap / "config.json");
  fs::create_symlink(f.t / "outside" / "secret", snap / "config.json");  // absolute
  p = r.probe(f.cat.artifact("tiny.en", Format::kCt2), Location::kHfCache, Verify::kSize);
  EXPECT_EQ(p.status, Status::kCorrupt);
}

TEST(Resolver, ExplicitPath) {
  Fixture f;
  Resolver r(f.cat, f.dirs());
  const Artifact& a = f.cat.artifact("medium.en", Format::kOpenai);
  fs::path p = f.t.write("mine/medium.pt", f.tc.file("medium.en", "medium.en.pt"));
  EXPECT_EQ(r.probe_path(a, p, Verify::kChecksum).status, Status::kComplete);
  Probe missing = r.probe_path(a, f.t / "nope.pt", Verify::kSize);
  EXPECT_EQ(missing.status, Status::kMissing);
  EXPECT_NE(missing.detail.find("nope.pt: not found"), std::string::npos);
}

TEST(Resolver, SafeRelativeNames) {
  for (const char* ok : {"model.bin", "a/b.json", "vocabulary.txt", "..a", "a.."}) EXPECT_TRUE(is_safe_relative(ok)) << ok;
  for (const char* bad : {"", "/etc/passwd", "..", "../x", "a/../b", "a/..", "./a", "a//b", "a/", "a\\..\\b", "a\nb"})
    EXPECT_FALSE(is_safe_relative(bad)) << bad;
  try {
    safe_join("/cache", "../../etc/passwd", "file from server");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "file from server: unsafe name '../../etc/passwd' (must be a relative path without '..')");
  }
}

}  // namespace
}  // namespace wst::models
