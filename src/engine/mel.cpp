// Log-mel spectrogram, as openai-whisper's log_mel_spectrogram; see mel.h for the contract.
//
// Test: ./build/wst_tests --gtest_filter='Mel*'   (against openai-whisper, tests/reference/mel_jfk.bin)
// Bench: ./build/mel_bench
//
// Per frame: window (float, as torch.stft multiplies in float32) -> kissfft real FFT of 400 (float) ->
// power in double -> mel filters in double over each filter's non-zero bins only -> log10 in double,
// stored as float. Every frame is computed by the same code whatever thread runs it, so the output does not
// depend on the thread count.
#include "engine/mel.h"

#include <kiss_fftr.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <thread>

#include "util/errors.h"

namespace wst::engine {
namespace {

// Slaney's auditory-toolbox mel scale, librosa's default (htk=False): linear below 1 kHz at 200/3 Hz per
// mel, logarithmic above with 27 mels per factor 6.4.
constexpr double kMelLinearHzPerMel = 200.0 / 3.0;
constexpr double kMelLogStartHz = 1000.0;
constexpr double kMelLogStartMel = kMelLogStartHz / kMelLinearHzPerMel;  // 15
const double kMelLogStep = std::log(6.4) / 27.0;

double hz_to_mel(double hz) {
  if (hz < kMelLogStartHz) return hz / kMelLinearHzPerMel;
  return kMelLogStartMel + std::log(hz / kMelLogStartHz) / kMelLogStep;
}

double mel_to_hz(double mel) {
  if (mel < kMelLogStartMel) return mel * kMelLinearHzPerMel;
  return kMelLogStartHz * std::exp(kMelLogStep * (mel - kMelLogStartMel));
}

// openai-whisper's constants in log_mel_spectrogram: clamp before log10, dynamic range below the max.
constexpr double kPowerFloor = 1e-10;
constexpr float kDynamicRange = 8.0f;
constexpr float kLog10Of2 = 0.30102999566398119521f;

// The padding torch.stft(center=True) puts on each side: n_fft / 2.
constexpr size_t kCenterPad = kNFft / 2;

struct KissFftrFree {
  void operator()(kiss_fftr_state* cfg) const { kiss_fftr_free(cfg); }
};

// One mel filter's non-zero span, so a frame costs about 2 * n_fft_bins multiply-adds instead of
// n_mels * n_fft_bins (each FFT bin lies under at most two triangles).
struct FilterSpan {
  int first_bin = 0;  // first non-zero bin
  int n_bins = 0;     // number of bins from first_bin (zero for an empty filter)
  const float* w = nullptr;  // weights + mel * n_fft_bins + first_bin
};

std::vector<FilterSpan> filter_spans(const MelFilterbank& fb) {
  std::vector<FilterSpan> spans(fb.n_mels);
  for (int m = 0; m < fb.n_mels; ++m) {
    const float* row = fb.weights.data() + static_cast<size_t>(m) * fb.n_fft_bins;
    int lo = 0, hi = fb.n_fft_bins;
    while (lo < hi && row[lo] == 0.0f) ++lo;
    while (hi > lo && row[hi - 1] == 0.0f) --hi;
    spans[m] = FilterSpan{lo, hi - lo, row + lo};
  }
  return spans;
}

// The signal the STFT sees before centring: pcm followed by zeros up to n_total samples.
struct PaddedSignal {
  const float* pcm;
  size_t n_samples;  // real samples in pcm
  size_t n_total;    // n_samples + pad_samples (at least kCenterPad + 1)

  float at(size_t i) const { return i < n_samples ? pcm[i] : 0.0f; }

  // Sample p of the centred signal, which has kCenterPad reflected samples on each side
  // (torch's reflect mode: the edge sample is not repeated).
  float centred(size_t p) const {
    if (p < kCenterPad) return at(kCenterPad - p);
    size_t i = p - kCenterPad;
    if (i >= n_total) i = 2 * (n_total - 1) - i;
    return at(i);
  }
};

// Writes log10(max(mel power, 1e-10)) of frames [t_begin, t_end) into out ([n_mels, n_frames]) and
// returns their maximum.
float log_mel_frames(const PaddedSignal& sig, const std::vector<float>& window,
                     const std::vector<FilterSpan>& spans, size_t t_begin, size_t t_end, size_t n_frames,
                     float* out) {
  std::unique_ptr<kiss_fftr_state, KissFftrFree> cfg(kiss_fftr_alloc(kNFft, 0, nullptr, nullptr));
  if (!cfg) throw Error("log_mel_spectrogram: kissfft could not set up a real FFT of size 400");
  constexpr int kNBins = kNFft / 2 + 1;
  std::vector<float> frame(kNFft);         // [n_fft]
  std::vector<kiss_fft_cpx> spec(kNBins);  // [n_fft_bins]
  std::vector<double> power(kNBins);       // [n_fft_bins]
  float max_log = -std::numeric_limits<float>::infinity();

  for (size_t t = t_begin; t < t_end; ++t) {
    const size_t start = t * kHopLength;  // in the centred signal
    bool all_zero = true;
    if (start >= kCenterPad && start - kCenterPad + kNFft <= sig.n_samples) {
      const float* x = sig.pcm + (start - kCenterPad);  // fast path: entirely inside the real samples
      for (int i = 0; i < kNFft; ++i) frame[i] = x[i] * window[i];
      all_zero = false;
    } else {
      for (int i = 0; i < kNFft; ++i) {
        frame[i] = sig.centred(start + i) * window[i];
        all_zero = all_zero && frame[i] == 0.0f;
      }
    }
    if (all_zero) {
      // Padding frames are silent: their power is 0 everywhere, so skip the FFT.
      std::fill(power.begin(), power.end(), 0.0);
    } else {
      kiss_fftr(cfg.get(), frame.data(), spec.data());
      for (int k = 0; k < kNBins; ++k) {
        const double re = spec[k].r, im = spec[k].i;
        power[k] = re * re + im * im;  // |X|^2, as openai's stft.abs() ** 2
      }
    }
    for (size_t m = 0; m < spans.size(); ++m) {
      const FilterSpan& s = spans[m];
      double sum = 0.0;
      for (int j = 0; j < s.n_bins; ++j) sum += static_cast<double>(s.w[j]) * power[s.first_bin + j];
      // log10 as float log2 times log10(2): glibc's log2f is several times faster than log10 in double,
      // and its error (< 1 ulp, about 1e-6 after scaling) is far below the 1e-4 the tests allow.
      const float v = std::log2(static_cast<float>(std::max(sum, kPowerFloor))) * kLog10Of2;
      out[m * n_frames + t] = v;
      max_log = std::max(max_log, v);
    }
  }
  return max_log;
}

// Runs fn(begin, end) over [0, n) split into n_threads contiguous pieces; the caller's thread takes the
// first piece.
template <class Fn>
void parallel_for(size_t n, int n_threads, Fn fn) {
  const size_t n_parts = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(n_threads), n));
  const size_t per_part = (n + n_parts - 1) / n_parts;
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(n_parts);
  for (size_t p = 1; p < n_parts; ++p) {
    const size_t b = std::min(n, p * per_part), e = std::min(n, (p + 1) * per_part);
    threads.emplace_back([&, p, b, e] {
      try {
        fn(p, b, e);
      } catch (...) {
        errors[p] = std::current_exception();
      }
    });
  }
  try {
    fn(0, 0, std::min(n, per_part));
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& th : threads) th.join();
  for (auto& err : errors) {
    if (err) std::rethrow_exception(err);
  }
}

}  // namespace

MelFilterbank MelFilterbank::make(int n_mels, int sample_rate, int n_fft) {
  if (n_mels < 1 || sample_rate < 1 || n_fft < 2) {
    throw Error("MelFilterbank::make: invalid arguments (n_mels " + std::to_string(n_mels) + ", sample_rate " +
                std::to_string(sample_rate) + ", n_fft " + std::to_string(n_fft) + ")");
  }
  MelFilterbank fb;
  fb.n_mels = n_mels;
  fb.n_fft_bins = n_fft / 2 + 1;
  fb.weights.assign(static_cast<size_t>(n_mels) * fb.n_fft_bins, 0.0f);  // [n_mels, n_fft_bins]

  // n_mels + 2 band edges evenly spaced in mel between fmin = 0 and fmax = sr / 2 (librosa's
  // mel_frequencies), in Hz: [n_mels + 2].
  const double mel_max = hz_to_mel(sample_rate / 2.0);
  std::vector<double> edge_hz(n_mels + 2);
  for (int i = 0; i < n_mels + 2; ++i) edge_hz[i] = mel_to_hz(mel_max * i / (n_mels + 1));

  for (int m = 0; m < n_mels; ++m) {
    const double lo = edge_hz[m], centre = edge_hz[m + 1], hi = edge_hz[m + 2];
    // Slaney normalisation (norm='slaney'): each triangle has unit area over Hz, scaled by 2 / bandwidth.
    const double norm = 2.0 / (hi - lo);
    for (int k = 0; k < fb.n_fft_bins; ++k) {
      const double f = static_cast<double>(k) * sample_rate / n_fft;  // bin centre frequency
      const double rising = (f - lo) / (centre - lo);
      const double falling = (hi - f) / (hi - centre);
      const double w = std::max(0.0, std::min(rising, falling));
      fb.weights[static_cast<size_t>(m) * fb.n_fft_bins + k] = static_cast<float>(w * norm);
    }
  }
  return fb;
}

std::vector<float> log_mel_spectrogram(const float* pcm, size_t n_samples, int n_mels, size_t pad_samples,
                                       int n_threads, int* n_frames_out) {
  if (n_samples > 0 && pcm == nullptr) throw Error("log_mel_spectrogram: pcm is null with n_samples > 0");
  const size_t n_total = n_samples + pad_samples;
  if (n_total == 0) throw Error("log_mel_spectrogram: empty audio (0 samples and no padding)");
  if (n_mels < 1) throw Error("log_mel_spectrogram: n_mels must be positive (got " + std::to_string(n_mels) + ")");

  // Reflect padding of 200 needs 201 samples; below that extend with zeros (see mel.h).
  const PaddedSignal sig{pcm, n_samples, std::max(n_total, kCenterPad + 1)};
  // torch.stft(center=True) gives 1 + n / hop frames; openai drops the last one.
  const size_t n_frames = sig.n_total / kHopLength;
  if (n_frames > static_cast<size_t>(std::numeric_limits<int>::max())) {
    throw Error("log_mel_spectrogram: too many frames (" + std::to_string(n_frames) + ")");
  }

  // Periodic Hann window, as torch.hann_window(400): 0.5 - 0.5 cos(2 pi i / 400), i < 400: [n_fft].
  std::vector<float> window(kNFft);
  for (int i = 0; i < kNFft; ++i) {
    window[i] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * M_PI * i / kNFft));
  }
  const MelFilterbank fb = MelFilterbank::make(n_mels, kSampleRate, kNFft);
  const std::vector<FilterSpan> spans = filter_spans(fb);

  std::vector<float> out(static_cast<size_t>(n_mels) * n_frames);  // [n_mels, n_frames]
  n_threads = std::max(1, n_threads);
  std::vector<float> part_max(n_threads, -std::numeric_limits<float>::infinity());
  parallel_for(n_frames, n_threads, [&](size_t part, size_t b, size_t e) {
    if (b < e) part_max[part] = log_mel_frames(sig, window, spans, b, e, n_frames, out.data());
  });

  // Global max over every frame, padding included, as openai's log_spec.max(); max is exact, so the
  // split does not matter.
  const float max_log = *std::max_element(part_max.begin(), part_max.end());
  const float floor_log = max_log - kDynamicRange;
  parallel_for(out.size(), n_threads, [&](size_t, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) out[i] = (std::max(out[i], floor_log) + 4.0f) / 4.0f;
  });

  if (n_frames_out) *n_frames_out = static_cast<int>(n_frames);
  return out;
}

std::vector<float> mel_window(const std::vector<float>& mel, int n_mels, int n_frames, int seek, int size,
                              int window_frames) {
  if (seek < 0 || size < 0 || size > window_frames || seek + size > n_frames)
    throw Error("mel window: frames [" + std::to_string(seek) + ", " + std::to_string(seek + size) + ") outside [0, " +
                std::to_string(n_frames) + ")");
  std::vector<float> w(static_cast<size_t>(n_mels) * window_frames, 0.0f);  // [n_mels, window_frames]
  for (int c = 0; c < n_mels; ++c)
    std::copy_n(mel.begin() + static_cast<size_t>(c) * n_frames + seek, size,
                w.begin() + static_cast<size_t>(c) * window_frames);
  return w;
}

}  // namespace wst::engine
