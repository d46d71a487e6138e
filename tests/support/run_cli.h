// Runs the whisper-speedtest binary (WST_CLI_PATH) as a child with extra environment variables and
// returns its exit status, stdout and stderr. stdin is /dev/null (not a terminal), or a descriptor given to
// start_cli (the read end of a pipe a test writes key presses into).
#pragma once
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace wst::test {

struct CliResult {
  int rc = -1;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts the CLI and returns its pid; output goes to <dir>/out and <dir>/err; stdin is `stdin_fd` when given.
inline pid_t start_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                       const std::filesystem::path& dir, int stdin_fd = -1) {
  pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    int in = stdin_fd >= 0 ? stdin_fd : ::open("/dev/null", O_RDONLY);
    int out = ::open((dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open((dir / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<std::string> a = {WST_CLI_PATH};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> av;
    for (auto& s : a) av.push_back(s.data());
    av.push_back(nullptr);
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  return pid;
}

inline CliResult wait_cli(pid_t pid, const std::filesystem::path& dir) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  return r;
}

inline CliResult run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
  TempDir d;
  return wait_cli(start_cli(args, env, d.path()), d.path());
}

}  // namespace wst::test
