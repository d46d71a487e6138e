// Decoding with libsndfile, down-mixing, and resampling with soxr. See decode.h for the contract.
#include "audio/decode.h"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "formats/wav_header.h"
#include "util/errors.h"

namespace wst::audio {
namespace {

constexpr int kMinSampleRate = 1000;  // Hz

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

// How much of a file's start is read to find a WAV's fmt and data chunks (metadata chunks before the
// samples are small; a WAV whose data starts later gets no header check and goes to libsndfile as it is).
constexpr size_t kWavHeadBytes = size_t{1} << 20;

// Opens `path` for reading, turning each failure into one line that says what is wrong with the file.
SndfilePtr open_or_throw(const std::string& path, SF_INFO* info) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error(path + ": no such file");
  if (fs::is_directory(status)) throw Error(path + ": is a directory, not an audio file");
  {
    // Tell "cannot open" (permissions, I/O) apart from "opened but not audio": libsndfile reports both
    // as a failed sf_open.
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
    // A WAV whose header claims more audio than the file holds is refused here: libsndfile would read
    // what is there and say nothing (the rule is in formats/wav_header.h).
    std::string head(kWavHeadBytes, '\0');
    probe.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(probe.gcount()));
    const uint64_t file_size = fs::file_size(path, ec);
    if (!ec) {
      if (std::string why = formats::wav_size_problem(formats::parse_wav_header(head, file_size), file_size);
          !why.empty())
        throw Error(path + ": " + why);
    }
  }
  *info = SF_INFO{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, info);
  if (!f) {
    throw Error(path + ": not an audio file libsndfile can read (" + sf_strerror(nullptr) + ")");
  }
  return SndfilePtr(f);
}

// Reads every frame, averaging channels: [n_frames]. Reads until EOF rather than trusting info.frames,
// which some containers only estimate.
std::vector<float> read_mono(const std::string& path, SNDFILE* f, const SF_INFO& info) {
  const int n_channels = info.channels;
  if (n_channels < 1) throw Error(path + ": no audio channels");
  // About 64k samples per read, however many channels (libsndfile allows 1024).
  const sf_count_t chunk_frames = std::max(1, (1 << 16) / n_channels);
  std::vector<float> chunk(static_cast<size_t>(chunk_frames) * n_channels);  // [chunk_frames, n_channels]
  std::vector<float> mono;
  if (info.frames > 0 && info.frames < (sf_count_t(1) << 34)) mono.reserve(static_cast<size_t>(info.frames));
  for (;;) {
    sf_count_t got = sf_readf_float(f, chunk.data(), chunk_frames);
    if (got <= 0) break;
    if (n_channels == 1) {
      mono.insert(mono.end(), chunk.begin(), chunk.begin() + got);
      continue;
    }
    for (sf_count_t i = 0; i < got; ++i) {
      // Sum in double so the mean of identical channels is exactly that channel.
      double sum = 0.0;
      for (int c = 0; c < n_channels; ++c) sum += chunk[static_cast<size_t>(i) * n_channels + c];
      mono.push_back(static_cast<float>(sum / n_channels));
    }
  }
  if (int err = sf_error(f); err != SF_ERR_NO_ERROR) {
    throw Error(path + ": read error after " + std::to_string(mono.size()) + " samples (" +
                sf_error_number(err) + ")");
  }
  return mono;
}

// Resamples mono float PCM from `in_rate` to `out_rate` with soxr's high-quality (SOXR_HQ) filter.
std::vector<float> resample(const std::string& path, const std::vector<float>& in, int in_rate, int out_rate) {
  // Output length as soxr defines it for a one-shot conversion: the input duration at the new rate.
  const size_t out_len = static_cast<size_t>(
      std::llround(static_cast<double>(in.size()) * out_rate / static_cast<double>(in_rate)));
  std::vector<float> out(out_len + 1);
  size_t n_in_done = 0, n_out_done = 0;
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  soxr_error_t err = soxr_oneshot(in_rate, out_rate, 1, in.data(), in.size(), &n_in_done, out.data(),
                                  out.size(), &n_out_done, &io, &quality, nullptr);
  if (err) {
    throw Error(path + ": resampling " + std::to_string(in_rate) + " Hz -> " + std::to_string(out_rate) +
                " Hz failed (soxr: " + err + ")");
  }
  out.resize(n_out_done);
  return out;
}

}  // namespace

std::vector<float> load_audio(const std::string& path, int sample_rate) {
  if (sample_rate <= 0) {
    throw Error(path + ": requested sample rate must be positive (got " + std::to_string(sample_rate) + ")");
  }
  SF_INFO info;
  SndfilePtr file = open_or_throw(path, &info);
  // A rate this low is no recording of speech, and resampling it would multiply a small file into gigabytes.
  if (info.samplerate < kMinSampleRate)
    throw Error(path + ": invalid sample rate " + std::to_string(info.samplerate) + " Hz (at least " +
                std::to_string(kMinSampleRate) + " expected)");

  std::vector<float> pcm = read_mono(path, file.get(), info);  // [n_frames at the file's rate]
  file.reset();
  if (pcm.empty()) throw Error(path + ": empty audio (0 samples)");
  // Float files can hold NaN and infinity, which clamping cannot mend and resampling would spread.
  if (auto bad = std::find_if(pcm.begin(), pcm.end(), [](float x) { return !std::isfinite(x); }); bad != pcm.end())
    throw Error(path + ": frame " + std::to_string(bad - pcm.begin()) + " is not a finite number (" +
                std::to_string(*bad) + ")");

  if (info.samplerate != sample_rate) {
    pcm = resample(path, pcm, info.samplerate, sample_rate);  // [n_samples at sample_rate]
    if (pcm.empty()) throw Error(path + ": empty audio (0 samples after resampling)");
  }
  // Float sources and the resampler's ringing may leave [-1, 1]; openai-whisper's load_audio goes through
  // s16, which saturates, so clamp likewise.
  for (float& x : pcm) x = std::clamp(x, -1.0f, 1.0f);
  return pcm;
}

}  // namespace wst::audio
