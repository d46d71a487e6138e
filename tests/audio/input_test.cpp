// Tests for src/audio/input.cpp: up-front refusals, and the ffmpeg fallback driven through a stand-in
// `ffmpeg` script put first on PATH (the real one need not be installed): its arguments, its output read as
// f32le and clamped, and its error line passed on.
#include "audio/input.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::audio {
namespace {

// Puts `dir` first on PATH for the test's lifetime.
class PathPrepended {
 public:
  explicit PathPrepended(const std::string& dir) : old_(std::getenv("PATH") ? std::getenv("PATH") : "") {
    ::setenv("PATH", (dir + ":" + old_).c_str(), 1);
  }
  ~PathPrepended() { ::setenv("PATH", old_.c_str(), 1); }

 private:
  std::string old_;
};

std::string error_of(const std::string& path) {
  try {
    read_audio_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void write_script(const test::TempDir& d, const std::string& body) {
  auto p = d.write("bin/ffmpeg", "#!/bin/sh\n" + body);
  ::chmod(p.c_str(), 0755);
}

TEST(AudioInput, RefusesMissingDirectoryAndEmptyUpFront) {
  test::TempDir d;
  EXPECT_EQ(error_of((d / "none.wav").string()), (d / "none.wav").string() + ": no such file");
  EXPECT_EQ(error_of(d.path().string()), d.path().string() + ": is a directory, not an audio file");
  auto empty = d.write("e.flac", "");
  EXPECT_EQ(error_of(empty.string()), empty.string() + ": empty file (0 bytes)");
}

TEST(AudioInput, FallsBackToFfmpegForWhatLibsndfileCannotOpen) {
  test::TempDir d;
  // The stand-in checks it was asked for mono f32le at 16 kHz, then writes 0.5, -0.25, 3.0 (clamped to 1).
  write_script(d,
               "case \"$*\" in *'-f f32le'*'-ac 1 -ar 16000 -'*) ;; *) echo \"bad args: $*\" >&2; exit 9;; esac\n"
               "printf '\\000\\000\\000\\077\\000\\000\\200\\276\\000\\000\\100\\100'\n");
  PathPrepended path((d / "bin").string());
  ASSERT_EQ(find_ffmpeg(), (d / "bin" / "ffmpeg").string());
  auto m4a = d.write("talk.m4a", std::string(64, 'z'));
  std::vector<float> pcm = read_audio_file(m4a.string());
  ASSERT_EQ(pcm.size(), 3u);
  EXPECT_FLOAT_EQ(pcm[0], 0.5f);
  EXPECT_FLOAT_EQ(pcm[1], -0.25f);
  EXPECT_FLOAT_EQ(pcm[2], 1.0f);
}

TEST(AudioInput, FfmpegFailureIsPassedOn) {
  test::TempDir d;
  write_script(d, "echo 'talk.m4a: Invalid data found when processing input' >&2\nexit 1\n");
  PathPrepended path((d / "bin").string());
  auto m4a = d.write("talk.m4a", std::string(64, 'z'));
  std::string e = error_of(m4a.string());
  EXPECT_EQ(e.rfind(m4a.string() + ": not an audio file libsndfile can read", 0), 0u) << e;
  EXPECT_NE(e.find("ffmpeg could not decode it (talk.m4a: Invalid data found when processing input)"), std::string::npos)
      << e;
}

TEST(AudioInput, WithoutFfmpegSaysSo) {
  test::TempDir d;
  ::mkdir((d / "empty-bin").c_str(), 0755);
  const std::string old = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", (d / "empty-bin").c_str(), 1);
  auto m4a = d.write("talk.m4a", std::string(64, 'z'));
  std::string e = error_of(m4a.string());
  ::setenv("PATH", old.c_str(), 1);
  EXPECT_NE(e.find("; the ffmpeg command, which reads other formats, is not installed (apt install ffmpeg)"),
            std::string::npos) << e;
}

}  // namespace
}  // namespace wst::audio
