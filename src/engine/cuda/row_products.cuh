// Pieces of the matrix-vector products shared by the kernels that run one (half_linear.cu's, and the fused
// query-and-attention kernels in cluster_attention.cu): half pairs widened and floats rounded (also used by
// flash_attention.cu, elementwise.cu, layer_norm.cu and conv1d.cu), a warp's and a block's sum, activation rows into shared memory, their layer norm, one 16-byte load of
// weights times those rows, and L2 prefetches (a weight vector, an attention head's K/V rows). Device code only;
// included by .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_pipeline.h>

#include <cstdint>

namespace wst::engine::cuda {

__device__ __forceinline__ float2 to_float2(const __half2 h) { return __half22float2(h); }
__device__ __forceinline__ float2 to_float2(const __nv_bfloat162 h) { return __bfloat1622float2(h); }
__device__ __forceinline__ float to_float(const float x) { return x; }
__device__ __forceinline__ float to_float(const __half h) { return __half2float(h); }
__device__ __forceinline__ float to_float(const __nv_bfloat16 h) { return __bfloat162float(h); }
// A float32 value in T (round to nearest even; float32 itself unchanged), and a pair of them.
template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
__device__ __forceinline__ void from_float2(float2 f, __half2* p) { *p = __float22half2_rn(f); }
__device__ __forceinline__ void from_float2(float2 f, __nv_bfloat162* p) { *p = __float22bfloat162_rn(f); }

template <class T> struct Pair;
template <> struct Pair<__half> { using type = __half2; };
template <> struct Pair<__nv_bfloat16> { using type = __nv_bfloat162; };

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The sum of v over the block (every thread gets it), through red (32 floats): one barrier. Without a trailing
// barrier: for sums that take turns between two buffers, as norm_rows' two do, each sum's barrier then keeps the
// other buffer from being written again while a thread still reads it. After the last sum, red must not be written
// before a barrier.
__device__ __forceinline__ float block_sum_alternating(float v, float* red) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  float t = 0.0f;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) t += red[w];
  return t;
}

// The same sum (the same bits), red free again when it returns.
__device__ __forceinline__ float block_sum(float v, float* red) {
  const float t = block_sum_alternating(v, red);
  __syncthreads();  // red is written again by the next call
  return t;
}

// The exact (erf) GELU every kernel applies: elementwise.cu's op and the products' fused epilogues.
__device__ __forceinline__ float gelu_erf(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

// Asks L2 for the 128-byte line holding p (a hint: it changes no value any load sees).
__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

// Asks L2 for the 128-byte lines of p [0, bytes), the block's threads a line each in turn. For a layer norm's gains
// and biases before a kernel waits for the one before it (launch.cuh): they are weights, evicted from L2 by the
// step's other weights since the last token, and the norm reads them only after its two block-wide sums, so their
// trip from memory was one more on the kernel's critical path.
__device__ __forceinline__ void prefetch_lines_l2(const void* p, size_t bytes) {
  if (p == nullptr) return;
  const char* c = static_cast<const char*>(p);
  for (size_t o = threadIdx.x * size_t{128}; o < bytes; o += blockDim.x * size_t{128}) prefetch_l2(c + o);
}

// Rows [begin, end) of head h's K and V (dh values of T from column h * dh; K rows ldk apart, V rows ldv) asked into
// L2 by the block, a 128-byte line a thread in turn (heads start on a line: dh * sizeof(T) a multiple of 128, as
// Whisper's), each row's K and V lines together.
template <class T>
__device__ __forceinline__ void prefetch_head_rows(const T* k, const T* v, int ldk, int ldv, int h, int dh, int begin,
                                                   int end) {
  const int lines = (dh * static_cast<int>(sizeof(T)) + 127) / 128;
  for (int t = threadIdx.x; t < 2 * lines * (end - begin); t += blockDim.x) {
    const int row = begin + t / (2 * lines), rest = t % (2 * lines), line = rest / 2;
    const T* base = rest % 2 ? v + static_cast<size_t>(row) * ldv : k + static_cast<size_t>(row) * ldk;
    prefetch_l2(reinterpret_cast<const char*>(base + h * dh) + 128 * line);
  }
}

// The same for one matrix m (rows ld apart).
template <class T>
__device__ __forceinline__ void prefetch_head_lines(const T* m, int ld, int h, int dh, int begin, int end) {
  const int lines = (dh * static_cast<int>(sizeof(T)) + 127) / 128;
  for (int t = threadIdx.x; t < lines * (end - begin); t += blockDim.x)
    prefetch_l2(reinterpret_cast<const char*>(m + static_cast<size_t>(begin + t / lines) * ld + h * dh) +
                128 * (t % lines));
}

// xs [M, k] (contiguous) = the M rows of x (row stride ldx): 16-byte loads, eight a thread in flight together
// (a loop of dependent round trips to L2 cost the wide products several microseconds).
template <int M>
__device__ __forceinline__ void load_rows(const float* x, int ldx, int k, float* xs) {
  const bool vec = ((reinterpret_cast<uintptr_t>(x) | static_cast<uintptr_t>(ldx) * 4 | static_cast<uintptr_t>(k) * 4) & 15) == 0;
  if (!vec) {
    for (int r = 0; r < M; ++r)
      for (int i = threadIdx.x; i < k; i += blockDim.x) xs[r * k + i] = x[static_cast<size_t>(r) * ldx + i];
    return;
  }
  const int k4 = k / 4, n = M * k4;
  for (int i0 = threadIdx.x; i0 < n; i0 += 8 * blockDim.x) {
    float4 t[8];
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      const int i = i0 + u * blockDim.x;
      if (i < n) t[u] = reinterpret_cast<const float4*>(x + static_cast<size_t>(i / k4) * ldx)[i % k4];
    }
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      const int i = i0 + u * blockDim.x;
      if (i < n) reinterpret_cast<float4*>(xs)[i] = t[u];
    }
  }
}

// One 16-byte load of row j's weights (8 values) times the M rows of x in shared memory, into acc.
template <class T, int M>
__device__ __forceinline__ void accumulate8(const uint4 raw, const float* xs, int k, int i, float (&acc)[M]) {
  using T2 = typename Pair<T>::type;
  const T2* h = reinterpret_cast<const T2*>(&raw);
  float wf[8];
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 f = to_float2(h[e]);
    wf[2 * e] = f.x;
    wf[2 * e + 1] = f.y;
  }
#pragma unroll
  for (int r = 0; r < M; ++r) {
    const float4* xr = reinterpret_cast<const float4*>(xs + r * k + 8 * i);
    const float4 a = xr[0], b = xr[1];
    acc[r] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y + wf[6] * b.z +
              wf[7] * b.w;
  }
}

// A row's mean and 1 / sqrt(var + 1e-5) by one warp, two passes (lane i sums values i, i + 32, ..., then the lanes by
// xor shuffles): the order of half_linear.cu's several-row norm and of tensor_rows.cu's, which give the same values.
__device__ __forceinline__ void row_stats_by_warp(const float* row, int k, int lane, float* mean, float* rstd) {
  float s = 0.0f;
  for (int i = lane; i < k; i += 32) s += row[i];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  const float m = s / k;
  float q = 0.0f;
  for (int i = lane; i < k; i += 32) {
    const float dlt = row[i] - m;
    q += dlt * dlt;
  }
  for (int o = 16; o > 0; o >>= 1) q += __shfl_xor_sync(0xffffffffu, q, o);
  *mean = m;
  *rstd = rsqrtf(q / k + 1e-5f);
}

// A product's value with its layer norm folded into the weights (CudaBackend::NormFold): r (a - m s) + b' from the raw
// row's sum a, the row's mean m and 1 / std r, the weights' row sum s and the folded bias b'. Two roundings pinned
// (fused multiply-adds written out), so that every kernel that folds gives the same bits.
__device__ __forceinline__ float folded_norm_value(float a, float mean, float rstd, float row_sum, float bias) {
  return __fmaf_rn(rstd, __fmaf_rn(-mean, row_sum, a), bias);
}

// row[i] = (row[i] - mean) * inv * gamma[i] + beta[i] for i < n, a thread's values in groups of kGroup turns whose
// gains and biases are loaded together before any is used: a loop that waited for each value's two loads cost 5
// round trips to L2 a 1280-wide row on every normed kernel's critical path. 4 turns, not 8: the fused attention
// kernels sit at their 128-register bound; 1 in the persistent decoder kernel, which spills otherwise. The same
// arithmetic a value.
template <int kGroup = 4>
__device__ __forceinline__ void apply_norm(float* row, int n, float mean, float inv, const float* gamma,
                                           const float* beta) {
  for (int i0 = threadIdx.x; i0 < n; i0 += kGroup * blockDim.x) {
    float g[kGroup], b[kGroup];
#pragma unroll
    for (int u = 0; u < kGroup; ++u) {
      const int i = i0 + u * blockDim.x;
      if (i < n) {
        g[u] = gamma[i];
        b[u] = beta[i];
      }
    }
#pragma unroll
    for (int u = 0; u < kGroup; ++u) {
      const int i = i0 + u * blockDim.x;
      if (i < n) row[i] = (row[i] - mean) * inv * g[u] + b[u];
    }
  }
}

// A normed kernel's gains and biases, before its wait (prepare_norm_weights): asked into L2, or, `staged`
// (GemvConfig::stage_norm), this thread's share of them (the values apply_norm reads for it: threadIdx.x,
// + blockDim.x, ...) copied by cp.async into staged_w [2, k] in shared memory, so that the norm after the wait reads
// them there rather than from L2 on its critical path. After the wait, take_norm_weights points gamma and beta at
// them, waiting first for this thread's copies alone, which are all its apply_norm reads: no barrier needed
// (`later`: the thread's cp.async groups committed after these, left in flight). The same values, so the same bits.
__device__ __forceinline__ void prepare_norm_weights(const float* gamma, const float* beta, int k, bool staged,
                                                     float* staged_w) {
  if (!staged) {
    prefetch_lines_l2(gamma, sizeof(float) * k);
    prefetch_lines_l2(beta, sizeof(float) * k);
    return;
  }
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    __pipeline_memcpy_async(staged_w + i, gamma + i, sizeof(float));
    __pipeline_memcpy_async(staged_w + k + i, beta + i, sizeof(float));
  }
  __pipeline_commit();
}
__device__ __forceinline__ void take_norm_weights(bool staged, const float* staged_w, int k, int later,
                                                  const float** gamma, const float** beta) {
  if (!staged) return;
  __pipeline_wait_prior(later);
  *gamma = staged_w;
  *beta = staged_w + k;
}

// The M rows of xs [M, k] layer-normed in place (gamma, beta; eps 1e-5), as layer_norm.cu: two passes over each
// row, 1 / sqrt(var + 1e-5). Every thread of the block takes part; red holds 64 floats: the mean's sum takes the first
// 32, the variance's the second 32, so each sum needs one barrier, not two (block_sum_alternating). The caller's
// barrier after it (needed anyway before the normed row is read) comes before red is written again.
template <int M, int kGroup = 4>
__device__ __forceinline__ void norm_rows(float* xs, int k, const float* gamma, const float* beta, float* red) {
  for (int r = 0; r < M; ++r) {
    float* row = xs + r * k;
    float s = 0.0f;
    for (int i = threadIdx.x; i < k; i += blockDim.x) s += row[i];
    const float mean = block_sum_alternating(s, red) / k;
    float q = 0.0f;
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
      const float dlt = row[i] - mean;
      q += dlt * dlt;
    }
    const float inv = rsqrtf(block_sum_alternating(q, red + 32) / k + 1e-5f);
    apply_norm<kGroup>(row, k, mean, inv, gamma, beta);
  }
}

}  // namespace wst::engine::cuda
