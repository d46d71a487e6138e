// Runs one implementation in a child process of its own and collects what it did.
//
//   RunRequest req{"native-cpu", params, /*n_warmup=*/1, /*n_runs=*/3, /*timeout_s=*/600};
//   ImplResult r = run_isolated(req, pcm, wst::make_implementation, progress);
//
// The child (fork(), no exec) makes the implementation through `make`, loads it, does the warm-up runs
// untimed and the timed runs, and reports each step to the parent as one JSON line on a pipe. The parent
// waits with poll(), kills the child (SIGKILL) when the timeout passes, and reads the child's peak RSS from
// wait4()'s rusage; the peak GPU memory is what the implementation reports (Implementation::peak_gpu_bytes,
// sent with every run). A crash, a hang or an exception becomes the row's error; what the child reported before
// (load time, finished runs) stays in the row. The child's stdout is sent to stderr so the tables and JSON on
// our stdout stay clean. The child leads a process group of its own: the timeout kills the whole group (a
// bridge's Python too), and so does Ctrl-C (SIGINT/SIGTERM/SIGHUP) on the parent while a child runs.
//
// Not thread-safe: call it from a single-threaded parent (fork copies only the calling thread).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/results.h"
#include "wst/implementation.h"

namespace wst::bench {

struct RunRequest {
  std::string id;
  ImplParams params;
  int n_warmup = 1;
  int n_runs = 3;
  double timeout_s = 0;  // for the whole child (load + all runs); 0 = no limit
};

// Makes an implementation by id: wst::make_implementation, or a test's own factory.
using ImplFactory = std::function<std::unique_ptr<Implementation>(const std::string&)>;

// What the parent hears while the child works; for the progress line on stderr.
struct ProgressEvent {
  // kTick: about once a second while the child works, with ms = time since it started.
  enum Kind { kStarted, kLoaded, kWarmup, kRun, kFinished, kTick } kind;
  std::string id;
  int index = 0;     // 1-based warm-up or run number
  int total = 0;
  double ms = 0;     // load time or run wall time
};
using ProgressFn = std::function<void(const ProgressEvent&)>;

ImplResult run_isolated(const RunRequest& request, const std::vector<float>& pcm, const ImplFactory& make,
                        const ProgressFn& progress = {});

}  // namespace wst::bench
