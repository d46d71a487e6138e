// What one benchmark produces: per implementation its parameters, load time, every timed run, transcript,
// memory and error; and around them the audio, model, machine and settings. The JSON written by --json is
// this structure (report_json.h; the schema is in docs/BENCHMARK.md).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "bench/stats.h"
#include "bench/sysinfo.h"
#include "bench/wer.h"
#include "wst/implementation.h"

namespace wst::bench {

struct RunTiming {
  double wall_ms = 0;       // wall time of one transcribe() call, seen from inside the child
  double internal_ms = -1;  // the implementation's own time of that call; -1 when it reports none
};

struct ImplResult {
  std::string id;
  std::string name;
  std::string status = "ok";  // "ok" or "failed"
  std::string error;          // why it failed: one line
  ImplParams params;          // what was asked
  ImplUsed used;              // what it really used
  std::string model_sha256;   // of used.model_file (or the resolved file), "" when not computed
  double load_ms = -1;        // Implementation::load(), wall time in the child
  int n_warmup = 0;           // untimed runs done
  std::vector<RunTiming> runs;
  std::string text;           // transcript of the last run
  std::string language;
  long long peak_rss_bytes = -1;  // the child's peak resident set (wait4 rusage), -1 when unknown
  long long peak_gpu_bytes = -1;  // -1: no GPU used or not measurable
  std::optional<WerCounts> wer;   // against the reference, when one was given

  bool ok() const { return status == "ok"; }
  Stats wall_stats() const;
  Stats internal_stats() const;  // n == 0 when the implementation reports no internal time
};

struct AudioInfo {
  std::string path;           // file given, "(bundled) .../sample.wav", or "microphone"
  double duration_s = 0;
  long long n_samples = 0;    // at 16 kHz
  std::string sha256;         // of the file's bytes, "" for a recording
};

struct BenchSettings {
  std::string model;          // as asked: catalog name or path
  std::string language;
  int n_threads = 0;
  int n_runs = 3;
  int n_warmup = 1;
  double timeout_s = 0;       // 0 = none
  bool convert = true;        // convert a catalog model found only in other formats (models convert)
  int beam_size = 1;          // 1 = greedy; passed to every implementation
};

struct Skipped {
  std::string id;
  std::string reason;
};

struct BenchResult {
  int schema_version = 1;
  std::string tool_version;
  std::string started_utc;    // ISO 8601
  AudioInfo audio;
  BenchSettings settings;
  std::string reference;      // "" when none
  SystemInfo system;
  std::vector<ImplResult> results;  // sorted: ok rows by median wall time, then failed rows
  std::vector<Skipped> skipped;     // unavailable implementations not asked for by name

  // Real-time factor of a row: audio seconds / median seconds (0 when it has no runs).
  double rtf(const ImplResult& r) const;
};

// Sorts results: successful rows by median wall time (fastest first), failed rows after, in their order.
void sort_results(std::vector<ImplResult>& results);

}  // namespace wst::bench
