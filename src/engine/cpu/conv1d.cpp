// CPU conv1d (kernel 3, padding 1) + bias + GELU, as im2col followed by one sgemm.
#include <cstring>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "util/errors.h"

namespace wst::engine::cpu {

void CpuBackend::conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) {
  const int t_in = x.rows, c_in = x.cols, c_out = w.rows;
  const int t_out = (t_in - 1) / stride + 1;
  if (w.cols != 3 * c_in || y.rows != t_out || y.cols != c_out)
    throw Error("conv1d: expected w [" + std::to_string(c_out) + ", " + std::to_string(3 * c_in) + "] and y [" +
                std::to_string(t_out) + ", " + std::to_string(c_out) + "], got w [" + std::to_string(w.rows) + ", " +
                std::to_string(w.cols) + "] and y [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) + "]");
  // col [t_out, 3 * c_in]: col[t, k * c_in + c] = x[t * stride + k - 1, c], zero outside the input.
  Mat col = alloc(t_out, 3 * c_in);
  parallel_for(t_out, n_threads_, [&](int t0, int t1) {
    for (int t = t0; t < t1; ++t) {
      float* row = col.data + static_cast<size_t>(t) * col.ld;
      for (int k = 0; k < 3; ++k) {
        const int src = t * stride + k - 1;
        if (src < 0 || src >= t_in)
          std::memset(row + k * c_in, 0, c_in * sizeof(float));
        else
          std::memcpy(row + k * c_in, x.data + static_cast<size_t>(src) * x.ld, c_in * sizeof(float));
      }
    }
  });
  linear(col, w, &b, y);
  gelu(y);
}

}  // namespace wst::engine::cpu
