// One-query attention (a decoded token over the self-attention cache or the 1500 cross-attention frames) in one
// kernel on Hopper: each head is a thread-block cluster of kCtas blocks that split the keys between them; each
// block keeps an online softmax per warp over its keys, folds its warps together, and block 0 of the cluster
// merges the blocks' partial results through distributed shared memory and writes the head's output. One launch
// takes up to kMaxAttentionRows query rows, each with its own keys (a step's beams or batched windows, each over its
// own cache) or all over the same (several queries over one window's cross-attention K/V). Before sm_90
// attention.cu's two kernels (chunks, then a merge kernel) do the same sums in another order.
#include <cooperative_groups.h>
#include <cuda_pipeline.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/row_products.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

constexpr int kCtas = 8;           // blocks a head (a cluster; 8 is the portable maximum)
constexpr int kWarps = 8;          // warps a block
// CudaBackend::set_prefetch_rows: whether prefetch_block_rows asks for anything (read when a kernel runs). Declared
// for every architecture: the backend sets it on any device.
__constant__ int c_prefetch_rows = 1;

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900  // device code for sm_90 only (nothing here before it)
constexpr int kMaxDh = 128;         // attention.cu refuses wider heads
constexpr int kKeys = 8;            // keys a warp has in flight at once
constexpr int kDims = kMaxDh / 32;  // head dimensions a lane holds


// The block's share of the keys [begin, end) for n visible keys split between kC blocks.
template <int kC = kCtas>
__device__ __forceinline__ void block_keys(int n_visible, int rank, int* begin, int* end) {
  const int per = (n_visible + kC - 1) / kC;
  *begin = min(n_visible, rank * per);
  *end = min(n_visible, *begin + per);
}
#endif

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
// kKeys keys' K and V rows of one head (kDims values a lane: heads up to 32 * kDims wide), in registers.
struct KeyRegs {
  float k[kKeys][kDims], v[kKeys][kDims];
};

// prefetch_head_rows (row_products.cuh) unless CudaBackend::set_prefetch_rows(false): before the wait, for the keys
// a block attends over after its first round, so that the rounds it loads after the wait find them in L2 (the step's
// weights evict them between tokens: 15 MB of cross K/V a large-v3 layer).
__device__ __forceinline__ void prefetch_block_rows(const float* k, const float* v, int ldk, int ldv, int h, int dh,
                                                    int begin, int end) {
  if (c_prefetch_rows != 0) prefetch_head_rows(k, v, ldk, ldv, h, dh, begin, end);
}

// Keys [j0, j0 + nj) of head h (zeros past nj).
__device__ __forceinline__ void load_keys(KeyRegs& r, const float* k, const float* v, int ldk, int ldv, int h,
                                          int dh, int j0, int nj, int lane) {
#pragma unroll
  for (int u = 0; u < kKeys; ++u)
#pragma unroll
    for (int e = 0; e < kDims; ++e) {
      const int t = lane + 32 * e;
      const bool in = u < nj && t < dh;
      r.k[u][e] = in ? k[static_cast<size_t>(j0 + u) * ldk + h * dh + t] : 0.0f;
      r.v[u][e] = in ? v[static_cast<size_t>(j0 + u) * ldv + h * dh + t] : 0.0f;
    }
}

// Rank 0 of the cluster: each row's kC block parts (part + b * stride: dh output sums, the maximum, the sum of
// exponentials) merged into out_h + b * ldo. Called after a cluster barrier; the caller waits at another after it.
template <int kC, int Q>
__device__ __forceinline__ void merge_cluster_parts(float* part, int stride, int dh, float* out_h, int ldo) {
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  for (int b = 0; b < Q; ++b) {
    float M = -INFINITY;
    float wgt[kC];
    const float* parts[kC];
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      parts[c] = cluster.map_shared_rank(part + b * stride, c);
      if (parts[c][dh + 1] > 0.0f) M = fmaxf(M, parts[c][dh]);
    }
    float L = 0.0f;
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      wgt[c] = parts[c][dh + 1] > 0.0f ? expf(parts[c][dh] - M) : 0.0f;
      L += parts[c][dh + 1] * wgt[c];
    }
    for (int t = threadIdx.x; t < dh; t += blockDim.x) {
      float acc = 0.0f;
#pragma unroll
      for (int c = 0; c < kC; ++c) acc += parts[c][t] * wgt[c];
      out_h[static_cast<size_t>(b) * ldo + t] = acc / L;
    }
  }
}

// One head's attention for one query qh (global or shared memory, [dh]) over this block's keys [begin, end), the
// cluster's kC blocks merged by rank 0 into out_h (kEveryRank: by every block, each into its own out_h, shared
// memory). `loaded`: the warp's first keys are in r already (loaded before
// waiting for the previous kernel).
template <int kC = kCtas, bool kEveryRank = false>
__device__ __forceinline__ void attend_head(const float* qh, const float* k, const float* v, int ldk, int ldv, int h,
                                            int dh, float scale, int begin, int end, bool loaded, KeyRegs& r,
                                            float* out_h) {
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  constexpr int kDh = 32 * kDims;
  __shared__ float wm[kWarps], wl[kWarps];
  __shared__ float wo[kWarps][kDh];
  __shared__ float part[kDh + 2];  // this block's output sums, maximum, sum of exponentials (for rank 0)
  float qr[kDims];
#pragma unroll
  for (int e = 0; e < kDims; ++e) {
    const int t = lane + 32 * e;
    qr[e] = t < dh ? qh[t] * scale : 0.0f;
  }
  // Each warp: groups of kKeys keys, kWarps * kKeys apart, with a running maximum m, sum l and output o.
  float m = -INFINITY, l = 0.0f, o[kDims];
#pragma unroll
  for (int e = 0; e < kDims; ++e) o[e] = 0.0f;
  for (int j0 = begin + warp * kKeys; j0 < end; j0 += kWarps * kKeys) {
    const int nj = min(kKeys, end - j0);
    if (!loaded) load_keys(r, k, v, ldk, ldv, h, dh, j0, nj, lane);
    loaded = false;
    float s[kKeys];
    float mx = m;
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      float acc = 0.0f;
#pragma unroll
      for (int e = 0; e < kDims; ++e) acc += qr[e] * r.k[u][e];
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
        for (int e = 0; e < kDims; ++e) o[e] += p * r.v[u][e];
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
  // The warps folded together; warps without keys (l == 0) weigh nothing.
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
  cluster.sync();  // every block's parts are written
  if (kEveryRank || rank == 0) merge_cluster_parts<kC, 1>(part, kDh + 2, dh, out_h, 0);
  cluster.sync();  // no block leaves while rank 0 (kEveryRank: any block) still reads its shared memory
}
#endif

// Row b of the output: out[b * ldo + h * dh + t] = softmax(q_bh . k_j * scale) v_j over row b's visible keys
// (rows.k[b], rows.v[b], rows.n_visible[b]; with `st` set, a recorded step, row b's position + 1; with `caches` set,
// a recorded beam step, row b's K and V from there).
// Cluster blockIdx.x / kCtas is row b = cluster / n_head, head h = cluster % n_head. kv_fixed: K and V are not written by the kernel just before
// (the cross-attention's, made once per window), so the first keys are loaded before waiting for it (launch.cuh).
// kC: blocks a head (a cluster); 1 for short caches (one block a row and head, no merge across blocks).
template <int kC>
__global__ void __launch_bounds__(32 * kWarps) cluster_attention_kernel(const float* q, int ldq,
                                                                         const __grid_constant__ AttentionRows rows,
                                                                         int ldk, int ldv, int n_head, int dh,
                                                                         float scale, float* out, int ldo,
                                                                         const StepState* st, bool kv_fixed,
                                                                         const LayerCaches* caches) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  const int rank = static_cast<int>(cg::this_cluster().block_rank());
  const int head = blockIdx.x / kC, h = head % n_head, b = head / n_head;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float* k = caches != nullptr ? caches->k[b] : rows.k[b];
  const float* v = caches != nullptr ? caches->v[b] : rows.v[b];
  int n_visible = rows.n_visible[b];
  q += static_cast<size_t>(b) * ldq;
  out += static_cast<size_t>(b) * ldo;
  KeyRegs r;
  const bool early = kv_fixed && st == nullptr;
  int begin, end;
  if (early) {
    block_keys<kC>(n_visible, rank, &begin, &end);
    const int j0 = begin + warp * kKeys;
    load_keys(r, k, v, ldk, ldv, h, dh, j0, max(0, min(kKeys, end - j0)), lane);
    prefetch_block_rows(k, v, ldk, ldv, h, dh, begin + kWarps * kKeys, end);  // the rounds after the first
  } else {
    // A cache: its rows before the newest were written by earlier steps (or a reorder), so asking L2 for them now
    // saves the attention a trip to memory after the wait. (A prefetch changes no value a load sees, wherever the
    // rows come from: where the kernel before wrote them, it only costs the trip.)
    const int visible = st != nullptr ? __ldcg(&st[b].position) + 1 : n_visible;
    block_keys<kC>(visible, rank, &begin, &end);
    prefetch_block_rows(k, v, ldk, ldv, h, dh, begin, min(end, visible - 1));
  }
  wait_for_previous_kernel();
  let_next_kernel_start();
  if (st != nullptr) n_visible = st[b].position + 1;
  block_keys<kC>(n_visible, rank, &begin, &end);
  attend_head<kC>(q + h * dh, k, v, ldk, ldv, h, dh, scale, begin, end, early, r, out + h * dh);
#endif
}

// Q query rows over the same keys (a step's beams over their one window's cross-attention K/V) in one launch, each
// key read once for all Q rows. attend_head's layout (a key's dot product spread over a warp, a warp_sum per key and
// row) took ~6000 dependent instructions a warp for 5 rows (run 41's ncu: 37 us, 12% of DRAM, 0.24 issued a cycle
// a scheduler). Here a block scores its keys first, a thread a key (its K row in registers, the queries broadcast
// from shared memory, no shuffles), then a warp a row turns its scores into probabilities, then half-warps over the
// keys (16 threads x 4 values = a 64-wide head) sum p * V; the cluster's blocks merge as attend_head's do. Every
// row's sums run in the same order whatever Q (each row gets the bits it gets beside any other rows), but in
// another order than cluster_attention_kernel's. Heads up to 64 wide, a multiple of 4; K, V 16-byte aligned
// (shared_kv_attention_fits). kv_fixed: the first keys are loaded before waiting for the previous kernel.
constexpr int kScoreKeys = 32 * kWarps;  // keys a block scores at once: a thread a key
constexpr int kMaxSharedDh = 64;
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
// A thread's key row of one head in registers, K stored as float (16 float4 loads for 64 values) or as float16 (the
// CudaBackend::set_half_cross_kv shadow: 8 16-byte loads, half the registers), read back as float4 groups of 4 values.
template <class KV>
struct KeyRow;
template <>
struct KeyRow<float> {
  float4 r[kMaxSharedDh / 4];
  // Key j of kh (n4 groups of 4 values; zeros past `end` and past n4).
  __device__ __forceinline__ void load(const float* kh, int ldk, int j, int end, int n4) {
    const float4* row = reinterpret_cast<const float4*>(kh + static_cast<size_t>(j) * ldk);
#pragma unroll
    for (int u = 0; u < kMaxSharedDh / 4; ++u) r[u] = j < end && u < n4 ? __ldg(row + u) : make_float4(0, 0, 0, 0);
  }
  __device__ __forceinline__ float4 group(int u) const { return r[u]; }
};
// Four float16 values (8 bytes) widened.
__device__ __forceinline__ float4 widen4(const uint2& w) {
  const __half2* h2 = reinterpret_cast<const __half2*>(&w);
  const float2 a = __half22float2(h2[0]), b = __half22float2(h2[1]);
  return make_float4(a.x, a.y, b.x, b.y);
}
template <>
struct KeyRow<__half> {
  uint4 r[kMaxSharedDh / 8];
  __device__ __forceinline__ void load(const __half* kh, int ldk, int j, int end, int n4) {
    const uint4* row = reinterpret_cast<const uint4*>(kh + static_cast<size_t>(j) * ldk);
#pragma unroll
    for (int u = 0; u < kMaxSharedDh / 8; ++u) r[u] = j < end && 2 * u < n4 ? __ldg(row + u) : make_uint4(0, 0, 0, 0);
  }
  __device__ __forceinline__ float4 group(int u) const {
    return widen4(reinterpret_cast<const uint2*>(&r[u / 2])[u % 2]);
  }
};

// Values [4 f, 4 f + 4) of row p (float, or float16 read 8 bytes at a time).
__device__ __forceinline__ float4 value_group(const float* row, int f) {
  return __ldg(reinterpret_cast<const float4*>(row) + f);
}
__device__ __forceinline__ float4 value_group(const __half* row, int f) {
  return widen4(__ldg(reinterpret_cast<const uint2*>(row) + f));
}

// Head h's attention for Q query rows (row b's head at qh + b * ldq, global or shared memory) over this block's keys
// [begin, end), scores first, the cluster's blocks merged by rank 0 into out_h + b * ldo (kEveryRank: by every block,
// each into its own out_h, shared memory). kr: the block's first
// keys, already loaded (KeyRow::load) where `loaded`. Called after the wait for the previous kernel.
template <int Q, class KV, bool kEveryRank = false>
__device__ __forceinline__ void attend_scores_first(const float* qh, int ldq, const KV* k, const KV* v, int ldk,
                                                    int ldv, int h, int dh, float scale, int begin, int end,
                                                    bool loaded, KeyRow<KV>& kr, float* out_h, int ldo) {
  namespace cg = cooperative_groups;
  constexpr int kN4 = kMaxSharedDh / 4;
  __shared__ float4 qs[Q][kN4];                   // the rows' queries, scaled
  __shared__ float sc[Q][kScoreKeys];              // the round's scores, then its probabilities
  __shared__ float m_s[Q], l_s[Q], corr_s[Q];      // each row's running maximum, sum, and this round's correction
  __shared__ float4 wsum[kWarps][Q][kN4];          // each warp's output sums
  __shared__ float part[Q][kMaxSharedDh + 2];      // the block's output sums, maximum, sum (for rank 0)
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int n4 = dh / 4;
  const KV* kh = k + h * dh;
  const KV* vh = v + h * dh;
  for (int i = tid; i < Q * kN4; i += blockDim.x) {
    const int b = i / kN4, u = i % kN4;
    float4 x = make_float4(0, 0, 0, 0);
    if (u < n4) {
      const float* src = qh + static_cast<size_t>(b) * ldq + 4 * u;
      x = make_float4(src[0] * scale, src[1] * scale, src[2] * scale, src[3] * scale);
    }
    qs[b][u] = x;
  }
  if (tid < Q) {
    m_s[tid] = -INFINITY;
    l_s[tid] = 0.0f;
  }
  // The value pass: thread (f, g) sums 4 values (f = lane % 16) over keys g, g + 2 kWarps, ...
  const int f = lane % 16, g = 2 * warp + lane / 16;
  float4 o[Q];
#pragma unroll
  for (int b = 0; b < Q; ++b) o[b] = make_float4(0, 0, 0, 0);
  for (int c0 = begin; c0 < end; c0 += kScoreKeys) {
    const int nc = min(kScoreKeys, end - c0);
    if (!loaded || c0 != begin) kr.load(kh, ldk, c0 + tid, end, n4);
    __syncthreads();  // the queries are written; the last round's value pass has read its probabilities
    if (tid < nc) {
      float s[Q];
#pragma unroll
      for (int b = 0; b < Q; ++b) s[b] = 0.0f;
#pragma unroll
      for (int u = 0; u < kN4; ++u) {
        if (u < n4) {
          const float4 kk = kr.group(u);
#pragma unroll
          for (int b = 0; b < Q; ++b) {
            const float4 qq = qs[b][u];
            s[b] = fmaf(qq.x, kk.x, s[b]);
            s[b] = fmaf(qq.y, kk.y, s[b]);
            s[b] = fmaf(qq.z, kk.z, s[b]);
            s[b] = fmaf(qq.w, kk.w, s[b]);
          }
        }
      }
#pragma unroll
      for (int b = 0; b < Q; ++b) sc[b][tid] = s[b];
    }
    __syncthreads();
    if (warp < Q) {  // warp b: row b's scores into probabilities against its running maximum
      const int b = warp;
      float mx = -INFINITY;
      for (int i = lane; i < nc; i += 32) mx = fmaxf(mx, sc[b][i]);
      for (int w = 16; w > 0; w >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, w));
      const float m_old = m_s[b], m_new = fmaxf(m_old, mx);
      float sum = 0.0f;
      for (int i = lane; i < nc; i += 32) {
        const float p = expf(sc[b][i] - m_new);
        sc[b][i] = p;
        sum += p;
      }
      sum = warp_sum(sum);
      __syncwarp();
      if (lane == 0) {
        const float corr = m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
        l_s[b] = l_s[b] * corr + sum;
        m_s[b] = m_new;
        corr_s[b] = corr;
      }
    }
    __syncthreads();
    if (c0 != begin) {
#pragma unroll
      for (int b = 0; b < Q; ++b) {
        const float corr = corr_s[b];
        o[b].x *= corr;
        o[b].y *= corr;
        o[b].z *= corr;
        o[b].w *= corr;
      }
    }
    if (f < n4) {
#pragma unroll 4
      for (int i = g; i < nc; i += 2 * kWarps) {
        const float4 vv = value_group(vh + static_cast<size_t>(c0 + i) * ldv, f);
#pragma unroll
        for (int b = 0; b < Q; ++b) {
          const float p = sc[b][i];
          o[b].x = fmaf(p, vv.x, o[b].x);
          o[b].y = fmaf(p, vv.y, o[b].y);
          o[b].z = fmaf(p, vv.z, o[b].z);
          o[b].w = fmaf(p, vv.w, o[b].w);
        }
      }
    }
  }
  // The warp's two half-warps together, then the block's warps in order.
#pragma unroll
  for (int b = 0; b < Q; ++b) {
    o[b].x += __shfl_xor_sync(0xffffffffu, o[b].x, 16);
    o[b].y += __shfl_xor_sync(0xffffffffu, o[b].y, 16);
    o[b].z += __shfl_xor_sync(0xffffffffu, o[b].z, 16);
    o[b].w += __shfl_xor_sync(0xffffffffu, o[b].w, 16);
    if (lane < 16) wsum[warp][b][f] = o[b];
  }
  __syncthreads();
  for (int i = tid; i < Q * dh; i += blockDim.x) {
    const int b = i / dh, t = i % dh;
    float acc = 0.0f;
    for (int w = 0; w < kWarps; ++w) acc += reinterpret_cast<const float*>(&wsum[w][b][0])[t];
    part[b][t] = acc;
  }
  if (tid < Q) {
    part[tid][dh] = m_s[tid];
    part[tid][dh + 1] = l_s[tid];
  }
  cluster.sync();  // every block's parts are written
  if (kEveryRank || rank == 0) merge_cluster_parts<kCtas, Q>(&part[0][0], kMaxSharedDh + 2, dh, out_h, ldo);
  cluster.sync();  // no block leaves while rank 0 (kEveryRank: any block) still reads its shared memory
}

// Before waiting for the previous kernel: the block's first keys into kr, and asks L2 for its values and any keys
// past the first round.
template <class KV>
__device__ __forceinline__ void preload_block_keys(KeyRow<KV>& kr, const KV* k, const KV* v, int ldk, int ldv, int h,
                                                   int dh, int begin, int end) {
  kr.load(k + h * dh, ldk, begin + threadIdx.x, end, dh / 4);
  if (c_prefetch_rows == 0) return;
  const int first = min(end, begin + kScoreKeys);  // this round's keys are loaded above
  prefetch_head_rows(k, v, ldk, ldv, h, dh, first, end);
  prefetch_head_lines(v, ldv, h, dh, begin, first);
}
#endif

template <int Q, class KV>
__global__ void __launch_bounds__(32 * kWarps, 2) shared_kv_attention_kernel(const float* q, int ldq, const KV* k,
                                                                           const KV* v, int ldk, int ldv,
                                                                           int n_keys, int dh, float scale,
                                                                           float* out, int ldo, bool kv_fixed) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const int h = blockIdx.x / kCtas;
  int begin, end;
  block_keys(n_keys, static_cast<int>(cooperative_groups::this_cluster().block_rank()), &begin, &end);
  KeyRow<KV> kr;
  if (kv_fixed) preload_block_keys(kr, k, v, ldk, ldv, h, dh, begin, end);
  wait_for_previous_kernel();
  let_next_kernel_start();
  attend_scores_first<Q>(q + h * dh, ldq, k, v, ldk, ldv, h, dh, scale, begin, end, kv_fixed, kr, out + h * dh, ldo);
#endif
}

// Row x [1, d] layer-normed (gamma, beta) into this block's shared memory, as half_linear.cu's kernel does with
// 256 threads (the same sums in the same order). d <= kMaxQueryWidth. `staged`, `staged_w` and `later` as
// take_norm_weights (row_products.cuh) takes them: staged_w is 2 d floats of the launch's dynamic shared memory
// (norm_weights_slice), filled by prepare_norm_weights before the wait. `folded` (the norm folded into the weights,
// CudaBackend::NormFold): the raw row, each warp then takes its statistics (folded_stats).
constexpr int kHeldQ = 8;
constexpr int kMaxQueryWidth = 32 * 8 * kHeldQ;
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
__device__ __forceinline__ const float* normed_row(const float* x, int ldx, int d, const float* gamma,
                                                   const float* beta, bool staged, const float* staged_w, int later,
                                                   bool folded) {
  __shared__ float4 xs_raw[kMaxQueryWidth / 4];
  __shared__ float red[64];
  float* xs = reinterpret_cast<float*>(xs_raw);
  load_rows<1>(x, ldx, d, xs);
  __syncthreads();
  if (folded) return xs;
  take_norm_weights(staged, staged_w, d, later, &gamma, &beta);
  norm_rows<1>(xs, d, gamma, beta, red);
  __syncthreads();
  return xs;
}

// A folded product's value from its raw sum a (half_linear.cu's kNormFolded): r (a - m s) + b', the row's mean m
// and 1 / std r by this warp (row_stats_by_warp), s the weights' row sum; a + b' where not folded.
struct FoldedStats {
  float mean = 0.0f, rstd = 1.0f;
};
__device__ __forceinline__ FoldedStats folded_stats(const float* xs, int d, bool folded) {
  FoldedStats f;
  if (folded) row_stats_by_warp(xs, d, threadIdx.x % 32, &f.mean, &f.rstd);
  return f;
}
__device__ __forceinline__ float folded_value(float a, float bias, float row_sum, const FoldedStats& f, bool folded) {
  return folded ? folded_norm_value(a, f.mean, f.rstd, row_sum, bias) : a + bias;
}

// Lane 0 of warp w of the cluster's block r holds value = the head's query at r * kWarps + w: gathered into this
// block's shared memory (the head's kCtas * kWarps values) through a cluster barrier (release / acquire at cluster
// scope: whatever the cluster's threads wrote before it is visible after it).
__device__ __forceinline__ const float* gather_head_query(float value) {
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  __shared__ float q_mine[kWarps];
  __shared__ float qh[kCtas * kWarps];
  if (threadIdx.x % 32 == 0) q_mine[threadIdx.x / 32] = value;
  cluster.sync();
  if (threadIdx.x < kCtas * kWarps)
    qh[threadIdx.x] = cluster.map_shared_rank(q_mine, threadIdx.x / kWarps)[threadIdx.x % kWarps];
  __syncthreads();
  return qh;
}
#endif

// The output product folded into the attention's kernel (CudaBackend::set_fused_out): x [1, d] += out wo^T + bo
// without a kernel of its own (run 67's chain probe: ~4.4 us a product, almost all of it the kernel boundary). Block
// `rank` of head h's cluster owns rows [rank d / kCtas, (rank + 1) d / kCtas) of wo: it copies their 64 columns of
// head h into shared memory before waiting for the previous kernel, multiplies them by the head's output (merged in
// every block) and writes head h's partial sums of its rows as float32 (partials [n_head, d]). The last of the
// n_head blocks of a rank to finish (a counter a rank, counters[rank], which wraps back to zero at that block) adds the
// partials in head order, then the bias, onto its rows of x: the same bits whatever order the blocks ran in. Each
// block has read x (normed_row) before its cluster's barrier in gather_head_query, so when every cluster's block of
// a rank has arrived no block still reads x. Measured slower than the product kernel it replaces (run 73: ~0.6 us a
// fold; the tail's GPU-wide fence and counter cost more than the chained boundary did), so off by default.
struct FoldOut {
  const float* bo;     // [d] or null
  float* x;            // [1, d], updated in place
  float* partials;     // [n_head, d]
  unsigned* counters;  // [kCtas], zero before and after every launch
};
// Dynamic shared memory of a folding launch: its blocks' rows of wo, 64 values of 2 bytes a row.
__host__ __device__ inline size_t fold_bytes(int d) { return static_cast<size_t>(d / kCtas) * 64 * 2; }
// Then, staged (CudaBackend::set_norm_staged), the norm's gains and biases: 2 d floats, for rows up to 1280 wide
// (Whisper's widest): with the fold's 20 KB and the kernels' own 13-15 KB, 43 KB, under the 48 KB a launch gets
// without asking for more. Wider rows are not staged.
constexpr int kMaxStagedNorm = 1280;
inline bool stages_norm(int d, bool staged) { return staged && d <= kMaxStagedNorm; }
inline size_t staged_norm_bytes(int d, bool staged) { return stages_norm(d, staged) ? 2 * sizeof(float) * d : 0; }

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
// The block's rows of wo for fold_output: the launch's dynamic shared memory, sized for the model (fold_bytes: 6 KB
// in tiny, 20 KB in large-v3; a static array for the widest would take 32 KB from every model's L1).
__device__ __forceinline__ uint4* fold_slice() {
  extern __shared__ uint4 fold_dynamic[];
  return fold_dynamic;
}
template <bool kFold>
__device__ __forceinline__ float* norm_weights_slice(int d) {
  return reinterpret_cast<float*>(fold_slice()) + (kFold ? fold_bytes(d) / sizeof(float) : 0);
}

// Before the wait: this block's rows of wo, head h's 64 columns (8 16-byte pieces a row), into wo_s by cp.async.
template <class T>
__device__ __forceinline__ void fold_preload(uint4* wo_s, const T* wo, int d, int h, int rank) {
  const int rows = d / kCtas, j0 = rank * rows;
  for (int i = threadIdx.x; i < rows * 8; i += blockDim.x)
    __pipeline_memcpy_async(wo_s + i, wo + static_cast<size_t>(j0 + i / 8) * d + h * 64 + (i % 8) * 8, 16);
  __pipeline_commit();
}

// After the attention: oh [64] (shared, this block's merge of the head's output) times wo_s into head h's partials,
// then, in the rank's last block, the partials and the bias onto x.
template <class T>
__device__ __forceinline__ void fold_output(const float* oh, const uint4* wo_s, const FoldOut& f, int d, int n_head,
                                            int h, int rank, float bias) {
  const int rows = d / kCtas, j0 = rank * rows;
  const int tid = threadIdx.x, grp = tid / 8, sub = tid % 8;
  __pipeline_wait_prior(0);
  __syncthreads();  // each thread waited for its own copies; the barrier for every other thread's
  // Eight lanes a row (8 of its 64 products each), folded by shuffles in a fixed order.
  for (int r0 = 0; r0 < rows; r0 += blockDim.x / 8) {
    const int r = r0 + grp;
    float acc[1] = {};
    if (r < rows) accumulate8<T, 1>(wo_s[r * 8 + sub], oh, 64, sub, acc);
    float a = acc[0];
    a += __shfl_xor_sync(0xffffffffu, a, 4);
    a += __shfl_xor_sync(0xffffffffu, a, 2);
    a += __shfl_xor_sync(0xffffffffu, a, 1);
    if (r < rows && sub == 0) f.partials[static_cast<size_t>(h) * d + j0 + r] = a;
  }
  __shared__ unsigned ticket;
  __syncthreads();  // the block's partials are written
  if (tid == 0) {
    __threadfence();  // ... and visible to the GPU before the count says so
    // Counts 0 .. n_head - 1, and the last arrival's increment wraps it back to 0 for the next launch.
    ticket = atomicInc(f.counters + rank, static_cast<unsigned>(n_head - 1));
    __threadfence();  // (the last block) every other head's partials of these rows are visible after the barrier
  }
  __syncthreads();
  if (ticket != static_cast<unsigned>(n_head - 1)) return;
  constexpr int kAtOnce = 16;
  for (int r = tid; r < rows; r += blockDim.x) {
    const int j = j0 + r;
    const float xj = __ldcg(f.x + j);
    float sum = 0.0f;
    for (int g0 = 0; g0 < n_head; g0 += kAtOnce) {
      float p[kAtOnce];
#pragma unroll
      for (int u = 0; u < kAtOnce; ++u)
        p[u] = g0 + u < n_head ? __ldcg(f.partials + static_cast<size_t>(g0 + u) * d + j) : 0.0f;
#pragma unroll
      for (int u = 0; u < kAtOnce; ++u)
        if (g0 + u < n_head) sum += p[u];
    }
    // (a row's bias was read before the wait by thread r: rows <= blockDim.x)
    f.x[j] = xj + (sum + bias);
  }
}
#endif

// The decoder's cross-attention for one row with its query product in the same kernel (what linear_fused with the
// layer norm and then the scores-first attention do in two): every warp of a head's cluster (8 blocks x 8 warps = the
// head's 64 query values) computes one value of q = norm(x) wq^T + bq as half_linear.cu's kernel does (its weights
// held in registers, and the block's first keys loaded, before waiting for the previous kernel), the blocks gather
// the head's 64 values through distributed shared memory, then attend as shared_kv_attention_kernel does for one row.
// Same arithmetic in the same order as the two kernels, over the K/V's float16 shadow (CudaBackend::set_half_cross_kv:
// over the float32 K/V this kernel took 128 registers and spilled). Heads 64 wide, d <= kMaxQueryWidth.
template <class T, bool kFold>
__global__ void __launch_bounds__(32 * kWarps, 2) cross_query_attention_kernel(
    const float* x, int ldx, const float* gamma, const float* beta, const T* wq, const float* bq, int d,
    const __half* k, const __half* v, int ldk, int ldv, int n_keys, float scale, float* out, const T* wo,
    FoldOut fold, const float* row_sums, bool staged) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int dh = kCtas * kWarps;
  const int h = blockIdx.x / kCtas, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int rank = static_cast<int>(cooperative_groups::this_cluster().block_rank());
  const int j = h * dh + rank * kWarps + warp;  // this warp's row of wq
  const int k8 = d / 8;
  const uint4* w8 = reinterpret_cast<const uint4*>(wq + static_cast<size_t>(j) * d);
  uint4 held[kHeldQ];
#pragma unroll
  for (int u = 0; u < kHeldQ; ++u)
    if (lane + 32 * u < k8) held[u] = __ldg(w8 + lane + 32 * u);
  int begin, end;
  block_keys(n_keys, rank, &begin, &end);
  KeyRow<__half> kr;
  preload_block_keys(kr, k, v, ldk, ldv, h, dh, begin, end);
  // The bias and the norm's gains are weights too: read (or asked into L2) before waiting, not after the sums.
  const float bias = bq ? __ldg(bq + j) : 0.0f;
  // Folded (row_sums: CudaBackend::NormFold; gamma and beta then null, staged false), the weights' row sum instead.
  const bool folded = row_sums != nullptr;
  const float row_sum = folded ? __ldg(row_sums + j) : 0.0f;
  prepare_norm_weights(gamma, beta, d, staged, norm_weights_slice<kFold>(d));
  float out_bias = 0.0f;
  if constexpr (kFold) {
    fold_preload(fold_slice(), wo, d, h, rank);
    if (fold.bo && static_cast<int>(threadIdx.x) < d / kCtas) out_bias = __ldg(fold.bo + rank * (d / kCtas) + threadIdx.x);
  }
  wait_for_previous_kernel();
  let_next_kernel_start();
  const float* xs =
      normed_row(x, ldx, d, gamma, beta, staged, norm_weights_slice<kFold>(d), kFold ? 1 : 0, folded);
  const FoldedStats stats = folded_stats(xs, d, folded);
  chain_probe_mark(1);  // (a probe build's phases: 1 x normed, 2 the query value, 3 the head's query, 4 attended)
  float acc[1] = {};
#pragma unroll
  for (int u = 0; u < kHeldQ; ++u)
    if (lane + 32 * u < k8) accumulate8<T, 1>(held[u], xs, d, lane + 32 * u, acc);
  float a = acc[0];
  for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
  chain_probe_mark(2);
  const float* qh = gather_head_query(folded_value(a, bias, row_sum, stats, folded));
  chain_probe_mark(3);
  if constexpr (kFold) {
    __shared__ float4 oh[dh / 4];
    attend_scores_first<1, __half, true>(qh, 0, k, v, ldk, ldv, h, dh, scale, begin, end, true, kr,
                                         reinterpret_cast<float*>(oh), 0);
    fold_output<T>(reinterpret_cast<const float*>(oh), fold_slice(), fold, d, gridDim.x / kCtas, h, rank, out_bias);
  } else {
    attend_scores_first<1>(qh, 0, k, v, ldk, ldv, h, dh, scale, begin, end, true, kr, out + h * dh, 0);
  }
  chain_probe_mark(4);
#endif
}

// A recorded step's self-attention with its q|k|v product in the same kernel (what linear_fused_kv_at and
// attention_at do in two): every warp of head h's cluster computes one of the head's 64 query values and the key and
// value at the same place (rows j, d + j, 2d + j of wqkv), as half_linear.cu's kernel does, writes the key and value
// into row `position` of the caches, and the cluster then attends over rows 0 .. position. The caches' new row is
// written by the cluster's own blocks before the cluster barrier (release / acquire at cluster scope) that every
// block waits at before reading keys.
// A measuring build may cap its registers (nvcc -DWST_SELF_ATTENTION_REGS=N): at 124 a block takes 32K of an SM's 64K,
// more than fc2's blocks leave before they end, so most of its blocks cannot start (and load their weights) early.
#ifdef WST_SELF_ATTENTION_REGS
#define WST_SELF_ATTENTION_BOUNDS __maxnreg__(WST_SELF_ATTENTION_REGS)
#else
#define WST_SELF_ATTENTION_BOUNDS __launch_bounds__(32 * kWarps)
#endif
template <class T, bool kFold>
__global__ void WST_SELF_ATTENTION_BOUNDS self_query_attention_kernel(
    const float* x, int ldx, const float* gamma, const float* beta, const T* wqkv, const float* bqkv, int d,
    float* k_cache, float* v_cache, int ldc, const StepState* st, float scale, float* out, const T* wo,
    FoldOut fold, const float* row_sums, bool staged) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int kHeldSelf = 5;  // 16-byte weight loads held a row (three rows a warp): rows up to 1280 wide in full
  constexpr int dh = kCtas * kWarps;
  const int h = blockIdx.x / kCtas, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int rank = static_cast<int>(cooperative_groups::this_cluster().block_rank());
  const int i = h * dh + rank * kWarps + warp;  // this warp's column of the head: rows i, d + i, 2d + i of wqkv
  const int k8 = d / 8;
  uint4 held[3][kHeldSelf];
#pragma unroll
  for (int part = 0; part < 3; ++part) {
    const uint4* w8 = reinterpret_cast<const uint4*>(wqkv + static_cast<size_t>(part * d + i) * d);
#pragma unroll
    for (int u = 0; u < kHeldSelf; ++u)
      if (lane + 32 * u < k8) held[part][u] = __ldg(w8 + lane + 32 * u);
  }
  // The biases and the norm's gains are weights too: read (or asked into L2) before waiting, not after the sums.
  float bias[3];
#pragma unroll
  for (int part = 0; part < 3; ++part) bias[part] = bqkv ? __ldg(bqkv + part * d + i) : 0.0f;
  // Folded (row_sums: CudaBackend::NormFold; gamma and beta then null, staged false), the weights' row sums too.
  const bool folded = row_sums != nullptr;
  float row_sum[3];
#pragma unroll
  for (int part = 0; part < 3; ++part) row_sum[part] = folded ? __ldg(row_sums + part * d + i) : 0.0f;
  prepare_norm_weights(gamma, beta, d, staged, norm_weights_slice<kFold>(d));
  // So are the block's keys and values before `position`, written by earlier steps (the kernel before this one writes
  // no cache; the step's state was copied before the step's first kernel): asked into L2 now, the attention below
  // finds them there instead of in memory (the step's weights evict them between tokens).
  const int position = __ldcg(&st->position);  // written by the step's first graph node, never by a kernel
  int begin, end;
  block_keys(position + 1, rank, &begin, &end);
  prefetch_block_rows(k_cache, v_cache, ldc, ldc, h, dh, begin, min(end, position));
  float out_bias = 0.0f;
  if constexpr (kFold) {
    fold_preload(fold_slice(), wo, d, h, rank);
    if (fold.bo && static_cast<int>(threadIdx.x) < d / kCtas) out_bias = __ldg(fold.bo + rank * (d / kCtas) + threadIdx.x);
  }
  wait_for_previous_kernel();
  let_next_kernel_start();
  const float* xs =
      normed_row(x, ldx, d, gamma, beta, staged, norm_weights_slice<kFold>(d), kFold ? 1 : 0, folded);
  const FoldedStats stats = folded_stats(xs, d, folded);
  chain_probe_mark(1);  // (a probe build's phases: 1 x normed, 2 q, k, v and the caches' row, 3 the head's query,
                        // 4 attended)
  float value[3];
#pragma unroll
  for (int part = 0; part < 3; ++part) {
    const uint4* w8 = reinterpret_cast<const uint4*>(wqkv + static_cast<size_t>(part * d + i) * d);
    float acc[1] = {};
#pragma unroll
    for (int u = 0; u < kHeldSelf; ++u)
      if (lane + 32 * u < k8) accumulate8<T, 1>(held[part][u], xs, d, lane + 32 * u, acc);
    for (int c = lane + 32 * kHeldSelf; c < k8; c += 32) accumulate8<T, 1>(__ldg(w8 + c), xs, d, c, acc);
    float a = acc[0];
    for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    value[part] = folded_value(a, bias[part], row_sum[part], stats, folded);
  }
  if (lane == 0) {
    k_cache[static_cast<size_t>(position) * ldc + i] = value[1];
    v_cache[static_cast<size_t>(position) * ldc + i] = value[2];
  }
  chain_probe_mark(2);
  // The cluster barrier inside also makes the caches' new row (written above) visible to the cluster's blocks.
  const float* qh = gather_head_query(value[0]);
  chain_probe_mark(3);
  KeyRegs r;
  if constexpr (kFold) {
    __shared__ float4 oh[dh / 4];
    attend_head<kCtas, true>(qh, k_cache, v_cache, ldc, ldc, h, dh, scale, begin, end, false, r,
                             reinterpret_cast<float*>(oh));
    fold_output<T>(reinterpret_cast<const float*>(oh), fold_slice(), fold, d, gridDim.x / kCtas, h, rank, out_bias);
  } else {
    attend_head(qh, k_cache, v_cache, ldc, ldc, h, dh, scale, begin, end, false, r, out + h * dh);
  }
  chain_probe_mark(4);
#endif
}

}  // namespace

void set_attention_row_prefetch(bool on, cudaStream_t stream) {
  const int v = on ? 1 : 0;
  WST_CUDA_CHECK(cudaMemcpyToSymbolAsync(c_prefetch_rows, &v, sizeof v, 0, cudaMemcpyHostToDevice, stream));
}

bool sm90_code_runs() {
  cudaFuncAttributes a{};
  if (cudaFuncGetAttributes(&a, cluster_attention_kernel<kCtas>) != cudaSuccess) {
    cudaGetLastError();  // clear it: the backend then keeps to the pre-sm_90 paths
    return false;
  }
  // Both: a build holding only compute_80 PTX is compiled for the device when loaded (binaryVersion 90), but from
  // code in which __CUDA_ARCH__ was 800, so the sm_90 bodies are empty.
  return a.binaryVersion >= 90 && a.ptxVersion >= 90;
}

bool cross_query_attention_fits(int d, int n_head) {
  return n_head > 0 && d == n_head * kCtas * kWarps && d % 8 == 0 && d <= kMaxQueryWidth;
}

template <class T>
void cross_query_attention(bool chained, cudaStream_t stream, const float* x, int ldx, const float* gamma,
                           const float* beta, const T* wq, const float* bq, int d, int n_head, const __half* k,
                           const __half* v, int ldk, int ldv, int n_keys, float* out, const FoldedOutput<T>* fold,
                           bool staged_norm, const float* row_sums) {
  if (row_sums) staged_norm = false;  // folded: no gains to stage
  if (!cross_query_attention_fits(d, n_head) || !shared_kv_attention_fits(1, d / n_head, k, v, ldk, ldv) || n_keys < 1)
    throw Error("cross_query_attention: width " + std::to_string(d) + ", " + std::to_string(n_head) + " heads, " +
                std::to_string(n_keys) + " keys");
  const float scale = 1.0f / std::sqrt(static_cast<float>(kCtas * kWarps));
  const size_t staged_bytes = staged_norm_bytes(d, staged_norm);
  staged_norm = stages_norm(d, staged_norm);
  if (fold) {
    constexpr auto kernel = cross_query_attention_kernel<T, true>;
    return launch_cluster_kernel(chained, kCtas, kernel, dim3(n_head * kCtas), dim3(32 * kWarps),
                                 fold_bytes(d) + staged_bytes, stream, x, ldx, gamma, beta, wq, bq, d, k, v, ldk, ldv,
                                 n_keys, scale, out, fold->wo, FoldOut{fold->bo, fold->x, fold->partials, fold->counters},
                                 row_sums, staged_norm);
  }
  constexpr auto kernel = cross_query_attention_kernel<T, false>;
  launch_cluster_kernel(chained, kCtas, kernel, dim3(n_head * kCtas), dim3(32 * kWarps), staged_bytes, stream, x, ldx,
                        gamma, beta, wq, bq, d, k, v, ldk, ldv, n_keys, scale, out, static_cast<const T*>(nullptr),
                        FoldOut{}, row_sums, staged_norm);
}
template void cross_query_attention<__half>(bool, cudaStream_t, const float*, int, const float*, const float*,
                                            const __half*, const float*, int, int, const __half*, const __half*, int,
                                            int, int, float*, const FoldedOutput<__half>*, bool, const float*);
template void cross_query_attention<__nv_bfloat16>(bool, cudaStream_t, const float*, int, const float*, const float*,
                                                   const __nv_bfloat16*, const float*, int, int, const __half*,
                                                   const __half*, int, int, int, float*,
                                                   const FoldedOutput<__nv_bfloat16>*, bool, const float*);

template <class T>
void self_query_attention(bool chained, cudaStream_t stream, const float* x, int ldx, const float* gamma,
                          const float* beta, const T* wqkv, const float* bqkv, int d, int n_head, float* k_cache,
                          float* v_cache, int ldc, const StepState* st, float* out, const FoldedOutput<T>* fold,
                          bool staged_norm, const float* row_sums) {
  if (row_sums) staged_norm = false;  // folded: no gains to stage
  if (!cross_query_attention_fits(d, n_head))
    throw Error("self_query_attention: width " + std::to_string(d) + ", " + std::to_string(n_head) + " heads");
  const float scale = 1.0f / std::sqrt(static_cast<float>(kCtas * kWarps));
  const size_t staged_bytes = staged_norm_bytes(d, staged_norm);
  staged_norm = stages_norm(d, staged_norm);
  if (fold) {
    constexpr auto kernel = self_query_attention_kernel<T, true>;
    return launch_cluster_kernel(chained, kCtas, kernel, dim3(n_head * kCtas), dim3(32 * kWarps),
                                 fold_bytes(d) + staged_bytes, stream, x, ldx, gamma, beta, wqkv, bqkv, d, k_cache,
                                 v_cache, ldc, st, scale, out, fold->wo,
                                 FoldOut{fold->bo, fold->x, fold->partials, fold->counters}, row_sums, staged_norm);
  }
  constexpr auto kernel = self_query_attention_kernel<T, false>;
  launch_cluster_kernel(chained, kCtas, kernel, dim3(n_head * kCtas), dim3(32 * kWarps), staged_bytes, stream, x, ldx,
                        gamma, beta, wqkv, bqkv, d, k_cache, v_cache, ldc, st, scale, out,
                        static_cast<const T*>(nullptr), FoldOut{}, row_sums, staged_norm);
}
template void self_query_attention<__half>(bool, cudaStream_t, const float*, int, const float*, const float*,
                                           const __half*, const float*, int, int, float*, float*, int,
                                           const StepState*, float*, const FoldedOutput<__half>*, bool, const float*);
template void self_query_attention<__nv_bfloat16>(bool, cudaStream_t, const float*, int, const float*, const float*,
                                                  const __nv_bfloat16*, const float*, int, int, float*, float*, int,
                                                  const StepState*, float*, const FoldedOutput<__nv_bfloat16>*,
                                                  bool, const float*);

void cluster_attention(bool chained, cudaStream_t stream, const float* q, int ldq, const AttentionRows& rows, int n_rows,
                       int ldk, int ldv, int n_head, int dh, float scale, float* out, int ldo, const StepState* st,
                       bool kv_fixed, bool one_block, const LayerCaches* caches) {
  if (n_rows < 1 || n_rows > kMaxAttentionRows) throw Error("cluster_attention: " + std::to_string(n_rows) + " rows");
  if (one_block)
    return launch_cluster_kernel(chained, 1, cluster_attention_kernel<1>, dim3(n_rows * n_head), dim3(32 * kWarps), 0,
                                 stream, q, ldq, rows, ldk, ldv, n_head, dh, scale, out, ldo, st, kv_fixed, caches);
  launch_cluster_kernel(chained, kCtas, cluster_attention_kernel<kCtas>, dim3(n_rows * n_head * kCtas),
                        dim3(32 * kWarps), 0, stream, q, ldq, rows, ldk, ldv, n_head, dh, scale, out, ldo, st, kv_fixed,
                        caches);
}

namespace {
// Heads up to 64 wide in whole 16-byte loads (4 float values, 8 float16), K and V 16-byte aligned.
template <class KV>
bool kv_fits(int n_rows, int dh, const KV* k, const KV* v, int ldk, int ldv) {
  const uintptr_t row_bytes = sizeof(KV);
  const auto misaligned = (reinterpret_cast<uintptr_t>(k) | reinterpret_cast<uintptr_t>(v) | ldk * row_bytes |
                           ldv * row_bytes) & 15;
  return n_rows >= 1 && n_rows <= kMaxSharedKvRows && dh <= kMaxSharedDh && dh % (16 / sizeof(KV)) == 0 &&
         misaligned == 0;
}

template <class KV>
void launch_shared_kv(bool chained, cudaStream_t stream, const float* q, int ldq, int n_rows, const KV* k,
                      const KV* v, int ldk, int ldv, int n_keys, int n_head, int dh, float scale, float* out, int ldo,
                      bool kv_fixed) {
  if (!kv_fits(n_rows, dh, k, v, ldk, ldv) || n_keys < 1 || n_head < 1)
    throw Error("shared_kv_attention: " + std::to_string(n_rows) + " rows, heads " + std::to_string(dh) + " wide, " +
                std::to_string(n_keys) + " keys");
  const dim3 grid(n_head * kCtas), block(32 * kWarps);
  switch (n_rows) {
#define WST_SHARED_KV_CASE(Q)                                                                                        \
  case Q:                                                                                                            \
    return launch_cluster_kernel(chained, kCtas, shared_kv_attention_kernel<Q, KV>, grid, block, 0, stream, q, ldq,  \
                                 k, v, ldk, ldv, n_keys, dh, scale, out, ldo, kv_fixed);
    WST_SHARED_KV_CASE(1)
    WST_SHARED_KV_CASE(2)
    WST_SHARED_KV_CASE(3)
    WST_SHARED_KV_CASE(4)
    WST_SHARED_KV_CASE(5)
    WST_SHARED_KV_CASE(6)
    WST_SHARED_KV_CASE(7)
    WST_SHARED_KV_CASE(8)
#undef WST_SHARED_KV_CASE
  }
}
}  // namespace

bool shared_kv_attention_fits(int n_rows, int dh, const float* k, const float* v, int ldk, int ldv) {
  return kv_fits(n_rows, dh, k, v, ldk, ldv);
}
bool shared_kv_attention_fits(int n_rows, int dh, const __half* k, const __half* v, int ldk, int ldv) {
  return kv_fits(n_rows, dh, k, v, ldk, ldv);
}

void shared_kv_attention(bool chained, cudaStream_t stream, const float* q, int ldq, int n_rows, const float* k,
                         const float* v, int ldk, int ldv, int n_keys, int n_head, int dh, float scale, float* out,
                         int ldo, bool kv_fixed) {
  launch_shared_kv(chained, stream, q, ldq, n_rows, k, v, ldk, ldv, n_keys, n_head, dh, scale, out, ldo, kv_fixed);
}
void shared_kv_attention(bool chained, cudaStream_t stream, const float* q, int ldq, int n_rows, const __half* k,
                         const __half* v, int ldk, int ldv, int n_keys, int n_head, int dh, float scale, float* out,
                         int ldo, bool kv_fixed) {
  launch_shared_kv(chained, stream, q, ldq, n_rows, k, v, ldk, ldv, n_keys, n_head, dh, scale, out, ldo, kv_fixed);
}

namespace {
// Row b of qkv [n, 3d]: its k and v into cache rows rows.k[b], rows.v[b] (the positions' rows, as pointers).
struct CacheRows {
  float* k[kMaxAttentionRows];
  float* v[kMaxAttentionRows];
};
// Row b's k and v thirds of qkv into k, v (after waiting for the kernel before, which wrote qkv).
__device__ __forceinline__ void write_kv_row(const float* qkv, int ldq, int d, int b, float* k, float* v) {
  wait_for_previous_kernel();
  let_next_kernel_start();
  const float* src = qkv + static_cast<size_t>(b) * ldq;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    k[c] = src[d + c];
    v[c] = src[2 * d + c];
  }
}
__global__ void write_kv_rows_kernel(const float* qkv, int ldq, int d, const __grid_constant__ CacheRows rows) {
  write_kv_row(qkv, ldq, d, blockIdx.x, rows.k[blockIdx.x], rows.v[blockIdx.x]);
}
// The same for a recorded beam step: row b's k and v into row st[b].position of caches->k[b], caches->v[b].
__global__ void write_kv_rows_at_kernel(const float* qkv, int ldq, int d, const LayerCaches* caches, int ldk, int ldv,
                                        const StepState* st) {
  const int b = blockIdx.x;
  const size_t p = static_cast<size_t>(st[b].position);  // the state: written by the recording's first node alone
  write_kv_row(qkv, ldq, d, b, caches->k[b] + p * ldk, caches->v[b] + p * ldv);
}
}  // namespace

void CudaBackend::step_self_attention_at(int layer, const Mat& qkv, Mat& out, int n_head) {
  if (!recording_ || !recording_rows_) throw Error("step_self_attention_at: only while a beam step is recorded");
  const int n = qkv.rows, d = out.cols;
  if (n != rows_n_ || out.rows != n || qkv.cols != 3 * d || layer < 0 || layer >= rows_layers_ || n_head < 1 ||
      d % n_head != 0 || d / n_head > 128)
    throw Error("step_self_attention_at: qkv [" + std::to_string(qkv.rows) + ", " + std::to_string(qkv.cols) +
                "], layer " + std::to_string(layer) + " do not fit the step set (" + std::to_string(rows_n_) +
                " rows, " + std::to_string(rows_layers_) + " layers)");
  const int dh = d / n_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  const LayerCaches* caches = rows_caches(layer);
  const StepState* st = rows_states();
  launch_kernel(chained_, write_kv_rows_at_kernel, dim3(n), dim3(256), 0, stream_, static_cast<const float*>(qkv.data),
                qkv.ld, d, caches, rows_ldk_, rows_ldv_, st);
  const bool one_block = rows_kind_ == 1;
  small_self_launches_ += one_block;
  cluster_attention(chained_, stream_, qkv.data, qkv.ld, AttentionRows{}, n, rows_ldk_, rows_ldv_, n_head, dh, scale,
                    out.data, out.ld, st, false, one_block, caches);
}

void CudaBackend::step_self_attention(const Mat& qkv, const std::vector<Mat*>& k_caches,
                                      const std::vector<Mat*>& v_caches, const std::vector<int>& positions, Mat& out,
                                      int n_head) {
  const int n = qkv.rows, d = out.cols;
  bool fits = sm90_ && clusters_ && n >= 1 && static_cast<int>(k_caches.size()) == n &&
              static_cast<int>(v_caches.size()) == n && static_cast<int>(positions.size()) == n && out.rows == n &&
              qkv.cols == 3 * d && n_head > 0 && d % n_head == 0 && d / n_head <= 128;
  for (int b = 0; fits && b < n; ++b)
    fits = k_caches[b]->cols == d && v_caches[b]->cols == d && k_caches[b]->ld == k_caches[0]->ld &&
           v_caches[b]->ld == v_caches[0]->ld && positions[b] >= 0 && positions[b] < k_caches[b]->rows &&
           positions[b] < v_caches[b]->rows;
  if (!fits) return Backend::step_self_attention(qkv, k_caches, v_caches, positions, out, n_head);
  const int dh = d / n_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  for (int b0 = 0; b0 < n; b0 += kMaxAttentionRows) {
    const int m = std::min(kMaxAttentionRows, n - b0);
    CacheRows dst{};
    AttentionRows rows{};
    for (int i = 0; i < m; ++i) {
      const int b = b0 + i;
      dst.k[i] = k_caches[b]->data + static_cast<size_t>(positions[b]) * k_caches[b]->ld;
      dst.v[i] = v_caches[b]->data + static_cast<size_t>(positions[b]) * v_caches[b]->ld;
      rows.k[i] = k_caches[b]->data;
      rows.v[i] = v_caches[b]->data;
      rows.n_visible[i] = positions[b] + 1;
    }
    const float* src = qkv.data + static_cast<size_t>(b0) * qkv.ld;
    launch_kernel(chained_, write_kv_rows_kernel, dim3(m), dim3(256), 0, stream_, src, qkv.ld, d, dst);
    bool one_block = small_self_;
    for (int i = 0; one_block && i < m; ++i) one_block = rows.n_visible[i] <= kSmallSelfKeys;
    small_self_launches_ += one_block;
    cluster_attention(chained_, stream_, src, qkv.ld, rows, m, k_caches[0]->ld, v_caches[0]->ld, n_head, dh, scale,
                      out.data + static_cast<size_t>(b0) * out.ld, out.ld, nullptr, false, one_block);
  }
}

}  // namespace wst::engine::cuda
