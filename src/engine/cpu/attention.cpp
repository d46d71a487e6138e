// CPU multi-head attention: per head and per block of query rows, scores = q k^T / sqrt(d_head) (sgemm),
// masked softmax, out = P v (sgemm). Blocks of rows keep the scores in cache: a whole 1500 x 1500 score
// matrix (9 MB a head) made the softmax memory-bound.
#include <cblas.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/cpu/attention_tiled.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/vec_math.h"
#include "util/errors.h"

namespace wst::engine::cpu {

namespace {
constexpr int kRowBlock = 512;  // 512 x 1500 scores = 3 MiB a block: fastest of 64..1500 measured here
}  // namespace

void CpuBackend::attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) {
  const int tq = q.rows, tk = k.rows, d = q.cols;
  if (d % n_head != 0 || k.cols != d || v.cols != d || v.rows != tk || out.rows != tq || out.cols != d)
    throw Error("attention: shapes q [" + std::to_string(tq) + ", " + std::to_string(d) + "], k [" +
                std::to_string(tk) + ", " + std::to_string(k.cols) + "] do not agree with " + std::to_string(n_head) +
                " heads");
  const int dh = d / n_head;
  // The encoder (many queries, no mask): the register-tiled kernel of attention_tiled.cpp. WST_ATTENTION=sgemm
  // keeps the sgemm path below (for A/B timings).
  static const bool tiled_off = [] {
    const char* e = std::getenv("WST_ATTENTION");
    return e && std::string(e) == "sgemm";
  }();
  if (tiled_attention_ && !tiled_off && tq >= 64 && attention_tiled_supported(dh, causal_offset)) {
    attention_tiled(q, k, v, out, n_head, n_threads_);
    return;
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  // Heads split over the threads, each with its own scores; a decoded token's few keys are not worth a split.
  const int n_split = (tq == 1 && tk < 256) ? 1 : n_threads_;
  parallel_for(n_head, n_split, [&](int h0, int h1) {
  std::vector<float> scores(static_cast<size_t>(std::min(tq, kRowBlock)) * tk);
  for (int h = h0; h < h1; ++h) {
    const float* kh = k.data + h * dh;
    const float* vh = v.data + h * dh;
    if (tq == 1) {
      // One query (a decoded token) is a matrix-vector product, which OpenBLAS's sgemm does not route to gemv.
      cblas_sgemv(CblasRowMajor, CblasNoTrans, tk, dh, scale, kh, k.ld, q.data + h * dh, 1, 0.0f, scores.data(), 1);
      const int n_visible = causal_offset < 0 ? tk : std::min(tk, causal_offset + 1);
      softmax_row(scores.data(), n_visible);
      for (int j = n_visible; j < tk; ++j) scores[j] = 0.0f;
      cblas_sgemv(CblasRowMajor, CblasTrans, tk, dh, 1.0f, vh, v.ld, scores.data(), 1, 0.0f, out.data + h * dh, 1);
      continue;
    }
    for (int r0 = 0; r0 < tq; r0 += kRowBlock) {
      const int nr = std::min(kRowBlock, tq - r0);
      const float* qh = q.data + static_cast<size_t>(r0) * q.ld + h * dh;
      float* oh = out.data + static_cast<size_t>(r0) * out.ld + h * dh;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, tk, dh, scale, qh, q.ld, kh, k.ld, 0.0f, scores.data(), tk);
      for (int i = 0; i < nr; ++i) {
        float* s = scores.data() + static_cast<size_t>(i) * tk;
        const int n_visible = causal_offset < 0 ? tk : std::min(tk, causal_offset + r0 + i + 1);
        softmax_row(s, n_visible);
        for (int j = n_visible; j < tk; ++j) s[j] = 0.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, dh, tk, 1.0f, scores.data(), tk, vh, v.ld, 0.0f, oh, out.ld);
    }
  }
  });
}

}  // namespace wst::engine::cpu
