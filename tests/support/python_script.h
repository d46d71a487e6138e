// Runs a Python snippet (written to a file under a temp dir, so that no shell quoting is involved) and
// returns its stdout, or "" when it fails (its stderr then goes to the test's log).
#pragma once
#include <string>

#include "support/paths.h"
#include "support/temp_dir.h"

namespace wst::test {

inline std::string run_python(const std::string& python, const std::string& code, const TempDir& dir,
                              const std::string& args = "") {
  static int n = 0;
  // mlx's C++ threads can abort the interpreter during its teardown ("terminate called without an active
  // exception"), losing buffered output: a snippet that ran to its end flushes and leaves without teardown.
  auto script = dir.write("snippet_" + std::to_string(++n) + ".py",
                          code + "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n");
  return capture(python + " '" + script.string() + "' " + args);
}

// A Python with torch (Debian's python3-torch) and openai-whisper: $WST_TORCH_PYTHON, else the checkout's
// .venv-torch, else /usr/bin/python3; "" when none of them can import both.
inline std::string torch_python() {
  static const std::string found = [] {
    std::vector<std::string> candidates;
    if (const char* p = std::getenv("WST_TORCH_PYTHON"); p && *p) candidates.push_back(p);
    candidates.push_back((source_dir() / ".venv-torch" / "bin" / "python").string());
    candidates.push_back("/usr/bin/python3");
    for (const auto& c : candidates)
      if (capture(c + " -c 'import torch, whisper; print(1)' 2>/dev/null") == "1") return c;
    return std::string();
  }();
  return found;
}

}  // namespace wst::test
