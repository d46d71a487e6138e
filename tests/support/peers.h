// Which peers a test run must have: WST_REQUIRE_PEERS=1 (every peer) or a comma-separated list of ids
// (WST_REQUIRE_PEERS=faster-whisper,openai-whisper). CI sets it, so that it cannot pass by skipping the peers
// it installs; without it a peer that is not installed is skipped, saying why.
#pragma once
#include <cstdlib>
#include <string>

namespace wst::test {

inline bool peer_required(const std::string& id) {
  const char* r = std::getenv("WST_REQUIRE_PEERS");
  if (!r || !*r) return false;
  std::string list = std::string(",") + r + ",";
  return list == ",1," || list.find("," + id + ",") != std::string::npos;
}

}  // namespace wst::test
