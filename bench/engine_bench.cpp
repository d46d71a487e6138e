// Speed of the engine's two halves with random weights of real shapes: one 30 s encoder window, and one
// decoded token (KV cache at ~ 100 positions, the usual mid-window state). Checks the output once (finite)
// before timing. Run: ./build/engine_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <stdexcept>

#include "engine/decoder.h"
#include "engine/encoder.h"
#include "random_model.h"

namespace {

using namespace wst;

void check_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) throw std::runtime_error("non-finite output");
}

// compute: "float32" (the default: float16-stored decoder weights), "float32-only" (every weight float32, the
// engine before the float16 path) or "int8".
void BM_EncodeWindow(benchmark::State& state, const char* arch, const char* compute) {
  // As the engine: the tiled attention kernel except for int8.
  auto be = engine::make_cpu_backend(static_cast<int>(state.range(0)), std::string(compute) != "int8");
  engine::WhisperModel m = bench_support::random_model(arch, *be, 1, compute);
  std::vector<float> mel(static_cast<size_t>(m.info.n_mels) * 3000, 0.1f);
  {
    engine::Mat out = engine::encode(m, *be, mel.data());
    std::vector<float> host(static_cast<size_t>(out.rows) * out.cols);
    be->download(out, host.data());
    check_finite(host);
  }
  for (auto _ : state) benchmark::DoNotOptimize(engine::encode(m, *be, mel.data()).data);
  state.SetLabel(std::string(arch) + ", " + compute + ", " + std::to_string(state.range(0)) + " threads");
}

void BM_DecodeToken(benchmark::State& state, const char* arch, const char* compute) {
  auto be = engine::make_cpu_backend(static_cast<int>(state.range(0)));
  engine::WhisperModel m = bench_support::random_model(arch, *be, 1, compute);
  std::vector<float> mel(static_cast<size_t>(m.info.n_mels) * 3000, 0.1f);
  engine::Decoder dec(m, *be);
  dec.set_audio(engine::encode(m, *be, mel.data()));
  std::vector<int> prompt(100, 220);
  std::vector<float> logits;
  dec.forward(prompt, {99}, logits);
  check_finite(logits);
  for (auto _ : state) {
    dec.truncate(100);
    dec.forward({220}, {0}, logits);
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetLabel(std::string(arch) + ", " + compute + ", " + std::to_string(state.range(0)) + " threads");
}

#define WST_ENGINE_BENCH(arch_id, arch, compute_id, compute)                                                     \
  BENCHMARK_CAPTURE(BM_EncodeWindow, arch_id##_##compute_id, arch, compute)                                       \
      ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();                                            \
  BENCHMARK_CAPTURE(BM_DecodeToken, arch_id##_##compute_id, arch, compute)                                        \
      ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
WST_ENGINE_BENCH(tiny_en, "tiny.en", f32only, "float32-only")
WST_ENGINE_BENCH(tiny_en, "tiny.en", f32, "float32")
WST_ENGINE_BENCH(tiny_en, "tiny.en", int8, "int8")
WST_ENGINE_BENCH(base, "base", f32, "float32")
WST_ENGINE_BENCH(base, "base", int8, "int8")
WST_ENGINE_BENCH(small, "small", f32, "float32")
WST_ENGINE_BENCH(small, "small", int8, "int8")

}  // namespace

BENCHMARK_MAIN();
