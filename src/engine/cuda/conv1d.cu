// CUDA conv1d (kernel 3, padding 1) + bias + GELU: an im2col kernel, then the linear layer (cuBLAS) and GELU; and the
// encoder's stem (both convolutions and the positional add) with the GELUs fused into the passes after them.
// col [t_out, 3 * c_in]: col[t, k * c_in + c] = x[t * stride + k - 1, c], zero outside the input, matching
// the weight layout [c_out, 3 * c_in] with column k * c_in + c.
// In the half-precision modes the product runs on the tensor cores as the other encoder products do: im2col writes
// the columns already rounded to the mode's type (the values linear() would round them to, one pass fewer), the
// float32 weights are rounded once and kept (rounded_weights), and the product is linear()'s rounded one
// (product_over_half: the bias in cuBLASLt's epilogue, or written first where set_lt_bias is off), so the bits are
// those of linear() on the float32 columns.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/row_products.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
// One thread a group of V consecutive channels (c_in a multiple of V, x's rows 16-byte aligned where V is 4).
// 32-bit indices: every Whisper window's columns fit (large-v3's second convolution: 5.8 M values).
// kGelu: the exact GELU of each value read (the previous convolution's, owed), the same function as gelu(): the
// same bits as a GELU pass over x before.
template <class T, int V, bool kGelu = false>
__global__ void im2col_kernel(const float* x, int ldx, int t_in, int c_in, int stride, T* col, int t_out) {
  const unsigned groups_a_row = 3u * c_in / V;
  const unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= static_cast<unsigned>(t_out) * groups_a_row) return;
  const unsigned t = g / groups_a_row, j = (g % groups_a_row) * V;
  const int k = static_cast<int>(j) / c_in, c = static_cast<int>(j) % c_in;
  const int src = static_cast<int>(t) * stride + k - 1;
  T* out = col + static_cast<size_t>(t) * 3 * c_in + j;
  float v[V];
  if (src < 0 || src >= t_in) {
#pragma unroll
    for (int e = 0; e < V; ++e) v[e] = 0.0f;
  } else if constexpr (V == 4) {
    const float4 q = *reinterpret_cast<const float4*>(x + static_cast<size_t>(src) * ldx + c);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  } else {
#pragma unroll
    for (int e = 0; e < V; ++e) v[e] = x[static_cast<size_t>(src) * ldx + c + e];
  }
#pragma unroll
  for (int e = 0; e < V; ++e) out[e] = from_float<T>(kGelu ? gelu_erf(v[e]) : v[e]);
}

// x [rows, cols] (contiguous) = gelu(x) + pos (pos contiguous too), four values a thread: the stem's last pass. The
// sum rounded on its own (__fadd_rn: never fused into the GELU's last multiply), as a GELU pass and then add() do.
__global__ void gelu_add_kernel(float4* x, const float4* pos, unsigned quads) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= quads) return;
  float4 v = x[i];
  const float4 p = pos[i];
  v.x = __fadd_rn(gelu_erf(v.x), p.x);
  v.y = __fadd_rn(gelu_erf(v.y), p.y);
  v.z = __fadd_rn(gelu_erf(v.z), p.z);
  v.w = __fadd_rn(gelu_erf(v.w), p.w);
  x[i] = v;
}

template <class T, bool kGelu = false>
void im2col(const Mat& x, int stride, T* col, int t_out, cudaStream_t stream) {
  const int c_in = x.cols;
  const size_t total = static_cast<size_t>(t_out) * 3 * c_in;
  if (total == 0) return;
  if (total > 0xFFFFFFFFu - 256) throw Error("conv1d: " + std::to_string(total) + " columns, more than a launch takes");
  const bool by4 = c_in % 4 == 0 && x.ld % 4 == 0 && (reinterpret_cast<uintptr_t>(x.data) & 15) == 0;
  if (by4)
    im2col_kernel<T, 4, kGelu>
        <<<blocks_for(total / 4, 256), 256, 0, stream>>>(x.data, x.ld, x.rows, c_in, stride, col, t_out);
  else
    im2col_kernel<T, 1, kGelu><<<blocks_for(total, 256), 256, 0, stream>>>(x.data, x.ld, x.rows, c_in, stride, col, t_out);
  WST_CUDA_CHECK_LAUNCH();
}
}  // namespace

void CudaBackend::conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) {
  const int t_in = x.rows, c_in = x.cols, c_out = w.rows;
  const int t_out = (t_in - 1) / stride + 1;
  if (w.cols != 3 * c_in || y.rows != t_out || y.cols != c_out)
    throw Error("conv1d: expected w [" + std::to_string(c_out) + ", " + std::to_string(3 * c_in) + "] and y [" +
                std::to_string(t_out) + ", " + std::to_string(c_out) + "], got w [" + std::to_string(w.rows) + ", " +
                std::to_string(w.cols) + "] and y [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) + "]");
  if (t_out == 0 || c_out == 0) return;  // (no input rows at stride 2 still make one row: gelu(bias))
  if (precision_ == Precision::f32) {
    Mat col = alloc(t_out, 3 * c_in);  // [t_out, 3 c_in]
    im2col(x, stride, col.data, t_out, stream_);
    linear(col, w, &b, y);
  } else {
    conv1d_half(x, w, b, stride, false, y);
  }
  gelu(y);
}

void CudaBackend::conv1d_half(const Mat& x, const Mat& w, const Mat& b, int stride, bool gelu_in, Mat& y) {
  const WeightType type = precision_ == Precision::f16 ? WeightType::float16 : WeightType::bfloat16;
  const Weights& wh = rounded_weights(w, type);
  const int t_out = y.rows;
  std::shared_ptr<void> col = alloc_bytes(static_cast<size_t>(t_out) * 3 * x.cols * 2);
  if (type == WeightType::float16)
    gelu_in ? im2col<__half, true>(x, stride, static_cast<__half*>(col.get()), t_out, stream_)
            : im2col<__half>(x, stride, static_cast<__half*>(col.get()), t_out, stream_);
  else
    gelu_in ? im2col<__nv_bfloat16, true>(x, stride, static_cast<__nv_bfloat16*>(col.get()), t_out, stream_)
            : im2col<__nv_bfloat16>(x, stride, static_cast<__nv_bfloat16*>(col.get()), t_out, stream_);
  product_over_half(wh, col.get(), 3 * x.cols, t_out, bias_or_null(b), y);
}

void CudaBackend::encoder_stem(const Mat& mel_t, const Mat& conv1_w, const Mat& conv1_b, const Mat& conv2_w,
                               const Mat& conv2_b, const Mat& pos, Mat& x) {
  const int t_in = mel_t.rows, c_in = mel_t.cols, d = conv1_w.rows, t_out = (t_in - 1) / 2 + 1;
  const bool fits = stem_fused_ && precision_ != Precision::f32 && t_in > 0 && d > 0 && conv1_w.cols == 3 * c_in &&
                    conv2_w.rows == d && conv2_w.cols == 3 * d && x.rows == t_out && x.cols == d && x.ld == d &&
                    pos.rows == t_out && pos.cols == d && pos.ld == d && d % 4 == 0 &&
                    ((reinterpret_cast<uintptr_t>(x.data) | reinterpret_cast<uintptr_t>(pos.data)) & 15) == 0;
  if (!fits) return Backend::encoder_stem(mel_t, conv1_w, conv1_b, conv2_w, conv2_b, pos, x);
  // conv1d_gelu's products, with the GELUs moved: conv1's into conv2's gathering, conv2's into the positional add.
  Mat c1 = alloc(t_in, d);  // conv1 + bias, its GELU owed
  conv1d_half(mel_t, conv1_w, conv1_b, 1, false, c1);
  conv1d_half(c1, conv2_w, conv2_b, 2, true, x);
  const unsigned quads = static_cast<unsigned>(static_cast<size_t>(t_out) * d / 4);
  gelu_add_kernel<<<blocks_for(quads, 256), 256, 0, stream_>>>(reinterpret_cast<float4*>(x.data),
                                                                reinterpret_cast<const float4*>(pos.data), quads);
  WST_CUDA_CHECK_LAUNCH();
}

}  // namespace wst::engine::cuda
