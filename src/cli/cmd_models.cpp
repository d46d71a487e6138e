// `whisper-speedtest models list` (what is where, with sizes) and
// `whisper-speedtest models import PATH --name NAME [--format F]` (verify a model the user already has and
// register it in the project's models directory by symlink, never by copy).
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "formats/weight_io.h"
#include "models/catalog.h"
#include "models/convert.h"
#include "models/resolver.h"
#include "util/errors.h"
#include "util/paths.h"

namespace wst::cli {

namespace fs = std::filesystem;
using namespace wst::models;

namespace {

void run_list(const ModelCliOptions& mo, bool as_json) {
  const Catalog& cat = Catalog::instance();
  Resolver r(cat, mo.dirs());
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::vector<std::string>> table;
  uint64_t total = 0;
  for (const auto& name : cat.names()) {
    for (Format f : kAllFormats) {
      const Artifact* art = cat.find_artifact(name, f);
      if (!art) continue;
      for (const Probe& p : r.probe_all(*art, Verify::kSize)) {
        if (p.status == Status::kMissing || p.status == Status::kNa) continue;
        total += p.size_bytes;
        rows.push_back({{"model", name}, {"format", format_id(f)}, {"location", location_id(p.location)},
                        {"status", status_id(p.status)}, {"size_bytes", p.size_bytes}, {"path", p.path.string()},
                        {"detail", p.detail}});
        table.push_back({name, std::string(format_id(f)), std::string(location_id(p.location)),
                         std::string(status_id(p.status)), format_bytes(p.size_bytes), p.path.string()});
      }
    }
  }
  if (as_json) {
    fmt::print("{}\n", nlohmann::json{{"models", rows}, {"total_bytes", total}}.dump(2));
    return;
  }
  if (table.empty()) {
    fmt::print("no models found (searched {}, {}, {})\n", r.dirs().models_dir.string(), r.dirs().openai_dir.string(),
               r.dirs().hf_hub_dir.string());
    return;
  }
  fmt::print("{:<16} {:<7} {:<13} {:<11} {:>10}  {}\n", "MODEL", "FORMAT", "LOCATION", "STATUS", "SIZE", "PATH");
  for (const auto& row : table)
    fmt::print("{:<16} {:<7} {:<13} {:<11} {:>10}  {}\n", row[0], row[1], row[2], row[3], row[4], row[5]);
  fmt::print("total: {}\n", format_bytes(total));
}

void run_import(const ModelCliOptions& mo, const std::string& path_arg, const std::string& name_arg,
                const std::string& format_arg) {
  const Catalog& cat = Catalog::instance();
  std::string name = cat.canonical(name_arg);
  std::error_code ec;
  fs::path src = fs::absolute(path_arg, ec);
  if (!fs::exists(src, ec)) throw Error(fmt::format("{}: no such file or directory", path_arg));
  src = fs::canonical(src, ec);
  Format format;
  if (!format_arg.empty()) {
    format = parse_format(format_arg);
  } else {
    auto detected = detect_format(src);
    if (!detected)
      throw Error(fmt::format("{}: cannot tell the model format (expected a CTranslate2, transformers or MLX "
                              "directory, a .pt checkpoint or a ggml file); pass --format",
                              path_arg));
    format = *detected;
  }
  const Artifact& art = cat.artifact(name, format);
  Resolver r(cat, mo.dirs());
  Probe p = r.probe_path(art, src, Verify::kHeader);
  if (p.status != Status::kComplete)
    throw Error(fmt::format("{}: not a complete {} model for {}: {} ({})", path_arg, format_id(format), name,
                            status_id(p.status), p.detail));
  fs::path dest = *r.artifact_dir(art, Location::kModelsDir);  // <models dir>/<name>/<format>
  fs::path link = art.single_file() ? dest / art.files.front().name() : dest;
  fs::path target = art.single_file() && fs::is_directory(src) ? src / art.files.front().name() : src;
  // The architecture read from the weights must be the named model's: a tiny.en file imported as "large-v3"
  // would otherwise be benchmarked and reported under the wrong name. Reading maps the weights (views, no
  // copy) and checks every tensor's shape against the dims the file states.
  check_architecture(cat, name, formats::read_weights(target.string()).dims, path_arg);
  if (fs::is_symlink(link, ec)) {
    if (fs::read_symlink(link, ec) == target) {
      fmt::print("{} ({}) is already imported: {} -> {}\n", name, format_id(format), link.string(), target.string());
      return;
    }
    if (fs::exists(link, ec))
      throw Error(fmt::format("{}: already holds another {} model for {} (-> {}); remove it first", link.string(),
                              format_id(format), name, fs::read_symlink(link, ec).string()));
    // A link whose target is gone (a removed checkout or virtual environment) is replaced, saying so.
    fmt::print("{}: replacing a link to {}, which no longer exists\n", link.string(), fs::read_symlink(link, ec).string());
    fs::remove(link, ec);
  }
  if (fs::exists(link, ec))
    throw Error(fmt::format("{}: already exists; remove it first", link.string()));
  fs::create_directories(link.parent_path(), ec);
  if (ec) throw Error(fmt::format("{}: cannot create: {}", link.parent_path().string(), ec.message()));
  fs::create_symlink(target, link, ec);
  if (ec) throw Error(fmt::format("{}: cannot create symlink: {}", link.string(), ec.message()));
  fmt::print("imported {} ({}): {} -> {}\n", name, format_id(format), link.string(), target.string());
}

}  // namespace

void register_models(CLI::App& app) {
  auto* models = app.add_subcommand("models", "list the models on this machine, import one you already have, or convert one");
  models->require_subcommand(1);

  struct ListArgs {
    ModelCliOptions mo;
    bool json = false;
  };
  auto la = std::make_shared<ListArgs>();
  auto* list = models->add_subcommand("list", "what is where, with sizes (every cache)");
  la->mo.add_to(list, false);
  list->add_flag("--json", la->json, "machine-readable output");
  list->callback([la] { run_list(la->mo, la->json); });

  struct ImportArgs {
    ModelCliOptions mo;
    std::string path, name, format;
  };
  auto ia = std::make_shared<ImportArgs>();
  auto* imp = models->add_subcommand("import", "verify a model directory or file and link it into the models directory");
  ia->mo.add_to(imp, false);
  imp->add_option("PATH", ia->path, "model directory (CTranslate2, transformers, MLX) or file (.pt, ggml)")->required();
  imp->add_option("--name", ia->name, "catalog model name, e.g. tiny.en")->required();
  imp->add_option("--format", ia->format, "openai, hf, ct2, ggml, ggml-q8_0 or mlx (default: detected)");
  imp->callback([ia] { run_import(ia->mo, ia->path, ia->name, ia->format); });

  register_models_convert(models);
}

}  // namespace wst::cli
