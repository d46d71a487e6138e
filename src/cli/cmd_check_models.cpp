// `whisper-speedtest check-models [-m MODEL] [-i IMPLS] [--verify size|checksum|header|load] [--download]
// [--yes] [--json]`: per implementation, the model and format it would use, where it was found, the status
// in each cache and disk use; then a summary. Exit status: 0 when every row is ready, 2 when some are not,
// 1 on error.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "models/check.h"
#include "models/download.h"
#include "models/load_check.h"
#include "util/errors.h"
#include "util/paths.h"

namespace wst::cli {

using namespace wst::models;

namespace fs = std::filesystem;

namespace {

// A temporary directory for the silent clip, removed afterwards.
struct TempClipDir {
  fs::path path;
  TempClipDir() {
    std::string tmpl = (fs::temp_directory_path() / "wst-check-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw Error("cannot create a temporary directory");
    path = tmpl;
  }
  ~TempClipDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct Args {
  ModelCliOptions mo;
  std::vector<std::string> models, impls;
  std::string verify = "size";
  std::string model_path;
  bool download = false, yes = false, json = false;
  int load_timeout_s = 300;
};

std::vector<std::string> split_all(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    std::stringstream ss(s);
    std::string part;
    while (std::getline(ss, part, ','))
      if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::string summary_line(const CheckSummary& s) {
  std::string dl = format_bytes(s.download_known_bytes);
  if (s.n_download_unknown > 0)
    dl = s.download_known_bytes == 0 ? fmt::format("{} model(s) of unknown size", s.n_download_unknown)
                                     : fmt::format("{} + {} model(s) of unknown size", dl, s.n_download_unknown);
  return fmt::format("summary: {} ready, {} missing, {} incomplete, {} corrupt; download needed: {}", s.n_ready,
                     s.n_missing, s.n_incomplete, s.n_corrupt, dl);
}

nlohmann::json probe_json(const Probe& p) {
  return {{"location", location_id(p.location)}, {"status", status_id(p.status)},
          {"path", p.path.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.path.string())},
          {"size_bytes", p.size_bytes}, {"detail", p.detail}};
}

void print_json(const std::vector<CheckRow>& rows, const CheckSummary& s, Verify level) {
  nlohmann::json out;
  out["verify"] = verify_id(level);
  out["rows"] = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json caches = nlohmann::json::array();
    for (const auto& p : r.caches) caches.push_back(probe_json(p));
    out["rows"].push_back({{"implementation", r.implementation}, {"requested", r.requested}, {"model", r.model},
                           {"format", format_id(r.format)}, {"status", status_id(r.chosen.status)},
                           {"location", r.chosen.status == Status::kNa ? nlohmann::json(nullptr)
                                                                       : nlohmann::json(location_id(r.chosen.location))},
                           {"path", r.chosen.path.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.chosen.path.string())},
                           {"size_bytes", r.chosen.size_bytes}, {"detail", r.chosen.detail}, {"caches", caches}});
  }
  out["summary"] = {{"ready", s.n_ready},
                    {"missing", s.n_missing},
                    {"incomplete", s.n_incomplete},
                    {"corrupt", s.n_corrupt},
                    {"download_bytes", s.n_download_unknown ? nlohmann::json(nullptr) : nlohmann::json(s.download_known_bytes)},
                    {"download_known_bytes", s.download_known_bytes},
                    {"download_unknown_count", s.n_download_unknown},
                    {"free_bytes", s.free_bytes}};
  fmt::print("{}\n", out.dump(2));
}

void print_table(const std::vector<CheckRow>& rows, const CheckSummary& s) {
  // The first column is as wide as the longest id shown ("lightning-whisper-mlx"), at least 15.
  size_t w = 15;
  for (const auto& r : rows) w = std::max(w, r.implementation.size());
  fmt::print("{:<{}} {:<15} {:<7} {:<11} {:<13} {:>10}  {}\n", "IMPLEMENTATION", w, "MODEL", "FORMAT", "STATUS",
             "LOCATION", "SIZE", "PATH");
  for (const auto& r : rows) {
    bool here = r.chosen.status != Status::kMissing && r.chosen.status != Status::kNa;
    fmt::print("{:<{}} {:<15} {:<7} {:<11} {:<13} {:>10}  {}\n", r.implementation, w, r.model, format_id(r.format),
               status_id(r.chosen.status), here || r.chosen.status == Status::kMissing ? location_id(r.chosen.location) : "-",
               here ? format_bytes(r.chosen.size_bytes) : "-", r.chosen.path.empty() ? "-" : r.chosen.path.string());
    if (!r.chosen.detail.empty()) fmt::print("    {}\n", r.chosen.detail);
  }
  fmt::print("{}\n", summary_line(s));
  for (const auto& [dir, n] : s.free_bytes) fmt::print("free space: {} in {}\n", format_bytes(n), dir);
}

// --verify load: the header checks have passed (kLoad includes them); now each complete copy is loaded
// by a child `whisper-speedtest transcribe` on one second of silence. Each copy is loaded once.
void load_check_rows(std::vector<CheckRow>& rows, int timeout_s) {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  TempClipDir tmp;
  fs::path wav = tmp.path / "silence.wav";
  write_silent_wav(wav, 16000);
  std::map<std::string, FileCheck> done;
  for (auto& row : rows) {
    if (row.chosen.status != Status::kComplete) continue;
    if (row.format != Format::kCt2) {
      // The native engine reads CTranslate2 directories only so far; the header check stands for this copy.
      row.chosen.detail = "header checked; the native engine cannot load this format yet (TODO(#6))";
      continue;
    }
    std::string key = row.chosen.path.string() + "|" + std::string(format_id(row.format));
    if (!done.count(key)) done[key] = run_load_child(transcribe_argv(exe, row.chosen, wav), timeout_s);
    const FileCheck& c = done[key];
    if (c.status != Status::kComplete) {
      row.chosen.status = c.status;
      row.chosen.detail = c.detail;
    }
  }
}

void run(const Args& a, CLI::App& app) {
  const Catalog& cat = Catalog::instance();
  Verify level = parse_verify(a.verify);
  std::vector<std::string> models = split_all(a.models), impls = split_all(a.impls);
  if (models.empty()) models = cat.names();
  if (impls.empty()) impls = cat.implementations();
  std::error_code ec;
  if (!a.model_path.empty()) {
    if (models.size() != 1) throw Error("--model-path needs exactly one model name (-m)");
    if (!fs::exists(a.model_path, ec)) throw Error(fmt::format("{}: no such file or directory", a.model_path));
  }
  const fs::path explicit_path = a.model_path.empty() ? fs::path() : fs::absolute(a.model_path, ec);
  Resolver r(cat, a.mo.dirs());
  auto rows = check_models(r, impls, models, level, explicit_path);
  if (a.download) {
    std::vector<const CheckRow*> todo;
    std::set<std::pair<std::string, Format>> seen;
    for (const auto& row : rows)
      if (row.chosen.status != Status::kComplete && seen.insert({row.model, row.format}).second) todo.push_back(&row);
    if (!todo.empty()) {
      CheckSummary s = summarize(r, rows);
      if (!a.yes) {
        if (!::isatty(0))
          throw Error(fmt::format("{} model(s) to download; pass --yes to download without asking (stdin is not a terminal)",
                                  todo.size()));
        std::fprintf(stderr, "Download %zu model(s), %s? [y/N] ", todo.size(),
                     format_bytes(s.download_known_bytes).c_str());
        std::string answer;
        std::getline(std::cin, answer);
        if (answer != "y" && answer != "Y" && answer != "yes") throw Error("download cancelled");
      }
      DownloadOptions o = a.mo.download_options();
      for (const CheckRow* row : todo) {
        std::fprintf(stderr, "downloading %s (%s)\n", row->model.c_str(), std::string(format_id(row->format)).c_str());
        download_artifact(r, *row->artifact, o);
      }
      rows = check_models(r, impls, models, level, explicit_path);
    }
  }
  if (level == Verify::kLoad) load_check_rows(rows, a.load_timeout_s);
  CheckSummary s = summarize(r, rows);
  if (a.json) print_json(rows, s, level);
  else print_table(rows, s);
  exit_code = (s.n_missing + s.n_incomplete + s.n_corrupt) == 0 ? 0 : 2;  // n/a rows do not count
}

}  // namespace

void register_check_models(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("check-models", "which models each implementation would use, and their state in every cache");
  a->mo.add_to(cmd, true);
  cmd->add_option("-m,--model", a->models, "model names or aliases, comma-separated (default: all)");
  cmd->add_option("--model-path", a->model_path, "a model file or directory to check first (with one -m)");
  cmd->add_option("-i,--impl", a->impls, "implementation ids, comma-separated (default: all)");
  cmd->add_option("--verify", a->verify, "size (default), checksum, header or load");
  cmd->add_flag("--download", a->download, "download what is missing");
  cmd->add_flag("--yes", a->yes, "do not ask before downloading");
  cmd->add_flag("--json", a->json, "machine-readable output");
  cmd->add_option("--load-timeout", a->load_timeout_s, "seconds a --verify load child may take (default 300)");
  cmd->callback([a, &app] { run(*a, app); });
}

}  // namespace wst::cli
