// `whisper-speedtest download MODEL [--format F]`: one model in one format, unless a complete copy is
// already in any cache (then nothing is downloaded).
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "models/download.h"
#include "util/paths.h"

namespace wst::cli {

using namespace wst::models;

void register_download(CLI::App& app) {
  struct Args {
    ModelCliOptions mo;
    std::string model, format, verify = "size";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("download", "download one model in one format into the shared caches");
  a->mo.add_to(cmd, true);
  cmd->add_option("MODEL", a->model, "model name or alias, e.g. tiny.en, large, turbo")->required();
  cmd->add_option("--format", a->format, "openai, hf, ct2, ggml, ggml-q8_0 or mlx (default: the native engine's first choice)");
  cmd->callback([a] {
    const Catalog& cat = Catalog::instance();
    Format f = a->format.empty() ? cat.formats_for("native-cpu").front() : parse_format(a->format);
    const Artifact& art = cat.artifact(a->model, f);
    Resolver r(cat, a->mo.dirs());
    if (auto found = r.find(art.model, {f}, Verify::kSize)) {
      fmt::print("{} ({}) is already present: {} [{}]\n", art.model, format_id(f), found->path.string(),
                 location_id(found->location));
      return;
    }
    Probe p = download_artifact(r, art, a->mo.download_options());
    fmt::print("{} ({}) downloaded: {} ({})\n", art.model, format_id(f), p.path.string(), format_bytes(p.size_bytes));
  });
}

}  // namespace wst::cli
