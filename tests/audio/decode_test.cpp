// Tests for src/audio/decode.cpp: exact s16 scaling, down-mixing and resampling of a file written here,
// other containers, and one-line errors for bad input.
#include "audio/decode.h"

#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::audio {
namespace {

std::string jfk_path() { return (test::shared_audio_dir() / "jfk.wav").string(); }

// Writes interleaved float frames [n_frames, n_channels] with libsndfile in the given format.
void write_audio(const std::string& path, const std::vector<float>& interleaved, int n_channels,
                 int sample_rate, int format) {
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = n_channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << path << ": " << sf_strerror(nullptr);
  const sf_count_t n_frames = static_cast<sf_count_t>(interleaved.size() / n_channels);
  EXPECT_EQ(sf_writef_float(f, interleaved.data(), n_frames), n_frames);
  sf_close(f);
}

// Magnitude of the DFT of x at `hz` (a single bin, computed directly), normalised so a sine of amplitude A
// gives about A.
double tone_magnitude(const std::vector<float>& x, double hz, int sample_rate) {
  double re = 0, im = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ph = 2 * M_PI * hz * static_cast<double>(i) / sample_rate;
    re += x[i] * std::cos(ph);
    im -= x[i] * std::sin(ph);
  }
  return 2 * std::hypot(re, im) / static_cast<double>(x.size());
}

// Expects load_audio(path) to throw wst::Error whose message starts with the path and contains `problem`.
void expect_error(const std::string& path, const std::string& problem) {
  try {
    auto pcm = load_audio(path);
    ADD_FAILURE() << path << ": expected an error containing '" << problem << "', got " << pcm.size()
                  << " samples";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "message does not start with the path: " << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << "message lacks '" << problem << "': " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

TEST(AudioDecode, JfkIsS16Over32768Exactly) {
  const std::string path = jfk_path();
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  std::vector<float> pcm = load_audio(path);
  ASSERT_EQ(pcm.size(), 176000u);  // 11.0 s at 16 kHz

  // The raw s16 values, read through libsndfile's integer path.
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  ASSERT_NE(f, nullptr);
  std::vector<short> s16(static_cast<size_t>(info.frames));
  ASSERT_EQ(sf_read_short(f, s16.data(), info.frames), info.frames);
  sf_close(f);
  size_t n_nonzero = 0;
  for (size_t i = 0; i < pcm.size(); ++i) {
    ASSERT_EQ(pcm[i], static_cast<float>(s16[i]) / 32768.0f) << "sample " << i << " (s16 " << s16[i] << ")";
    n_nonzero += s16[i] != 0;
  }
  EXPECT_GT(n_nonzero, 100000u);  // the comparison saw real speech, not silence
}

TEST(AudioDecode, ResamplesToTheRequestedRate) {
  std::vector<float> pcm = load_audio(jfk_path(), 8000);
  EXPECT_EQ(pcm.size(), 88000u);  // 11.0 s at 8 kHz
  try {
    load_audio(jfk_path(), 0);
    ADD_FAILURE() << "expected an error for sample_rate 0";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample rate must be positive (got 0)"), std::string::npos) << e.what();
  }
}

TEST(AudioDecode, StereoAt44100IsDownmixedAndResampled) {
  test::TempDir dir;
  const std::string path = (dir / "tone.wav").string();
  constexpr int kRate = 44100, kSeconds = 2;
  constexpr double kHz = 440.0;
  std::vector<float> frames;  // [kRate * kSeconds, 2]: left 0.6 sin, right 0.2 sin -> mono 0.4 sin
  for (int i = 0; i < kRate * kSeconds; ++i) {
    const double s = std::sin(2 * M_PI * kHz * i / kRate);
    frames.push_back(static_cast<float>(0.6 * s));
    frames.push_back(static_cast<float>(0.2 * s));
  }
  write_audio(path, frames, 2, kRate, SF_FORMAT_WAV | SF_FORMAT_FLOAT);

  std::vector<float> pcm = load_audio(path);
  EXPECT_EQ(pcm.size(), 32000u);  // 2 s at 16 kHz

  // Zero crossings: 2 per period, 880 periods; allow a couple at the edges.
  int n_crossings = 0;
  for (size_t i = 1; i < pcm.size(); ++i) n_crossings += (pcm[i - 1] < 0) != (pcm[i] < 0);
  EXPECT_NEAR(n_crossings, 2 * kHz * kSeconds, 3);
  // The energy is at 440 Hz with the down-mixed amplitude, not at its neighbours.
  EXPECT_NEAR(tone_magnitude(pcm, kHz, 16000), 0.4, 0.01);
  EXPECT_LT(tone_magnitude(pcm, 2 * kHz, 16000), 0.01);
  for (float x : pcm) ASSERT_TRUE(std::isfinite(x) && std::abs(x) <= 1.0f);
}

TEST(AudioDecode, FlacRoundTrip) {
  test::TempDir dir;
  const std::string path = (dir / "tone.flac").string();
  std::vector<float> mono(16000);
  for (size_t i = 0; i < mono.size(); ++i) mono[i] = static_cast<float>(0.5 * std::sin(2 * M_PI * 1000.0 * i / 16000));
  write_audio(path, mono, 1, 16000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  std::vector<float> pcm = load_audio(path);
  ASSERT_EQ(pcm.size(), mono.size());
  for (size_t i = 0; i < pcm.size(); ++i) ASSERT_NEAR(pcm[i], mono[i], 1.0 / 32768) << "sample " << i;
}

// Compressed formats, each written here by libsndfile at 48 kHz: decoded, resampled, tone kept. A format
// this libsndfile was built without is skipped (load_audio supports what the library supports).
TEST(AudioDecode, CompressedFormatsAt48k) {
  struct Case {
    const char* name;
    int format;
  };
  const Case cases[] = {{"tone.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
                        {"tone.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS},
                        {"tone.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III}};
  std::vector<float> mono(48000);  // [1 s at 48 kHz], 1 kHz at amplitude 0.5
  for (size_t i = 0; i < mono.size(); ++i) mono[i] = static_cast<float>(0.5 * std::sin(2 * M_PI * 1000.0 * i / 48000));
  test::TempDir dir;
  int n_tested = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SF_INFO probe{};
    probe.samplerate = 48000;
    probe.channels = 1;
    probe.format = c.format;
    if (!sf_format_check(&probe)) continue;
    const std::string path = (dir / c.name).string();
    write_audio(path, mono, 1, 48000, c.format);
    std::vector<float> pcm = load_audio(path);
    // Lossy codecs may add or trim a frame of encoder delay: allow 5%.
    EXPECT_NEAR(static_cast<double>(pcm.size()), 16000.0, 800.0);
    EXPECT_NEAR(tone_magnitude(pcm, 1000.0, 16000), 0.5, 0.05);
    ++n_tested;
  }
  if (n_tested == 0) GTEST_SKIP() << "this libsndfile writes none of Vorbis, Opus, MP3";
}

TEST(AudioDecode, EmptyWavIsAnError) {
  test::TempDir dir;
  const std::string path = (dir / "empty.wav").string();
  write_audio(path, {}, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  expect_error(path, "empty audio (0 samples)");
}

TEST(AudioDecode, TextFileIsNotAudio) {
  test::TempDir dir;
  const std::string path = dir.write("x.wav", "this is not a sound file, just some text\n").string();
  expect_error(path, "not an audio file libsndfile can read (");
}

TEST(AudioDecode, TruncatedHeaderIsNotAudio) {
  test::TempDir dir;
  std::ifstream in(jfk_path(), std::ios::binary);
  ASSERT_TRUE(in) << jfk_path();
  std::string head(30, '\0');  // "RIFF", size, "WAVE", half of the fmt chunk
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const std::string path = dir.write("truncated.wav", head).string();
  expect_error(path, "not an audio file libsndfile can read (");
}

// A 1 s 16-bit mono WAV written by libsndfile, as bytes, with the offsets of its size fields found by hand.
struct WavFile {
  std::string bytes;
  size_t data_size_at = 0;  // offset of the data chunk's size field
  std::vector<float> pcm;   // what it holds, as load_audio returns it
};
WavFile one_second_wav(const test::TempDir& dir) {
  const std::string path = (dir / "source.wav").string();
  std::vector<float> mono(16000);
  for (size_t i = 0; i < mono.size(); ++i) mono[i] = static_cast<float>(0.5 * std::sin(2 * M_PI * 440.0 * i / 16000));
  write_audio(path, mono, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  WavFile w;
  std::ifstream in(path, std::ios::binary);
  w.bytes.assign(std::istreambuf_iterator<char>(in), {});
  w.data_size_at = w.bytes.find("data") + 4;
  w.pcm = load_audio(path);
  return w;
}
void put_u32(std::string& bytes, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// A header that claims more than the file holds is refused with both sizes, instead of benchmarking a
// shorter clip without a word (libsndfile alone reads what is there).
TEST(AudioDecode, WavWhoseHeaderLiesIsRefused) {
  test::TempDir dir;
  WavFile w = one_second_wav(dir);
  ASSERT_EQ(w.pcm.size(), 16000u);
  ASSERT_EQ(w.bytes.size(), w.data_size_at + 4 + 32000) << "libsndfile wrote a header this test does not expect";
  const size_t data_at = w.data_size_at + 4;
  const std::string half = dir.write("half.wav", w.bytes.substr(0, data_at + 16000)).string();
  expect_error(half, "truncated WAV file: the data chunk claims 32000 bytes (1.000 s), the file holds 16000 of them");
  const std::string mid = dir.write("mid-sample.wav", w.bytes.substr(0, w.bytes.size() - 1)).string();
  expect_error(mid, "ending in the middle of a 2-byte sample frame");
  std::string riff = w.bytes;
  put_u32(riff, 4, static_cast<uint32_t>(w.bytes.size() * 2));
  const std::string riff_path = dir.write("riff.wav", riff).string();
  expect_error(riff_path, "truncated WAV file: the RIFF header claims " + std::to_string(w.bytes.size() * 2 + 8) +
                              " bytes, the file has " + std::to_string(w.bytes.size()));
  std::string data = w.bytes;
  put_u32(data, w.data_size_at, 320000);
  const std::string data_path = dir.write("data.wav", data).string();
  expect_error(data_path, "truncated WAV file: the data chunk claims 320000 bytes (10.000 s), the file holds 32000");
}

// What streaming writers leave in the header (ffmpeg to a pipe: 0xffffffff; arecord: 0x7fffff00) means
// "to the end of the file": the audio is read whole, as libsndfile reads it.
TEST(AudioDecode, StreamedWavWithPlaceholderSizesIsReadWhole) {
  test::TempDir dir;
  WavFile w = one_second_wav(dir);
  const struct {
    const char* name;
    uint32_t riff, data;
  } cases[] = {{"ffmpeg.wav", 0xffffffff, 0xffffffff}, {"arecord.wav", 0x7fffff24, 0x7fffff00}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string bytes = w.bytes;
    put_u32(bytes, 4, c.riff);
    put_u32(bytes, w.data_size_at, c.data);
    std::vector<float> pcm = load_audio(dir.write(c.name, bytes).string());
    EXPECT_EQ(pcm, w.pcm);
  }
}

// Every real WAV under ../shared/audio and the bundled clip pass the header check (and are read as before).
TEST(AudioDecode, RealWavFilesPassTheHeaderCheck) {
  ASSERT_TRUE(std::filesystem::exists(test::shared_audio_dir())) << test::shared_audio_dir();
  EXPECT_FALSE(load_audio((test::source_dir() / "data/samples/sample.wav").string()).empty());
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(test::shared_audio_dir())) {
    if (e.path().extension() != ".wav") continue;
    SCOPED_TRACE(e.path().string());
    EXPECT_FALSE(load_audio(e.path().string()).empty());
    ++n;
  }
  EXPECT_GE(n, 2u);  // jfk.wav, ted_60.wav at least
}

// Found by fuzz/wav_fuzz.cpp: a 1 Hz header made a 4 kB file decode to 32 million samples (a larger file, to
// gigabytes and std::bad_alloc), and NaN samples came back unclamped.
TEST(AudioDecode, SampleRateBelow1000HzIsAnError) {
  test::TempDir dir;
  const std::string path = (dir / "one_hz.wav").string();
  write_audio(path, std::vector<float>(2000, 0.25f), 1, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  expect_error(path, "invalid sample rate 1 Hz (at least 1000 expected)");
  const std::string ok = (dir / "thousand_hz.wav").string();
  write_audio(ok, std::vector<float>(1000, 0.25f), 1, 1000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  EXPECT_EQ(load_audio(ok).size(), 16000u);  // 1 s
}

TEST(AudioDecode, NonFiniteSampleIsAnError) {
  test::TempDir dir;
  const std::string path = (dir / "nan.wav").string();
  write_audio(path, {0.1f, 0.2f, std::nanf(""), 0.3f}, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  expect_error(path, "frame 2 is not a finite number (");
  // Infinity too, also where resampling would have spread it over its neighbours.
  write_audio(path, {0.1f, -INFINITY, 0.2f, 0.3f, 0.4f, 0.5f}, 1, 8000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  expect_error(path, "frame 1 is not a finite number (-inf)");
}

TEST(AudioDecode, MissingFileIsAnError) {
  expect_error("/nonexistent/dir/speech.wav", "no such file");
}

TEST(AudioDecode, DirectoryIsAnError) {
  test::TempDir dir;
  expect_error(dir.path().string(), "is a directory");
}

}  // namespace
}  // namespace wst::audio
