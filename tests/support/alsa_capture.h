// A capture device for PortAudio on a machine without a microphone (or a sound card): a temporary HOME whose
// ~/.asoundrc makes ALSA's default PCM the `file` plugin over the `null` PCM, with the capture data read from a
// FIFO that this object fills with the samples a test chooses. Run the code under test with HOME = home().
//
//   AlsaFileCapture cap(pcm);                       // pcm: 16 kHz mono float, what the "microphone" hears
//   if (!cap.usable()) GTEST_SKIP() << cap.why_not();
//   ... start the recorder with HOME=cap.home(), press Enter ...
//   while (!cap.drained()) ...;                     // the recorder has read every sample
//   ... press Enter again; call cap.trickle() until the recorder has stopped ...
//
// Why a FIFO: ALSA's null PCM is not paced (it has a full buffer whenever asked), so a regular file would be
// read to its end at CPU speed, its last period then repeated for as long as the stream runs. A FIFO holding
// the whole clip is read in order, and once it is empty the reader blocks until the test writes again: the
// recording is exactly the clip (plus the zeros written to let the stream stop). The FIFO must hold the whole
// clip at once (a partial read leaves the rest of that period stale), so its capacity is raised to fit.
// The raw format is float32 little-endian mono at 16 kHz because that is what audio/record.cpp asks PortAudio
// for and the null PCM accepts anything: no conversion happens between the FIFO and the stream callback.
#pragma once
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace wst::test {

class AlsaFileCapture {
 public:
  // pcm is followed by `n_zeros` silent samples, so the period read last is silence and so is what a
  // stopping stream repeats.
  explicit AlsaFileCapture(const std::vector<float>& pcm, size_t n_zeros = 8000) {
    std::filesystem::create_directories(home());
    const auto fifo = dir_ / "capture.f32";
    if (::mkfifo(fifo.c_str(), 0600) != 0) {
      why_not_ = "mkfifo failed";
      return;
    }
    fd_ = ::open(fifo.c_str(), O_RDWR);  // read-write: opening never blocks, and the reader never sees EOF
    if (fd_ < 0) {
      why_not_ = "cannot open the FIFO";
      return;
    }
    std::vector<float> samples = pcm;
    samples.resize(pcm.size() + n_zeros, 0.0f);
    const size_t n_bytes = samples.size() * sizeof(float);
    const int capacity = ::fcntl(fd_, F_SETPIPE_SZ, static_cast<int>(std::min<size_t>(n_bytes + 4096, 1 << 20)));
    if (capacity < 0 || static_cast<size_t>(capacity) < n_bytes) {
      why_not_ = "a FIFO here holds at most " + std::to_string(capacity) + " bytes, the clip needs " +
                 std::to_string(n_bytes) + " (/proc/sys/fs/pipe-max-size)";
      return;
    }
    if (::write(fd_, samples.data(), n_bytes) != static_cast<ssize_t>(n_bytes)) {
      why_not_ = "writing the FIFO failed";
      return;
    }
    n_fed_ = samples.size();
    dir_.write("home/.asoundrc",
               "pcm.!default {\n"
               "  type file\n"
               "  slave.pcm \"null\"\n"
               "  file \"/dev/null\"\n"
               "  infile \"" + fifo.string() + "\"\n"
               "  format \"raw\"\n"
               "}\n");
  }
  ~AlsaFileCapture() {
    if (fd_ >= 0) ::close(fd_);
  }
  AlsaFileCapture(const AlsaFileCapture&) = delete;
  AlsaFileCapture& operator=(const AlsaFileCapture&) = delete;

  bool usable() const { return why_not_.empty(); }
  const std::string& why_not() const { return why_not_; }
  std::filesystem::path home() const { return dir_ / "home"; }
  size_t n_fed() const { return n_fed_; }  // samples written: the clip and the zeros after it

  // True once the recorder has read everything written so far.
  bool drained() const {
    int n = 0;
    return ::ioctl(fd_, FIONREAD, &n) == 0 && n == 0;
  }
  // Writes a few zeros, which wakes a reader blocked on the empty FIFO (a stopping stream needs that).
  void trickle() {
    const float zeros[16] = {};
    if (::write(fd_, zeros, sizeof zeros) < 0) return;
  }

  // Drives a recorder whose stdin is the pipe `keys`: presses Enter, waits until the recorder has read the
  // whole clip, presses Enter again, and wakes the stopping stream until `stopped()` (the recorder is done).
  // Returns early when `stopped()` turns true before (a recorder that failed); false after `timeout_s`.
  template <class Stopped>
  bool record_clip(int keys, Stopped stopped, int timeout_s = 60) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    if (::write(keys, "\n", 1) != 1) return false;  // read by the recorder once its stream is open
    while (!drained()) {
      if (stopped()) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      ::usleep(10000);
    }
    // The last samples read from the FIFO reach the stream callback in the same pass of PortAudio's capture
    // thread; 200 ms lets that pass finish before the stream is stopped.
    ::usleep(200000);
    if (::write(keys, "\n", 1) != 1) return false;
    // Stopping joins the capture thread, which may be blocked on the empty FIFO: wake it until it is done.
    while (!stopped()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      trickle();
      ::usleep(10000);
    }
    return true;
  }

 private:
  TempDir dir_;
  int fd_ = -1;
  size_t n_fed_ = 0;
  std::string why_not_;
};

}  // namespace wst::test
