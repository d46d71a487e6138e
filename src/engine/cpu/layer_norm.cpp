// CPU layer norm over rows (eps 1e-5, as Whisper's nn.LayerNorm); statistics accumulated in double.
#include <cmath>

#include "engine/cpu/cpu_backend.h"

namespace wst::engine::cpu {

void CpuBackend::layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) {
  const int n = x.cols;
  parallel_for(x.rows, x.rows >= 64 ? n_threads_ : 1, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      const float* xr = x.data + static_cast<size_t>(r) * x.ld;
      float* yr = y.data + static_cast<size_t>(r) * y.ld;
      double mean = 0;
      for (int i = 0; i < n; ++i) mean += xr[i];
      mean /= n;
      double var = 0;
      for (int i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= n;
      const float inv = static_cast<float>(1.0 / std::sqrt(var + 1e-5));
      const float mu = static_cast<float>(mean);
      for (int i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * inv * gamma.data[i] + beta.data[i];
    }
  });
}

}  // namespace wst::engine::cpu
