// Machine description from /proc and uname(2). See sysinfo.h.
#include "bench/sysinfo.h"

#include <cblas.h>
#include <portaudio.h>
#include <sched.h>
#include <sndfile.h>
#include <soxr.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "bench/format.h"

namespace wst::bench {
namespace {

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "key : value" lines of /proc/cpuinfo-like files.
std::pair<std::string, std::string> key_value(const std::string& line) {
  size_t colon = line.find(':');
  if (colon == std::string::npos) return {"", ""};
  return {trim(line.substr(0, colon)), trim(line.substr(colon + 1))};
}

}  // namespace

SystemInfo collect_system_info() {
  SystemInfo s;
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line, physical_id;
    std::set<std::pair<std::string, std::string>> cores;
    while (std::getline(in, line)) {
      auto [k, v] = key_value(line);
      if (k == "model name" && s.cpu_model.empty()) s.cpu_model = v;
      if (k == "physical id") physical_id = v;
      if (k == "core id") cores.insert({physical_id, v});
    }
    s.n_physical_cores = static_cast<int>(cores.size());
  }
  if (s.cpu_model.empty()) s.cpu_model = "unknown CPU";
  cpu_set_t set;
  CPU_ZERO(&set);
  s.n_logical_cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                                  : static_cast<int>(std::thread::hardware_concurrency());
  {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
      auto [k, v] = key_value(line);
      if (k == "MemTotal") s.memory_bytes = std::stoll(v) * 1024;  // "24576000 kB"
    }
  }
  // The NVIDIA driver lists each GPU under /proc/driver/nvidia/gpus/<bus id>/information ("Model: ...").
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    std::ifstream in(dir.path() / "information");
    std::string line;
    while (std::getline(in, line)) {
      auto [k, v] = key_value(line);
      if (k == "Model") s.gpus.push_back(v);
    }
  }
  struct utsname u;
  if (uname(&u) == 0) {
    s.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
    s.hostname = u.nodename;
  }
  s.libraries = {{"libsndfile", sf_version_string()},
                 {"soxr", soxr_version()},
                 {"openblas", trim(openblas_get_config())},
                 {"portaudio", Pa_GetVersionText()}};
#if defined(__clang__)
  s.compiler = "Clang " __clang_version__;
#elif defined(__GNUC__)
  s.compiler = "GCC " __VERSION__;
#endif
  return s;
}

std::string SystemInfo::one_line() const {
  std::ostringstream o;
  o << cpu_model << " · " << n_logical_cores << (n_logical_cores == 1 ? " core" : " cores");
  if (n_physical_cores > 0 && n_physical_cores != n_logical_cores) o << " (" << n_physical_cores << " physical)";
  o << " · " << format_bytes(memory_bytes) << " RAM · GPU: ";
  if (gpus.empty()) o << "none";
  for (size_t i = 0; i < gpus.size(); ++i) o << (i ? ", " : "") << gpus[i];
  return o.str();
}

std::string SystemInfo::label() const {
  return hostname.empty() ? cpu_model : hostname + " (" + cpu_model + ")";
}

}  // namespace wst::bench
