// CPU multi-head attention: per head, scores = q k^T / sqrt(d_head) (sgemm), masked softmax, out = P v (sgemm).
#include <cblas.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "util/errors.h"

namespace wst::engine::cpu {

void CpuBackend::attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) {
  const int tq = q.rows, tk = k.rows, d = q.cols;
  if (d % n_head != 0 || k.cols != d || v.cols != d || v.rows != tk || out.rows != tq || out.cols != d)
    throw Error("attention: shapes q [" + std::to_string(tq) + ", " + std::to_string(d) + "], k [" +
                std::to_string(tk) + ", " + std::to_string(k.cols) + "] do not agree with " + std::to_string(n_head) +
                " heads");
  const int dh = d / n_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  std::vector<float> scores(static_cast<size_t>(tq) * tk);
  for (int h = 0; h < n_head; ++h) {
    const float* qh = q.data + h * dh;
    const float* kh = k.data + h * dh;
    const float* vh = v.data + h * dh;
    float* oh = out.data + h * dh;
    // One query (a decoded token) is a matrix-vector product, which OpenBLAS's sgemm does not route to gemv.
    if (tq == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, tk, dh, scale, kh, k.ld, qh, 1, 0.0f, scores.data(), 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tq, tk, dh, scale, qh, q.ld, kh, k.ld, 0.0f, scores.data(), tk);
    parallel_for(tq, tq >= 64 ? n_threads_ : 1, [&](int r0, int r1) {
      for (int i = r0; i < r1; ++i) {
        float* s = scores.data() + static_cast<size_t>(i) * tk;
        const int n_visible = causal_offset < 0 ? tk : std::min(tk, causal_offset + i + 1);
        float mx = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < n_visible; ++j) mx = std::max(mx, s[j]);
        double sum = 0;
        for (int j = 0; j < n_visible; ++j) {
          s[j] = std::exp(s[j] - mx);
          sum += s[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int j = 0; j < n_visible; ++j) s[j] *= inv;
        for (int j = n_visible; j < tk; ++j) s[j] = 0.0f;
      }
    });
    if (tq == 1)
      cblas_sgemv(CblasRowMajor, CblasTrans, tk, dh, 1.0f, vh, v.ld, scores.data(), 1, 0.0f, oh, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, tq, dh, tk, 1.0f, scores.data(), tk, vh, v.ld, 0.0f, oh, out.ld);
  }
}

}  // namespace wst::engine::cpu
