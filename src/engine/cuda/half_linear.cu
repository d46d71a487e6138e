// CUDA weights in half precision (float16, bfloat16): upload, linear (plain and fused with the layer norm
// before it and the GELU or residual add after it). Their embedding lookup is embed.cu's.
// - Few rows (a decoded token, a handful of beams): a matrix-vector kernel bound by reading the weights, one
//   warp per output row, 16-byte loads (8 halves), the activations in shared memory as float32, float32 sums,
//   the bias added at the end. Half the bytes of the float32 kernel in linear.cu.
// - More rows (the encoder, a prompt, the cross-attention K/V): the activations are rounded to the weights'
//   type and cuBLAS multiplies on the tensor cores with float32 accumulation and a float32 output
//   (cublasGemmEx), the bias written into y first (beta = 1) as linear.cu does.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <vector>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/row_products.cuh"
#include "util/errors.h"
#include "util/half.h"

namespace wst::engine::cuda {

namespace {

constexpr int kWarps = 8;          // output rows per block (half of it for the wide kernel)
constexpr int kMaxGemvRows = 8;    // x rows handled by the matrix-vector kernel
// The activations' shared memory a block, at most (CudaBackend::gemv_shared_, set once from the device). 96 KiB: a
// 5-beam step's fc2 (5 rows of 5120) then goes through the rounded tensor-core product. Letting the kernel take it
// (160 KiB) was slower: a large-v3 5-beam step 6.48 against 5.91-5.99 ms (run 33; fewer blocks an SM).
constexpr size_t kMaxGemvShared = 96 * 1024;
// 16-byte weight loads a lane keeps in registers: 8 covers rows up to 2048 wide (every product whose input is
// the residual stream), 20 up to 5120 (the MLP's second product); more registers a thread mean fewer blocks an SM.
constexpr int kHeldNarrow = 8, kHeldWide = 20;

// kEpiKv: write y, and write its columns [d, 2d) and [2d, 3d) into row `position` of the K and V caches too
// (a recorded step's qkv product: the cache copies need no kernels of their own).
enum : int { kEpiNone = 0, kEpiGelu = 1, kEpiAdd = 2, kEpiKv = 3 };

// Where kEpiKv writes: the two caches, their row stride, the model width d, the step's position on the device.
struct KvTarget {
  float* k = nullptr;
  float* v = nullptr;
  int ld = 0, d = 0;
  const StepState* step = nullptr;
};

// y[r, j] = epilogue(bias[j] + sum_t w[j, t] norm(x)[r, t]) for r < M, one warp per j. kNorm: x is layer-normed
// (gamma, beta) as it is loaded (every block normalises the few rows itself: k values each, cheaper than a
// launch). kEpi: write, write the GELU, or add to y. w rows are 16-byte aligned when k % 8 == 0 (checked by
// the caller), so the main loop reads 8 halves a load. Each lane loads its share of the row (up to kHeld loads)
// into registers first, all in flight together, before waiting for the
// kernel that writes x (launch.cuh): the weights' trip from memory overlaps that kernel's end.
template <class T, int M, bool kNorm, int kEpi, int kHeld>
__global__ void half_gemv_kernel(const float* x, int ldx, const float* gamma, const float* beta, const T* w,
                                 const float* bias, float* y, int ldy, int n, int k, KvTarget kv) {
  extern __shared__ float4 xs_raw[];  // [M, k] floats, 16-byte aligned for load_rows
  float* xs = reinterpret_cast<float*>(xs_raw);
  const int j = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  const bool has_row = j < n;
  const int k8 = k / 8;
  const uint4* w8 = reinterpret_cast<const uint4*>(w + static_cast<size_t>(has_row ? j : 0) * k);
  uint4 held[kHeld];
#pragma unroll
  for (int u = 0; u < kHeld; ++u)
    if (has_row && lane + 32 * u < k8) held[u] = __ldg(w8 + lane + 32 * u);
  wait_for_previous_kernel();
  let_next_kernel_start();
  load_rows<M>(x, ldx, k, xs);
  __syncthreads();
  if constexpr (kNorm) {
    __shared__ float red[32];
    norm_rows<M>(xs, k, gamma, beta, red);
    __syncthreads();
  }
  if (!has_row) return;
  const T* wr = w + static_cast<size_t>(j) * k;
  float acc[M] = {};
#pragma unroll
  for (int u = 0; u < kHeld; ++u)
    if (lane + 32 * u < k8) accumulate8<T, M>(held[u], xs, k, lane + 32 * u, acc);
  for (int i = lane + 32 * kHeld; i < k8; i += 32) accumulate8<T, M>(__ldg(w8 + i), xs, k, i, acc);
  for (int t = 8 * k8 + lane; t < k; t += 32) {
    const float wv = to_float(wr[t]);
#pragma unroll
    for (int r = 0; r < M; ++r) acc[r] += wv * xs[r * k + t];
  }
#pragma unroll
  for (int r = 0; r < M; ++r) {
    float a = acc[r];
    for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    if (lane == 0) {
      float v = a + (bias ? bias[j] : 0.0f);
      float* out = y + static_cast<size_t>(r) * ldy + j;
      if constexpr (kEpi == kEpiGelu) v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
      if constexpr (kEpi == kEpiAdd) *out += v;
      else *out = v;
      if constexpr (kEpi == kEpiKv) {
        const size_t row = static_cast<size_t>(kv.step->position) * kv.ld;
        if (j >= 2 * kv.d) kv.v[row + (j - 2 * kv.d)] = v;
        else if (j >= kv.d) kv.k[row + (j - kv.d)] = v;
      }
    }
  }
}

template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Rounds x [rows, cols] (row stride ldx) to T, contiguous.
template <class T>
__global__ void round_rows_kernel(const float* x, int ldx, int rows, int cols, T* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(rows) * cols) return;
  const int r = static_cast<int>(i / cols), c = static_cast<int>(i % cols);
  out[i] = from_float<T>(x[static_cast<size_t>(r) * ldx + c]);
}


template <class T, int M, bool kNorm, int kEpi, int kHeld = kHeldNarrow>
void launch_gemv(bool chained, const Mat& x, const float* gamma, const float* beta, const T* w, const float* bias, Mat& y,
                 int n, int k, cudaStream_t stream, KvTarget kv = {}) {
  const size_t shared = static_cast<size_t>(M) * k * sizeof(float);
  // Per instantiation: the dynamic shared memory allowed so far (48 KiB by default), raised when a launch needs more
  // (gemv_fits keeps that within the device's maximum).
  static size_t allowed = 48 * 1024;
  if (shared > allowed) {
    WST_CUDA_CHECK(cudaFuncSetAttribute(half_gemv_kernel<T, M, kNorm, kEpi, kHeld>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)));
    allowed = shared;
  }
  // The wide kernel's 140 registers a thread allow one block of 8 warps an SM; blocks of 4 fit three.
  const int warps = kHeld > kHeldNarrow ? kWarps / 2 : kWarps;
  launch_kernel(chained, half_gemv_kernel<T, M, kNorm, kEpi, kHeld>, dim3(blocks_for(n, warps)), dim3(32 * warps), shared,
                stream, x.data, x.ld, gamma, beta, w, bias, y.data, y.ld, n, k, kv);
}

template <class T, int M>
void gemv_epilogue(bool chained, const Mat& x, const float* gamma, const float* beta, const T* w, const float* bias, int epi, Mat& y,
                   int n, int k, cudaStream_t stream) {
  if (gamma) {
    if (epi == kEpiGelu) return launch_gemv<T, M, true, kEpiGelu>(chained, x, gamma, beta, w, bias, y, n, k, stream);
    if (epi == kEpiAdd) return launch_gemv<T, M, true, kEpiAdd>(chained, x, gamma, beta, w, bias, y, n, k, stream);
    return launch_gemv<T, M, true, kEpiNone>(chained, x, gamma, beta, w, bias, y, n, k, stream);
  }
  if (k > 32 * 8 * kHeldNarrow) {
    if (epi == kEpiGelu) return launch_gemv<T, M, false, kEpiGelu, kHeldWide>(chained, x, gamma, beta, w, bias, y, n, k, stream);
    if (epi == kEpiAdd) return launch_gemv<T, M, false, kEpiAdd, kHeldWide>(chained, x, gamma, beta, w, bias, y, n, k, stream);
    return launch_gemv<T, M, false, kEpiNone, kHeldWide>(chained, x, gamma, beta, w, bias, y, n, k, stream);
  }
  if (epi == kEpiGelu) return launch_gemv<T, M, false, kEpiGelu>(chained, x, gamma, beta, w, bias, y, n, k, stream);
  if (epi == kEpiAdd) return launch_gemv<T, M, false, kEpiAdd>(chained, x, gamma, beta, w, bias, y, n, k, stream);
  return launch_gemv<T, M, false, kEpiNone>(chained, x, gamma, beta, w, bias, y, n, k, stream);
}

template <class T>
void gemv_rows(bool chained, const Mat& x, const float* gamma, const float* beta, const T* w, const float* bias, int epi, Mat& y,
               int n, int k, cudaStream_t stream) {
  switch (x.rows) {
    case 1: return gemv_epilogue<T, 1>(chained, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 2: return gemv_epilogue<T, 2>(chained, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 3: return gemv_epilogue<T, 3>(chained, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 4: return gemv_epilogue<T, 4>(chained, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 5: return gemv_epilogue<T, 5>(chained, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 6: return gemv_epilogue<T, 6>(chained, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 7: return gemv_epilogue<T, 7>(chained, x, gamma, beta, w, bias, epi, y, n, k, stream);
    default: return gemv_epilogue<T, 8>(chained, x, gamma, beta, w, bias, epi, y, n, k, stream);
  }
}

// shared_limit: the backend's gemv_shared_.
bool gemv_fits(int m, int k, size_t shared_limit) {
  return m >= 1 && m <= kMaxGemvRows && k % 8 == 0 && static_cast<size_t>(m) * k * sizeof(float) <= shared_limit;
}

}  // namespace

size_t gemv_shared_limit(int device) {
  int optin = 0;
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  // 1 KiB kept for the kernels' static shared memory. WST_CUDA_GEMV_SHARED_KIB lowers the limit (to compare: with
  // less, more rows x width go through the rounded tensor-core product instead).
  size_t limit = std::min(kMaxGemvShared, static_cast<size_t>(std::max(optin - 1024, 0)));
  if (const char* kib = std::getenv("WST_CUDA_GEMV_SHARED_KIB"); kib && *kib)
    limit = std::min(limit, static_cast<size_t>(std::max(std::atoi(kib), 0)) * 1024);
  return limit;
}

Weights CudaBackend::upload_weights(const float* host, int rows, int cols, WeightType type) {
  if (type == WeightType::float32) return Weights(upload(host, rows, cols));
  if (type != WeightType::float16 && type != WeightType::bfloat16)
    throw Error("cuda backend: " + std::string(weight_type_name(type)) + " weights are not supported");
  std::vector<uint16_t> h(static_cast<size_t>(rows) * cols);
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = type == WeightType::float16 ? float_to_half(host[i]) : float_to_bfloat16(host[i]);
  return upload_half(h.data(), rows, cols, type);
}

Weights CudaBackend::upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type) {
  // A float16 file's bytes kept float16: straight to the device, without the default's float32 round trip.
  if (type == WeightType::float16) return upload_half(host, rows, cols, type);
  return Backend::upload_weights_f16(host, rows, cols, type);
}

Weights CudaBackend::upload_half(const uint16_t* host, int rows, int cols, WeightType type) {
  const size_t bytes = static_cast<size_t>(rows) * cols * 2;
  std::shared_ptr<void> dev = alloc_bytes(bytes);
  WST_CUDA_CHECK(cudaMemcpyAsync(dev.get(), host, bytes, cudaMemcpyHostToDevice, stream_));
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the caller may free `host` once this returns
  return Weights(type, rows, cols, dev);
}

void half_product(cublasHandle_t blas, const Weights& w, const void* x, int ldx, int m, void* y, cudaDataType_t yt,
                  int ldy, float beta) {
  const float one = 1.0f;
  const cudaDataType_t t = w.type == WeightType::float16 ? CUDA_R_16F : CUDA_R_16BF;
  // Row-major y [m, n] = x [m, k] w [n, k]^T, read column-major: y^T = w^T x^T (as linear.cu).
  WST_CUBLAS_CHECK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, m, w.cols, &one, w.packed.get(), t, w.cols, x,
                                t, ldx, &beta, y, yt, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

Weights CudaBackend::to_half(const Mat& w, WeightType type) {
  if (type != WeightType::float16 && type != WeightType::bfloat16)
    throw Error("to_half: float16 or bfloat16 only, not " + std::string(weight_type_name(type)));
  const size_t total = static_cast<size_t>(w.rows) * w.cols;
  std::shared_ptr<void> dev = alloc_bytes(total * 2);
  if (total == 0) return Weights(type, w.rows, w.cols, dev);
  if (type == WeightType::float16)
    round_rows_kernel<<<blocks_for(total, 256), 256, 0, stream_>>>(w.data, w.ld, w.rows, w.cols,
                                                                   static_cast<__half*>(dev.get()));
  else
    round_rows_kernel<<<blocks_for(total, 256), 256, 0, stream_>>>(w.data, w.ld, w.rows, w.cols,
                                                                   static_cast<__nv_bfloat16*>(dev.get()));
  WST_CUDA_CHECK_LAUNCH();
  return Weights(type, w.rows, w.cols, dev);
}

void CudaBackend::linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) {
  if (w.type == WeightType::float32) return linear(x, w.f32, bias, y);
  if (w.type != WeightType::float16 && w.type != WeightType::bfloat16)
    throw Error("cuda backend: " + std::string(weight_type_name(w.type)) + " weights are not supported");
  check_linear_shapes(x, w.rows, w.cols, y);
  const int m = x.rows, n = w.rows, k = x.cols;
  if (m == 0 || n == 0) return;
  const bool has_bias = bias && !bias->empty();
  const float* b = has_bias ? bias->data : nullptr;
  const bool f16 = w.type == WeightType::float16;
  if (gemv_fits(m, k, gemv_shared_)) {
    if (f16) gemv_rows(chained_, x, nullptr, nullptr, static_cast<const __half*>(w.packed.get()), b, kEpiNone, y, n, k, stream_);
    else gemv_rows(chained_, x, nullptr, nullptr, static_cast<const __nv_bfloat16*>(w.packed.get()), b, kEpiNone, y, n, k, stream_);
    return;
  }
  // x rounded to the weights' type, then one tensor-core product.
  const Weights xh = to_half(x, w.type);
  float beta = 0.0f;
  if (has_bias) {
    broadcast_rows(y, b, stream_);
    beta = 1.0f;
  }
  half_product(blas_, w, xh.packed.get(), k, m, y.data, CUDA_R_32F, y.ld, beta);
}

void CudaBackend::linear_fused(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                               Epilogue epilogue, Mat& y) {
  // One kernel for a few rows of half weights (the decoder's steps); otherwise the ops in turn.
  const bool half = w.type == WeightType::float16 || w.type == WeightType::bfloat16;
  if (!half || !gemv_fits(x.rows, x.cols, gemv_shared_) || x.cols != w.cols || y.rows != x.rows || y.cols != w.rows ||
      (gamma && (gamma->cols != x.cols || !beta || beta->cols != x.cols)))
    return Backend::linear_fused(x, gamma, beta, w, bias, epilogue, y);
  const int epi = epilogue == Epilogue::gelu ? kEpiGelu : epilogue == Epilogue::add ? kEpiAdd : kEpiNone;
  const float* g = gamma ? gamma->data : nullptr;
  const float* be = gamma ? beta->data : nullptr;
  const float* b = bias && !bias->empty() ? bias->data : nullptr;
  if (w.type == WeightType::float16)
    gemv_rows(chained_, x, g, be, static_cast<const __half*>(w.packed.get()), b, epi, y, w.rows, x.cols, stream_);
  else
    gemv_rows(chained_, x, g, be, static_cast<const __nv_bfloat16*>(w.packed.get()), b, epi, y, w.rows, x.cols, stream_);
}

void CudaBackend::linear_fused_kv_at(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                                     Mat& y, Mat& k_cache, Mat& v_cache) {
  if (!recording_) throw Error("linear_fused_kv_at: only while a step is recorded");
  const bool half = w.type == WeightType::float16 || w.type == WeightType::bfloat16;
  const int d = k_cache.cols;
  if (!half || x.rows != 1 || !gamma || !beta || !gemv_fits(1, x.cols, gemv_shared_) || x.cols != w.cols || y.rows != 1 ||
      y.cols != w.rows || w.rows != 3 * d || v_cache.cols != d || k_cache.ld != v_cache.ld ||
      gamma->cols != x.cols || beta->cols != x.cols)
    return Backend::linear_fused_kv_at(x, gamma, beta, w, bias, y, k_cache, v_cache);
  const float* b = bias && !bias->empty() ? bias->data : nullptr;
  const KvTarget kv{k_cache.data, v_cache.data, k_cache.ld, d, static_cast<const StepState*>(step_dev_.get())};
  if (w.type == WeightType::float16)
    launch_gemv<__half, 1, true, kEpiKv>(chained_, x, gamma->data, beta->data, static_cast<const __half*>(w.packed.get()), b, y,
                                         w.rows, x.cols, stream_, kv);
  else
    launch_gemv<__nv_bfloat16, 1, true, kEpiKv>(chained_, x, gamma->data, beta->data,
                                                static_cast<const __nv_bfloat16*>(w.packed.get()), b, y, w.rows,
                                                x.cols, stream_, kv);
}

}  // namespace wst::engine::cuda
