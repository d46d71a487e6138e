// Locates the data directory; see data_dir.h for the search order.
#include "util/data_dir.h"

#include <cstdlib>
#include <system_error>

namespace wst {

namespace {

// The running executable, from /proc/self/exe (Linux); empty when that cannot be read.
std::filesystem::path executable_path() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : p;
}

}  // namespace

std::filesystem::path data_dir() {
  if (const char* env = std::getenv("WHISPER_SPEEDTEST_DATA"); env && *env) return env;

  if (auto exe = executable_path(); !exe.empty()) {
    auto installed = exe.parent_path().parent_path() / "share" / "whisper-speedtest";
    std::error_code ec;
    if (std::filesystem::is_directory(installed, ec)) return installed;
  }
  return std::filesystem::path(WST_SOURCE_DIR) / "data";
}

}  // namespace wst
