// CUDA element-wise ops on strided views: exact (erf) GELU and residual add; for the encoder's half-precision
// path (encoder_blocks.cu) the MLP's bias and GELU over its float16/bfloat16 hidden rows, and a bias row added to
// every row of a float32 matrix; a transpose (the uploaded mel spectrogram).
// Test: tests/engine/cuda_backend_test.cpp; check and time: tools/cuda/cuda_check.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>
#include <type_traits>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/row_products.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

__global__ void gelu_kernel(float* x, int ld, int rows, int cols) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(rows) * cols) return;
  float* p = x + (i / cols) * ld + i % cols;
  *p = gelu_erf(*p);
}

__global__ void add_kernel(float* y, int ldy, const float* x, int ldx, int rows, int cols) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(rows) * cols) return;
  const size_t r = i / cols, c = i % cols;
  y[r * ldy + c] += x[r * ldx + c];
}

// x[r, c] = gelu(x[r, c] + bias[c]) for a contiguous [rows, cols] matrix of pairs P, four pairs (16 bytes) a
// thread (cols a multiple of 8, so a thread's eight values share one row). Index: 32-bit where the matrix allows,
// as a 64-bit remainder is a long software routine.
template <class P, class Index>
__global__ void bias_gelu_kernel(P* x, Index quads, Index quads_a_row, const float* bias) {
  const Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x;
  if (i >= quads) return;
  uint4 raw = reinterpret_cast<const uint4*>(x)[i];
  P* pairs = reinterpret_cast<P*>(&raw);
  const int c0 = static_cast<int>(i % quads_a_row) * 8;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    float2 v = to_float2(pairs[j]);
    if (bias) {
      v.x += bias[c0 + 2 * j];
      v.y += bias[c0 + 2 * j + 1];
    }
    from_float2(make_float2(gelu_erf(v.x), gelu_erf(v.y)), pairs + j);
  }
  reinterpret_cast<uint4*>(x)[i] = raw;
}

__global__ void add_row_kernel(float* y, int ld, int rows, int cols, const float* row) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(rows) * cols) return;
  y[(i / cols) * ld + i % cols] += row[i % cols];
}
// out[c, r] = in[r, c], in [rows, cols] contiguous: 32 x 32 tiles through shared memory, so that both the reads
// and the writes are whole rows of a tile (the extra column keeps the tile's columns in distinct banks).
template <class In>
__global__ void transpose_kernel(const In* __restrict__ in, int rows, int cols, float* __restrict__ out, int ldo) {
  __shared__ float tile[32][33];
  const int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int r = r0 + i, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[i][threadIdx.x] = to_float(in[static_cast<size_t>(r) * cols + c]);
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int c = c0 + i, r = r0 + threadIdx.x;
    if (c < cols && r < rows) out[static_cast<size_t>(c) * ldo + r] = tile[threadIdx.x][i];
  }
}
}  // namespace

template <class In>
void transpose(const In* in, int rows, int cols, float* out, int ldo, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  if ((rows + 31) / 32 > 65535) throw Error("transpose: " + std::to_string(rows) + " rows, more than a launch takes");
  const dim3 grid((cols + 31) / 32, (rows + 31) / 32), block(32, 8);
  transpose_kernel<In><<<grid, block, 0, stream>>>(in, rows, cols, out, ldo);
  WST_CUDA_CHECK_LAUNCH();
}
template void transpose<float>(const float*, int, int, float*, int, cudaStream_t);
template void transpose<__half>(const __half*, int, int, float*, int, cudaStream_t);

template <class T>
void bias_gelu_half(T* x, int rows, int cols, const float* bias, cudaStream_t stream) {
  using P = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;
  if (cols % 8 != 0 || (reinterpret_cast<size_t>(x) & 15) != 0)
    throw Error("bias_gelu_half: needs a width that is a multiple of 8 and 16-byte aligned rows");
  const size_t quads = static_cast<size_t>(rows) * cols / 8;
  if (quads == 0) return;
  if (quads <= 0xFFFFFFFFu - 256)
    bias_gelu_kernel<P, unsigned><<<blocks_for(quads, 256), 256, 0, stream>>>(
        reinterpret_cast<P*>(x), static_cast<unsigned>(quads), static_cast<unsigned>(cols / 8), bias);
  else
    bias_gelu_kernel<P, size_t><<<blocks_for(quads, 256), 256, 0, stream>>>(reinterpret_cast<P*>(x), quads,
                                                                            static_cast<size_t>(cols / 8), bias);
  WST_CUDA_CHECK_LAUNCH();
}
template void bias_gelu_half<__half>(__half*, int, int, const float*, cudaStream_t);
template void bias_gelu_half<__nv_bfloat16>(__nv_bfloat16*, int, int, const float*, cudaStream_t);

void add_row(Mat& y, const float* row, cudaStream_t stream) {
  const size_t total = static_cast<size_t>(y.rows) * y.cols;
  if (total == 0) return;
  add_row_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(y.data, y.ld, y.rows, y.cols, row);
  WST_CUDA_CHECK_LAUNCH();
}

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
