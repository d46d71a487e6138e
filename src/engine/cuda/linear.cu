// CUDA linear layer: y = x @ w^T + bias through cuBLAS (float32 compute; TF32 only when set_tf32(true)).
// Row-major y [M, N] = x [M, K] w[N, K]^T is, read column-major, y^T = w^T x^T: sgemm(T, N) with w first.
// The bias is written into y first and the product added on top (beta = 1).
// One row (a decoded token) is a matrix-vector product bound by reading w: our own kernel (one warp per output,
// 16-byte loads, x in shared memory, the bias added at the end, one launch) unless set_own_gemv(false) picks
// cublasSgemv (times of both in docs/cuda_notes.md).
#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
__global__ void broadcast_rows_kernel(float* y, int ld, int rows, int cols, const float* row) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(rows) * cols) return;
  const int r = static_cast<int>(i / cols), c = static_cast<int>(i % cols);
  y[static_cast<size_t>(r) * ld + c] = row[c];
}

constexpr int kGemvWarps = 8;
constexpr int kGemvMaxK = 12288;  // x in shared memory: 48 KiB

// y[j] = bias[j] + sum_t w[j, t] x[t], one warp per j.
__global__ void gemv_kernel(const float* x, const float* w, int ldw, const float* bias, float* y, int n, int k) {
  extern __shared__ float xs[];
  for (int i = threadIdx.x; i < k; i += blockDim.x) xs[i] = x[i];
  __syncthreads();
  const int j = blockIdx.x * kGemvWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (j >= n) return;
  const float* wr = w + static_cast<size_t>(j) * ldw;
  float acc = 0.0f;
  int done = 0;
  if ((reinterpret_cast<size_t>(wr) & 15) == 0) {
    const int k4 = k / 4;
    const float4* w4 = reinterpret_cast<const float4*>(wr);
    const float4* x4 = reinterpret_cast<const float4*>(xs);
#pragma unroll 4
    for (int i = lane; i < k4; i += 32) {
      const float4 a = __ldg(w4 + i), b = x4[i];
      acc += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
    }
    done = 4 * k4;
  }
  for (int i = done + lane; i < k; i += 32) acc += wr[i] * xs[i];
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) y[j] = acc + (bias ? bias[j] : 0.0f);
}
}  // namespace

void broadcast_rows(Mat& y, const float* row, cudaStream_t stream) {
  const size_t total = static_cast<size_t>(y.rows) * y.cols;
  if (total == 0) return;
  broadcast_rows_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(y.data, y.ld, y.rows, y.cols, row);
  WST_CUDA_CHECK_LAUNCH();
}

void check_linear_shapes(const Mat& x, int w_rows, int w_cols, const Mat& y) {
  if (x.cols != w_cols || y.rows != x.rows || y.cols != w_rows)
    throw Error("linear: shapes x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "], w [" +
                std::to_string(w_rows) + ", " + std::to_string(w_cols) + "], y [" + std::to_string(y.rows) + ", " +
                std::to_string(y.cols) + "] do not agree");
}

void CudaBackend::linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) {
  check_linear_shapes(x, w.rows, w.cols, y);
  const int m = x.rows, n = w.rows, k = x.cols;
  if (m == 0 || n == 0) return;
  const bool has_bias = bias && !bias->empty();
  if (m == 1 && own_gemv_ && k <= kGemvMaxK) {
    gemv_kernel<<<blocks_for(n, kGemvWarps), 32 * kGemvWarps, k * sizeof(float), stream_>>>(
        x.data, w.data, w.ld, has_bias ? bias->data : nullptr, y.data, n, k);
    WST_CUDA_CHECK_LAUNCH();
    return;
  }
  const float one = 1.0f;
  float beta = 0.0f;
  if (has_bias) {
    broadcast_rows(y, bias->data, stream_);
    beta = 1.0f;
  }
  if (m == 1) {
    // One row (a decoded token): a matrix-vector product over w's rows.
    WST_CUBLAS_CHECK(cublasSgemv(blas_, CUBLAS_OP_T, k, n, &one, w.data, w.ld, x.data, 1, &beta, y.data, 1));
    return;
  }
  WST_CUBLAS_CHECK(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w.data, w.ld, x.data, x.ld, &beta,
                               y.data, y.ld));
}

}  // namespace wst::engine::cuda
