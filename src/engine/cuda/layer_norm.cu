// CUDA layer norm over rows (eps 1e-5, as Whisper's nn.LayerNorm): one warp per row, mean first, then the
// variance as the mean of squared deviations (two passes, as the CPU half, so no cancellation).
// Test: tests/engine/cuda_backend_test.cpp; check and time: tools/cuda/cuda_check.cpp.
#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
constexpr int kWarpsPerBlock = 4;

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void layer_norm_kernel(const float* x, int ldx, float* y, int ldy, int rows, int cols, const float* gamma,
                                  const float* beta) {
  const int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* xr = x + static_cast<size_t>(row) * ldx;
  float s = 0.0f;
  for (int i = lane; i < cols; i += 32) s += xr[i];
  const float mean = warp_sum(s) / cols;
  float v = 0.0f;
  for (int i = lane; i < cols; i += 32) {
    const float d = xr[i] - mean;
    v += d * d;
  }
  const float inv = rsqrtf(warp_sum(v) / cols + 1e-5f);
  float* yr = y + static_cast<size_t>(row) * ldy;
  for (int i = lane; i < cols; i += 32) yr[i] = (xr[i] - mean) * inv * gamma[i] + beta[i];
}
}  // namespace

void CudaBackend::layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) {
  if (y.rows != x.rows || y.cols != x.cols || gamma.cols != x.cols || beta.cols != x.cols)
    throw Error("layer_norm: x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "] and y [" +
                std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] with gamma of " + std::to_string(gamma.cols) +
                " columns do not agree");
  if (x.rows == 0) return;
  layer_norm_kernel<<<blocks_for(x.rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream_>>>(
      x.data, x.ld, y.data, y.ld, x.rows, x.cols, gamma.data, beta.data);
  WST_CUDA_CHECK_LAUNCH();
}

}  // namespace wst::engine::cuda
