// CUDA layer norm over rows (eps 1e-5, as Whisper's nn.LayerNorm): one block of 128 threads per row, the row
// held in registers (up to kPerThread values a thread), mean first, then the variance as the mean of squared
// deviations (two passes over the registers, as the CPU half, so no cancellation); one read, one write.
// Rows wider than 128 * kPerThread take the same steps reading global memory three times.
// The encoder's half-precision path (encoder_blocks.cu) writes y as float16/bfloat16 and may first add a pending
// bias row to x in place (the bias of the product that just added into x: x += bias, then y = norm(x)).
// Test: tests/engine/cuda_backend_test.cpp; check and time: tools/cuda/cuda_check.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
constexpr int kThreads = 128;
constexpr int kPerThread = 12;  // rows up to 1536 wide (Whisper's widest is 1280)

__device__ float block_sum(float v, float* red) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();  // red may still be read from the previous reduction
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  float s = 0.0f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) s += red[w];
  return s;
}

__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

// add: null, or a row added to x in place before the norm (x is then written as well as read).
template <class Out>
__global__ void layer_norm_kernel(float* x, int ldx, const float* add, Out* y, int ldy, int cols, const float* gamma,
                                  const float* beta) {
  __shared__ float red[kThreads / 32];
  float* xr = x + static_cast<size_t>(blockIdx.x) * ldx;
  Out* yr = y + static_cast<size_t>(blockIdx.x) * ldy;
  const bool cached = cols <= kThreads * kPerThread;
  if (add && !cached) {
    // Each thread reads back only what it wrote itself, so no barrier is needed before the loops below.
    for (int i = threadIdx.x; i < cols; i += kThreads) xr[i] += add[i];
  }
  float v[kPerThread];
  float s = 0.0f;
  if (cached) {
    // The row into registers, with the pending bias added (and written back) on the way: one trip to memory.
#pragma unroll
    for (int e = 0; e < kPerThread; ++e) {
      const int i = threadIdx.x + e * kThreads;
      v[e] = i < cols ? xr[i] : 0.0f;
      if (add && i < cols) {
        v[e] += add[i];
        xr[i] = v[e];
      }
      s += v[e];
    }
  } else {
    for (int i = threadIdx.x; i < cols; i += kThreads) s += xr[i];
  }
  const float mean = block_sum(s, red) / cols;
  float q = 0.0f;
  if (cached) {
#pragma unroll
    for (int e = 0; e < kPerThread; ++e) {
      const int i = threadIdx.x + e * kThreads;
      const float d = v[e] - mean;
      q += i < cols ? d * d : 0.0f;
    }
  } else {
    for (int i = threadIdx.x; i < cols; i += kThreads) q += (xr[i] - mean) * (xr[i] - mean);
  }
  const float inv = rsqrtf(block_sum(q, red) / cols + 1e-5f);
  if (cached) {
#pragma unroll
    for (int e = 0; e < kPerThread; ++e) {
      const int i = threadIdx.x + e * kThreads;
      if (i < cols) store(yr + i, (v[e] - mean) * inv * gamma[i] + beta[i]);
    }
  } else {
    for (int i = threadIdx.x; i < cols; i += kThreads) store(yr + i, (xr[i] - mean) * inv * gamma[i] + beta[i]);
  }
}
}  // namespace

void CudaBackend::layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) {
  if (y.rows != x.rows || y.cols != x.cols || gamma.cols != x.cols || beta.cols != x.cols)
    throw Error("layer_norm: x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "] and y [" +
                std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] with gamma of " + std::to_string(gamma.cols) +
                " columns do not agree");
  if (x.rows == 0) return;
  // x is only read here (add is null).
  layer_norm_kernel<float><<<x.rows, kThreads, 0, stream_>>>(x.data, x.ld, nullptr, y.data, y.ld, x.cols, gamma.data,
                                                             beta.data);
  WST_CUDA_CHECK_LAUNCH();
}

template <class T>
void layer_norm_half(Mat& x, const float* add, const float* gamma, const float* beta, T* y, int ldy,
                     cudaStream_t stream) {
  if (x.rows == 0) return;
  layer_norm_kernel<T><<<x.rows, kThreads, 0, stream>>>(x.data, x.ld, add, y, ldy, x.cols, gamma, beta);
  WST_CUDA_CHECK_LAUNCH();
}
template void layer_norm_half<__half>(Mat&, const float*, const float*, const float*, __half*, int, cudaStream_t);
template void layer_norm_half<__nv_bfloat16>(Mat&, const float*, const float*, const float*, __nv_bfloat16*, int,
                                             cudaStream_t);

}  // namespace wst::engine::cuda
