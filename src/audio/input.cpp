// libsndfile first, ffmpeg as the fallback; see input.h.
#include "audio/input.h"

#include <fcntl.h>
#include <sndfile.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "audio/decode.h"
#include "util/errors.h"

extern char** environ;

namespace wst::audio {
namespace fs = std::filesystem;

std::string find_ffmpeg() {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / "ffmpeg";
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate.string();
  }
  return "";
}

std::vector<float> decode_with_ffmpeg(const std::string& path, int sample_rate) {
  std::string ffmpeg = find_ffmpeg();
  if (ffmpeg.empty()) throw Error(path + ": the ffmpeg command is not installed (apt install ffmpeg)");
  int out[2];
  if (::pipe(out) != 0) throw Error(path + ": cannot create a pipe for ffmpeg (" + std::strerror(errno) + ")");
  // ffmpeg's messages go to a temporary file, read after it exits (no second pipe to drain).
  char err_name[] = "/tmp/wst-ffmpeg-XXXXXX";
  int err_fd = ::mkstemp(err_name);
  std::string rate = std::to_string(sample_rate);
  std::vector<std::string> args = {ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", path,
                                   "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", rate, "-"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  if (err_fd >= 0) posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, ffmpeg.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    if (err_fd >= 0) ::close(err_fd), ::unlink(err_name);
    throw Error(path + ": cannot run " + ffmpeg + " (" + std::strerror(rc) + ")");
  }
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string message;
  if (err_fd >= 0) {
    ::close(err_fd);
    std::ifstream in(err_name);
    std::getline(in, message);
    ::unlink(err_name);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(path + ": ffmpeg could not decode it (" + (message.empty() ? "no message" : message) + ")");
  std::vector<float> pcm(bytes.size() / sizeof(float));
  std::memcpy(pcm.data(), bytes.data(), pcm.size() * sizeof(float));
  if (pcm.empty()) throw Error(path + ": empty audio (ffmpeg decoded 0 samples)");
  for (float& x : pcm) x = std::max(-1.0f, std::min(1.0f, x));
  return pcm;
}

std::vector<float> read_audio_file(const std::string& path, int sample_rate) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error(path + ": no such file");
  if (fs::is_directory(status)) throw Error(path + ": is a directory, not an audio file");
  if (fs::is_regular_file(status) && fs::file_size(path, ec) == 0) throw Error(path + ": empty file (0 bytes)");
  // libsndfile decides first: a file it opens is its to read (its errors stand); only one it cannot open at
  // all goes to ffmpeg.
  SF_INFO probe_info{};
  if (SNDFILE* probe = sf_open(path.c_str(), SFM_READ, &probe_info)) {
    sf_close(probe);
    return load_audio(path, sample_rate);
  }
  const std::string sndfile_error =
      path + ": not an audio file libsndfile can read (" + sf_strerror(nullptr) + ")";
  if (find_ffmpeg().empty())
    throw Error(sndfile_error + "; the ffmpeg command, which reads other formats, is not installed (apt install ffmpeg)");
  try {
    return decode_with_ffmpeg(path, sample_rate);
  } catch (const Error& ffmpeg_error) {
    throw Error(sndfile_error + "; " + ffmpeg_error.what());
  }
}

}  // namespace wst::audio
