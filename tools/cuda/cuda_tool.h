// Shared pieces of the GPU machine's checker and benchmark (cuda_check.cpp, cuda_bench.cpp): fast random
// numbers, random Whisper models of the real shapes placed through the backend's upload(), and device copies.
// Built with nvcc alone by run_on_device.sh: needs the CUDA toolkit (cuBLAS) and the C++ standard library only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/model.h"

namespace wst::cuda_tool {

// xorshift64*: uniform floats in [-scale, scale]; cheap enough to fill a large-v3 model (1.5 G values) in seconds.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  float uniform(float scale) { return scale * (static_cast<float>(next() >> 40) / 8388608.0f - 1.0f); }
};

std::vector<float> random_vec(size_t n, uint64_t seed, float scale = 1.0f);
// Relative L2 difference of a from b (NaN when their sizes differ, or a value is not finite).
double rel_diff(const std::vector<float>& a, const std::vector<float>& b);
// A model of architecture `arch` (bench/random_model.h's names) with random weights (uniform, std 0.02 as
// bench/random_model.h, layer-norm gains near 1).
// Linear layers and the token embedding kept as `type`.
engine::WhisperModel random_model(const std::string& arch, engine::Backend& be, uint64_t seed,
                                  engine::WeightType type = engine::WeightType::float32);

// Op checks against a double-precision host reference; returns the number of failures.
int run_op_checks(engine::cuda::CudaBackend& be);
// Timings: ceilings, then encoder window and decoder step per model; prints a table, returns 0 when all ran.
int run_benchmarks(engine::cuda::CudaBackend& be, const std::vector<std::string>& archs, int n_reps);
// Probes of the card (probes.cu): cold instruction fetch, and chains of kernels streaming a product's bytes.
// read_gbs: the measured device bandwidth, to set the chains' bytes against.
void print_probes(int device, cudaStream_t stream, double read_gbs);
void print_release_probe(int device, cudaStream_t stream);  // WST_BENCH_RELEASE=1: this alone

}  // namespace wst::cuda_tool
