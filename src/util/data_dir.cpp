// Finds the data directory: environment, then install layout beside the executable, then the source tree.
#include "util/data_dir.h"

#include <cstdlib>
#include <system_error>

namespace wst {

std::filesystem::path data_dir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("WHISPER_SPEEDTEST_DATA"); env && *env) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / "share" / "whisper-speedtest";
    if (fs::is_directory(installed, ec)) return installed;
  }
  return fs::path(WST_SOURCE_DIR) / "data";
}

}  // namespace wst
