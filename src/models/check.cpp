// check-models' scan; see check.h.
#include "models/check.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <set>

#include "models/download.h"

namespace wst::models {

namespace fs = std::filesystem;

namespace {
int rank(Status s) {  // which non-complete copy to report: the one closest to usable
  switch (s) {
    case Status::kComplete: return 4;
    case Status::kIncomplete: return 3;
    case Status::kCorrupt: return 2;
    case Status::kMissing: return 1;
    case Status::kNa: return 0;
  }
  return 0;
}
}  // namespace

std::vector<CheckRow> check_models(const Resolver& r, const std::vector<std::string>& implementations,
                                   const std::vector<std::string>& models, Verify level, const fs::path& explicit_path) {
  const std::optional<Format> explicit_format = explicit_path.empty() ? std::nullopt : detect_format(explicit_path);
  const Catalog& cat = r.catalog();
  std::map<std::pair<std::string, Format>, std::vector<Probe>> memo;  // each artifact is read once
  std::vector<CheckRow> rows;
  for (const auto& impl : implementations) {
    const auto& formats = cat.formats_for(impl);
    for (const auto& requested : models) {
      CheckRow row;
      row.implementation = impl;
      row.requested = requested;
      row.model = cat.canonical(requested);
      bool have = false;
      for (Format f : formats) {
        const Artifact* art = cat.find_artifact(row.model, f);
        if (!art) continue;
        auto key = std::make_pair(row.model, f);
        if (!memo.count(key)) {
          std::vector<Probe> probes;
          if (!explicit_path.empty()) {
            Probe p;
            p.location = Location::kPath;
            p.format = f;
            p.status = Status::kNa;
            p.path = explicit_path;
            if (explicit_format == f) p = r.probe_path(*art, explicit_path, level);
            probes.push_back(p);
          }
          for (Probe& p : r.probe_all(*art, level)) probes.push_back(std::move(p));
          memo[key] = std::move(probes);
        }
        const auto& probes = memo[key];
        for (const Probe& p : probes) {
          if (!have || rank(p.status) > rank(row.chosen.status)) {
            row.chosen = p;
            row.caches = probes;
            row.format = f;
            row.artifact = art;
            have = true;
          }
        }
        if (row.chosen.status == Status::kComplete) break;
      }
      if (!have) {
        // No format this implementation can use is published for the model: say so instead of hiding it.
        row.format = formats.front();
        row.chosen.status = Status::kNa;
        row.chosen.format = row.format;
        row.chosen.detail = fmt::format("{} is not published in a format {} can use", row.model, impl);
        rows.push_back(std::move(row));
        continue;
      }
      if (row.chosen.status == Status::kMissing) {
        // Report where a download would go: the first format's home.
        for (Format f : formats) {
          const Artifact* art = cat.find_artifact(row.model, f);
          if (!art) continue;
          row.format = f;
          row.artifact = art;
          row.caches = memo[{row.model, f}];
          for (const Probe& p : row.caches)
            if (p.location == r.download_home(*art)) row.chosen = p;
          break;
        }
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

CheckSummary summarize(const Resolver& r, const std::vector<CheckRow>& rows) {
  CheckSummary s;
  std::set<std::pair<std::string, Format>> to_download;
  for (const auto& row : rows) {
    switch (row.chosen.status) {
      case Status::kNa: continue;
      case Status::kComplete: ++s.n_ready; break;
      case Status::kIncomplete: ++s.n_incomplete; break;
      case Status::kCorrupt: ++s.n_corrupt; break;
      default: ++s.n_missing; break;
    }
    if (row.chosen.status == Status::kComplete || !row.artifact) continue;
    if (!to_download.insert({row.model, row.format}).second) continue;
    if (auto n = download_size(*row.artifact)) s.download_known_bytes += *n;
    else ++s.n_download_unknown;
    fs::path dir = r.download_home(*row.artifact) == Location::kOpenaiCache ? r.dirs().openai_dir : r.dirs().hf_hub_dir;
    std::error_code ec;
    while (!dir.empty() && !fs::exists(dir, ec) && dir.has_parent_path() && dir != dir.parent_path()) dir = dir.parent_path();
    struct statvfs st {};
    if (::statvfs(dir.c_str(), &st) == 0)
      s.free_bytes[dir.string()] = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }
  return s;
}

}  // namespace wst::models
