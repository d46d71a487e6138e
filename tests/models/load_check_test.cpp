// The child-process load hook of `check-models --verify load`: exit status, stderr, and the timeout that
// kills a hanging loader and everything it started.
#include "models/load_check.h"

#include <gtest/gtest.h>

#include <chrono>

#include "support/run_cli.h"
#include "support/temp_dir.h"

namespace wst::models {
namespace {

TEST(LoadCheck, ChildSuccessFailureAndTimeout) {
  EXPECT_EQ(run_load_child({"/bin/sh", "-c", "exit 0"}, 5).status, Status::kComplete);
  FileCheck fail = run_load_child({"/bin/sh", "-c", "echo first >&2; echo 'model.bin: bad tensor' >&2; exit 3"}, 5);
  EXPECT_EQ(fail.status, Status::kCorrupt);
  EXPECT_EQ(fail.detail, "load failed (exit status 3): model.bin: bad tensor");
  FileCheck crash = run_load_child({"/bin/sh", "-c", "kill -SEGV $$"}, 5);
  EXPECT_EQ(crash.detail, "load failed (killed by signal 11)");
  auto t0 = std::chrono::steady_clock::now();
  // The grandchild (sleep) must die with the group, or this call would wait for it.
  FileCheck hang = run_load_child({"/bin/sh", "-c", "sleep 30; exit 0"}, 1);
  EXPECT_EQ(hang.status, Status::kCorrupt);
  EXPECT_EQ(hang.detail, "load timed out after 1 s");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  FileCheck absent = run_load_child({"/nonexistent/loader"}, 5);
  EXPECT_EQ(absent.detail, "load failed (exit status 127): cannot run /nonexistent/loader: No such file or directory");
}

TEST(LoadCheck, SilentClipAndChildCommand) {
  test::TempDir t;
  write_silent_wav(t / "s.wav", 16000);
  std::string w = test::slurp(t / "s.wav");
  ASSERT_EQ(w.size(), 44u + 32000u);
  EXPECT_EQ(w.substr(0, 4), "RIFF");
  EXPECT_EQ(w.substr(8, 8), "WAVEfmt ");
  EXPECT_EQ(static_cast<unsigned char>(w[24]) | (static_cast<unsigned char>(w[25]) << 8), 16000 & 0xffff);
  EXPECT_EQ(w.substr(36, 4), "data");
  EXPECT_EQ(w.find_first_not_of('\0', 44), std::string::npos);
  Probe p;
  p.path = "/m/tiny.en/ct2";
  p.format = Format::kCt2;
  EXPECT_EQ(transcribe_argv("/bin/wst", p, "/tmp/s.wav"),
            (std::vector<std::string>{"/bin/wst", "transcribe", "/tmp/s.wav", "--model", "/m/tiny.en/ct2"}));
}

}  // namespace
}  // namespace wst::models
