#include "util/data_dir.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "support/paths.h"
#include "support/temp_dir.h"

namespace wst {

namespace {

// Sets an environment variable for one scope and restores the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(DataDir, EnvironmentVariableWins) {
  test::TempDir dir;
  ScopedEnv env("WHISPER_SPEEDTEST_DATA", dir.path().c_str());
  EXPECT_EQ(data_dir(), dir.path());
}

TEST(DataDir, EmptyEnvironmentVariableIsIgnored) {
  ScopedEnv env("WHISPER_SPEEDTEST_DATA", "");
  EXPECT_EQ(data_dir(), test::source_dir() / "data");
}

TEST(DataDir, FallsBackToSourceTreeData) {
  // The test binary runs from the build tree, which has no ../share/whisper-speedtest.
  ScopedEnv env("WHISPER_SPEEDTEST_DATA", nullptr);
  EXPECT_EQ(data_dir(), test::source_dir() / "data");
  EXPECT_TRUE(std::filesystem::exists(data_dir() / "english_spelling.json"));
}

}  // namespace wst
