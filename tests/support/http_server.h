// Starts tests/support/http_server.py on 127.0.0.1 for one test and stops it afterwards. The server
// logs every request; count() reads that log.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "support/paths.h"
#include "support/temp_dir.h"

namespace wst::test {

class HttpServer {
 public:
  // `root` holds the files to serve; extra arguments go to the script (--mode drop, --rate N, ...).
  HttpServer(const std::filesystem::path& root, std::vector<std::string> extra = {}) {
    port_file_ = dir_ / "port";
    log_ = dir_ / "requests.log";
    std::vector<std::string> argv = {"python3", (source_dir() / "tests" / "support" / "http_server.py").string(),
                                     "--root", root.string(), "--port-file", port_file_.string(), "--log", log_.string(),
                                     "--max-seconds", "60"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> av;
      for (auto& s : argv) av.push_back(s.data());
      av.push_back(nullptr);
      ::execvp(av[0], av.data());
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(port_file_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream(port_file_) >> port_;
  }
  ~HttpServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    std::ifstream in(log_);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  size_t count(const std::string& prefix = "") const {
    size_t n = 0;
    for (const auto& r : requests()) n += r.rfind(prefix, 0) == 0;
    return n;
  }

 private:
  TempDir dir_;
  std::filesystem::path port_file_, log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace wst::test
