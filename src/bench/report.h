// The benchmark's human and spreadsheet outputs: the summary table printed on stdout, Markdown and CSV.
// (JSON is json_io.h; side-by-side comparison and the plot are compare.h and plot_svg.h.)
// Pure functions of a BenchResult; thread-safe.
#pragma once
#include <string>

#include "bench/results.h"

namespace wst::bench {

// Header (model, audio and its mm:ss length, machine, runs), then one row per implementation in the
// results' order with its statistics, RTF, load time, peak RSS and WER; under each row the parameters it
// really used and its transcript (folded, cut at 100 characters, "(no transcription)" when empty); a failed
// row shows its error instead. Unavailable implementations that were skipped are listed at the end.
std::string render_summary(const BenchResult& result);

// The same rows as a GitHub-flavoured Markdown table, with the header as a list above it.
std::string render_markdown(const BenchResult& result);

// One line per timed run (implementation, run index, wall and internal ms) plus each row's summary
// columns; RFC 4180 quoting.
std::string render_csv(const BenchResult& result);

// "12.3x" real-time factor; "-" for 0.
std::string format_rtf(double rtf);
// "4.8%"; "-" when there is no WER.
std::string format_wer(const ImplResult& r);

}  // namespace wst::bench
