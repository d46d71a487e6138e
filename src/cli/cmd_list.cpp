// whisper-speedtest list: every registered implementation, whether it can run here and, if not, exactly why.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "wst/implementation.h"

namespace wst::cli {
namespace {

void run_list() {
  size_t id_width = 2;
  for (const auto& id : implementation_ids()) id_width = std::max(id_width, id.size());
  int n_available = 0;
  for (const auto& id : implementation_ids()) {
    auto impl = make_implementation(id);
    ImplDescription d = impl->describe();
    std::string why = impl->unavailable_reason();
    std::string formats;
    for (const auto& f : d.formats) formats += (formats.empty() ? "" : ", ") + f;
    if (why.empty()) ++n_available;
    std::printf("%-*s  %-11s  %s\n", static_cast<int>(id_width), id.c_str(), why.empty() ? "available" : "unavailable",
                why.empty() ? (d.name + " [formats: " + formats + "]").c_str() : why.c_str());
  }
  std::printf("\n%d of %zu implementations available here\n", n_available, implementation_ids().size());
}

}  // namespace

void add_list_command(CLI::App& app) {
  CLI::App* c = app.add_subcommand("list", "List the implementations, and why any cannot run here");
  c->callback([] { run_list(); });
}

}  // namespace wst::cli
