// The one-line message of the wst::Error a call throws, for tests that expect a bad input's exact error.
#pragma once
#include <functional>
#include <string>

#include "util/errors.h"

namespace wst::test {

// "(no error)" when f throws none, so that a test expecting a message fails visibly.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace wst::test
