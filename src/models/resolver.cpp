// Search over every cache for a model; see resolver.h for the order and docs/MODELS.md for the layouts.
#include "models/resolver.h"

#include <fmt/format.h>

#include <cstdlib>

#include "models/hf_cache.h"
#include "util/errors.h"
#include "util/paths.h"

namespace wst::models {

namespace fs = std::filesystem;

std::string_view location_id(Location l) {
  switch (l) {
    case Location::kPath: return "path";
    case Location::kModelsDir: return "models-dir";
    case Location::kOpenaiCache: return "openai-cache";
    case Location::kHfCache: return "hf-cache";
    case Location::kWhisperCpp: return "whisper.cpp";
  }
  return "?";
}

namespace {
fs::path env_path(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? fs::path(v) : fs::path();
}
}  // namespace

CacheDirs CacheDirs::from_env(const fs::path& models_dir_flag, const fs::path& whisper_cpp_flag) {
  CacheDirs d;
  fs::path cache = xdg_cache_home();
  d.models_dir = !models_dir_flag.empty() ? models_dir_flag : env_path("WHISPER_SPEEDTEST_MODELS");
  if (d.models_dir.empty()) d.models_dir = cache / "whisper-speedtest";
  // openai-whisper: os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "whisper")
  d.openai_dir = cache / "whisper";
  d.hf_hub_dir = env_path("HF_HUB_CACHE");
  if (d.hf_hub_dir.empty()) {
    fs::path hf_home = env_path("HF_HOME");
    d.hf_hub_dir = (hf_home.empty() ? cache / "huggingface" : hf_home) / "hub";
  }
  fs::path wcpp = !whisper_cpp_flag.empty() ? whisper_cpp_flag : env_path("WHISPER_CPP_MODELS");
  if (!wcpp.empty()) d.whisper_cpp_dir = wcpp;
  return d;
}

std::optional<fs::path> Resolver::artifact_dir(const Artifact& art, Location loc) const {
  switch (loc) {
    case Location::kPath: return std::nullopt;
    case Location::kModelsDir:
      return safe_join(dirs_.models_dir, art.model, "model name") / std::string(format_id(art.format));
    case Location::kOpenaiCache:
      if (art.format != Format::kOpenai) return std::nullopt;
      return dirs_.openai_dir;
    case Location::kHfCache: {
      if (art.format == Format::kOpenai) return std::nullopt;
      fs::path repo = hf::repo_dir(dirs_.hf_hub_dir, art.repo);
      auto commit = hf::read_ref(repo, art.revision);
      if (!commit) return fs::path();  // no snapshot yet: empty path = missing (maybe incomplete)
      return hf::snapshot_dir(repo, *commit);
    }
    case Location::kWhisperCpp:
      if ((art.format != Format::kGgml && art.format != Format::kGgmlQ8_0) || !dirs_.whisper_cpp_dir) return std::nullopt;
      return *dirs_.whisper_cpp_dir;
  }
  return std::nullopt;
}

Probe Resolver::probe_dir(const Artifact& art, const fs::path& dir, Location loc, Verify level,
                          const fs::path& containment_root) const {
  Probe p;
  p.location = loc;
  p.format = art.format;
  p.path = art.single_file() ? dir / art.files.front().name() : dir;
  size_t n_required = 0, n_found = 0, n_partial = 0;
  std::vector<FileCheck> problems;
  std::error_code ec;
  for (const FileSpec& spec : art.files) {
    if (!spec.optional) ++n_required;
    std::optional<fs::path> found;
    for (const auto& name : spec.names) {
      fs::path f = safe_join(dir, name, "catalog file");
      if (fs::exists(f, ec)) { found = f; break; }
      fs::path part = f;
      part += ".incomplete";
      if (fs::exists(part, ec)) {
        ++n_partial;
        p.size_bytes += fs::file_size(part, ec);
      }
    }
    if (!found) continue;
    if (!containment_root.empty() && !resolves_inside(*found, containment_root)) {
      problems.push_back({Status::kCorrupt, fmt::format("{}: symlink points outside the cache", found->filename().string())});
      continue;
    }
    if (!spec.optional) ++n_found;
    p.files.push_back(*found);
    p.size_bytes += fs::file_size(*found, ec);
    // An HF blob is named by its etag: the contents' SHA-256 (LFS) or git blob SHA-1 (see check_file).
    std::optional<std::string> blob_etag;
    if (loc == Location::kHfCache && fs::is_symlink(*found, ec)) {
      std::string blob = fs::read_symlink(*found, ec).filename().string();
      if (hf::is_safe_etag(blob)) blob_etag = blob;
    }
    FileCheck c = check_file(*found, spec, art.format, level, blob_etag);
    if (c.status != Status::kComplete) problems.push_back(c);
  }
  if (n_found == 0 && problems.empty()) {
    bool partial = n_partial > 0 || (loc == Location::kHfCache && hf::has_incomplete_blobs(containment_root));
    p.status = partial ? Status::kIncomplete : Status::kMissing;
    p.detail = partial ? "download not finished (.incomplete file present)" : "";
    return p;
  }
  if (!problems.empty()) {
    // Corrupt outranks incomplete: a corrupt file must be replaced, not resumed.
    p.status = Status::kIncomplete;
    for (const auto& c : problems)
      if (c.status == Status::kCorrupt) p.status = Status::kCorrupt;
    p.detail = problems.front().detail;
    return p;
  }
  if (n_found < n_required) {
    p.status = Status::kIncomplete;
    for (const FileSpec& spec : art.files) {
      if (spec.optional) continue;
      bool have = false;
      for (const auto& n : spec.names) have = have || fs::exists(dir / n, ec);
      if (!have) { p.detail = fmt::format("{} missing", spec.name()); break; }
    }
    return p;
  }
  p.status = Status::kComplete;
  return p;
}

Probe Resolver::probe(const Artifact& art, Location loc, Verify level) const {
  Probe p;
  p.location = loc;
  p.format = art.format;
  try {
    auto dir = artifact_dir(art, loc);
    if (!dir) {
      p.status = Status::kNa;
      return p;
    }
    fs::path root;
    if (loc == Location::kHfCache) {
      root = hf::repo_dir(dirs_.hf_hub_dir, art.repo);
      if (dir->empty()) {  // no ref yet
        p.path = root;
        bool partial = hf::has_incomplete_blobs(root);
        p.status = partial ? Status::kIncomplete : Status::kMissing;
        if (partial) p.detail = "download not finished (.incomplete blob present)";
        return p;
      }
    }
    return probe_dir(art, *dir, loc, level, root);
  } catch (const Error& e) {
    p.status = Status::kCorrupt;
    p.detail = e.what();
    return p;
  }
}

std::vector<Probe> Resolver::probe_all(const Artifact& art, Verify level) const {
  std::vector<Probe> out;
  for (Location loc : kSearchOrder) out.push_back(probe(art, loc, level));
  return out;
}

Probe Resolver::probe_path(const Artifact& art, const fs::path& path, Verify level) const {
  std::error_code ec;
  if (art.single_file() && !fs::is_directory(path, ec)) {
    Probe p;
    p.location = Location::kPath;
    p.format = art.format;
    p.path = path;
    if (!fs::exists(path, ec)) {
      p.status = Status::kMissing;
      p.detail = fmt::format("{}: not found", path.string());
      return p;
    }
    FileCheck c = check_file(path, art.files.front(), art.format, level);
    p.files.push_back(path);
    p.size_bytes = fs::file_size(path, ec);
    p.status = c.status;
    p.detail = c.detail;
    return p;
  }
  return probe_dir(art, path, Location::kPath, level, {});
}

std::optional<Probe> Resolver::find(std::string_view model, const std::vector<Format>& formats, Verify level,
                                    const fs::path& explicit_path) const {
  if (!explicit_path.empty()) {
    auto detected = detect_format(explicit_path);
    for (Format f : formats) {
      const Artifact* art = catalog_.find_artifact(model, f);
      if (!art || detected != f) continue;
      Probe p = probe_path(*art, explicit_path, level);
      if (p.status == Status::kComplete) return p;
    }
  }
  for (Format f : formats) {
    const Artifact* art = catalog_.find_artifact(model, f);
    if (!art) continue;
    for (Location loc : kSearchOrder) {
      Probe p = probe(*art, loc, level);
      if (p.status == Status::kComplete) return p;
    }
  }
  return std::nullopt;
}

Location Resolver::download_home(const Artifact& art) const {
  return art.format == Format::kOpenai ? Location::kOpenaiCache : Location::kHfCache;
}

}  // namespace wst::models
