// One-query attention (a decoded token over the self-attention cache or the 1500 cross-attention frames) in one
// kernel on Hopper: each head is a thread-block cluster of kCtas blocks that split the keys between them; each
// block keeps an online softmax per warp over its keys, folds its warps together, and block 0 of the cluster
// merges the blocks' partial results through distributed shared memory and writes the head's output. Before sm_90
// attention.cu's two kernels (chunks, then a merge kernel) do the same sums in another order.
#include <cooperative_groups.h>

#include <cmath>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"

namespace wst::engine::cuda {

namespace {

constexpr int kCtas = 8;           // blocks a head (a cluster; 8 is the portable maximum)
constexpr int kWarps = 8;          // warps a block
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900  // device code for sm_90 only (nothing here before it)
constexpr int kMaxDh = 128;         // attention.cu refuses wider heads
constexpr int kKeys = 8;            // keys a warp has in flight at once
constexpr int kDims = kMaxDh / 32;  // head dimensions a lane holds

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The block's share of the keys [begin, end) for n visible keys.
__device__ __forceinline__ void block_keys(int n_visible, int rank, int* begin, int* end) {
  const int per = (n_visible + kCtas - 1) / kCtas;
  *begin = min(n_visible, rank * per);
  *end = min(n_visible, *begin + per);
}
#endif

// out[h * dh + t] = softmax(q_h . k_j * scale) v_j over the visible keys. n_visible: a count, or with `st` set (a
// recorded step) the step's position + 1. kv_fixed: K and V are not written by the kernel just before (the
// cross-attention's, made once per window), so the first keys are loaded before waiting for it (launch.cuh).
__global__ void __launch_bounds__(32 * kWarps) cluster_attention_kernel(const float* q, const float* k, int ldk,
                                                                         const float* v, int ldv, int dh, int n_visible,
                                                                         float scale, float* out, const StepState* st,
                                                                         bool kv_fixed) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  const int h = blockIdx.x / kCtas, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __shared__ float wm[kWarps], wl[kWarps];
  __shared__ float wo[kWarps][kMaxDh];
  __shared__ float part[kMaxDh + 2];  // this block's output sums, maximum, sum of exponentials (read by rank 0)

  float kr[kKeys][kDims], vr[kKeys][kDims];
  auto load = [&](int j0, int nj) {
#pragma unroll
    for (int u = 0; u < kKeys; ++u)
#pragma unroll
      for (int e = 0; e < kDims; ++e) {
        const int t = lane + 32 * e;
        const bool in = u < nj && t < dh;
        kr[u][e] = in ? k[static_cast<size_t>(j0 + u) * ldk + h * dh + t] : 0.0f;
        vr[u][e] = in ? v[static_cast<size_t>(j0 + u) * ldv + h * dh + t] : 0.0f;
      }
  };
  const bool early = kv_fixed && st == nullptr;
  int begin, end;
  if (early) {
    block_keys(n_visible, rank, &begin, &end);
    const int j0 = begin + warp * kKeys;
    load(j0, max(0, min(kKeys, end - j0)));
  }
  wait_for_previous_kernel();
  let_next_kernel_start();
  if (st != nullptr) n_visible = st->position + 1;
  block_keys(n_visible, rank, &begin, &end);
  float qr[kDims];
#pragma unroll
  for (int e = 0; e < kDims; ++e) {
    const int t = lane + 32 * e;
    qr[e] = t < dh ? q[h * dh + t] * scale : 0.0f;
  }
  // Each warp: groups of kKeys keys, kWarps * kKeys apart, with a running maximum m, sum l and output o.
  float m = -INFINITY, l = 0.0f, o[kDims] = {};
  bool loaded = early;
  for (int j0 = begin + warp * kKeys; j0 < end; j0 += kWarps * kKeys) {
    const int nj = min(kKeys, end - j0);
    if (!loaded) load(j0, nj);
    loaded = false;
    float s[kKeys];
    float mx = m;
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      float acc = 0.0f;
#pragma unroll
      for (int e = 0; e < kDims; ++e) acc += qr[e] * kr[u][e];
      s[u] = u < nj ? warp_sum(acc) : -INFINITY;
      mx = fmaxf(mx, s[u]);
    }
    const float corr = m == -INFINITY ? 0.0f : expf(m - mx);
    l *= corr;
#pragma unroll
    for (int e = 0; e < kDims; ++e) o[e] *= corr;
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      if (u < nj) {
        const float p = expf(s[u] - mx);
        l += p;
#pragma unroll
        for (int e = 0; e < kDims; ++e) o[e] += p * vr[u][e];
      }
    }
    m = mx;
  }
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int e = 0; e < kDims; ++e) {
    const int t = lane + 32 * e;
    if (t < dh) wo[warp][t] = o[e];
  }
  __syncthreads();
  // The block's warps folded together; warps without keys (l == 0) weigh nothing.
  float bm = -INFINITY;
  for (int w = 0; w < kWarps; ++w)
    if (wl[w] > 0.0f) bm = fmaxf(bm, wm[w]);
  for (int t = threadIdx.x; t < dh; t += blockDim.x) {
    float acc = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (wl[w] > 0.0f) acc += wo[w][t] * expf(wm[w] - bm);
    part[t] = acc;
  }
  if (threadIdx.x == 0) {
    float bl = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (wl[w] > 0.0f) bl += wl[w] * expf(wm[w] - bm);
    part[dh] = bm;
    part[dh + 1] = bl;
  }
  cluster.sync();  // every block's part is written
  if (rank == 0) {
    float M = -INFINITY;
    float wgt[kCtas];
    const float* parts[kCtas];
#pragma unroll
    for (int r = 0; r < kCtas; ++r) {
      parts[r] = cluster.map_shared_rank(part, r);
      if (parts[r][dh + 1] > 0.0f) M = fmaxf(M, parts[r][dh]);
    }
    float L = 0.0f;
#pragma unroll
    for (int r = 0; r < kCtas; ++r) {
      wgt[r] = parts[r][dh + 1] > 0.0f ? expf(parts[r][dh] - M) : 0.0f;
      L += parts[r][dh + 1] * wgt[r];
    }
    for (int t = threadIdx.x; t < dh; t += blockDim.x) {
      float acc = 0.0f;
#pragma unroll
      for (int r = 0; r < kCtas; ++r) acc += parts[r][t] * wgt[r];
      out[h * dh + t] = acc / L;
    }
  }
  cluster.sync();  // no block leaves while rank 0 still reads its shared memory
#endif
}

}  // namespace

void cluster_attention(bool chained, cudaStream_t stream, const float* q, const float* k, int ldk, const float* v,
                       int ldv, int n_head, int dh, int n_visible, float scale, float* out, const StepState* st,
                       bool kv_fixed) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(n_head * kCtas);
  config.blockDim = dim3(32 * kWarps);
  config.stream = stream;
  cudaLaunchAttribute attribute[2] = {};
  attribute[0].id = cudaLaunchAttributeClusterDimension;
  attribute[0].val.clusterDim.x = kCtas;
  attribute[0].val.clusterDim.y = 1;
  attribute[0].val.clusterDim.z = 1;
  attribute[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[1].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = chained ? 2 : 1;
  WST_CUDA_CHECK(cudaLaunchKernelEx(&config, cluster_attention_kernel, q, k, ldk, v, ldv, dh, n_visible, scale, out, st,
                                    kv_fixed));
}

}  // namespace wst::engine::cuda
