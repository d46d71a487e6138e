// Where the tool's installed data files (data/ in the source tree) are found at run time.
//
// Search order, first hit wins:
//   1. $WHISPER_SPEEDTEST_DATA, when set and non-empty (used as given, even if it does not exist, so a
//      wrong setting shows up as "file not found" rather than silently falling back);
//   2. <directory of the running executable>/../share/whisper-speedtest, when that directory exists
//      (the layout `cmake --install` produces: bin/whisper-speedtest, share/whisper-speedtest/);
//   3. the source tree's data/ (WST_SOURCE_DIR "/data"), for builds run from the build directory.
//
// Thread-safe: it only reads the environment and the file system.
#pragma once
#include <filesystem>

namespace wst {

std::filesystem::path data_dir();

}  // namespace wst
