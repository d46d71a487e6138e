// Finds a model on disk before anything is downloaded. Search order, first complete copy wins:
//   1. an explicit path the user gave;
//   2. the project's models directory: --models-dir, $WHISPER_SPEEDTEST_MODELS,
//      else $XDG_CACHE_HOME/whisper-speedtest or ~/.cache/whisper-speedtest; layout <dir>/<model>/<format>/;
//   3. OpenAI's cache (openai format): $XDG_CACHE_HOME/whisper or ~/.cache/whisper (as openai-whisper);
//   4. the Hugging Face hub cache (hf, ct2, ggml, mlx): $HF_HUB_CACHE, else $HF_HOME/hub,
//      else $XDG_CACHE_HOME/huggingface/hub or ~/.cache/huggingface/hub (as huggingface_hub);
//   5. a whisper.cpp models folder (ggml) when configured: --whisper-cpp-dir or $WHISPER_CPP_MODELS.
// File names always come from the catalog.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/catalog.h"
#include "models/verify.h"

namespace wst::models {

enum class Location { kPath, kModelsDir, kOpenaiCache, kHfCache, kWhisperCpp };
inline constexpr Location kSearchOrder[] = {Location::kModelsDir, Location::kOpenaiCache, Location::kHfCache,
                                            Location::kWhisperCpp};
std::string_view location_id(Location l);  // "path", "models-dir", "openai-cache", "hf-cache", "whisper.cpp"

struct CacheDirs {
  std::filesystem::path models_dir;                     // the project's own directory
  std::filesystem::path openai_dir;                     // OpenAI's cache
  std::filesystem::path hf_hub_dir;                     // Hugging Face hub cache
  std::optional<std::filesystem::path> whisper_cpp_dir; // only when configured

  // From the environment; a non-empty argument overrides it (command-line flags).
  static CacheDirs from_env(const std::filesystem::path& models_dir_flag = {},
                            const std::filesystem::path& whisper_cpp_flag = {});
};

// The state of one artifact in one place.
struct Probe {
  Location location = Location::kPath;
  Format format = Format::kOpenai;
  Status status = Status::kMissing;
  std::filesystem::path path;              // the file (single-file formats) or directory; empty when n/a
  std::vector<std::filesystem::path> files;  // files found, in catalog order
  uint64_t size_bytes = 0;                 // bytes on disk of the files found (and partials)
  std::string detail;                      // why it is not complete; one line
};

class Resolver {
 public:
  Resolver(const Catalog& catalog, CacheDirs dirs) : catalog_(catalog), dirs_(std::move(dirs)) {}
  const CacheDirs& dirs() const { return dirs_; }
  const Catalog& catalog() const { return catalog_; }

  // Where the artifact's files are (or would be) at a location; nullopt when the location does not hold
  // that format (status n/a). For the HF cache this reads refs/<revision>.
  std::optional<std::filesystem::path> artifact_dir(const Artifact& art, Location loc) const;

  // State of the artifact at one location, and at every location in search order.
  Probe probe(const Artifact& art, Location loc, Verify level) const;
  std::vector<Probe> probe_all(const Artifact& art, Verify level) const;
  // State of the artifact at a user-given file or directory.
  Probe probe_path(const Artifact& art, const std::filesystem::path& path, Verify level) const;

  // First complete copy of `model` in any of `formats` (in that order of preference), searching the
  // locations in order; nullopt when none is complete anywhere.
  // An `explicit_path` (file or directory, format detected from its contents) is tried first.
  std::optional<Probe> find(std::string_view model, const std::vector<Format>& formats, Verify level,
                            const std::filesystem::path& explicit_path = {}) const;

  // Where a download of the artifact goes: OpenAI cache for openai, the HF hub cache for the rest.
  Location download_home(const Artifact& art) const;

 private:
  Probe probe_dir(const Artifact& art, const std::filesystem::path& dir, Location loc, Verify level,
                  const std::filesystem::path& containment_root) const;
  const Catalog& catalog_;
  CacheDirs dirs_;
};

}  // namespace wst::models
