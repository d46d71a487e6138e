// Where whisper-speedtest finds its read-only data files (data/catalog.json and friends).
#pragma once
#include <filesystem>

namespace wst {

// $WHISPER_SPEEDTEST_DATA if set, else <directory of the executable>/../share/whisper-speedtest when it
// exists, else the source tree's data/ folder (WST_SOURCE_DIR "/data", fixed at compile time).
std::filesystem::path data_dir();

}  // namespace wst
