// Sets environment variables for one test and restores the old values afterwards.
#pragma once
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

namespace wst::test {

class EnvGuard {
 public:
  EnvGuard() = default;
  ~EnvGuard() {
    for (auto& [k, v] : old_) {
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
  }
  void set(const std::string& k, const std::string& v) { remember(k); ::setenv(k.c_str(), v.c_str(), 1); }
  void unset(const std::string& k) { remember(k); ::unsetenv(k.c_str()); }

 private:
  void remember(const std::string& k) {
    if (old_.count(k)) return;
    const char* v = std::getenv(k.c_str());
    old_[k] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> old_;
};

}  // namespace wst::test
