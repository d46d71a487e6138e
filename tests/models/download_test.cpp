// Downloads against a real HTTP server on 127.0.0.1 (tests/support/http_server.py) serving files the
// test made: full download, resume after a dropped connection, checksum failure, 404, 401/HF_TOKEN,
// stall timeout, two concurrent downloads, offline mode, the HF cache layout (read back by the real
// huggingface_hub), and no download at all when a model is already in another tool's cache.
#include "models/download.h"

#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "models/hf_cache.h"
#include "support/error_of.h"
#include "support/http_server.h"
#include "support/paths.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"
#include "support/test_catalog.h"
#include "util/errors.h"
#include "util/paths.h"
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

// The catalog's copy with no size and no checksum for tiny.en's hub files (as the real catalog has for Hugging
// Face and MLX files) and none for its OpenAI checkpoint's size (as the real catalog); loaded from <t>/data-null.
Catalog catalog_without_sizes(const Env& e) {
  nlohmann::json j = nlohmann::json::parse(e.read(e.tc.path));
  for (auto& f : j["models"]["tiny.en"]["formats"]["ct2"]["files"]) f["size_bytes"] = f["sha256"] = nullptr;
  j["models"]["tiny.en"]["formats"]["openai"].erase("size_bytes");
  e.t.write("data-null/catalog.json", j.dump(1));
  return Catalog::load(e.t / "data-null" / "catalog.json");
}

using test::error_of;

std::string git_blob_id(const std::string& bytes) {
  test::TempDir d;
  return test::capture("git hash-object '" + d.write("f", bytes).string() + "'");
}

// Without a catalog checksum, hub files are verified as huggingface_hub takes them from the hub's answer to
// HEAD: size from X-Linked-Size (else Content-Length), contents from the ETag (SHA-256 of an LFS file, git's
// blob SHA-1 of a file kept in git). The loopback server answers like the hub (http_server.py).
TEST(Download, HubEtagAndSizeVerifyWhatTheCatalogDoesNotKnow) {
  const std::string repo_dir = "models--test-org--faster-whisper-tiny.en";
  {
    Env e;
    Catalog cat = catalog_without_sizes(e);
    e.serve_ct2("tiny.en");
    START_SERVER(server, e);
    Resolver r(cat, e.dirs());
    const Artifact& art = cat.artifact("tiny.en", Format::kCt2);
    ASSERT_FALSE(art.files[0].sha256.has_value());
    download_artifact(r, art, e.opts(server));
    const fs::path repo = e.t / "hub" / repo_dir;
    // model.bin (over 1 KiB: LFS on the server) is named by its SHA-256, config.json (in git) by its blob id.
    const std::string& bin = e.tc.file("tiny.en", "model.bin");
    const std::string& config = e.tc.file("tiny.en", "config.json");
    ASSERT_LT(config.size(), 1024u);
    EXPECT_EQ(fs::read_symlink(repo / "snapshots" / kCommit / "model.bin").filename(), sha256_hex(bin));
    const std::string config_id = git_blob_id(config);
    ASSERT_EQ(config_id.size(), 40u);
    EXPECT_EQ(fs::read_symlink(repo / "snapshots" / kCommit / "config.json").filename(), config_id);
    EXPECT_EQ(r.probe(art, Location::kHfCache, Verify::kChecksum).status, Status::kComplete);
    // The checker uses the same names: a changed byte in the git-stored file is caught by its blob id.
    std::string bad = config;
    bad[bad.size() / 2] ^= 1;
    std::ofstream(repo / "blobs" / config_id, std::ios::binary | std::ios::trunc) << bad;
    Probe p = r.probe(art, Location::kHfCache, Verify::kChecksum);
    EXPECT_EQ(p.status, Status::kCorrupt);
    EXPECT_EQ(p.detail, "config.json: git blob SHA-1 " + git_blob_id(bad) + " does not match its etag " + config_id);
  }
  struct Case {
    std::vector<std::string> server_args;
    std::string file, error;
  };
  const Env ref;
  const std::string bin = ref.tc.file("tiny.en", "model.bin"), config = ref.tc.file("tiny.en", "config.json");
  auto flipped = [](std::string s) {
    s[s.size() / 2] ^= 1;
    return s;
  };
  const std::vector<Case> cases = {
      {{"--corrupt", "model.bin"}, "model.bin",
       "tiny.en (test-org/faster-whisper-tiny.en model.bin): checksum mismatch: SHA-256 " + sha256_hex(flipped(bin)) +
           ", expected " + sha256_hex(bin) + " (the hub's ETag); the download was discarded"},
      {{"--corrupt", "config.json"}, "config.json",
       "tiny.en (test-org/faster-whisper-tiny.en config.json): checksum mismatch: git blob SHA-1 " +
           git_blob_id(flipped(config)) + ", expected " + git_blob_id(config) + " (the hub's ETag); the download was discarded"},
      {{"--wrong-size", "model.bin"}, "model.bin",
       "tiny.en (test-org/faster-whisper-tiny.en model.bin): size " + std::to_string(bin.size()) + " bytes, expected " +
           std::to_string(bin.size() + 1) + " (the hub's X-Linked-Size); the download was discarded"},
  };
  for (const auto& c : cases) {
    Env e;
    Catalog cat = catalog_without_sizes(e);
    e.serve_ct2("tiny.en");
    test::HttpServer server(e.serve, c.server_args);
    ASSERT_TRUE(server.ok());
    Resolver r(cat, e.dirs());
    DownloadOptions o = e.opts(server);
    o.n_retries = 0;
    EXPECT_EQ(error_of([&] { download_artifact(r, cat.artifact("tiny.en", Format::kCt2), o); }), c.error);
    // Nothing of the bad file is kept: no blob, no partial, no snapshot entry.
    const fs::path repo = e.t / "hub" / repo_dir;
    EXPECT_FALSE(fs::exists(repo / "snapshots" / kCommit / c.file)) << c.file;
    std::error_code ec;
    for (const auto& b : fs::directory_iterator(repo / "blobs", ec)) {
      EXPECT_EQ(b.path().filename().string().find(".incomplete"), std::string::npos) << b.path();
      EXPECT_NE(e.read(b.path()), flipped(c.file == "model.bin" ? bin : config)) << b.path();
    }
    EXPECT_NE(r.probe(cat.artifact("tiny.en", Format::kCt2), Location::kHfCache, Verify::kChecksum).status,
              Status::kComplete);
  }
}

// A disk that fills up during a download, for real: a 64 KiB tmpfs mounted over the cache in a private mount
// namespace (unshare -m; CI runs as root). The checkpoint's size is not in the catalog (as in the real one),
// so nothing stops the download before the disk is full. Then the same namespace gets room and the next run
// resumes. A hub file whose size the hub states is refused before any byte is fetched.
TEST(Download, DiskFullKeepsAResumablePartialAndMovesNothingIntoPlace) {
  Env e;
  catalog_without_sizes(e);
  e.serve_openai("tiny.en");
  e.serve_ct2("tiny.en");
  START_SERVER(server, e);
  const fs::path out = e.t / "out", cache = e.t / "cache" / "whisper", hub = e.t / "hub";
  fs::create_directories(out);
  fs::create_directories(cache);
  fs::create_directories(hub);
  auto env = e.cli_env(server);
  env["WHISPER_SPEEDTEST_DATA"] = (e.t / "data-null").string();
  env["WHISPER_SPEEDTEST_RETRIES"] = "0";
  const std::string script =
      "mount -t tmpfs -o size=64k wst-test-full \"$W\" 2> \"$O/mount-error\" || exit 3\n"
      "mount -t tmpfs -o size=64k wst-test-full \"$H\" 2> \"$O/mount-error\" || exit 3\n"
      "\"$CLI\" download tiny.en --format openai > \"$O/out1\" 2> \"$O/err1\"; echo $? > \"$O/rc1\"\n"
      "ls -A \"$W\" > \"$O/ls1\"\n"
      "cp \"$W/tiny.en.pt.incomplete\" \"$O/partial\" 2> /dev/null\n"
      "\"$CLI\" download tiny.en --format ct2 > \"$O/out3\" 2> \"$O/err3\"; echo $? > \"$O/rc3\"\n"
      // Room for model.bin's blob to the byte page, none for the ref written after it.
      "mount -o remount,size=$BIN_PAGES_BYTES \"$H\" || exit 4\n"
      "\"$CLI\" download tiny.en --format ct2 > \"$O/out4\" 2> \"$O/err4\"; echo $? > \"$O/rc4\"\n"
      "ls -A \"$H/$REPO/refs\" > \"$O/refs4\" 2>&1\n"
      "mount -o remount,size=4m \"$H\" || exit 4\n"
      "\"$CLI\" download tiny.en --format ct2 > \"$O/out5\" 2> \"$O/err5\"; echo $? > \"$O/rc5\"\n"
      "cat \"$H/$REPO/refs/main\" > \"$O/ref5\"\n"
      "mount -o remount,size=4m \"$W\" || exit 4\n"
      "\"$CLI\" download tiny.en --format openai > \"$O/out2\" 2> \"$O/err2\"; echo $? > \"$O/rc2\"\n"
      "ls -A \"$W\" > \"$O/ls2\"\n"
      "cp \"$W/tiny.en.pt\" \"$O/final\" 2> /dev/null\n"
      "exit 0\n";
  e.t.write("full.sh", script);
  std::string cmd = "env";
  for (const auto& [k, v] : env) cmd += " '" + k + "=" + v + "'";
  const size_t bin_pages = (e.tc.file("tiny.en", "model.bin").size() + 4095) / 4096;
  cmd += " 'W=" + cache.string() + "' 'H=" + hub.string() + "' 'O=" + out.string() + "' 'CLI=" WST_CLI_PATH "'";
  cmd += " 'REPO=models--test-org--faster-whisper-tiny.en' 'BIN_PAGES_BYTES=" + std::to_string(bin_pages * 4096) + "'";
  cmd += " unshare -m sh '" + (e.t / "full.sh").string() + "' 2> '" + (out / "unshare-error").string() + "'";
  const int status = std::system(cmd.c_str());
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (rc != 0 && !fs::exists(out / "rc1")) {
    std::string why = e.read(out / "unshare-error") + e.read(out / "mount-error");
    while (!why.empty() && why.back() == '\n') why.pop_back();
    GTEST_SKIP() << "cannot mount a small tmpfs in a private mount namespace here (needs root or CAP_SYS_ADMIN): " << why;
  }
  ASSERT_EQ(rc, 0) << e.read(out / "unshare-error");
  const std::string& full = e.tc.file("tiny.en", "tiny.en.pt");
  ASSERT_GT(full.size(), 64u * 1024) << "the checkpoint must not fit";

  // 1. Disk full: one line, exit 1, nothing under the final name, the partial kept as a prefix of the file.
  EXPECT_EQ(e.read(out / "rc1"), "1\n");
  const std::string partial = e.read(out / "partial");
  ASSERT_GT(partial.size(), 0u);
  ASSERT_LT(partial.size(), full.size());
  EXPECT_EQ(partial, full.substr(0, partial.size())) << "the kept partial must be a prefix of the download";
  EXPECT_EQ(e.read(out / "err1"), "whisper-speedtest: error: tiny.en (tiny.en.pt): disk full after " +
                                      std::to_string(partial.size()) + " bytes in " + (cache / "tiny.en.pt.incomplete").string() +
                                      " (kept there; free space and run again to resume)\n");
  EXPECT_EQ(e.read(out / "ls1"), ".locks\ntiny.en.pt.incomplete\n");

  // 2. A hub file of a size the hub states (X-Linked-Size; the catalog has none) is refused before its GET.
  EXPECT_EQ(e.read(out / "rc3"), "1\n");
  const std::string bin_size = format_bytes(e.tc.file("tiny.en", "model.bin").size());
  EXPECT_EQ(e.read(out / "err3"), "whisper-speedtest: error: tiny.en (test-org/faster-whisper-tiny.en model.bin): not "
                                  "enough disk space in " + (hub / "models--test-org--faster-whisper-tiny.en" / "blobs").string() +
                                  ": need " + bin_size + ", 64.0 KiB free\n");
  {
    // The refused run asked for model.bin's headers (HEAD) and nothing else before the next run's HEAD.
    const auto reqs = server.requests();
    std::vector<std::string> hub_requests;
    for (const auto& l : reqs)
      if (l.find(" /test-org/") != std::string::npos) hub_requests.push_back(l.substr(0, l.rfind(' ')));
    ASSERT_GE(hub_requests.size(), 2u);
    EXPECT_EQ(hub_requests[0], "HEAD /test-org/faster-whisper-tiny.en/resolve/main/model.bin");
    EXPECT_EQ(hub_requests[1], "HEAD /test-org/faster-whisper-tiny.en/resolve/main/model.bin")
        << "no GET between the refused run and the next one";
  }

  // 3. A disk that is full when the ref (refs/main) is written after a verified blob: one line, no empty ref
  // left behind; with room, the next run completes the repo without fetching the blob again.
  EXPECT_EQ(e.read(out / "rc4"), "1\n");
  EXPECT_EQ(e.read(out / "err4"), "whisper-speedtest: error: " +
                                      (hub / "models--test-org--faster-whisper-tiny.en" / "refs" / "main").string() +
                                      ": cannot write: No space left on device\n");
  EXPECT_EQ(e.read(out / "refs4"), "") << "neither refs/main nor its temporary file may stay";
  EXPECT_EQ(e.read(out / "rc5"), "0\n") << e.read(out / "err5");
  EXPECT_EQ(e.read(out / "ref5"), kCommit);
  EXPECT_EQ(server.count("GET /test-org/faster-whisper-tiny.en/resolve/main/model.bin"), 1u);

  // 4. With room, the next run resumes where the partial ends and verifies the whole file.
  EXPECT_EQ(e.read(out / "rc2"), "0\n") << e.read(out / "err2");
  EXPECT_EQ(e.read(out / "final"), full);
  EXPECT_EQ(e.read(out / "ls2"), ".locks\ntiny.en.pt\n");
  auto gets = server.requests();
  gets.erase(std::remove_if(gets.begin(), gets.end(), [](const std::string& l) { return l.rfind("GET /models/", 0) != 0; }),
             gets.end());
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[1].substr(gets[1].rfind(' ') + 1), "bytes=" + std::to_string(partial.size()) + "-");
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
