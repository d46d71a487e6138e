// The matrix-product libraries on the tiny encoder's shapes, one thread (as the CPU backend runs them inside its
// own pool): OpenBLAS sgemm (what float32 uses), oneDNN sgemm (the alternative measured for #7) and oneDNN's
// u8 x s8 -> s32 product (what int8 uses). y [m, n] = x [m, k] @ w [n, k]^T.
// Run: ./build/gemm_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <dnnl.h>
#include <omp.h>

#include <cstdint>
#include <vector>

namespace {

struct Shape {
  int m, n, k;
};

void set_one_thread() {
  openblas_set_num_threads(1);
  omp_set_num_threads(1);
}

void report(benchmark::State& state, const Shape& s) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * s.m * s.n * s.k * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_OpenblasSgemm(benchmark::State& state, Shape s) {
  set_one_thread();
  std::vector<float> x(static_cast<size_t>(s.m) * s.k, 0.01f), w(static_cast<size_t>(s.n) * s.k, 0.02f), y(static_cast<size_t>(s.m) * s.n);
  for (auto _ : state)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.m, s.n, s.k, 1.0f, x.data(), s.k, w.data(), s.k, 0.0f, y.data(), s.n);
  report(state, s);
}

void BM_DnnlSgemm(benchmark::State& state, Shape s) {
  set_one_thread();
  std::vector<float> x(static_cast<size_t>(s.m) * s.k, 0.01f), w(static_cast<size_t>(s.n) * s.k, 0.02f), y(static_cast<size_t>(s.m) * s.n);
  for (auto _ : state) dnnl_sgemm('N', 'T', s.m, s.n, s.k, 1.0f, x.data(), s.k, w.data(), s.k, 0.0f, y.data(), s.n);
  report(state, s);
}

void BM_DnnlU8S8(benchmark::State& state, Shape s) {
  set_one_thread();
  std::vector<uint8_t> x(static_cast<size_t>(s.m) * s.k, 131);
  std::vector<int8_t> w(static_cast<size_t>(s.n) * s.k, 2);
  std::vector<int32_t> y(static_cast<size_t>(s.m) * s.n);
  const int32_t co = 0;
  for (auto _ : state)
    dnnl_gemm_u8s8s32('N', 'T', 'F', s.m, s.n, s.k, 1.0f, x.data(), s.k, 128, w.data(), s.k, 0, 0.0f, y.data(), s.n, &co);
  report(state, s);
}

// tiny.en's encoder: q/k/v, attention out, mlp up, mlp down, conv2 (im2col).
#define WST_GEMM_SHAPES(fn)                                                                        \
  BENCHMARK_CAPTURE(fn, qkv_1500x1152x384, Shape{1500, 1152, 384})->Unit(benchmark::kMillisecond); \
  BENCHMARK_CAPTURE(fn, out_1500x384x384, Shape{1500, 384, 384})->Unit(benchmark::kMillisecond);   \
  BENCHMARK_CAPTURE(fn, fc1_1500x1536x384, Shape{1500, 1536, 384})->Unit(benchmark::kMillisecond); \
  BENCHMARK_CAPTURE(fn, fc2_1500x384x1536, Shape{1500, 384, 1536})->Unit(benchmark::kMillisecond); \
  BENCHMARK_CAPTURE(fn, conv2_1500x384x1152, Shape{1500, 384, 1152})->Unit(benchmark::kMillisecond);
WST_GEMM_SHAPES(BM_OpenblasSgemm)
WST_GEMM_SHAPES(BM_DnnlSgemm)
WST_GEMM_SHAPES(BM_DnnlU8S8)

}  // namespace

BENCHMARK_MAIN();
