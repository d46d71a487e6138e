// CPU backend: memory, copies and thread set-up.
#include "engine/cpu/cpu_backend.h"

#include <cblas.h>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "util/errors.h"

namespace wst::engine::cpu {

CpuBackend::CpuBackend(int n_threads, bool tiled_attention) : tiled_attention_(tiled_attention) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  if (n_threads <= 0) n_threads = 1;
  n_threads_ = n_threads;
  // One pool of threads for everything (thread_pool.cpp): OpenBLAS and oneDNN run single-threaded inside its
  // chunks. Their own pools, spinning beside ours, fought over the cores (on 2 cores the int8 path, with
  // oneDNN's OpenMP threads, ran several times slower than single-threaded).
  openblas_set_num_threads(1);
  omp_set_num_threads(1);
}

Mat CpuBackend::alloc(int rows, int cols) {
  size_t n = static_cast<size_t>(rows) * cols;
  // 64-byte alignment for vector loads; at least one element so empty shapes still have a buffer.
  size_t bytes = ((std::max<size_t>(n, 1) * sizeof(float) + 63) / 64) * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  std::shared_ptr<float> storage(p, [](float* q) { std::free(q); });
  return {storage, p, rows, cols, cols};
}

Mat CpuBackend::upload(const float* host, int rows, int cols) {
  Mat m = alloc(rows, cols);
  std::memcpy(m.data, host, static_cast<size_t>(rows) * cols * sizeof(float));
  return m;
}

void CpuBackend::download(const Mat& m, float* host) {
  for (int r = 0; r < m.rows; ++r)
    std::memcpy(host + static_cast<size_t>(r) * m.cols, m.data + static_cast<size_t>(r) * m.ld, m.cols * sizeof(float));
}

void CpuBackend::copy(const Mat& src, Mat& dst) {
  if (src.rows != dst.rows || src.cols != dst.cols)
    throw Error("copy: shape mismatch, expected [" + std::to_string(dst.rows) + ", " + std::to_string(dst.cols) +
                "], got [" + std::to_string(src.rows) + ", " + std::to_string(src.cols) + "]");
  for (int r = 0; r < src.rows; ++r)
    std::memcpy(dst.data + static_cast<size_t>(r) * dst.ld, src.data + static_cast<size_t>(r) * src.ld,
                src.cols * sizeof(float));
}

}  // namespace wst::engine::cpu

namespace wst::engine {
std::unique_ptr<Backend> make_cpu_backend(int n_threads, bool tiled_attention) {
  return std::make_unique<cpu::CpuBackend>(n_threads, tiled_attention);
}
}  // namespace wst::engine
