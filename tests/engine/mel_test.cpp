// Tests for src/engine/mel.cpp against openai-whisper (tests/reference/mel_reference.bin, made by
// tests/reference/make_mel_reference.py), plus frame counts, thread independence and edge cases.
#include "engine/mel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <tuple>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "support/paths.h"
#include "util/errors.h"

namespace wst::engine {
namespace {

// Tolerances, in one place.
// Filter weights: ours are computed in double and rounded once to float; openai's npz (librosa) rounds the
// triangles to float32 before the Slaney scaling. Weights are below 0.03, so both roundings are < 1e-8.
constexpr double kFilterAbsTol = 1e-6;
// Log-mel values: both sides use a float32 FFT (kissfft here, torch's own in the reference), whose rounding
// shows most in quiet bins. Measured on jfk (80 mels) against a float64 numpy computation of the same
// formula: torch 2.3e-5, ours 1.3e-5; ours vs torch 2.2e-5 (2.3e-5 with 128 mels). Filters: 3.7e-9.
constexpr double kMelAbsTol = 1e-4;

struct RefTensor {
  std::vector<uint32_t> dims;
  std::vector<float> data;
};

// Reads the 'WSTR' version 1 file described in make_mel_reference.py: name -> tensor.
std::map<std::string, RefTensor> read_reference() {
  const auto path = test::source_dir() / "tests" / "reference" / "mel_reference.bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open (remake with tests/reference/make_mel_reference.py)");
  auto u32 = [&] {
    uint32_t v = 0;
    in.read(reinterpret_cast<char*>(&v), 4);
    if (!in) throw Error(path.string() + ": truncated");
    return v;
  };
  char magic[4];
  in.read(magic, 4);
  if (!in || std::memcmp(magic, "WSTR", 4) != 0) throw Error(path.string() + ": bad magic (want 'WSTR')");
  if (uint32_t v = u32(); v != 1) throw Error(path.string() + ": format version " + std::to_string(v) + ", want 1");
  std::map<std::string, RefTensor> out;
  for (uint32_t n = u32(), t = 0; t < n; ++t) {
    std::string name(u32(), '\0');
    in.read(name.data(), static_cast<std::streamsize>(name.size()));
    RefTensor r;
    size_t count = 1;
    for (uint32_t d = u32(), i = 0; i < d; ++i) count *= r.dims.emplace_back(u32());
    r.data.resize(count);
    in.read(reinterpret_cast<char*>(r.data.data()), static_cast<std::streamsize>(count * sizeof(float)));
    if (!in) throw Error(path.string() + ": truncated in tensor " + name);
    out[name] = std::move(r);
  }
  return out;
}

const std::map<std::string, RefTensor>& reference() {
  static const auto ref = read_reference();
  return ref;
}

// Compares [rows, cols] row-major tensors; on failure names the first bad (row, col), both values and the
// largest difference.
::testing::AssertionResult all_near(const std::vector<float>& got, const RefTensor& want, size_t rows,
                                    size_t cols, double tol, const char* row_name, const char* col_name) {
  if (want.dims.size() != 2 || want.dims[0] != rows || want.dims[1] != cols || got.size() != rows * cols) {
    return ::testing::AssertionFailure() << "shape: got " << got.size() << " values for [" << rows << ", " << cols
                                         << "], reference has " << want.data.size();
  }
  double max_diff = 0;
  size_t first_bad = SIZE_MAX, n_bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - want.data[i]);
    if (!(d <= tol)) {  // also catches NaN
      ++n_bad;
      if (first_bad == SIZE_MAX) first_bad = i;
    }
    if (d > max_diff || std::isnan(d)) max_diff = d;
  }
  if (n_bad == 0) return ::testing::AssertionSuccess() << "max abs diff " << max_diff;
  return ::testing::AssertionFailure()
         << n_bad << " values differ by more than " << tol << "; first at (" << row_name << " "
         << first_bad / cols << ", " << col_name << " " << first_bad % cols << "): got " << got[first_bad]
         << ", want " << want.data[first_bad] << "; max abs diff " << max_diff;
}

std::vector<float> jfk() {
  static const std::vector<float> pcm = audio::load_audio((test::shared_audio_dir() / "jfk.wav").string());
  return pcm;
}

TEST(MelFilterbank, MatchesOpenaiFilters) {
  for (int n_mels : {80, 128}) {
    SCOPED_TRACE("n_mels " + std::to_string(n_mels));
    MelFilterbank fb = MelFilterbank::make(n_mels);
    EXPECT_EQ(fb.n_mels, n_mels);
    EXPECT_EQ(fb.n_fft_bins, 201);
    EXPECT_TRUE(all_near(fb.weights, reference().at("mel_filters_" + std::to_string(n_mels)), n_mels, 201,
                         kFilterAbsTol, "mel", "bin"));
  }
}

TEST(MelFilterbank, RejectsBadArguments) {
  EXPECT_THROW(MelFilterbank::make(0), Error);
  EXPECT_THROW(MelFilterbank::make(80, 16000, 1), Error);
}

// log_mel_spectrogram of jfk vs openai's, for one reference tensor.
void expect_matches_openai(int n_mels, size_t pad_samples, const std::string& name) {
  const std::vector<float> pcm = jfk();
  ASSERT_EQ(pcm.size(), 176000u);
  int n_frames = 0;
  std::vector<float> mel = log_mel_spectrogram(pcm.data(), pcm.size(), n_mels, pad_samples, 2, &n_frames);
  ASSERT_EQ(n_frames, static_cast<int>((pcm.size() + pad_samples) / 160));
  const RefTensor& want = reference().at(name);
  ASSERT_EQ(want.dims.size(), 2u);
  ASSERT_EQ(want.dims[0], static_cast<uint32_t>(n_mels));
  const size_t cols = want.dims[1];  // the reference may keep only the first frames
  ASSERT_LE(cols, static_cast<size_t>(n_frames));
  std::vector<float> head(static_cast<size_t>(n_mels) * cols);  // [n_mels, cols]
  for (int m = 0; m < n_mels; ++m) {
    std::copy_n(mel.begin() + static_cast<ptrdiff_t>(m) * n_frames, cols, head.begin() + static_cast<ptrdiff_t>(m) * cols);
  }
  EXPECT_TRUE(all_near(head, want, n_mels, cols, kMelAbsTol, "mel", "frame"));
}

TEST(MelSpectrogram, MatchesOpenaiJfk80) { expect_matches_openai(80, 0, "jfk_mel_80"); }
TEST(MelSpectrogram, MatchesOpenaiJfk128) { expect_matches_openai(128, 0, "jfk_mel_128"); }
// With transcribe()'s 30 s of zero padding: the end of the speech meets zeros instead of a reflection.
TEST(MelSpectrogram, MatchesOpenaiJfk80Padded) { expect_matches_openai(80, 480000, "jfk_mel_80_pad"); }

// Edges vs openai on stored input: padding that is not a multiple of the hop, with the end reflection
// running over the appended zeros; and a 250-sample input whose single frame holds both reflections.
TEST(MelSpectrogram, MatchesOpenaiAtEdges) {
  struct Case {
    const char* pcm;
    const char* mel;
    size_t pad_samples;
  };
  for (const Case& c : {Case{"edge_pcm", "edge_mel_80_pad77", 77}, Case{"short_pcm", "short_mel_80", 0}}) {
    SCOPED_TRACE(c.mel);
    const std::vector<float>& pcm = reference().at(c.pcm).data;
    const RefTensor& want = reference().at(c.mel);
    int n_frames = 0;
    auto mel = log_mel_spectrogram(pcm.data(), pcm.size(), 80, c.pad_samples, 1, &n_frames);
    ASSERT_EQ(static_cast<uint32_t>(n_frames), want.dims.at(1));
    EXPECT_TRUE(all_near(mel, want, 80, n_frames, kMelAbsTol, "mel", "frame"));
  }
}

TEST(MelSpectrogram, FrameCount) {
  std::vector<float> pcm(20000, 0.1f);
  for (auto [n, pad, want] : std::vector<std::tuple<size_t, size_t, int>>{
           {16000, 0, 100}, {16000, 480000, 3100}, {16159, 0, 100}, {16160, 0, 101}, {201, 0, 1}, {400, 0, 2}}) {
    int n_frames = -1;
    auto mel = log_mel_spectrogram(pcm.data(), std::min<size_t>(n, pcm.size()), 80, pad, 1, &n_frames);
    EXPECT_EQ(n_frames, want) << "n " << n << " pad " << pad;
    EXPECT_EQ(mel.size(), 80u * want);
  }
}

TEST(MelSpectrogram, ThreadCountDoesNotChangeOutput) {
  const std::vector<float> pcm = jfk();
  int n1 = 0, n2 = 0, n3 = 0;
  auto one = log_mel_spectrogram(pcm.data(), pcm.size(), 80, 480000, 1, &n1);
  auto two = log_mel_spectrogram(pcm.data(), pcm.size(), 80, 480000, 2, &n2);
  auto three = log_mel_spectrogram(pcm.data(), pcm.size(), 80, 480000, 3, &n3);
  ASSERT_EQ(n1, n2);
  ASSERT_EQ(n1, n3);
  ASSERT_EQ(one.size(), two.size());
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)), 0);
}

TEST(MelSpectrogram, SilenceIsTheFloorEverywhere) {
  // All power is 0 -> log10(1e-10) = -10 everywhere -> (-10 + 4) / 4 = -1.5.
  std::vector<float> pcm(48000, 0.0f);
  int n_frames = 0;
  auto mel = log_mel_spectrogram(pcm.data(), pcm.size(), 80, 480000, 2, &n_frames);
  ASSERT_EQ(n_frames, 3300);
  for (size_t i = 0; i < mel.size(); ++i) ASSERT_EQ(mel[i], -1.5f) << "index " << i;
}

TEST(MelSpectrogram, ShortInputIsZeroExtended) {
  // Fewer than 201 samples: torch.stft would refuse; we extend with zeros to 201 and give one frame.
  std::vector<float> pcm(100);
  for (size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<float>(std::sin(0.3 * i));
  int n_frames = 0;
  auto mel = log_mel_spectrogram(pcm.data(), pcm.size(), 80, 0, 1, &n_frames);
  ASSERT_EQ(n_frames, 1);
  ASSERT_EQ(mel.size(), 80u);
  for (float v : mel) EXPECT_TRUE(std::isfinite(v));
  EXPECT_THROW(log_mel_spectrogram(pcm.data(), 0, 80, 0, 1, &n_frames), Error);
}

}  // namespace
}  // namespace wst::engine

namespace wst::engine {
namespace {

TEST(MelWindow, CopiesTheFramesAndZeroPads) {
  // [2 mels, 5 frames] with value 10 * mel + frame.
  std::vector<float> mel = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14};
  std::vector<float> w = mel_window(mel, 2, 5, 1, 3, 4);
  EXPECT_EQ(w, (std::vector<float>{1, 2, 3, 0, 11, 12, 13, 0}));
  EXPECT_THROW(mel_window(mel, 2, 5, 3, 3, 4), Error);  // past the last frame
  EXPECT_THROW(mel_window(mel, 2, 5, 0, 5, 4), Error);  // larger than the window
}

}  // namespace
}  // namespace wst::engine
