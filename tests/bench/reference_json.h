// Loads a reference file made by tests/reference/make_normalizer_reference.py and checks its header.
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "support/paths.h"

namespace wst::test {

// The format the tests understand; make_normalizer_reference.py writes FORMAT_VERSION = 1.
inline constexpr int kNormalizerReferenceFormat = 1;

inline nlohmann::json load_normalizer_reference(const std::string& name) {
  auto path = source_dir() / "tests" / "reference" / name;
  std::ifstream f(path);
  if (!f) {
    ADD_FAILURE() << path << ": cannot open; remake it with python3 tests/reference/make_normalizer_reference.py";
    return nlohmann::json::object();
  }
  auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j.value("format_version", -1), kNormalizerReferenceFormat) << path << ": unexpected format version";
  return j;
}

// Shows a string with its control and non-ASCII characters escaped, so a failure message is unambiguous.
inline std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', /*ensure_ascii=*/true);
}

}  // namespace wst::test
