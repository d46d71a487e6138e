// Downloads against a real HTTP server on 127.0.0.1 (tests/support/http_server.py) serving files the
// test made: full download, resume after a dropped connection, checksum failure, 404, 401/HF_TOKEN,
// stall timeout, two concurrent downloads, offline mode, the HF cache layout (read back by the real
// huggingface_hub), and no download at all when a model is already in another tool's cache.
#include "models/download.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/hf_cache.h"
#include "support/http_server.h"
#include "support/paths.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"
#include "support/test_catalog.h"
#include "util/errors.h"
#include "util/sha256.h"

namespace wst::models {
namespace {

namespace fs = std::filesystem;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

struct Env {
  test::TempDir t;
  test::TestCatalog tc = test::write_test_catalog(t / "data");
  Catalog cat = Catalog::load(tc.path);
  fs::path serve = t / "serve";

  Env() { fs::create_directories(serve); }
  // Serves the OpenAI checkpoint of `model` (or other bytes under its URL).
  void serve_openai(const std::string& model, const std::string* bytes = nullptr) {
    const Artifact& a = cat.artifact(model, Format::kOpenai);
    std::string sha = *a.files[0].sha256;
    t.write("serve/models/" + sha + "/" + model + ".pt", bytes ? *bytes : tc.file(model, model + ".pt"));
  }
  void serve_ct2(const std::string& model) {
    for (std::string n : {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"})
      t.write("serve/hub/test-org/faster-whisper-" + model + "/" + n, tc.file(model, n));
  }
  CacheDirs dirs() const {
    CacheDirs d;
    d.models_dir = t / "wst";
    d.openai_dir = t / "cache" / "whisper";
    d.hf_hub_dir = t / "hub";
    return d;
  }
  DownloadOptions opts(const test::HttpServer& s) const {
    DownloadOptions o;
    o.openai_base_url = s.url() + "/models";
    o.hf_endpoint = s.url();
    o.n_retries = 3;
    o.backoff_ms = 20;
    o.stall_timeout_s = 2;
    o.connect_timeout_s = 5;
    return o;
  }
  std::map<std::string, std::string> cli_env(const test::HttpServer& s) const {
    return {{"HOME", (t / "home").string()},
            {"XDG_CACHE_HOME", (t / "cache").string()},
            {"HF_HUB_CACHE", (t / "hub").string()},
            {"WHISPER_SPEEDTEST_MODELS", (t / "wst").string()},
            {"WHISPER_SPEEDTEST_DATA", (t / "data").string()},
            {"WHISPER_SPEEDTEST_OPENAI_URL", s.url() + "/models"},
            {"HF_ENDPOINT", s.url()},
            {"HF_HUB_OFFLINE", "0"},
            {"HF_TOKEN", ""},
            {"WHISPER_SPEEDTEST_RETRIES", "2"},
            {"WHISPER_SPEEDTEST_BACKOFF_MS", "20"}};
  }
  std::string read(const fs::path& p) const { return test::slurp(p); }
};

#define START_SERVER(var, env, ...)                      \
  test::HttpServer var((env).serve, {__VA_ARGS__});      \
  ASSERT_TRUE(var.ok()) << "loopback test server did not start"

TEST(Download, FullDownloadVerified) {
  Env e;
  e.serve_openai("tiny.en");
  START_SERVER(server, e);
  Resolver r(e.cat, e.dirs());
  Probe p = download_artifact(r, e.cat.artifact("tiny.en", Format::kOpenai), e.opts(server));
  EXPECT_EQ(p.status, Status::kComplete);
  fs::path dest = e.t / "cache" / "whisper" / "tiny.en.pt";
  EXPECT_EQ(p.path, dest);
  EXPECT_EQ(e.read(dest), e.tc.file("tiny.en", "tiny.en.pt"));
  EXPECT_FALSE(fs::exists(dest.string() + ".incomplete"));
  EXPECT_EQ(server.count("GET "), 1u);
  // Present now: a second call opens no connection.
  download_artifact(r, e.cat.artifact("tiny", Format::kOpenai), e.opts(server));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(Download, ResumesAfterDroppedConnection) {
  Env e;
  e.serve_openai("base.en");
  START_SERVER(server, e, "--mode", "drop");
  Resolver r(e.cat, e.dirs());
  download_artifact(r, e.cat.artifact("base.en", Format::kOpenai), e.opts(server));
  EXPECT_EQ(e.read(e.t / "cache" / "whisper" / "base.en.pt"), e.tc.file("base.en", "base.en.pt"));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].substr(reqs[0].rfind(' ') + 1), "-");
  // The second request asks only for the rest: the half the first one delivered.
  size_t half = e.tc.file("base.en", "base.en.pt").size() / 2;
  EXPECT_EQ(reqs[1].substr(reqs[1].rfind(' ') + 1), "bytes=" + std::to_string(half) + "-");
}

TEST(Download, ResumesPartialFileLeftByEarlierRun) {
  Env e;
  e.serve_openai("base.en");
  const std::string& full = e.tc.file("base.en", "base.en.pt");
  e.t.write("cache/whisper/base.en.pt.incomplete", full.substr(0, 5000));
  START_SERVER(server, e);
  Resolver r(e.cat, e.dirs());
  EXPECT_EQ(r.probe(e.cat.artifact("base.en", Format::kOpenai), Location::kOpenaiCache, Verify::kSize).status,
            Status::kIncomplete);
  download_artifact(r, e.cat.artifact("base.en", Format::kOpenai), e.opts(server));
  EXPECT_EQ(e.read(e.t / "cache" / "whisper" / "base.en.pt"), full);
  EXPECT_EQ(server.requests(), std::vector<std::string>{"GET /models/" +
                                                        *e.cat.artifact("base.en", Format::kOpenai).files[0].sha256 +
                                                        "/base.en.pt bytes=5000-"});
}

TEST(Download, WrongChecksumLeavesNoFile) {
  Env e;
  std::string bad = e.tc.file("small.en", "small.en.pt");
  bad[100] ^= 1;  // same size, different bytes
  e.serve_openai("small.en", &bad);
  START_SERVER(server, e);
  Resolver r(e.cat, e.dirs());
  try {
    download_artifact(r, e.cat.artifact("small.en", Format::kOpenai), e.opts(server));
    FAIL() << "no error";
  } catch (const Error& err) {
    std::string m = err.what();
    EXPECT_NE(m.find("small.en (small.en.pt): checksum mismatch: SHA-256 " + sha256_hex(bad)), std::string::npos) << m;
    EXPECT_NE(m.find("the download was discarded"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(e.t / "cache" / "whisper" / "small.en.pt"));
  EXPECT_FALSE(fs::exists(e.t / "cache" / "whisper" / "small.en.pt.incomplete"));
}

TEST(Download, NotFoundIsClearAndNotRetried) {
  Env e;
  START_SERVER(server, e);
  Resolver r(e.cat, e.dirs());
  try {
    download_artifact(r, e.cat.artifact("medium.en", Format::kOpenai), e.opts(server));
    FAIL() << "no error";
  } catch (const Error& err) {
    std::string m = err.what();
    EXPECT_NE(m.find("medium.en (medium.en.pt): HTTP 404 Not Found: " + server.url() + "/models/"), std::string::npos) << m;
  }
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_FALSE(fs::exists(e.t / "cache" / "whisper" / "medium.en.pt"));
}

TEST(Download, StalledServerTimesOut) {
  Env e;
  e.serve_openai("tiny.en");
  START_SERVER(server, e, "--mode", "stall");
  Resolver r(e.cat, e.dirs());
  DownloadOptions o = e.opts(server);
  o.stall_timeout_s = 1;
  o.n_retries = 1;
  auto t0 = std::chrono::steady_clock::now();
  try {
    download_artifact(r, e.cat.artifact("tiny.en", Format::kOpenai), o);
    FAIL() << "no error";
  } catch (const Error& err) {
    std::string m = err.what();
    EXPECT_NE(m.find("download failed after 2 attempts: timed out: no data from"), std::string::npos) << m;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_EQ(server.count("GET "), 2u);
  EXPECT_FALSE(fs::exists(e.t / "cache" / "whisper" / "tiny.en.pt"));
}

TEST(Download, RetriesServerErrorsWithBackoff) {
  Env e;
  e.serve_openai("tiny.en");
  e.serve_ct2("tiny.en");
  START_SERVER(server, e, "--mode", "flaky");
  Resolver r(e.cat, e.dirs());
  download_artifact(r, e.cat.artifact("tiny.en", Format::kOpenai), e.opts(server));
  EXPECT_EQ(e.read(e.t / "cache" / "whisper" / "tiny.en.pt"), e.tc.file("tiny.en", "tiny.en.pt"));
  EXPECT_EQ(server.count("GET "), 2u);  // 503, then the file
  download_artifact(r, e.cat.artifact("tiny.en", Format::kCt2), e.opts(server));
  EXPECT_EQ(server.count("HEAD "), 8u);  // each of the 4 files: 503, then its headers
  DownloadOptions no_retry = e.opts(server);
  no_retry.n_retries = 0;
  e.serve_openai("base.en");
  try {
    download_artifact(r, e.cat.artifact("base.en", Format::kOpenai), no_retry);
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("base.en (base.en.pt): download failed after 1 attempts: HTTP 503 for "),
              std::string::npos) << err.what();
  }
}

TEST(Download, NotEnoughDiskSpaceIsClearAndFetchesNothing) {
  Env e;
  // A catalog entry whose size no disk can hold.
  std::string text = e.read(e.tc.path);
  std::string from = "\"size_bytes\": " + std::to_string(e.tc.file("tiny.en", "tiny.en.pt").size());
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "\"size_bytes\": 1152921504606846976");
  std::ofstream(e.tc.path, std::ios::trunc) << text;
  Catalog cat = Catalog::load(e.tc.path);
  e.serve_openai("tiny.en");
  START_SERVER(server, e);
  Resolver r(cat, e.dirs());
  try {
    download_artifact(r, cat.artifact("tiny.en", Format::kOpenai), e.opts(server));
    FAIL() << "no error";
  } catch (const Error& err) {
    std::string m = err.what();
    EXPECT_NE(m.find("tiny.en (tiny.en.pt): not enough disk space in " + (e.t / "cache" / "whisper").string() +
                     ": need 1048576.0 TiB, "),
              std::string::npos) << m;
  }
  EXPECT_EQ(server.count("GET "), 0u);
}

TEST(Download, HfTokenIsSentAnd401IsClear) {
  Env e;
  e.serve_ct2("tiny.en");
  START_SERVER(server, e, "--mode", "auth", "--token", "s3cret");
  Resolver r(e.cat, e.dirs());
  DownloadOptions o = e.opts(server);
  try {
    download_artifact(r, e.cat.artifact("tiny.en", Format::kCt2), o);
    FAIL() << "no error";
  } catch (const Error& err) {
    std::string m = err.what();
    EXPECT_NE(m.find("HTTP 401 Unauthorized"), std::string::npos) << m;
    EXPECT_NE(m.find("set HF_TOKEN"), std::string::npos) << m;
  }
  o.hf_token = "s3cret";
  Probe p = download_artifact(r, e.cat.artifact("tiny.en", Format::kCt2), o);
  EXPECT_EQ(p.status, Status::kComplete);
}

TEST(Download, WritesHfCacheLayout) {
  Env e;
  e.serve_ct2("tiny.en");
  START_SERVER(server, e);
  Resolver r(e.cat, e.dirs());
  Probe p = download_artifact(r, e.cat.artifact("tiny.en", Format::kCt2), e.opts(server));
  fs::path repo = e.t / "hub" / "models--test-org--faster-whisper-tiny.en";
  EXPECT_EQ(p.path, repo / "snapshots" / kCommit);
  EXPECT_EQ(e.read(repo / "refs" / "main"), kCommit);
  const std::string& bin = e.tc.file("tiny.en", "model.bin");
  EXPECT_EQ(fs::read_symlink(repo / "snapshots" / kCommit / "model.bin"), fs::path("../../blobs") / sha256_hex(bin));
  EXPECT_EQ(e.read(repo / "blobs" / sha256_hex(bin)), bin);
  EXPECT_EQ(e.read(repo / "snapshots" / kCommit / "vocabulary.txt"), e.tc.file("tiny.en", "vocabulary.txt"));
  EXPECT_TRUE(fs::exists(e.t / "hub" / ".locks" / "models--test-org--faster-whisper-tiny.en" / (sha256_hex(bin) + ".lock")));
  auto found = r.find("tiny.en", {Format::kCt2}, Verify::kChecksum);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->location, Location::kHfCache);
}

TEST(Download, ReplacesCorruptHfBlob) {
  Env e;
  e.serve_ct2("tiny.en");
  START_SERVER(server, e);
  Resolver r(e.cat, e.dirs());
  const Artifact& art = e.cat.artifact("tiny.en", Format::kCt2);
  download_artifact(r, art, e.opts(server));
  const std::string& bin = e.tc.file("tiny.en", "model.bin");
  fs::path blob = e.t / "hub" / "models--test-org--faster-whisper-tiny.en" / "blobs" / sha256_hex(bin);
  std::string bad = bin;
  bad[40] ^= 1;
  std::ofstream(blob, std::ios::binary | std::ios::trunc) << bad;
  // Size alone cannot see it; the checksum (the blob's own etag) can.
  EXPECT_EQ(r.probe(art, Location::kHfCache, Verify::kSize).status, Status::kComplete);
  EXPECT_EQ(r.probe(art, Location::kHfCache, Verify::kChecksum).status, Status::kCorrupt);
  fs::remove(e.t / "hub" / "models--test-org--faster-whisper-tiny.en" / "snapshots" / kCommit / "config.json");
  fs::resize_file(blob, 10);  // now also the wrong size: replaced on the next download
  download_artifact(r, art, e.opts(server));
  EXPECT_EQ(e.read(blob), bin);
  EXPECT_EQ(r.probe(art, Location::kHfCache, Verify::kChecksum).status, Status::kComplete);
}

// Names from the network (X-Repo-Commit, ETag) never become paths unless they are plain hex.
TEST(Download, HostileHeadersNeverBecomePaths) {
  Env e;
  e.serve_ct2("tiny.en");
  Resolver r(e.cat, e.dirs());
  const Artifact& art = e.cat.artifact("tiny.en", Format::kCt2);
  {
    START_SERVER(server, e, "--commit", "../../../../escaped");
    try {
      download_artifact(r, art, e.opts(server));
      FAIL() << "no error";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("server sent no valid X-Repo-Commit ('../../../../escaped')"),
                std::string::npos) << err.what();
    }
  }
  {
    START_SERVER(server, e, "--etag", "../../../escaped");
    try {
      download_artifact(r, art, e.opts(server));
      FAIL() << "no error";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("server sent an unusable ETag ('../../../escaped')"), std::string::npos)
          << err.what();
    }
  }
  EXPECT_FALSE(fs::exists(e.t / "escaped"));
  EXPECT_FALSE(fs::exists(e.t / "hub" / "escaped"));
  EXPECT_FALSE(fs::exists(e.t / "hub" / "models--test-org--faster-whisper-tiny.en" / "refs" / "main"));
}

TEST(Download, FlagsOverrideEnvironmentEndpoints) {
  Env e;
  e.serve_ct2("tiny.en");
  e.serve_openai("tiny.en");
  START_SERVER(server, e);
  auto env = e.cli_env(server);
  env["HF_ENDPOINT"] = "http://127.0.0.1:9";  // discard port: nothing listens; the flag must win
  env["WHISPER_SPEEDTEST_OPENAI_URL"] = "http://127.0.0.1:9/models";
  auto ct2 = test::run_cli({"download", "tiny.en", "--format", "ct2", "--hf-endpoint", server.url()}, env);
  EXPECT_EQ(ct2.rc, 0) << ct2.err;
  EXPECT_EQ(e.read(e.t / "hub" / "models--test-org--faster-whisper-tiny.en" / "snapshots" / kCommit / "model.bin"),
            e.tc.file("tiny.en", "model.bin"));
  auto pt = test::run_cli({"download", "tiny.en", "--format", "openai", "--openai-base-url", server.url() + "/models"}, env);
  EXPECT_EQ(pt.rc, 0) << pt.err;
  EXPECT_EQ(e.read(e.t / "cache" / "whisper" / "tiny.en.pt"), e.tc.file("tiny.en", "tiny.en.pt"));
  auto list = test::run_cli({"models", "list", "--json"}, env);
  ASSERT_EQ(list.rc, 0);
  auto j = nlohmann::json::parse(list.out);
  ASSERT_EQ(j["models"].size(), 2u) << list.out;
  EXPECT_EQ(j["models"][0]["format"], "openai");
  EXPECT_EQ(j["models"][0]["location"], "openai-cache");
  EXPECT_EQ(j["models"][1]["format"], "ct2");
  EXPECT_EQ(j["models"][1]["location"], "hf-cache");
  EXPECT_EQ(j["total_bytes"], j["models"][0]["size_bytes"].get<uint64_t>() + j["models"][1]["size_bytes"].get<uint64_t>());
}

TEST(HfCache, HuggingfaceHubReadsOurDownload) {
  if (test::capture(test::python() + " -c 'import huggingface_hub' 2>/dev/null && echo yes") != "yes") {
    if (test::models_required()) FAIL() << "huggingface_hub not importable (WST_REQUIRE_MODELS=1)";
    GTEST_SKIP() << "pip install huggingface_hub";
  }
  Env e;
  e.serve_ct2("tiny.en");
  START_SERVER(server, e);
  Resolver r(e.cat, e.dirs());
  download_artifact(r, e.cat.artifact("tiny.en", Format::kCt2), e.opts(server));
  for (std::string name : {"model.bin", "vocabulary.txt"}) {
    std::string cmd = "HF_HUB_OFFLINE=1 HF_HUB_CACHE='" + (e.t / "hub").string() + "' " + test::python() +
                      " -c 'import sys, hashlib; from huggingface_hub import hf_hub_download; "
                      "p = hf_hub_download(\"test-org/faster-whisper-tiny.en\", \"" + name +
                      "\", local_files_only=True); print(hashlib.sha256(open(p, \"rb\").read()).hexdigest())'";
    EXPECT_EQ(test::capture(cmd), sha256_hex(e.tc.file("tiny.en", name))) << cmd;
  }
}

TEST(Download, ConcurrentDownloadsProduceOneFile) {
  Env e;
  e.serve_openai("tiny.en");
  START_SERVER(server, e, "--rate", "400000");  // ~0.5 s for the file: the two runs overlap
  test::TempDir d1, d2;
  auto env = e.cli_env(server);
  pid_t a = test::start_cli({"download", "tiny.en", "--format", "openai"}, env, d1.path());
  pid_t b = test::start_cli({"download", "tiny.en", "--format", "openai"}, env, d2.path());
  auto ra = test::wait_cli(a, d1.path());
  auto rb = test::wait_cli(b, d2.path());
  EXPECT_EQ(ra.rc, 0) << ra.err;
  EXPECT_EQ(rb.rc, 0) << rb.err;
  EXPECT_EQ(e.read(e.t / "cache" / "whisper" / "tiny.en.pt"), e.tc.file("tiny.en", "tiny.en.pt"));
  EXPECT_FALSE(fs::exists(e.t / "cache" / "whisper" / "tiny.en.pt.incomplete"));
  EXPECT_EQ(server.count("GET "), 1u) << "the second process must wait for the first, then find the file";
  // stderr is not a terminal here: no progress bar.
  EXPECT_EQ(ra.err.find('\r'), std::string::npos) << ra.err;
  EXPECT_EQ(rb.err.find('\r'), std::string::npos) << rb.err;
}

TEST(Download, OfflineOpensNoConnection) {
  Env e;
  e.serve_openai("tiny.en");
  e.serve_ct2("tiny.en");
  START_SERVER(server, e);
  auto env = e.cli_env(server);
  auto r1 = test::run_cli({"download", "tiny.en", "--format", "openai", "--offline"}, env);
  EXPECT_EQ(r1.rc, 1);
  EXPECT_EQ(r1.err,
            "whisper-speedtest: error: tiny.en (openai): not found locally and offline mode is on (--offline or "
            "HF_HUB_OFFLINE=1); nothing was downloaded\n");
  env["HF_HUB_OFFLINE"] = "1";
  auto r2 = test::run_cli({"download", "tiny.en", "--format", "ct2"}, env);
  EXPECT_EQ(r2.rc, 1);
  EXPECT_NE(r2.err.find("tiny.en (ct2): not found locally and offline mode is on"), std::string::npos) << r2.err;
  auto r3 = test::run_cli({"check-models", "-m", "tiny.en", "-i", "openai-whisper", "--download", "--yes"}, env);
  EXPECT_EQ(r3.rc, 1);
  EXPECT_NE(r3.err.find("offline mode is on"), std::string::npos) << r3.err;
  EXPECT_EQ(server.requests().size(), 0u);
}

// The second fault of the tool we replace: a model already in another tool's cache was downloaded again.
// Here ct2 tiny.en sits in the HF cache and the OpenAI base.en checkpoint in ~/.cache/whisper (temp
// HOME); check-models --download, download and the loader's lookup must not send a single request.
TEST(Download, NoDownloadWhenPresentInAnotherCache) {
  Env e;
  e.serve_openai("base.en");
  e.serve_ct2("tiny.en");
  START_SERVER(server, e);
  auto env = e.cli_env(server);
  env.erase("XDG_CACHE_HOME");  // ~/.cache/whisper under the temp HOME
  e.t.write("home/.cache/whisper/base.en.pt", e.tc.file("base.en", "base.en.pt"));
  for (std::string n : {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}) {
    fs::path repo = e.t / "hub" / "models--test-org--faster-whisper-tiny.en";
    fs::path tmp = e.t.write("tmp/" + n, e.tc.file("tiny.en", n));
    hf_commit_file(repo, "main", std::string(40, 'f'), n, sha256_hex(e.tc.file("tiny.en", n)), tmp);
  }
  auto check2 = test::run_cli({"check-models", "-m", "tiny.en", "-i", "faster-whisper", "--download", "--yes"}, env);
  EXPECT_EQ(check2.rc, 0) << check2.err;
  auto check3 = test::run_cli({"check-models", "-m", "base.en", "-i", "openai-whisper", "--download", "--yes"}, env);
  EXPECT_EQ(check3.rc, 0) << check3.err;
  auto dl1 = test::run_cli({"download", "tiny.en", "--format", "ct2"}, env);
  EXPECT_EQ(dl1.rc, 0) << dl1.err;
  EXPECT_NE(dl1.out.find("tiny.en (ct2) is already present"), std::string::npos) << dl1.out;
  auto dl2 = test::run_cli({"download", "base.en", "--format", "openai"}, env);
  EXPECT_EQ(dl2.rc, 0) << dl2.err;
  EXPECT_NE(dl2.out.find("[openai-cache]"), std::string::npos) << dl2.out;
  // The benchmark's lookup before loading (the engine is not merged yet): Resolver::find over every cache.
  CacheDirs dirs;
  dirs.models_dir = e.t / "wst";
  dirs.openai_dir = e.t / "home" / ".cache" / "whisper";
  dirs.hf_hub_dir = e.t / "hub";
  Resolver r(e.cat, dirs);
  EXPECT_TRUE(r.find("tiny.en", e.cat.formats_for("native-cpu"), Verify::kChecksum).has_value());
  EXPECT_TRUE(r.find("base.en", {Format::kOpenai}, Verify::kChecksum).has_value());
  EXPECT_EQ(server.requests(), std::vector<std::string>{}) << "nothing may be downloaded again";
}

}  // namespace
}  // namespace wst::models
