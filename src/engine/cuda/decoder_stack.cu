// A recorded greedy step's decoder layers in one persistent kernel (Backend::decoder_layers_at; an experiment, off
// unless WST_CUDA_PERSISTENT_DECODER=1 or set_persistent_decoder(true), until timed on the GPU).
//
// Why: the step as ~6 kernels a layer spends ~66 us a large-v3 layer while its bytes (46 MB of float16 weights,
// 15 MB of cross-attention K/V) take ~14 us at the card's bandwidth: each kernel mostly waits for the one before to
// drain and then for its own first loads. Here one block an SM (a cooperative launch, so all are resident at once)
// runs every layer; the phases of a layer are separated by a grid-wide barrier instead of a kernel boundary, and
// each block asks L2 for its share of the next product's weights (and of the cross-attention K/V) one phase early,
// so that memory keeps streaming while the blocks wait at the barriers.
//
// A layer, each line a phase, each phase ended by a grid barrier:
//   1. h = LN1(x); q | k | v = h Wqkv^T + b   (k, v into row `position` of the caches)
//   2. self-attention partial sums: head h's keys cut into `chunks` parts, a block a part
//   3. the parts merged (every block, for every head); delta = attn Wout^T + b
//   4. x += delta; h = LN2(x); q = h Wq^T + b
//   5. cross-attention partial sums over the window's keys, as 2
//   6. merged; delta = attn Wcross_out^T + b
//   7. x += delta; h = LN3(x); mlp = gelu(h Wfc1^T + b)
//   8. fc2's rows cut into n_ff / d segments, a warp a (row, segment): partial sums
// then x += bias + the segments' sums (at the next layer's start, or at the end, where block 0 writes x back).
// Every block keeps its own copy of x in shared memory and updates it the same way from the same values in the same
// order, so the copies stay equal bit for bit; the products' inputs (the layer norms, the merged attention) are
// likewise computed by every block for itself, which costs a few microseconds of L2 reads a phase and saves a barrier.
//
// Data written in the kernel by one block and read by another (q, delta, mlp, the partial sums, the caches' new row)
// is read with ld.global.cg (L2, never a possibly stale L1 line); weights and the cross K/V are read-only here.
// Sums are float32 as everywhere; the order differs from the op-by-op kernels (attention is split into other parts,
// the layer norm sums over 512 threads), so the result equals theirs to float32 rounding, not bit for bit.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/row_products.cuh"
#include "engine/layer_weights.h"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kDh = 64;         // head width (every Whisper size)
constexpr int kPart = kDh + 4;  // one attention part: 64 weighted sums, the maximum, the sum of exponentials, 2 spare
constexpr int kHeld = 5;        // 16-byte weight loads a lane has in flight: a 1280-wide segment in one round
constexpr int kMaxLayers = 32;  // large-v3's decoder; the layer table travels in the kernel's parameters (~6 KB)

template <class T>
struct StackLayer {
  const float *ln1_g, *ln1_b;
  const T* w_qkv;
  const float* b_qkv;
  const T* w_out;
  const float* b_out;
  const float *ln2_g, *ln2_b;
  const T* w_cq;
  const float* b_cq;
  const float* cross_k;  // [n_cross, d], row stride ld_cross (K and V are column halves of one matrix)
  const float* cross_v;
  const T* w_cout;
  const float* b_cout;
  const float *ln3_g, *ln3_b;
  const T* w_fc1;
  const float* b_fc1;
  const T* w_fc2;
  const float* b_fc2;
  float* k_cache;  // [n_ctx, d], row stride ld_cache
  float* v_cache;
};

template <class T>
struct StackArgs {
  StackLayer<T> layers[kMaxLayers];
  int n_layer, d, n_head, n_ff, n_cross, ld_cross, ld_cache;
  int chunks;         // attention parts a head
  int x_pad, h_pad;   // shared memory: x [x_pad] then a product's input [h_pad] then the parts
  float* x;           // [d] the residual stream: read at the start, written at the end
  float* q;           // [d] the attention's query
  float* delta;       // [d] an output product's result, bias included
  float* mlp;         // [n_ff] gelu(fc1)
  float* fc2_part;    // [n_ff / d][d] fc2's sums by segment
  float* att_part;    // [n_head * chunks][kPart]
  unsigned* barrier;  // [2]: arrivals, generation (zeroed before each launch)
  const StepState* st;
  float scale;
};

__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Every block of the grid waits here until all have arrived; what any block wrote before it is visible to all after
// it (the fence-atomic pattern of cooperative groups' grid sync). bar[0] counts arrivals; the last block to arrive
// resets it and advances the generation bar[1], which the others wait on.
__device__ __forceinline__ void grid_barrier(unsigned* bar) {
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned gen = load_acquire(bar + 1);  // read before arriving: it cannot advance until this block arrives
    __threadfence();
    if (atomicAdd(bar, 1u) == gridDim.x - 1) {
      atomicExch(bar, 0u);
      __threadfence();
      atomicAdd(bar + 1, 1u);
    } else {
      while (load_acquire(bar + 1) == gen) {
      }
    }
    __threadfence();
  }
  __syncthreads();
}

__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

// Items [first, last) of n, the block's share (contiguous).
__device__ __forceinline__ void block_items(int n, int* first, int* last) {
  const int per = (n + gridDim.x - 1) / gridDim.x;
  *first = min(n, static_cast<int>(blockIdx.x) * per);
  *last = min(n, *first + per);
}

// Rows [0, n) of w [n, k] times v [k] (shared memory), each row cut into `segs` segments of k / segs columns: item i
// is row i / segs, segment i % segs, and its weights are w[i * k / segs ...] (row-major), so a block's items are one
// range of memory. The block's warps take its items in turn; epi(row, segment, sum) gets each item's sum on lane 0.
template <class T, class Epi>
__device__ __forceinline__ void gemv_items(const T* w, int n, int k, int segs, const float* v, Epi epi) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int first, last;
  block_items(n * segs, &first, &last);
  const int kseg = k / segs, k8 = kseg / 8;
  for (int i = first + warp; i < last; i += kWarps) {
    const int row = i / segs, seg = i % segs;
    const uint4* w8 = reinterpret_cast<const uint4*>(w + static_cast<size_t>(i) * kseg);
    const float* vs = v + seg * kseg;
    float acc[1] = {0.0f};
    for (int c0 = 0; c0 < k8; c0 += 32 * kHeld) {
      uint4 held[kHeld];
#pragma unroll
      for (int u = 0; u < kHeld; ++u) {
        const int c = c0 + lane + 32 * u;
        if (c < k8) held[u] = __ldg(w8 + c);
      }
#pragma unroll
      for (int u = 0; u < kHeld; ++u) {
        const int c = c0 + lane + 32 * u;
        if (c < k8) accumulate8<T, 1>(held[u], vs, kseg, c, acc);
      }
    }
    float a = acc[0];
    for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    if (lane == 0) epi(row, seg, a);
  }
}

// The block's share of gemv_items' weights asked into L2 (one prefetch a 128-byte line).
template <class T>
__device__ __forceinline__ void prefetch_items(const T* w, int n, int k, int segs) {
  int first, last;
  block_items(n * segs, &first, &last);
  const size_t kseg = static_cast<size_t>(k / segs);
  const char* p = reinterpret_cast<const char*>(w + first * kseg);
  const size_t bytes = (last - first) * kseg * sizeof(T);
  for (size_t o = threadIdx.x * size_t{128}; o < bytes; o += kThreads * size_t{128}) prefetch_l2(p + o);
}

// Attention part `item` = head h, part c of `chunks`: keys [j0, j1) of n_keys.
__device__ __forceinline__ void part_keys(int item, int chunks, int n_keys, int* h, int* j0, int* j1) {
  *h = item / chunks;
  const int c = item % chunks, per = (n_keys + chunks - 1) / chunks;
  *j0 = min(n_keys, c * per);
  *j1 = min(n_keys, *j0 + per);
}

// The block's attention part's K and V rows asked into L2 (two 128-byte lines a 64-float row).
__device__ __forceinline__ void prefetch_part(const float* k, const float* v, int ld, int n_head, int chunks,
                                              int n_keys) {
  const int item = blockIdx.x;
  if (item >= n_head * chunks) return;
  int h, j0, j1;
  part_keys(item, chunks, n_keys, &h, &j0, &j1);
  for (int i = threadIdx.x; i < 4 * (j1 - j0); i += kThreads) {
    const int j = j0 + i / 4, half = i % 2;
    const float* base = (i / 2) % 2 == 0 ? k : v;
    prefetch_l2(base + static_cast<size_t>(j) * ld + h * kDh + 32 * half);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Every attention part of the block: the query of head h (q, written by the previous phase) over its keys of k, v (row
// stride ld; head h's 64 columns), an online softmax per warp over every kWarps-th group of 4 keys, the warps folded
// together, the part's weighted sums, maximum and sum of exponentials written to part[item]. A part without keys
// writes a sum of exponentials of 0 (the merge skips it).
__device__ void attention_parts(const float* q, const float* k, const float* v, int ld, int n_keys, int n_head,
                                int chunks, float scale, float* part) {
  __shared__ float wm[kWarps], wl[kWarps];
  __shared__ float wo[kWarps][kDh];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int item = blockIdx.x; item < n_head * chunks; item += gridDim.x) {
    int h, j0, j1;
    part_keys(item, chunks, n_keys, &h, &j0, &j1);
    const float q0 = __ldcg(q + h * kDh + lane) * scale, q1 = __ldcg(q + h * kDh + 32 + lane) * scale;
    float m = -INFINITY, l = 0.0f, o0 = 0.0f, o1 = 0.0f;
    for (int jb = j0 + 4 * warp; jb < j1; jb += 4 * kWarps) {
      float kr[4][2], vr[4][2];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const bool in = jb + u < j1;
        const size_t off = static_cast<size_t>(in ? jb + u : j0) * ld + h * kDh + lane;
        kr[u][0] = in ? __ldcg(k + off) : 0.0f;
        kr[u][1] = in ? __ldcg(k + off + 32) : 0.0f;
        vr[u][0] = in ? __ldcg(v + off) : 0.0f;
        vr[u][1] = in ? __ldcg(v + off + 32) : 0.0f;
      }
      float s[4];
      float mx = m;
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        s[u] = jb + u < j1 ? warp_sum(q0 * kr[u][0] + q1 * kr[u][1]) : -INFINITY;
        mx = fmaxf(mx, s[u]);
      }
      const float corr = m == -INFINITY ? 0.0f : expf(m - mx);
      l *= corr;
      o0 *= corr;
      o1 *= corr;
#pragma unroll
      for (int u = 0; u < 4; ++u)
        if (jb + u < j1) {
          const float p = expf(s[u] - mx);
          l += p;
          o0 += p * vr[u][0];
          o1 += p * vr[u][1];
        }
      m = mx;
    }
    if (lane == 0) {
      wm[warp] = m;
      wl[warp] = l;
    }
    wo[warp][lane] = o0;
    wo[warp][lane + 32] = o1;
    __syncthreads();
    if (threadIdx.x < kDh) {
      const int t = threadIdx.x;
      float bm = -INFINITY;
      for (int w = 0; w < kWarps; ++w)
        if (wl[w] > 0.0f) bm = fmaxf(bm, wm[w]);
      float acc = 0.0f, bl = 0.0f;
      for (int w = 0; w < kWarps; ++w)
        if (wl[w] > 0.0f) {
          const float e = expf(wm[w] - bm);
          acc += wo[w][t] * e;
          bl += wl[w] * e;
        }
      float* out = part + static_cast<size_t>(item) * kPart;
      out[t] = acc;
      if (t == 0) {
        out[kDh] = bm;
        out[kDh + 1] = bl;
      }
    }
    __syncthreads();  // wm, wl, wo are written again by the next item
  }
}

// The heads' parts (written by the previous phase) merged into out [n_head * 64] (shared memory), through stage
// (shared memory, n_head * chunks * kPart floats).
__device__ void merge_parts(const float* part, int n_head, int chunks, float* stage, float* out) {
  const int n4 = n_head * chunks * kPart / 4;
  for (int i = threadIdx.x; i < n4; i += kThreads)
    reinterpret_cast<float4*>(stage)[i] = __ldcg(reinterpret_cast<const float4*>(part) + i);
  __syncthreads();
  for (int idx = threadIdx.x; idx < n_head * kDh; idx += kThreads) {
    const int h = idx / kDh, t = idx % kDh;
    const float* ph = stage + static_cast<size_t>(h) * chunks * kPart;
    float mx = -INFINITY;
    for (int c = 0; c < chunks; ++c)
      if (ph[c * kPart + kDh + 1] > 0.0f) mx = fmaxf(mx, ph[c * kPart + kDh]);
    float sum = 0.0f, acc = 0.0f;
    for (int c = 0; c < chunks; ++c) {
      const float l = ph[c * kPart + kDh + 1];
      if (l > 0.0f) {
        const float e = expf(ph[c * kPart + kDh] - mx);
        sum += l * e;
        acc += ph[c * kPart + t] * e;
      }
    }
    out[idx] = acc / sum;
  }
  __syncthreads();
}

// hs = layer_norm(xs) (d values, shared memory).
__device__ __forceinline__ void norm_into(const float* xs, float* hs, int d, const float* g, const float* b,
                                          float* red) {
  for (int i = threadIdx.x; i < d; i += kThreads) hs[i] = xs[i];
  __syncthreads();
  norm_rows<1>(hs, d, g, b, red);
  __syncthreads();
}

// xs += delta (an output product's result, bias included; d values written by the previous phase).
__device__ __forceinline__ void add_delta(float* xs, const float* delta, int d) {
  for (int i = threadIdx.x; i < d; i += kThreads) xs[i] += __ldcg(delta + i);
  __syncthreads();
}

// xs += bias + fc2's segment sums, in segment order.
__device__ __forceinline__ void add_fc2(float* xs, const float* part, const float* bias, int d, int segs) {
  for (int i = threadIdx.x; i < d; i += kThreads) {
    float v = bias ? bias[i] : 0.0f;
    for (int s = 0; s < segs; ++s) v += __ldcg(part + static_cast<size_t>(s) * d + i);
    xs[i] += v;
  }
  __syncthreads();
}

template <class T>
__global__ void __launch_bounds__(kThreads, 1) decoder_stack_kernel(const __grid_constant__ StackArgs<T> a) {
  extern __shared__ float4 smem4[];
  float* xs = reinterpret_cast<float*>(smem4);  // [d] this block's copy of x
  float* hs = xs + a.x_pad;                     // [max(d, n_ff)] the current product's input
  float* stage = hs + a.h_pad;                  // [n_head * chunks * kPart] attention parts being merged
  __shared__ float red[32];
  const int d = a.d, segs = a.n_ff / d;
  const int position = a.st->position;
  for (int i = threadIdx.x; i < d; i += kThreads) xs[i] = __ldcg(a.x + i);  // the embedding kernel's row
  __syncthreads();
  for (int li = 0; li < a.n_layer; ++li) {
    const StackLayer<T>& L = a.layers[li];
    if (li > 0) add_fc2(xs, a.fc2_part, a.layers[li - 1].b_fc2, d, segs);
    // 1. q | k | v
    norm_into(xs, hs, d, L.ln1_g, L.ln1_b, red);
    prefetch_items(L.w_out, d, d, 1);
    prefetch_items(L.w_cq, d, d, 1);
    gemv_items(L.w_qkv, 3 * d, d, 1, hs, [&](int r, int, float s) {
      const float v = s + (L.b_qkv ? L.b_qkv[r] : 0.0f);
      if (r < d) a.q[r] = v;
      else if (r < 2 * d) L.k_cache[static_cast<size_t>(position) * a.ld_cache + (r - d)] = v;
      else L.v_cache[static_cast<size_t>(position) * a.ld_cache + (r - 2 * d)] = v;
    });
    grid_barrier(a.barrier);
    // 2. self-attention parts over rows 0 .. position of the caches
    prefetch_part(L.cross_k, L.cross_v, a.ld_cross, a.n_head, a.chunks, a.n_cross);
    attention_parts(a.q, L.k_cache, L.v_cache, a.ld_cache, position + 1, a.n_head, a.chunks, a.scale, a.att_part);
    grid_barrier(a.barrier);
    // 3. merged; the output product
    merge_parts(a.att_part, a.n_head, a.chunks, stage, hs);
    prefetch_items(L.w_cout, d, d, 1);
    gemv_items(L.w_out, d, d, 1, hs, [&](int r, int, float s) { a.delta[r] = s + (L.b_out ? L.b_out[r] : 0.0f); });
    grid_barrier(a.barrier);
    // 4. the residual; the cross-attention's query
    add_delta(xs, a.delta, d);
    norm_into(xs, hs, d, L.ln2_g, L.ln2_b, red);
    prefetch_items(L.w_fc1, a.n_ff, d, 1);
    gemv_items(L.w_cq, d, d, 1, hs, [&](int r, int, float s) { a.q[r] = s + (L.b_cq ? L.b_cq[r] : 0.0f); });
    grid_barrier(a.barrier);
    // 5. cross-attention parts over the window's keys
    prefetch_items(L.w_fc2, d, a.n_ff, segs);
    attention_parts(a.q, L.cross_k, L.cross_v, a.ld_cross, a.n_cross, a.n_head, a.chunks, a.scale, a.att_part);
    grid_barrier(a.barrier);
    // 6. merged; the output product
    merge_parts(a.att_part, a.n_head, a.chunks, stage, hs);
    if (li + 1 < a.n_layer) prefetch_items(a.layers[li + 1].w_qkv, 3 * d, d, 1);
    gemv_items(L.w_cout, d, d, 1, hs, [&](int r, int, float s) { a.delta[r] = s + (L.b_cout ? L.b_cout[r] : 0.0f); });
    grid_barrier(a.barrier);
    // 7. the residual; fc1 with GELU
    add_delta(xs, a.delta, d);
    norm_into(xs, hs, d, L.ln3_g, L.ln3_b, red);
    gemv_items(L.w_fc1, a.n_ff, d, 1, hs, [&](int r, int, float s) {
      const float v = s + (L.b_fc1 ? L.b_fc1[r] : 0.0f);
      a.mlp[r] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    });
    grid_barrier(a.barrier);
    // 8. fc2 by segments
    for (int i = threadIdx.x; i < a.n_ff; i += kThreads) hs[i] = __ldcg(a.mlp + i);
    __syncthreads();
    gemv_items(L.w_fc2, d, a.n_ff, segs, hs,
               [&](int r, int seg, float s) { a.fc2_part[static_cast<size_t>(seg) * d + r] = s; });
    grid_barrier(a.barrier);
  }
  add_fc2(xs, a.fc2_part, a.layers[a.n_layer - 1].b_fc2, d, segs);
  if (blockIdx.x == 0)
    for (int i = threadIdx.x; i < d; i += kThreads) a.x[i] = xs[i];
}

const float* ptr(const Mat& m) { return m.empty() ? nullptr : m.data; }

template <class T>
const T* half_ptr(const Weights& w) {
  return static_cast<const T*>(w.packed.get());
}

int round4(int n) { return (n + 3) / 4 * 4; }

}  // namespace

bool CudaBackend::decoder_stack_fits(const std::vector<DecoderLayerWeights>& layers, const std::vector<Mat>& k_caches,
                                     const std::vector<Mat>& v_caches, const std::vector<Mat>& cross_kv, int n_head,
                                     const Mat& x) const {
  const int n = static_cast<int>(layers.size()), d = x.cols;
  if (precision_ == Precision::f32 || !cooperative_ || n < 1 || n > kMaxLayers || x.rows != 1 || n_head < 1 ||
      d != n_head * kDh || static_cast<int>(k_caches.size()) != n || static_cast<int>(v_caches.size()) != n ||
      static_cast<int>(cross_kv.size()) != n)
    return false;
  const WeightType t = layers[0].qkv.w.type;
  if (t != (precision_ == Precision::f16 ? WeightType::float16 : WeightType::bfloat16)) return false;
  const int n_ff = layers[0].fc1.w.rows;
  if (n_ff < d || n_ff % d != 0) return false;
  auto lin = [&](const LinearWeights& l, int rows, int cols) {
    return l.w.type == t && l.w.rows == rows && l.w.cols == cols && (l.b.empty() || l.b.cols == rows);
  };
  auto ln = [&](const LayerNormWeights& l) { return l.gamma.cols == d && l.beta.cols == d; };
  for (int i = 0; i < n; ++i) {
    const DecoderLayerWeights& l = layers[i];
    if (!ln(l.attn_ln) || !ln(l.cross_ln) || !ln(l.mlp_ln) || !lin(l.qkv, 3 * d, d) || !lin(l.attn_out, d, d) ||
        !lin(l.cross_q, d, d) || !lin(l.cross_out, d, d) || !lin(l.fc1, n_ff, d) || !lin(l.fc2, d, n_ff))
      return false;
    if (k_caches[i].cols != d || v_caches[i].cols != d || k_caches[i].ld != k_caches[0].ld ||
        v_caches[i].ld != k_caches[0].ld || cross_kv[i].cols != 2 * d || cross_kv[i].ld != cross_kv[0].ld ||
        cross_kv[i].rows != cross_kv[0].rows || cross_kv[i].rows < 1)
      return false;
  }
  return true;
}

void CudaBackend::decoder_layers_at(const std::vector<DecoderLayerWeights>& layers, std::vector<Mat>& k_caches,
                                    std::vector<Mat>& v_caches, const std::vector<Mat>& cross_kv, int n_head, Mat& x,
                                    Mat& qkv, Mat& attn, Mat& q, Mat& mlp) {
  if (!recording_) throw Error("decoder_layers_at: only while a step is recorded");
  if (!persistent_decoder_ || !decoder_stack_fits(layers, k_caches, v_caches, cross_kv, n_head, x))
    return Backend::decoder_layers_at(layers, k_caches, v_caches, cross_kv, n_head, x, qkv, attn, q, mlp);
  const int n = static_cast<int>(layers.size()), d = x.cols, n_ff = layers[0].fc1.w.rows;
  const int chunks = std::max(1, n_sm_ / n_head);
  // Scratch the recording keeps (alloc_bytes while recording): fc2's segment sums and the attention parts, and the
  // barrier's two counters, zeroed by the recording before every launch.
  std::shared_ptr<void> fc2_part = alloc_bytes(sizeof(float) * static_cast<size_t>(n_ff));
  std::shared_ptr<void> att_part = alloc_bytes(sizeof(float) * static_cast<size_t>(n_head) * chunks * kPart);
  std::shared_ptr<void> barrier = alloc_bytes(2 * sizeof(unsigned));
  WST_CUDA_CHECK(cudaMemsetAsync(barrier.get(), 0, 2 * sizeof(unsigned), stream_));
  const int x_pad = round4(d), h_pad = round4(std::max(d, n_ff));
  const size_t shared = sizeof(float) * (static_cast<size_t>(x_pad) + h_pad + static_cast<size_t>(n_head) * chunks * kPart);
  auto launch = [&](auto* kernel, auto& args) {
    WST_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)));
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(n_sm_);
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = shared;
    config.stream = stream_;
    cudaLaunchAttribute attribute[1] = {};
    attribute[0].id = cudaLaunchAttributeCooperative;  // every block resident at once (the barriers need it)
    attribute[0].val.cooperative = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
    WST_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, args));
  };
  auto fill = [&](auto& args, auto tag) {
    using T = decltype(tag);
    for (int i = 0; i < n; ++i) {
      const DecoderLayerWeights& l = layers[i];
      auto& s = args.layers[i];
      s.ln1_g = l.attn_ln.gamma.data;
      s.ln1_b = l.attn_ln.beta.data;
      s.w_qkv = half_ptr<T>(l.qkv.w);
      s.b_qkv = ptr(l.qkv.b);
      s.w_out = half_ptr<T>(l.attn_out.w);
      s.b_out = ptr(l.attn_out.b);
      s.ln2_g = l.cross_ln.gamma.data;
      s.ln2_b = l.cross_ln.beta.data;
      s.w_cq = half_ptr<T>(l.cross_q.w);
      s.b_cq = ptr(l.cross_q.b);
      s.cross_k = cross_kv[i].data;
      s.cross_v = cross_kv[i].data + d;
      s.w_cout = half_ptr<T>(l.cross_out.w);
      s.b_cout = ptr(l.cross_out.b);
      s.ln3_g = l.mlp_ln.gamma.data;
      s.ln3_b = l.mlp_ln.beta.data;
      s.w_fc1 = half_ptr<T>(l.fc1.w);
      s.b_fc1 = ptr(l.fc1.b);
      s.w_fc2 = half_ptr<T>(l.fc2.w);
      s.b_fc2 = ptr(l.fc2.b);
      s.k_cache = k_caches[i].data;
      s.v_cache = v_caches[i].data;
    }
    args.n_layer = n;
    args.d = d;
    args.n_head = n_head;
    args.n_ff = n_ff;
    args.n_cross = cross_kv[0].rows;
    args.ld_cross = cross_kv[0].ld;
    args.ld_cache = k_caches[0].ld;
    args.chunks = chunks;
    args.x_pad = x_pad;
    args.h_pad = h_pad;
    args.x = x.data;
    args.q = q.data;
    args.delta = attn.data;
    args.mlp = mlp.data;
    args.fc2_part = static_cast<float*>(fc2_part.get());
    args.att_part = static_cast<float*>(att_part.get());
    args.barrier = static_cast<unsigned*>(barrier.get());
    args.st = static_cast<const StepState*>(step_dev_.get());
    args.scale = 1.0f / std::sqrt(static_cast<float>(kDh));
  };
  if (q.cols < d || attn.cols < d || mlp.cols < n_ff)
    throw Error("decoder_layers_at: scratch rows too narrow for width " + std::to_string(d));
  ++persistent_launches_;
  if (precision_ == Precision::f16) {
    StackArgs<__half> args{};
    fill(args, __half{});
    launch(decoder_stack_kernel<__half>, args);
  } else {
    StackArgs<__nv_bfloat16> args{};
    fill(args, __nv_bfloat16{});
    launch(decoder_stack_kernel<__nv_bfloat16>, args);
  }
}

}  // namespace wst::engine::cuda
