// Tests for src/audio/record.cpp through PortAudio's real ALSA path, without a microphone: the default capture
// PCM is ALSA's file plugin reading a FIFO the test fills with jfk.wav's samples (support/alsa_capture.h).
// Enter is pressed through a pipe on stdin. The recording must be the fed samples exactly, then silence.
#include "audio/record.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "audio/decode.h"
#include "support/alsa_capture.h"
#include "support/paths.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::audio {
namespace {

// Runs record_from_microphone() in a child process (ALSA reads its configuration, and HOME, once per
// process) with HOME at the fake device and stdin from a pipe; presses Enter, waits until the device's FIFO
// is drained, presses Enter again, and returns the child's samples. Errors go to `error`.
std::vector<float> record_in_child(test::AlsaFileCapture& cap, const test::TempDir& out, std::string& error) {
  int keys[2];
  if (::pipe2(keys, O_CLOEXEC) != 0) {
    error = "pipe failed";
    return {};
  }
  const auto samples_path = out / "samples.f32", error_path = out / "error.txt", stderr_path = out / "stderr.txt";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("HOME", cap.home().c_str(), 1);
    ::dup2(keys[0], 0);
    FILE* err = std::fopen(stderr_path.c_str(), "w");
    if (err) ::dup2(::fileno(err), 2);
    try {
      std::vector<float> pcm = record_from_microphone(16000);
      std::ofstream(samples_path, std::ios::binary)
          .write(reinterpret_cast<const char*>(pcm.data()), static_cast<std::streamsize>(pcm.size() * sizeof(float)));
      ::_exit(0);
    } catch (const std::exception& e) {
      std::ofstream(error_path) << e.what();
      ::_exit(2);
    }
  }
  ::close(keys[0]);
  int status = 0;
  bool exited = false;
  cap.record_clip(keys[1], [&] { return exited || (exited = ::waitpid(pid, &status, WNOHANG) == pid); });
  ::close(keys[1]);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    error = "the recorder did not finish within 60 s; its stderr: " + test::slurp(stderr_path);
    return {};
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    error = std::filesystem::exists(error_path) ? test::slurp(error_path)
                                                : "the recorder died; its stderr: " + test::slurp(stderr_path);
    return {};
  }
  std::string bytes = test::slurp(samples_path);
  std::vector<float> pcm(bytes.size() / sizeof(float));
  std::memcpy(pcm.data(), bytes.data(), pcm.size() * sizeof(float));
  return pcm;
}

TEST(AudioRecord, RecordsWhatTheCaptureDeviceDeliversBetweenTheTwoEnters) {
  const std::vector<float> jfk = load_audio((test::shared_audio_dir() / "jfk.wav").string());
  const std::vector<float> clip(jfk.begin(), jfk.begin() + 3 * 16000);  // 3 s of speech
  test::AlsaFileCapture cap(clip);
  if (!cap.usable()) GTEST_SKIP() << "cannot set up the fake capture device: " << cap.why_not();
  test::TempDir out;
  std::string error;
  std::vector<float> pcm = record_in_child(cap, out, error);
  ASSERT_TRUE(error.empty()) << error;
  // Every fed sample, in order and bit for bit (float32 all the way: no conversion, no resampling) ...
  ASSERT_GE(pcm.size(), cap.n_fed()) << "the recording lost samples";
  for (size_t i = 0; i < clip.size(); ++i) ASSERT_EQ(pcm[i], clip[i]) << "sample " << i;
  // ... then only silence: the fed zeros and what the stream read while it stopped (at most a few periods).
  for (size_t i = clip.size(); i < pcm.size(); ++i) ASSERT_EQ(pcm[i], 0.0f) << "sample " << i;
  EXPECT_LT(pcm.size(), cap.n_fed() + 5 * 16000) << "more than 5 s recorded after the clip";
  const std::string err = test::slurp(out / "stderr.txt");
  EXPECT_NE(err.find("Press Enter to start recording."), std::string::npos) << err;
  EXPECT_NE(err.find("Recording... press Enter to stop."), std::string::npos) << err;
}

}  // namespace
}  // namespace wst::audio
