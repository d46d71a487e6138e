// Downloads of catalog artifacts through libcurl, into the cache each format shares with its home tool:
// OpenAI checkpoints into OpenAI's cache, hub repos (hf, ct2, ggml, mlx) into the Hugging Face hub cache
// in huggingface_hub's layout (see hf_cache.h).
//
// Each file: lock (flock) -> already there? done -> GET into <final>.incomplete, resuming with Range ->
// verify size and SHA-256/SHA-1 (catalog, or the HF LFS etag) -> fsync + rename into place. A failed
// check deletes the partial file: nothing broken is ever left under a final name.
// Transient failures (connection drops, 5xx, 429, stalls) are retried with exponential back-off; 401, 403
// and 404 fail at once with a clear message. Offline mode fails before any connection is opened.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "models/catalog.h"
#include "models/resolver.h"

namespace wst::models {

struct DownloadOptions {
  // Never open a connection (--offline, HF_HUB_OFFLINE=1).
  bool offline = false;
  // Replaces the catalog's OpenAI CDN prefix (mirrors, tests); empty = catalog default.
  // Env: WHISPER_SPEEDTEST_OPENAI_URL.
  std::string openai_base_url;
  // Hugging Face endpoint; empty = catalog default. Env: HF_ENDPOINT (as huggingface_hub).
  std::string hf_endpoint;
  // Sent as "Authorization: Bearer" to the hub endpoint only. Env: HF_TOKEN.
  std::string hf_token;
  // Attempts after the first on transient errors; env WHISPER_SPEEDTEST_RETRIES.
  int n_retries = 5;
  // First back-off; doubles each retry, capped at 30 s. Env WHISPER_SPEEDTEST_BACKOFF_MS.
  int backoff_ms = 1000;
  // Connection set-up limit.
  long connect_timeout_s = 30;
  // A transfer slower than 1 byte/s for this long counts as stalled. Env WHISPER_SPEEDTEST_STALL_TIMEOUT.
  long stall_timeout_s = 60;
  // Progress bar on stderr; from_env() turns it on only when stderr is a terminal.
  bool progress = false;

  static DownloadOptions from_env();
};

// One file of an artifact as the downloader sees it: where it comes from and where it lands.
struct PlannedFile {
  std::vector<std::string> urls;   // one per accepted name (vocabulary.json, vocabulary.txt), preferred first
  std::vector<std::string> names;  // the catalog's names, same order
  const FileSpec* spec = nullptr;
  // Final path for names[i]. For the HF cache, under snapshots/<commit>/ (the commit comes from the server).
  std::filesystem::path final_path(size_t i, const std::string& commit = {}) const;
  std::filesystem::path dir;       // OpenAI cache dir, or the HF repo dir (models--org--name)
  bool hub = false;
};
std::vector<PlannedFile> plan_download(const Resolver& resolver, const Artifact& art, const DownloadOptions& opts);

// Places a finished, verified blob into the HF cache: blobs/<etag> (renamed from `tmp`),
// snapshots/<commit>/<filename> -> ../../blobs/<etag>, refs/<revision> = commit.
void hf_commit_file(const std::filesystem::path& repo_dir, const std::string& revision, const std::string& commit,
                    const std::string& filename, const std::string& etag, const std::filesystem::path& tmp);

// Downloads every missing file of the artifact (optional ones when the server has them) and returns its
// probe at the download home. Throws wst::Error naming the model and the problem.
Probe download_artifact(const Resolver& resolver, const Artifact& art, const DownloadOptions& opts);

// The bytes a download of the artifact would still need, when the catalog knows every size.
std::optional<uint64_t> download_size(const Artifact& art);

}  // namespace wst::models
