// CPU element-wise ops: GELU (the erf form, erf to 5e-7 so the loop vectorises) and residual add.
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/vec_math.h"

namespace wst::engine::cpu {

void CpuBackend::gelu(Mat& x) {
  parallel_for(x.rows, x.rows >= 64 ? n_threads_ : 1, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      float* xr = x.data + static_cast<size_t>(r) * x.ld;
#pragma omp simd
      for (int i = 0; i < x.cols; ++i) xr[i] = 0.5f * xr[i] * (1.0f + erf_approx(xr[i] * 0.70710678118654752f));
    }
  });
}

void CpuBackend::add(Mat& y, const Mat& x) {
  for (int r = 0; r < y.rows; ++r) {
    float* yr = y.data + static_cast<size_t>(r) * y.ld;
    const float* xr = x.data + static_cast<size_t>(r) * x.ld;
    for (int i = 0; i < y.cols; ++i) yr[i] += xr[i];
  }
}

}  // namespace wst::engine::cpu
