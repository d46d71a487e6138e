// CUDA linear layer: y = x @ w^T + bias through cuBLAS (float32 compute; TF32 only when set_tf32(true)).
// Row-major y [M, N] = x [M, K] w[N, K]^T is, read column-major, y^T = w^T x^T: sgemm(T, N) with w first.
// The bias is written into y first and the product added on top (beta = 1).
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
}  // namespace

void CudaBackend::linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) {
  if (x.cols != w.cols || y.rows != x.rows || y.cols != w.rows)
    throw Error("linear: shapes x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "], w [" +
                std::to_string(w.rows) + ", " + std::to_string(w.cols) + "], y [" + std::to_string(y.rows) + ", " +
                std::to_string(y.cols) + "] do not agree");
  const int m = x.rows, n = w.rows, k = x.cols;
  if (m == 0 || n == 0) return;
  const float one = 1.0f;
  float beta = 0.0f;
  if (bias && !bias->empty()) {
    const size_t total = static_cast<size_t>(m) * n;
    broadcast_rows_kernel<<<blocks_for(total, 256), 256, 0, stream_>>>(y.data, y.ld, m, n, bias->data);
    WST_CUDA_CHECK_LAUNCH();
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
