// One benchmark end to end: picks the implementations, resolves the model for each, runs each in its own
// child (runner.h), scores the transcripts against the reference, and sorts the rows.
//
//   BenchmarkRequest req;  req.model = "/models/tiny.en";  req.settings.n_runs = 3;
//   BenchResult res = run_benchmark(req, pcm, wst::make_implementation, wst::implementation_ids(), progress);
//
// Not thread-safe (forks; see runner.h).
#pragma once
#include <string>
#include <vector>

#include "bench/results.h"
#include "bench/runner.h"

namespace wst::bench {

struct BenchmarkRequest {
  std::vector<std::string> ids;  // asked for by name (-i); empty = every available one
  BenchSettings settings;        // model, language, threads, runs, warm-up, timeout
  AudioInfo audio;
  std::string reference;         // reference transcript text; "" = no WER
  std::string tool_version;
};

// Throws wst::Error when an id is unknown (the message lists the known ids), when no implementation is
// available, or when the model cannot be resolved for any of them (that one error, e.g. an unknown model
// name). Other failures become the rows' errors.
BenchResult run_benchmark(const BenchmarkRequest& request, const std::vector<float>& pcm, const ImplFactory& make,
                          const std::vector<std::string>& all_ids, const ProgressFn& progress = {});

// The reference transcript of `text_or_file`: the file's content when it names a readable file, else the
// text itself. A single word that looks like a path (a '/' or a ".txt" ending) but does not exist is an
// error, so a mistyped file name never becomes the reference.
std::string read_reference(const std::string& text_or_file);

// Fills r.wer from the reference, both sides normalised with Whisper's English normaliser when the row's
// language is English or unknown, with its basic normaliser otherwise.
void score(ImplResult& r, const std::string& reference);

}  // namespace wst::bench
