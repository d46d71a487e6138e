// Runs the built whisper-speedtest (WST_CLI_PATH) with arguments and collects its exit code, stdout and
// stderr, for the command-line tests.
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace wst::test {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `env` is put in front of the command ("VAR=value "), stdin is /dev/null.
inline CliResult run_cli(const std::vector<std::string>& args, const std::string& env = "") {
  TempDir d;
  std::string cmd = env + shell_quote(WST_CLI_PATH);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " </dev/null >" + shell_quote((d / "out").string()) + " 2>" + shell_quote((d / "err").string());
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(d / "out");
  r.err = slurp(d / "err");
  return r;
}

}  // namespace wst::test
