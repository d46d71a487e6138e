// CUDA element-wise ops on strided views: exact (erf) GELU and residual add.
// Test: tests/engine/cuda_backend_test.cpp; check and time: tools/cuda/cuda_check.cpp.
#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
__global__ void gelu_kernel(float* x, int ld, int rows, int cols) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(rows) * cols) return;
  float* p = x + (i / cols) * ld + i % cols;
  const float v = *p;
  *p = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}

__global__ void add_kernel(float* y, int ldy, const float* x, int ldx, int rows, int cols) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(rows) * cols) return;
  const size_t r = i / cols, c = i % cols;
  y[r * ldy + c] += x[r * ldx + c];
}
}  // namespace

void CudaBackend::gelu(Mat& x) {
  const size_t total = static_cast<size_t>(x.rows) * x.cols;
  if (total == 0) return;
  gelu_kernel<<<blocks_for(total, 256), 256, 0, stream_>>>(x.data, x.ld, x.rows, x.cols);
  WST_CUDA_CHECK_LAUNCH();
}

void CudaBackend::add(Mat& y, const Mat& x) {
  if (y.rows != x.rows || y.cols != x.cols)
    throw Error("add: shapes [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] and [" +
                std::to_string(x.rows) + ", " + std::to_string(x.cols) + "] differ");
  const size_t total = static_cast<size_t>(y.rows) * y.cols;
  if (total == 0) return;
  add_kernel<<<blocks_for(total, 256), 256, 0, stream_>>>(y.data, y.ld, x.data, x.ld, y.rows, y.cols);
  WST_CUDA_CHECK_LAUNCH();
}

}  // namespace wst::engine::cuda
