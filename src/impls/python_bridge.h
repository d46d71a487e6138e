// An Implementation that drives a peer (faster-whisper, openai-whisper, ...) through a small Python runner in a
// child process, over the JSON-lines protocol of src/impls/python/protocol.py (docs/BRIDGES.md describes it).
//
//   PythonBridge b(spec);                            // nothing started yet
//   if (auto why = b.unavailable_reason(); !why.empty()) { /* skip, saying why */ }
//   b.load(params);                                  // starts the runner once, loads the model once
//   ImplTranscript t = b.transcribe(pcm16k);         // any number of times, same loaded model
//   b.cleanup();                                     // asks the runner to quit, removes the temp dir
//
// Every wait on the runner has a deadline: a runner that hangs is killed and reported, one that dies is
// reaped and reported with the last line it wrote on stderr. Not thread-safe, like every Implementation.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "wst/implementation.h"

namespace wst::impls {

// What one registry entry of a bridge is: the peer, its runner and its fixed choices.
struct BridgeSpec {
  std::string id;                           // implementation id, "faster-whisper-int8"
  std::string name;                         // human name
  std::vector<std::string> formats;         // model formats it loads, preferred first
  std::string runner;                       // runner file name in the runner directory, or an absolute path
  std::string install;                      // the command that installs the peer, for unavailable_reason()
  std::map<std::string, std::string> options;  // peer-specific load options, sent as "options" in load
  std::string device;                       // "" = the load parameters' device; "cuda": this row runs on the GPU
  std::string python;                       // interpreter to use; "" = python_candidates(), first that imports the peer
  int info_timeout_ms = 120000;             // start-up and "info" (imports the peer: torch takes seconds)
  int load_timeout_ms = 600000;             // "load"
  int transcribe_timeout_ms = 600000;       // each "transcribe"
  int quit_timeout_ms = 5000;               // "quit" before the runner is killed
};

class RunnerProcess;

class PythonBridge : public Implementation {
 public:
  explicit PythonBridge(BridgeSpec spec);
  ~PythonBridge() override;

  ImplDescription describe() const override;
  std::string unavailable_reason() const override;
  void load(const ImplParams& params) override;
  ImplTranscript transcribe(const std::vector<float>& pcm) override;
  ImplUsed used() const override;
  // The largest "peak_gpu_bytes" the runner has sent since load (protocol.py); -1 when it sent none.
  long long peak_gpu_bytes() const override { return peak_gpu_bytes_; }
  void cleanup() override;

  // The runner's own time for the last load, in ms (-1 before any).
  double load_internal_ms() const { return load_internal_ms_; }
  // The interpreter chosen by unavailable_reason() or load() ("" before).
  const std::string& python() const { return python_; }
  // The runner's peak resident set so far (VmHWM), in KiB; -1 when no runner is running.
  long long runner_peak_rss_kb() const;
  // The runner's process id while it runs (tests use it), else -1.
  pid_t runner_pid() const;

 private:
  void probe() const;  // finds an interpreter that imports the peer; keeps that runner running

  BridgeSpec spec_;
  mutable bool probed_ = false;
  mutable std::string reason_;
  mutable std::string python_;
  mutable std::unique_ptr<RunnerProcess> proc_;
  std::filesystem::path tmp_dir_;
  ImplUsed used_;
  bool loaded_ = false;
  double load_internal_ms_ = -1;
  long long peak_gpu_bytes_ = -1;
};

// The interpreters tried, in order: the override (set_python_override, the benchmark's --python) or
// $WHISPER_SPEEDTEST_PYTHON alone when set; else <source>/.venv/bin/python where it exists, python3 on PATH
// and /usr/bin/python3 (where Debian's python3-torch lives).
std::vector<std::string> python_candidates();
void set_python_override(const std::string& python);

// The directory holding protocol.py and the runners: $WHISPER_SPEEDTEST_DATA/../python, else
// <exe dir>/../share/whisper-speedtest/python (installed), else the source tree's src/impls/python.
// Empty when none holds protocol.py; `searched` gets the places looked at.
std::filesystem::path runner_dir(std::vector<std::string>* searched = nullptr);

}  // namespace wst::impls
