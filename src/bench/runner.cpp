// The child-process runner: see runner.h.
//
// Child -> parent protocol, one JSON object per line on the pipe:
//   {"event":"loaded","load_ms":312.5,"used":{...ImplUsed...}}
//   {"event":"warmup","index":1,"wall_ms":820.1}
//   {"event":"run","index":1,"wall_ms":801.7,"internal_ms":799.9,"text":"...","language":"en",
//    "peak_gpu_bytes":-1}                          (peak GPU memory so far; -1 when none is used)
//   {"event":"error","message":"..."}             (an exception; the child then exits 3)
//   {"event":"done"}                               (then exit 0)
#include "bench/runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "bench/format.h"
#include "bench/json_io.h"
#include "util/errors.h"

namespace wst::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTickMs = 1000;  // progress heartbeat while a child is quiet
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Writes all of `line` (plus '\n') to fd; gives up quietly when the parent has gone.
void send(int fd, const nlohmann::json& message) {
  std::string line = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

[[noreturn]] void child_main(int fd, const RunRequest& req, const std::vector<float>& pcm, const ImplFactory& make) {
  // A process group of its own: a timeout kills whatever the implementation started too (a bridge's Python).
  ::setpgid(0, 0);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGHUP, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  ::dup2(STDERR_FILENO, STDOUT_FILENO);  // an implementation's chatter must not reach our stdout
  int status = 0;
  try {
    std::unique_ptr<Implementation> impl = make(req.id);
    if (std::string why = impl->unavailable_reason(); !why.empty()) throw Error("unavailable: " + why);
    auto t0 = Clock::now();
    impl->load(req.params);
    double load_ms = ms_since(t0);
    send(fd, {{"event", "loaded"}, {"load_ms", load_ms}, {"used", impl->used()}});
    for (int i = 1; i <= req.n_warmup; ++i) {
      t0 = Clock::now();
      impl->transcribe(pcm);
      send(fd, {{"event", "warmup"}, {"index", i}, {"wall_ms", ms_since(t0)}});
    }
    for (int i = 1; i <= req.n_runs; ++i) {
      t0 = Clock::now();
      ImplTranscript t = impl->transcribe(pcm);
      double wall_ms = ms_since(t0);
      send(fd, {{"event", "run"}, {"index", i}, {"wall_ms", wall_ms}, {"internal_ms", t.internal_ms},
                {"text", t.text}, {"language", t.language}, {"peak_gpu_bytes", impl->peak_gpu_bytes()}});
    }
    // used() again: some implementations settle details (threads, device) only once they have run.
    send(fd, {{"event", "loaded"}, {"load_ms", load_ms}, {"used", impl->used()},
              {"peak_gpu_bytes", impl->peak_gpu_bytes()}});
    impl->cleanup();
    send(fd, {{"event", "done"}});
  } catch (const std::exception& e) {
    send(fd, {{"event", "error"}, {"message", e.what()}});
    status = 3;
  }
  std::fflush(stderr);
  ::_exit(status);
}

// The child's process group is not the terminal's foreground group, so Ctrl-C reaches only the parent:
// while a child runs, SIGINT/SIGTERM/SIGHUP kill the child's group first, then end the parent as they would.
volatile sig_atomic_t g_child_group = 0;

void kill_child_then_die(int sig) {
  if (g_child_group > 0) ::kill(-g_child_group, SIGKILL);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) {
    g_child_group = pid;
    struct sigaction sa{};
    sa.sa_handler = kill_child_then_die;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~ChildGuard() {
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
    g_child_group = 0;
  }

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3];
};

std::string describe_signal(int sig) {
  const char* name = sigabbrev_np(sig);
  return strprintf("crashed: killed by signal %d (SIG%s, %s)", sig, name ? name : "?", strsignal(sig));
}

// Applies one message from the child to the row; returns false on "done".
void apply(ImplResult& r, const nlohmann::json& m, const RunRequest& req, const ProgressFn& progress,
           bool& done, std::string& child_error) {
  const std::string event = m.value("event", "");
  // Peak GPU memory only grows; a message without it (or with -1) leaves what an earlier one said.
  if (auto it = m.find("peak_gpu_bytes"); it != m.end() && it->is_number_integer())
    r.peak_gpu_bytes = std::max(r.peak_gpu_bytes, it->get<long long>());
  if (event == "loaded") {
    r.load_ms = m.at("load_ms").get<double>();
    r.used = m.at("used").get<ImplUsed>();
    if (r.runs.empty() && r.n_warmup == 0 && progress)
      progress({ProgressEvent::kLoaded, req.id, 0, 0, r.load_ms});
  } else if (event == "warmup") {
    r.n_warmup = m.at("index").get<int>();
    if (progress) progress({ProgressEvent::kWarmup, req.id, r.n_warmup, req.n_warmup, m.at("wall_ms").get<double>()});
  } else if (event == "run") {
    RunTiming t{m.at("wall_ms").get<double>(), m.at("internal_ms").get<double>()};
    r.runs.push_back(t);
    r.text = m.at("text").get<std::string>();
    r.language = m.at("language").get<std::string>();
    if (progress) progress({ProgressEvent::kRun, req.id, static_cast<int>(r.runs.size()), req.n_runs, t.wall_ms});
  } else if (event == "error") {
    child_error = m.at("message").get<std::string>();
  } else if (event == "done") {
    done = true;
  }
}

}  // namespace

ImplResult run_isolated(const RunRequest& req, const std::vector<float>& pcm, const ImplFactory& make,
                        const ProgressFn& progress) {
  ImplResult r;
  r.id = req.id;
  r.params = req.params;
  if (progress) progress({ProgressEvent::kStarted, req.id, 0, 0, 0});

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(req.id + ": cannot create a pipe (" + std::strerror(errno) + ")");
  std::fflush(stdout);
  std::fflush(stderr);
  const auto t_start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(req.id + ": cannot start a child process (" + std::strerror(errno) + ")");
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], req, pcm, make);
  }
  ::close(fds[1]);
  ::setpgid(pid, pid);  // also here, so the group exists whichever of the two runs first
  ChildGuard guard(pid);
  auto ms_left = [&] { return req.timeout_s > 0 ? req.timeout_s * 1000.0 - ms_since(t_start) : 1e300; };

  std::string buffer, child_error;
  bool done = false, timed_out = false, bad_message = false;
  for (;;) {
    int wait_ms = -1;
    if (req.timeout_s > 0) {
      double left_ms = ms_left();
      if (left_ms <= 0) {
        timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left_ms) + 1;
    }
    if (progress) wait_ms = wait_ms < 0 ? kTickMs : std::min(wait_ms, kTickMs);
    struct pollfd p{fds[0], POLLIN, 0};
    int rc = ::poll(&p, 1, wait_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) {  // the deadline check above decides
      if (progress) progress({ProgressEvent::kTick, req.id, 0, 0, ms_since(t_start)});
      continue;
    }
    char chunk[65536];
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child exited or closed the pipe
    buffer.append(chunk, static_cast<size_t>(n));
    for (size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      try {
        apply(r, nlohmann::json::parse(line), req, progress, done, child_error);
      } catch (const std::exception&) {
        bad_message = true;
      }
    }
  }
  ::close(fds[0]);

  int wstatus = 0;
  struct rusage usage{};
  // The pipe is closed; the child may still live (it closed the pipe itself), so the deadline still holds.
  for (;;) {
    if (timed_out) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::wait4(pid, &wstatus, 0, &usage) < 0 && errno == EINTR) {
      }
      break;
    }
    pid_t got = ::wait4(pid, &wstatus, WNOHANG, &usage);
    if (got == pid || (got < 0 && errno != EINTR)) break;
    if (ms_left() <= 0) {
      timed_out = true;
      continue;
    }
    ::usleep(10000);
  }
  ::kill(-pid, SIGKILL);  // anything the implementation left behind in its group
  r.peak_rss_bytes = static_cast<long long>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes

  if (timed_out) {
    r.error = strprintf("timed out after %g s (killed); %zu of %d timed runs had finished", req.timeout_s,
                        r.runs.size(), req.n_runs);
  } else if (!child_error.empty()) {
    r.error = child_error;
  } else if (WIFSIGNALED(wstatus)) {
    r.error = describe_signal(WTERMSIG(wstatus)) + strprintf(" after %zu of %d timed runs", r.runs.size(), req.n_runs);
  } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0) {
    r.error = strprintf("exited with status %d after %zu of %d timed runs", WEXITSTATUS(wstatus), r.runs.size(),
                        req.n_runs);
  } else if (!done || bad_message) {
    r.error = "the child process ended without finishing its report";
  }
  if (!r.error.empty()) r.status = "failed";
  if (progress) progress({ProgressEvent::kFinished, req.id, 0, 0, ms_since(t_start)});
  return r;
}

}  // namespace wst::bench
