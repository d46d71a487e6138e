// Child-process load check with a timeout; see load_check.h.
#include "models/load_check.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "util/errors.h"

namespace wst::models {

namespace fs = std::filesystem;

FileCheck run_load_child(const std::vector<std::string>& argv, int timeout_s) {
  if (argv.empty()) throw Error("load check: empty command");
  char tmpl[] = "/tmp/wst-load-XXXXXX";
  int err_fd = ::mkstemp(tmpl);
  if (err_fd < 0) throw Error(fmt::format("load check: cannot create a temporary file: {}", std::strerror(errno)));
  ::unlink(tmpl);
  pid_t pid = ::fork();
  if (pid < 0) throw Error(fmt::format("load check: fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);  // own group: a timeout kills everything it started
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(err_fd, 2);
    std::vector<char*> av;
    for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    ::execv(av[0], av.data());
    std::fprintf(stderr, "cannot run %s: %s\n", av[0], std::strerror(errno));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  bool timed_out = false;
  while (true) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string err;
  ::lseek(err_fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(err_fd, buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
  ::close(err_fd);
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  std::string last = err.substr(err.find_last_of('\n') == std::string::npos ? 0 : err.find_last_of('\n') + 1);
  if (timed_out) return {Status::kCorrupt, fmt::format("load timed out after {} s", timeout_s)};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  std::string how = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                      : fmt::format("killed by signal {}", WTERMSIG(status));
  return {Status::kCorrupt, last.empty() ? fmt::format("load failed ({})", how) : fmt::format("load failed ({}): {}", how, last)};
}

void write_silent_wav(const fs::path& path, int n_samples) {
  auto u32 = [](std::string& s, uint32_t v) { for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i))); };
  auto u16 = [](std::string& s, uint16_t v) { s.push_back(static_cast<char>(v)); s.push_back(static_cast<char>(v >> 8)); };
  const uint32_t n_data = static_cast<uint32_t>(n_samples) * 2;
  std::string h = "RIFF";
  u32(h, 36 + n_data);
  h += "WAVEfmt ";
  u32(h, 16);
  u16(h, 1);          // PCM
  u16(h, 1);          // mono
  u32(h, 16000);      // sample rate
  u32(h, 16000 * 2);  // byte rate
  u16(h, 2);          // block align
  u16(h, 16);         // bits per sample
  h += "data";
  u32(h, n_data);
  std::ofstream out(path, std::ios::binary);
  out << h << std::string(n_data, '\0');
  if (!out) throw Error(fmt::format("{}: cannot write", path.string()));
}

std::vector<std::string> transcribe_argv(const fs::path& exe, const Probe& copy, const fs::path& wav) {
  return {exe.string(), "transcribe", wav.string(), "--model", copy.path.string()};
}

}  // namespace wst::models
