// whisper-speedtest report a.json [b.json ...] [--plot out.svg]: saved benchmark results side by side, and
// speed (RTF) against accuracy (WER) drawn as SVG.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "bench/compare.h"
#include "bench/json_io.h"
#include "cli/commands.h"
#include "util/errors.h"

namespace wst::cli {
namespace {

struct ReportArgs {
  std::vector<std::string> files;
  std::string plot;
};

void run_report(const ReportArgs& a) {
  std::vector<bench::LabelledResult> files;
  for (const auto& f : a.files) files.push_back({f, bench::read_results_file(f)});
  std::cout << bench::render_side_by_side(files);
  if (!a.plot.empty()) {
    std::ofstream out(a.plot, std::ios::binary);
    if (!out) throw Error(a.plot + ": cannot write the plot");
    out << bench::render_plot_svg(files);
    if (!out.flush()) throw Error(a.plot + ": write failed");
    std::fprintf(stderr, "plot written to %s\n", a.plot.c_str());
  }
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* c = app.add_subcommand("report", "Show saved --json results side by side; --plot draws RTF against WER");
  c->add_option("files", a->files, "Results files written by benchmark --json")->required();
  c->add_option("--plot", a->plot, "Write an SVG plot of speed (RTF, log scale) against WER to this file");
  c->callback([a] { run_report(*a); });
}

}  // namespace wst::cli
