// CUDA layer norm over rows (eps 1e-5, as Whisper's nn.LayerNorm): one block of 128 threads per row, the row
// held in registers (up to kPerThread values a thread), mean first, then the variance as the mean of squared
// deviations (two passes over the registers, as the CPU half, so no cancellation); one read, one write.
// Rows wider than 128 * kPerThread take the same steps reading global memory three times.
// The encoder's half-precision path (encoder_blocks.cu) writes y as float16/bfloat16, normalising x + add (add: the
// biases the residual stream is still owed, a row; x is only read): a warp a row where the width is a multiple of
// 128 up to 1280 (every Whisper width), the values in registers as float4, else the block-a-row kernel.
// Test: tests/engine/cuda_backend_test.cpp; check and time: tools/cuda/cuda_check.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/row_products.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
constexpr int kThreads = 128;
constexpr int kPerThread = 12;  // rows up to 1536 wide (Whisper's widest is 1280)

template <class Out>
__device__ __forceinline__ void store(Out* p, float v) { *p = from_float<Out>(v); }

// add: null, or a row added to x's values before the norm (x is not written).
template <class Out>
__global__ void layer_norm_kernel(const float* x, int ldx, const float* add, Out* y, int ldy, int cols,
                                  const float* gamma, const float* beta) {
  __shared__ float red[kThreads / 32];
  const float* xr = x + static_cast<size_t>(blockIdx.x) * ldx;
  Out* yr = y + static_cast<size_t>(blockIdx.x) * ldy;
  const auto at = [&](int i) { return add ? xr[i] + add[i] : xr[i]; };
  const bool cached = cols <= kThreads * kPerThread;
  float v[kPerThread];
  float s = 0.0f;
  if (cached) {
    // The row into registers: one trip to memory.
#pragma unroll
    for (int e = 0; e < kPerThread; ++e) {
      const int i = threadIdx.x + e * kThreads;
      v[e] = i < cols ? at(i) : 0.0f;
      s += v[e];
    }
  } else {
    for (int i = threadIdx.x; i < cols; i += kThreads) s += at(i);
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
    for (int i = threadIdx.x; i < cols; i += kThreads) q += (at(i) - mean) * (at(i) - mean);
  }
  const float inv = rsqrtf(block_sum(q, red) / cols + 1e-5f);
  if (cached) {
#pragma unroll
    for (int e = 0; e < kPerThread; ++e) {
      const int i = threadIdx.x + e * kThreads;
      if (i < cols) store(yr + i, (v[e] - mean) * inv * gamma[i] + beta[i]);
    }
  } else {
    for (int i = threadIdx.x; i < cols; i += kThreads) store(yr + i, (at(i) - mean) * inv * gamma[i] + beta[i]);
  }
}

__device__ __forceinline__ float4 operator+(float4 a, float4 b) { return {a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w}; }

// Four normalised values stored as 8 bytes (two pairs of T).
template <class T>
__device__ __forceinline__ void store4(T* p, float a, float b, float c, float d) {
  typename Pair<T>::type pairs[2];
  from_float2(make_float2(a, b), &pairs[0]);
  from_float2(make_float2(c, d), &pairs[1]);
  *reinterpret_cast<uint2*>(p) = *reinterpret_cast<const uint2*>(pairs);
}

// A warp a row of V * 128 values: lane l holds the float4s l, l + 32, ... (coalesced 512-byte reads), the mean and
// then the mean of squared deviations from the registers (warp sums only: no block barrier), y written 8 bytes a lane.
template <class Out, int V>
__global__ void __launch_bounds__(kThreads) layer_norm_warp_kernel(const float* x, int ldx, const float* add, Out* y,
                                                                  int ldy, int rows, const float* gamma,
                                                                  const float* beta) {
  const int row = blockIdx.x * (kThreads / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  constexpr int cols = V * 128;
  const float4* xr = reinterpret_cast<const float4*>(x + static_cast<size_t>(row) * ldx);
  float4 v[V];
  float s = 0.0f;
#pragma unroll
  for (int e = 0; e < V; ++e) {
    v[e] = xr[lane + 32 * e];
    if (add) v[e] = v[e] + reinterpret_cast<const float4*>(add)[lane + 32 * e];
    s += (v[e].x + v[e].y) + (v[e].z + v[e].w);
  }
  const float mean = warp_sum(s) / cols;
  float q = 0.0f;
#pragma unroll
  for (int e = 0; e < V; ++e) {
    const float a = v[e].x - mean, b = v[e].y - mean, c = v[e].z - mean, d = v[e].w - mean;
    q += (a * a + b * b) + (c * c + d * d);
  }
  const float inv = rsqrtf(warp_sum(q) / cols + 1e-5f);
  Out* yr = y + static_cast<size_t>(row) * ldy;
#pragma unroll
  for (int e = 0; e < V; ++e) {
    const int i = lane + 32 * e;
    const float4 g = reinterpret_cast<const float4*>(gamma)[i], b = reinterpret_cast<const float4*>(beta)[i];
    store4(yr + 4 * i, (v[e].x - mean) * inv * g.x + b.x, (v[e].y - mean) * inv * g.y + b.y,
           (v[e].z - mean) * inv * g.z + b.z, (v[e].w - mean) * inv * g.w + b.w);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <class Out, int V>
void launch_warp(const Mat& x, const float* add, const float* gamma, const float* beta, Out* y, int ldy,
                 cudaStream_t stream) {
  const int rows_a_block = kThreads / 32;
  layer_norm_warp_kernel<Out, V><<<(x.rows + rows_a_block - 1) / rows_a_block, kThreads, 0, stream>>>(
      x.data, x.ld, add, y, ldy, x.rows, gamma, beta);
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
void layer_norm_half(const Mat& x, const float* add, const float* gamma, const float* beta, T* y, int ldy,
                     cudaStream_t stream) {
  if (x.rows == 0) return;
  const bool vectors = x.cols % 128 == 0 && x.ld % 4 == 0 && ldy % 4 == 0 && aligned16(x.data) &&
                       (!add || aligned16(add)) && aligned16(gamma) && aligned16(beta) &&
                       (reinterpret_cast<uintptr_t>(y) & 7) == 0;
  switch (vectors ? x.cols / 128 : 0) {
    case 3: launch_warp<T, 3>(x, add, gamma, beta, y, ldy, stream); break;     // tiny (384)
    case 4: launch_warp<T, 4>(x, add, gamma, beta, y, ldy, stream); break;     // base (512)
    case 6: launch_warp<T, 6>(x, add, gamma, beta, y, ldy, stream); break;     // small (768)
    case 8: launch_warp<T, 8>(x, add, gamma, beta, y, ldy, stream); break;     // medium (1024)
    case 10: launch_warp<T, 10>(x, add, gamma, beta, y, ldy, stream); break;   // large (1280)
    default: layer_norm_kernel<T><<<x.rows, kThreads, 0, stream>>>(x.data, x.ld, add, y, ldy, x.cols, gamma, beta);
  }
  WST_CUDA_CHECK_LAUNCH();
}
template void layer_norm_half<__half>(const Mat&, const float*, const float*, const float*, __half*, int, cudaStream_t);
template void layer_norm_half<__nv_bfloat16>(const Mat&, const float*, const float*, const float*, __nv_bfloat16*, int,
                                             cudaStream_t);

}  // namespace wst::engine::cuda
