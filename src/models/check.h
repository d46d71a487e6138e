// What check-models reports: per implementation and model, the format and copy it would use, the status
// of that format in every cache, and a summary. A scan lists every problem rather than stopping at the
// first (as huggingface_hub's scan_cache_dir).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "models/resolver.h"

namespace wst::models {

struct CheckRow {
  std::string implementation;
  std::string requested;        // the name as asked ("large")
  std::string model;            // canonical ("large-v3")
  Format format = Format::kOpenai;
  Probe chosen;                 // the copy it would use, or the best partial one, or the download home
  std::vector<Probe> caches;    // the chosen format in every location, search order
  const Artifact* artifact = nullptr;
};

struct CheckSummary {
  int n_ready = 0, n_missing = 0, n_incomplete = 0, n_corrupt = 0;
  uint64_t download_known_bytes = 0;   // sum of known sizes still to download
  int n_download_unknown = 0;          // artifacts to download whose size the catalog does not know
  std::map<std::string, uint64_t> free_bytes;  // download directory -> free space
};

// Rows for every (implementation, model) pair, implementations outermost. Unknown names throw wst::Error.
// An `explicit_path` (used with one model) is searched before every cache; `caches` then starts with it.
std::vector<CheckRow> check_models(const Resolver& r, const std::vector<std::string>& implementations,
                                   const std::vector<std::string>& models, Verify level,
                                   const std::filesystem::path& explicit_path = {});
CheckSummary summarize(const Resolver& r, const std::vector<CheckRow>& rows);

}  // namespace wst::models
