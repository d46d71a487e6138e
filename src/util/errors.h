// One error type for the whole project. Its message is the single line the user sees:
// it names the file (or thing) and the problem, e.g. "model.bin: truncated at byte 1234 (tensor x)".
#pragma once
#include <stdexcept>
#include <string>

namespace wst {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace wst
