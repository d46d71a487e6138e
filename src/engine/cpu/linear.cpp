// CPU linear layer: y = x @ w^T + bias through OpenBLAS (single-threaded) on chunks run by our thread pool:
// many rows of x (the encoder, a prompt) are split by rows of x, few rows (decoding) by rows of w.
#include <cblas.h>
#include <dnnl.h>
#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "engine/cpu/cpu_backend.h"
#include "util/errors.h"

namespace wst::engine::cpu {
namespace {

// Which sgemm takes the matrix products of two or more rows: oneDNN's (2-16% faster than OpenBLAS's on the
// encoder's shapes at 1 thread, bench/gemm_bench.cpp) unless WST_SGEMM=openblas.
bool use_onednn_sgemm() {
  static const bool onednn = [] {
    const char* e = std::getenv("WST_SGEMM");
    return !(e && std::string(e) == "openblas");
  }();
  return onednn;
}

// C [m, n] = A [m, k] @ B [n, k]^T + beta C, row-major, on the calling thread.
void sgemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc,
              std::atomic<int>& failed) {
  if (use_onednn_sgemm()) {
    omp_set_num_threads(1);  // this thread's OpenMP setting: oneDNN must not start threads of its own
    const dnnl_status_t st = dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
    if (st != dnnl_success) failed = st;
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

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
  std::atomic<int> failed{0};
  if (m >= 64) {
    parallel_for(m, std::min(n_threads_, m / 32), [&](int r0, int r1) {
      sgemm_nt(r1 - r0, n, k, x.data + static_cast<size_t>(r0) * x.ld, x.ld, w.data, w.ld, beta,
               y.data + static_cast<size_t>(r0) * y.ld, y.ld, failed);
    });
  } else {
    parallel_for(n, std::max(1, std::min(n_threads_, n / 64)), [&](int j0, int j1) {
      sgemm_nt(m, j1 - j0, k, x.data, x.ld, w.data + static_cast<size_t>(j0) * w.ld, w.ld, beta, y.data + j0, y.ld,
               failed);
    });
  }
  if (failed) throw Error("linear: oneDNN sgemm failed (status " + std::to_string(failed.load()) + ")");
}

}  // namespace wst::engine::cpu
