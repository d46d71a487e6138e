// Times log_mel_spectrogram on 30 s of 16 kHz audio (480000 samples, no padding: 3000 frames, one Whisper
// window), 80 and 128 mels, 1 and 2 threads. The input is synthetic (tones plus noise) so the bench needs
// no files. Each case checks its output once (frame count, no NaN/Inf) and that run is the warm-up; then
// 5 repetitions, reported as mean/median/stddev.
//
//   ./build/mel_bench --benchmark_filter=Mel   (build: cmake --build build -j2 --target mel_bench)
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/mel.h"

namespace {

constexpr size_t kNSamples = 30 * wst::engine::kSampleRate;  // 30 s

// Speech-like enough for timing: three tones and uniform noise from a fixed LCG, in [-0.7, 0.7].
std::vector<float> synthetic_audio() {
  std::vector<float> pcm(kNSamples);  // [n_samples]
  uint32_t state = 12345;
  for (size_t i = 0; i < pcm.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    const double noise = (state >> 8) / double(1 << 24) - 0.5;
    const double t = static_cast<double>(i) / wst::engine::kSampleRate;
    pcm[i] = static_cast<float>(0.3 * std::sin(2 * M_PI * 220 * t) + 0.2 * std::sin(2 * M_PI * 1375 * t) +
                                0.1 * std::sin(2 * M_PI * 4100 * t) + 0.2 * noise);
  }
  return pcm;
}

void BM_LogMel30s(benchmark::State& state) {
  static const std::vector<float> pcm = synthetic_audio();
  const int n_mels = static_cast<int>(state.range(0));
  const int n_threads = static_cast<int>(state.range(1));

  int n_frames = 0;
  std::vector<float> check = wst::engine::log_mel_spectrogram(pcm.data(), pcm.size(), n_mels, 0, n_threads, &n_frames);
  if (n_frames != 3000 || check.size() != static_cast<size_t>(n_mels) * 3000) {
    state.SkipWithError("wrong frame count");
    return;
  }
  for (float v : check) {
    if (!std::isfinite(v)) {
      state.SkipWithError("NaN or Inf in the log-mel output");
      return;
    }
  }

  for (auto _ : state) {
    auto mel = wst::engine::log_mel_spectrogram(pcm.data(), pcm.size(), n_mels, 0, n_threads, &n_frames);
    benchmark::DoNotOptimize(mel.data());
    benchmark::ClobberMemory();
  }
  state.counters["frames/s"] = benchmark::Counter(3000.0 * state.iterations(), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_LogMel30s)
    ->ArgNames({"n_mels", "threads"})
    ->Args({80, 1})
    ->Args({80, 2})
    ->Args({128, 1})
    ->Args({128, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
