// `whisper-speedtest report a.json b.json ...`: results of several runs (machines) side by side, and the
// speed-against-accuracy plot. Pure functions; thread-safe.
#pragma once
#include <string>
#include <vector>

#include "bench/results.h"

namespace wst::bench {

struct LabelledResult {
  std::string file;    // where it was read from
  BenchResult result;
};

// A header line per file (machine, model, audio, date), then one row per implementation id (in order of
// first appearance) with, per file, median time, RTF and WER ("failed" or "-" where it has no result).
// Warns in the header when the files' audio differs (different sha256 or length).
std::string render_side_by_side(const std::vector<LabelledResult>& files);

// SVG: x = RTF on a log scale, y = WER in percent; one labelled point per successful implementation per
// file ("native-cpu @ host"), coloured by file, with a legend. Rows without WER are left out and listed
// in a note under the plot. Each point is a <circle class="point" data-impl="..." data-machine="...">.
std::string render_plot_svg(const std::vector<LabelledResult>& files);

}  // namespace wst::bench
