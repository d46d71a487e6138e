// CUDA conv1d (kernel 3, padding 1) + bias + GELU: an im2col kernel, then the linear layer (cuBLAS) and GELU.
// In the half-precision modes the product runs on the tensor cores as the other encoder products do: the
// (float32) weights are rounded to the mode's type on each call (a few microseconds, against ~0.3 ms of float32
// product for large-v3's second convolution) and the columns by linear().
// col [t_out, 3 * c_in]: col[t, k * c_in + c] = x[t * stride + k - 1, c], zero outside the input, matching
// the weight layout [c_out, 3 * c_in] with column k * c_in + c.
#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
__global__ void im2col_kernel(const float* x, int ldx, int t_in, int c_in, int stride, float* col, int t_out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  const size_t width = 3 * static_cast<size_t>(c_in);
  if (i >= static_cast<size_t>(t_out) * width) return;
  const int t = static_cast<int>(i / width), j = static_cast<int>(i % width);
  const int k = j / c_in, c = j % c_in;
  const int src = t * stride + k - 1;
  col[i] = (src < 0 || src >= t_in) ? 0.0f : x[static_cast<size_t>(src) * ldx + c];
}
}  // namespace

void CudaBackend::conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) {
  const int t_in = x.rows, c_in = x.cols, c_out = w.rows;
  const int t_out = (t_in - 1) / stride + 1;
  if (w.cols != 3 * c_in || y.rows != t_out || y.cols != c_out)
    throw Error("conv1d: expected w [" + std::to_string(c_out) + ", " + std::to_string(3 * c_in) + "] and y [" +
                std::to_string(t_out) + ", " + std::to_string(c_out) + "], got w [" + std::to_string(w.rows) + ", " +
                std::to_string(w.cols) + "] and y [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) + "]");
  Mat col = alloc(t_out, 3 * c_in);  // [t_out, 3 c_in]
  const size_t total = static_cast<size_t>(t_out) * 3 * c_in;
  im2col_kernel<<<blocks_for(total, 256), 256, 0, stream_>>>(x.data, x.ld, t_in, c_in, stride, col.data, t_out);
  WST_CUDA_CHECK_LAUNCH();
  if (precision_ == Precision::f32) {
    linear(col, w, &b, y);
  } else {
    const Weights wh = to_half(w, precision_ == Precision::f16 ? WeightType::float16 : WeightType::bfloat16);
    linear(col, wh, &b, y);
  }
  gelu(y);
}

}  // namespace wst::engine::cuda
