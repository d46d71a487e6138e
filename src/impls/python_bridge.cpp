// The C++ half of every Python bridge: starts a runner (src/impls/python/runner_<peer>.py) with posix_spawn,
// speaks protocol.py's JSON lines over its stdin/stdout with a deadline on every answer, and keeps the tail of
// its stderr for error messages. See docs/BRIDGES.md.
#include "impls/python_bridge.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/errors.h"

extern char** environ;

namespace wst::impls {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kStderrKeepBytes = 16384;  // enough for a Python traceback

std::string& python_override() {
  static std::string p;
  return p;
}

// The last non-empty line of a text (a Python traceback ends with the exception).
std::string last_line(const std::string& text) {
  size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "";
  size_t start = text.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return text.substr(start, end - start + 1);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

// PATH lookup, so that "python3" can be shown (and de-duplicated) as the file that will run.
std::string which(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t end = p.find(':', pos);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(pos, end - pos);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    pos = end + 1;
  }
  return "";
}

std::filesystem::path exe_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

// The peer's peak GPU memory carried by an answer, or -1 when it has none.
long long peak_gpu_of(const nlohmann::json& reply) {
  auto it = reply.find("peak_gpu_bytes");
  return it != reply.end() && it->is_number_integer() ? it->get<long long>() : -1;
}

// A runner's answer line as JSON; anything else is reported with the start of the line.
nlohmann::json parse_reply(const std::string& id, const std::string& line) {
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    throw Error(id + ": unreadable answer from the runner: " + line.substr(0, 200));
  }
}

}  // namespace

// One runner child process: its pipes, its pid, the tail of its stderr.
class RunnerProcess {
 public:
  RunnerProcess(const std::string& label, const std::vector<std::string>& argv) : label_(label) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw Error(label_ + ": cannot create pipes: " + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);

    // The parent's environment, plus what keeps the peers from writing bytecode next to the runners or
    // reaching the Hugging Face Hub behind our back: every model is given by path.
    std::vector<std::string> env_store;
    const std::map<std::string, std::string> forced = {
        {"PYTHONUNBUFFERED", "1"},   {"PYTHONDONTWRITEBYTECODE", "1"}, {"HF_HUB_OFFLINE", "1"},
        {"TRANSFORMERS_OFFLINE", "1"}, {"HF_DATASETS_OFFLINE", "1"},    {"HF_HUB_DISABLE_TELEMETRY", "1"},
        {"TOKENIZERS_PARALLELISM", "false"}};
    for (char** e = environ; e && *e; ++e) {
      std::string kv = *e;
      if (!forced.count(kv.substr(0, kv.find('=')))) env_store.push_back(kv);
    }
    for (const auto& [k, v] : forced) env_store.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& s : env_store) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_store = argv;
    for (auto& s : argv_store) args.push_back(s.data());
    args.push_back(nullptr);

    // Its own process group, so that killing a hung runner also kills any worker processes the peer started.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = ::posix_spawnp(&pid_, args[0], &fa, &attr, args.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
      ::close(in[1]);
      ::close(out[0]);
      ::close(err[0]);
      pid_ = -1;
      throw Error(label_ + ": cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    to_child_ = in[1];
    from_child_ = out[0];
    err_child_ = err[0];
  }

  ~RunnerProcess() { kill(); }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  const std::string& stderr_text() const { return err_; }

  // Sends one request line and returns the answer line; `what` names the request in errors.
  std::string request(const std::string& line, int timeout_ms, const std::string& what) {
    if (!running()) throw Error(label_ + ": the runner is not running (" + what + ")");
    write_all(line + "\n", what);
    return read_line(timeout_ms, what);
  }

  // Asks the runner to quit and waits for it; kills it when it does not go in time.
  void quit(int timeout_ms) {
    if (!running()) return;
    try {
      request(R"({"op": "quit"})", timeout_ms, "quit");
      auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
      while (Clock::now() < deadline) {
        int status;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        ::usleep(2000);
      }
    } catch (const Error&) {
    }
    kill();
  }

  // Kills and reaps the runner; closes the pipes.
  void kill() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);  // the runner's process group
      ::kill(pid_, SIGKILL);
      int status;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    for (int* fd : {&to_child_, &from_child_, &err_child_})
      if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
      }
  }

 private:
  // Writes to the runner's stdin without letting a dead runner's SIGPIPE end this process: SIGPIPE is
  // blocked in this thread for the write, and a pending one is consumed before unblocking.
  void write_all(const std::string& data, const std::string& what) {
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    size_t off = 0;
    int err = 0;
    while (off < data.size()) {
      ssize_t n = ::write(to_child_, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        break;
      }
      off += static_cast<size_t>(n);
    }
    if (err == EPIPE) {
      timespec zero{0, 0};
      while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (err) died(what);  // the runner is gone: say how
  }

  // Reads stdout up to the next newline, draining stderr meanwhile, until the deadline.
  std::string read_line(int timeout_ms, const std::string& what) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      size_t nl = out_.find('\n');
      if (nl != std::string::npos) {
        std::string line = out_.substr(0, nl);
        out_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        std::string tail = last_line(err_);
        kill();
        throw Error(label_ + ": the runner gave no answer to '" + what + "' within " +
                    fmt::format("{:.1f}", timeout_ms / 1000.0) + " s and was killed" +
                    (tail.empty() ? "" : " (last stderr line: " + tail + ")"));
      }
      pollfd fds[2] = {{from_child_, POLLIN, 0}, {err_child_, POLLIN, 0}};
      int n = ::poll(fds, err_child_ >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(label_ + ": poll failed: " + std::strerror(errno));
      }
      char buf[65536];
      if (err_child_ >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
        ssize_t k = ::read(err_child_, buf, sizeof buf);
        if (k > 0) {
          err_.append(buf, static_cast<size_t>(k));
          if (err_.size() > 2 * kStderrKeepBytes) err_.erase(0, err_.size() - kStderrKeepBytes);
        } else if (k == 0) {
          ::close(err_child_);
          err_child_ = -1;
        }
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t k = ::read(from_child_, buf, sizeof buf);
        if (k > 0) {
          out_.append(buf, static_cast<size_t>(k));
        } else if (k == 0) {
          died(what);
        }
      }
    }
  }

  // The runner closed its stdout: collect the rest of its stderr and its exit status, then throw.
  [[noreturn]] void died(const std::string& what) {
    if (err_child_ >= 0) {
      char buf[65536];
      pollfd p{err_child_, POLLIN, 0};
      while (::poll(&p, 1, 500) > 0) {
        ssize_t k = ::read(err_child_, buf, sizeof buf);
        if (k <= 0) break;
        err_.append(buf, static_cast<size_t>(k));
      }
    }
    std::string how = "closed its output";
    if (pid_ > 0) {
      int status = 0;
      auto deadline = Clock::now() + std::chrono::seconds(2);
      pid_t r = 0;
      while ((r = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) ::usleep(2000);
      if (r == pid_) {
        how = describe_status(status);
        pid_ = -1;
      }
    }
    std::string tail = last_line(err_);
    kill();
    throw Error(label_ + ": the runner " + how + " during '" + what + "'" + (tail.empty() ? "" : ": " + tail));
  }

  std::string label_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1, err_child_ = -1;
  std::string out_, err_;
};

void set_python_override(const std::string& python) { python_override() = python; }

std::vector<std::string> python_candidates() {
  if (!python_override().empty()) return {python_override()};
  if (const char* p = std::getenv("WHISPER_SPEEDTEST_PYTHON"); p && *p) return {p};
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    if (p.empty()) return;
    for (const auto& q : out)
      if (q == p) return;
    out.push_back(p);
  };
  auto venv = std::filesystem::path(WST_SOURCE_DIR) / ".venv" / "bin" / "python";
  if (::access(venv.c_str(), X_OK) == 0) add(venv.string());
  // The torch-based peers live in a second environment over Debian's python3-torch (setup.sh makes it).
  auto venv_torch = std::filesystem::path(WST_SOURCE_DIR) / ".venv-torch" / "bin" / "python";
  if (::access(venv_torch.c_str(), X_OK) == 0) add(venv_torch.string());
  add(which("python3"));
  if (::access("/usr/bin/python3", X_OK) == 0) add("/usr/bin/python3");
  return out;
}

std::filesystem::path runner_dir(std::vector<std::string>* searched) {
  std::vector<std::filesystem::path> dirs;
  if (const char* d = std::getenv("WHISPER_SPEEDTEST_DATA"); d && *d)
    dirs.push_back(std::filesystem::path(d) / ".." / "python");
  if (auto e = exe_dir(); !e.empty()) dirs.push_back(e / ".." / "share" / "whisper-speedtest" / "python");
  dirs.push_back(std::filesystem::path(WST_SOURCE_DIR) / "src" / "impls" / "python");
  for (const auto& d : dirs) {
    if (searched) searched->push_back(d.lexically_normal().string());
    std::error_code ec;
    if (std::filesystem::is_regular_file(d / "protocol.py", ec)) return d.lexically_normal();
  }
  return {};
}

PythonBridge::PythonBridge(BridgeSpec spec) : spec_(std::move(spec)) {}

PythonBridge::~PythonBridge() { cleanup(); }

ImplDescription PythonBridge::describe() const {
  return {spec_.id, spec_.name, spec_.formats, spec_.device.empty() ? "cpu" : spec_.device};
}

std::string PythonBridge::unavailable_reason() const {
  probe();
  return reason_;
}

void PythonBridge::probe() const {
  if (probed_) return;
  probed_ = true;
  std::filesystem::path runner = spec_.runner;
  if (runner.is_relative()) {
    std::vector<std::string> searched;
    auto dir = runner_dir(&searched);
    if (dir.empty()) {
      std::string where;
      for (const auto& s : searched) where += (where.empty() ? "" : ", ") + s;
      reason_ = "the Python runners (protocol.py, " + spec_.runner + ") were not found in " + where;
      return;
    }
    runner = dir / runner;
  }
  if (!std::filesystem::is_regular_file(runner)) {
    reason_ = runner.string() + ": runner not found";
    return;
  }
  std::vector<std::string> pythons = spec_.python.empty() ? python_candidates() : std::vector{spec_.python};
  std::string tried;
  for (const auto& py : pythons) {
    std::string why;
    try {
      auto p = std::make_unique<RunnerProcess>(spec_.id, std::vector<std::string>{py, runner.string()});
      nlohmann::json info = {{"op", "info"}};
      if (!spec_.device.empty()) info["device"] = spec_.device;
      auto reply = parse_reply(spec_.id, p->request(info.dump(), spec_.info_timeout_ms, "info"));
      if (!reply.value("ok", false)) {
        why = reply.value("error", "info failed");
      } else if (reply.value("protocol", 0) != 1) {
        why = "speaks protocol " + std::to_string(reply.value("protocol", 0)) + ", expected 1";
      } else if (reply.value("available", false)) {
        proc_ = std::move(p);
        python_ = py;
        reason_.clear();
        return;
      } else if (reply.value("installed", false)) {
        // Installed, but it cannot use this row's device (no GPU it can see): installing again would not help.
        p->quit(spec_.quit_timeout_ms);
        reason_ = reply.value("reason", "cannot run on " + spec_.device) + " (" + py + ")";
        return;
      } else {
        why = reply.value("reason", "unavailable");
      }
      p->quit(spec_.quit_timeout_ms);
    } catch (const std::exception& e) {
      why = e.what();
      if (why.rfind(spec_.id + ": ", 0) == 0) why = why.substr(spec_.id.size() + 2);
    }
    tried += (tried.empty() ? "" : "; ") + py + ": " + why;
  }
  reason_ = "not installed for any Python tried (" + tried + "); install with: " + spec_.install;
}

void PythonBridge::load(const ImplParams& params) {
  probe();
  if (!reason_.empty()) throw Error(spec_.id + ": unavailable: " + reason_);
  if (!proc_ || !proc_->running()) {
    // The runner died since (a failed earlier request): probe afresh.
    probed_ = false;
    probe();
    if (!reason_.empty()) throw Error(spec_.id + ": unavailable: " + reason_);
  }
  const std::string device = spec_.device.empty() ? params.device : spec_.device;
  nlohmann::json req = {{"op", "load"},           {"model_path", params.model_path},
                        {"model_format", params.model_format}, {"language", params.language},
                        {"n_threads", params.n_threads}, {"device", device},
                        {"beam_size", params.beam_size}, {"options", spec_.options}};
  loaded_ = false;
  auto reply = parse_reply(spec_.id, proc_->request(req.dump(), spec_.load_timeout_ms, "load"));
  if (!reply.value("ok", false)) throw Error(spec_.id + ": " + reply.value("error", std::string("load failed")));
  const auto& u = reply.at("used");
  used_.model_file = u.value("model_file", params.model_path);
  used_.format = u.value("format", params.model_format);
  used_.precision = u.value("precision", "");
  used_.device = u.value("device", device);
  used_.n_threads = u.value("n_threads", params.n_threads);
  used_.version = u.value("version", "");
  load_internal_ms_ = reply.value("load_ms", -1.0);
  peak_gpu_bytes_ = peak_gpu_of(reply);  // a new model: the peak starts from what this load reports

  if (tmp_dir_.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wst-bridge-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      throw Error(spec_.id + ": cannot create a temporary directory: " + std::strerror(errno));
    tmp_dir_ = tmpl;
  }
  loaded_ = true;
}

ImplTranscript PythonBridge::transcribe(const std::vector<float>& pcm) {
  if (!loaded_ || !proc_) throw Error(spec_.id + ": transcribe before load");
  // The audio goes as a file of little-endian float32 samples (docs/BRIDGES.md, "Why a file").
  auto audio = tmp_dir_ / "audio.f32";
  {
    std::ofstream f(audio, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(pcm.data()), static_cast<std::streamsize>(pcm.size() * sizeof(float)));
    if (!f) throw Error(audio.string() + ": cannot write the audio for the runner");
  }
  nlohmann::json req = {{"op", "transcribe"}, {"audio_path", audio.string()}, {"n_samples", pcm.size()}};
  std::string line;
  try {
    line = proc_->request(req.dump(), spec_.transcribe_timeout_ms, "transcribe");
  } catch (...) {
    loaded_ = false;  // the runner is gone with its model
    throw;
  }
  auto reply = parse_reply(spec_.id, line);
  if (!reply.value("ok", false))
    throw Error(spec_.id + ": " + reply.value("error", std::string("transcribe failed")));
  ImplTranscript t;
  t.text = reply.value("text", "");
  t.language = reply.value("language", "");
  t.internal_ms = reply.value("internal_ms", -1.0);
  peak_gpu_bytes_ = std::max(peak_gpu_bytes_, peak_gpu_of(reply));
  return t;
}

ImplUsed PythonBridge::used() const { return used_; }

void PythonBridge::cleanup() {
  if (proc_) {
    proc_->quit(spec_.quit_timeout_ms);
    proc_.reset();
  }
  probed_ = false;
  loaded_ = false;
  if (!tmp_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(tmp_dir_, ec);
    tmp_dir_.clear();
  }
}

long long PythonBridge::runner_peak_rss_kb() const {
  if (!proc_ || !proc_->running()) return -1;
  std::ifstream f("/proc/" + std::to_string(proc_->pid()) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  return -1;
}

pid_t PythonBridge::runner_pid() const { return proc_ && proc_->running() ? proc_->pid() : -1; }

}  // namespace wst::impls
