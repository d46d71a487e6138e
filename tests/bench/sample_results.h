// A hand-made BenchResult for the report, JSON and plot tests: two successful rows (given out of order)
// and one failed row, audio of 11 s.
#pragma once
#include "bench/results.h"

namespace wst::test {

inline bench::ImplResult sample_row(const std::string& id, std::vector<double> wall_ms, const std::string& text,
                                    double wer_errors) {
  bench::ImplResult r;
  r.id = id;
  r.name = id + " engine";
  r.params.model_path = "/models/tiny.en";
  r.used = {"/models/tiny.en/model.bin", "ctranslate2", "float32", "cpu", 2, "1.0"};
  r.load_ms = 300;
  r.n_warmup = 1;
  for (double w : wall_ms) r.runs.push_back({w, w - 10});
  r.text = text;
  r.language = "en";
  r.peak_rss_bytes = 250ll << 20;
  bench::WerCounts c;
  c.n_ref_words = 22;
  c.substitutions = static_cast<size_t>(wer_errors);
  c.hits = 22 - c.substitutions;
  r.wer = c;
  return r;
}

inline bench::BenchResult sample_result(const std::string& host = "box-a") {
  bench::BenchResult b;
  b.tool_version = "0.1.0";
  b.started_utc = "2026-11-25T05:00:00Z";
  b.audio = {"/audio/jfk.wav", 11.0, 176000, "abc123"};
  b.settings.model = "/models/tiny.en";
  b.settings.n_runs = 3;
  b.system.cpu_model = "Test CPU 9000";
  b.system.n_logical_cores = 8;
  b.system.memory_bytes = 16ll << 30;
  b.system.hostname = host;
  b.reference = "And so my fellow Americans";
  // Given slow first: the report must sort.
  b.results.push_back(sample_row("slow-impl", {2000, 2200, 2100}, "And so my fellow Americans, ask not", 2));
  b.results.push_back(sample_row("fast-impl", {500, 400, 600}, "And so my fellow Americans, ask not", 0));
  bench::ImplResult failed;
  failed.id = "broken-impl";
  failed.status = "failed";
  failed.error = "crashed: killed by signal 6 (SIGABRT, Aborted) after 0 of 3 timed runs";
  b.results.push_back(failed);
  bench::sort_results(b.results);
  b.skipped.push_back({"native-cuda", "this build has no cuda backend"});
  return b;
}

}  // namespace wst::test
