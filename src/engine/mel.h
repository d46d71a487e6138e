// Whisper's log-mel front end, as openai-whisper's log_mel_spectrogram (whisper/audio.py).
//
//   int n_frames = 0;
//   std::vector<float> mel = wst::engine::log_mel_spectrogram(pcm.data(), pcm.size(), 80,
//                                                            /*pad_samples=*/480000, /*n_threads=*/2,
//                                                            &n_frames);  // [80, n_frames]
//
// Thread-safe: MelFilterbank::make and log_mel_spectrogram keep no shared mutable state.
// Tested against openai-whisper in tests/engine/mel_test.cpp; timed in bench/mel_bench.cpp.
#pragma once
#include <cstddef>
#include <vector>

namespace wst::engine {

// Whisper's fixed STFT parameters (whisper/audio.py): 16 kHz, 25 ms window, 10 ms hop.
inline constexpr int kSampleRate = 16000;
inline constexpr int kNFft = 400;
inline constexpr int kHopLength = 160;

// Triangular mel filters as librosa.filters.mel(sr, n_fft, n_mels) with its defaults (Slaney mel scale,
// htk=False, norm='slaney', fmin 0, fmax sr/2), which is how openai-whisper's mel_filters.npz was made.
struct MelFilterbank {
  int n_mels = 0;
  int n_fft_bins = 0;             // n_fft / 2 + 1 (201 for Whisper)
  std::vector<float> weights;     // [n_mels, n_fft_bins] row-major

  // Computes the bank (no table). Throws wst::Error for n_mels < 1, sample_rate < 1 or n_fft < 2.
  static MelFilterbank make(int n_mels, int sample_rate = kSampleRate, int n_fft = kNFft);
};

// Log-mel spectrogram of 16 kHz mono PCM, as openai-whisper's log_mel_spectrogram(audio, n_mels, padding):
//   append `pad_samples` zeros (openai's transcribe() pads 30 s = 480000), periodic Hann window of 400,
//   STFT centred with reflect padding of 200 on both sides (torch.stft center=True, pad_mode='reflect'),
//   power |X|^2, last frame dropped, mel filters, log10(max(x, 1e-10)), floor at global max - 8,
//   then (x + 4) / 4.
// Returns [n_mels, n_frames] row-major with n_frames = (n_samples + pad_samples) / 160, and stores
// n_frames in *n_frames_out when it is not null.
//
// Short input: reflect padding needs at least 201 samples (torch.stft raises an error below that). When
// n_samples + pad_samples < 201 the signal is first extended with zeros to 201 samples, which gives one
// frame. Zero samples in total is an error (wst::Error).
//
// n_threads: frames are split over that many std::threads (values < 1 mean 1); the output does not depend
// on it, bit for bit. n_mels: 80 for Whisper v1/v2 models, 128 for large-v3.
std::vector<float> log_mel_spectrogram(const float* pcm, size_t n_samples, int n_mels, size_t pad_samples,
                                       int n_threads, int* n_frames_out);

// One decoder window of a log-mel [n_mels, n_frames]: frames [seek, seek + size) copied into
// [n_mels, window_frames], the rest zero (openai-whisper's pad_or_trim of mel[:, seek:seek + size]).
std::vector<float> mel_window(const std::vector<float>& mel, int n_mels, int n_frames, int seek, int size,
                              int window_frames);

}  // namespace wst::engine
