// CPU linear layer: y = x @ w^T + bias through OpenBLAS (single-threaded) on chunks run by our thread pool:
// many rows of x (the encoder, a prompt) are split by rows of x, few rows (decoding) by rows of w.
#include <cblas.h>

#include "engine/cpu/cpu_backend.h"
#include "util/errors.h"

namespace wst::engine::cpu {

void CpuBackend::linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) {
  if (x.cols != w.cols || y.rows != x.rows || y.cols != w.rows)
    throw Error("linear: shapes x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "], w [" +
                std::to_string(w.rows) + ", " + std::to_string(w.cols) + "], y [" + std::to_string(y.rows) + ", " +
                std::to_string(y.cols) + "] do not agree");
  const int m = x.rows, n = w.rows, k = x.cols;
  float beta = 0.0f;
  if (bias && !bias->empty()) {
    // Start y from the bias so sgemm adds onto it.
    for (int r = 0; r < m; ++r) {
      float* yr = y.data + static_cast<size_t>(r) * y.ld;
      for (int c = 0; c < n; ++c) yr[c] = bias->data[c];
    }
    beta = 1.0f;
  }
  if (m == 1) {
    // One row (a decoded token): a matrix-vector product; OpenBLAS's sgemm does not take its gemv path itself.
    parallel_for(n, std::max(1, std::min(n_threads_, n / 64)), [&](int j0, int j1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, j1 - j0, k, 1.0f, w.data + static_cast<size_t>(j0) * w.ld, w.ld, x.data,
                  1, beta, y.data + j0, 1);
    });
    return;
  }
  if (m >= 64) {
    parallel_for(m, std::min(n_threads_, m / 32), [&](int r0, int r1) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, n, k, 1.0f, x.data + static_cast<size_t>(r0) * x.ld,
                  x.ld, w.data, w.ld, beta, y.data + static_cast<size_t>(r0) * y.ld, y.ld);
    });
    return;
  }
  parallel_for(n, std::max(1, std::min(n_threads_, n / 64)), [&](int j0, int j1) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, j1 - j0, k, 1.0f, x.data, x.ld,
                w.data + static_cast<size_t>(j0) * w.ld, w.ld, beta, y.data + j0, y.ld);
  });
}

}  // namespace wst::engine::cpu
