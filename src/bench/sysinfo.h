// The machine a benchmark ran on, as the summary header and the JSON record it: CPU model, cores, memory,
// GPUs, kernel, host name and the compiler that built the tool.
// Linux only: reads /proc/cpuinfo, /proc/meminfo and /proc/driver/nvidia. Thread-safe (reads files only).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace wst::bench {

struct SystemInfo {
  std::string cpu_model;        // /proc/cpuinfo "model name" ("unknown CPU" when absent)
  int n_logical_cores = 0;      // hardware threads usable by this process (sched affinity)
  int n_physical_cores = 0;     // distinct (physical id, core id) pairs; 0 when /proc/cpuinfo lacks them
  long long memory_bytes = 0;   // MemTotal
  std::vector<std::string> gpus;  // "NVIDIA H100 80GB HBM3", one per GPU; empty when none found
  std::string os;               // "Linux 6.1.0-18-amd64 x86_64"
  std::string hostname;
  std::string compiler;         // "GCC 12.2.0"
  // Libraries the tool itself runs on, name -> version string as each reports it (libsndfile, soxr,
  // OpenBLAS, PortAudio). Peers' own versions are in each row's ImplUsed::version.
  std::vector<std::pair<std::string, std::string>> libraries;

  // "Intel(R) Xeon(R) ... · 2 cores · 23.4 GiB · GPU: none": the summary's machine line.
  std::string one_line() const;
  // A short label for plots and side-by-side reports: host name and CPU model.
  std::string label() const;
};

SystemInfo collect_system_info();

}  // namespace wst::bench
