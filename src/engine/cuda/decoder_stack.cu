// A decoder step's layers in one persistent kernel, for one to kMaxRows sequences: a recorded greedy step
// (Backend::decoder_layers_at) and beam / batched steps (Backend::decoder_layers_rows, launched eagerly). An
// experiment, off unless WST_CUDA_PERSISTENT_DECODER=1 or set_persistent_decoder(true): correct, but slower than the
// ops in turn on an H200 (run 32: large-v3 2.81 against 2.01 ms a token; docs/cuda_notes.md, entry 12).
//
// Why: the step as ~6 kernels a layer spends ~66 us a large-v3 layer while its bytes (46 MB of float16 weights,
// 15 MB of cross-attention K/V) take ~14 us at the card's bandwidth: each kernel mostly waits for the one before to
// drain and then for its own first loads. Here one block an SM (a cooperative launch, so all are resident at once)
// runs every layer; the phases of a layer are separated by a grid-wide barrier instead of a kernel boundary, and
// each block asks L2 for its share of the next product's weights (and of the cross-attention K/V) one phase early,
// so that memory keeps streaming while the blocks wait at the barriers.
//
// A layer, each line a phase, each phase ended by a grid barrier:
//   1. h = LN1(x); q | k | v = h Wqkv^T + b   (k, v into row `position` of each sequence's caches)
//   2. self-attention partial sums: each sequence's head h's keys cut into `chunks` parts, a block a part
//   3. the parts merged (every block, for every head); delta = attn Wout^T + b
//   4. x += delta; h = LN2(x); q = h Wq^T + b
//   5. cross-attention partial sums over the window's keys, as 2; where every sequence attends over the same window
//      (beams), a part takes all sequences' queries, so each key is read once for all of them
//   6. merged; delta = attn Wcross_out^T + b
//   7. x += delta; h = LN3(x); mlp = gelu(h Wfc1^T + b)
//   8. fc2's rows cut into n_ff / d segments, a warp a (row, segment): partial sums
// then x += bias + the segments' sums (at the next layer's start, or at the end, where block 0 writes x back).
// The products take every sequence's row at once (each weight read once a step, whatever the number of rows).
// Every block keeps its own copy of x in shared memory and updates it the same way from the same values in the same
// order, so the copies stay equal bit for bit; the products' inputs (the layer norms, the merged attention) are
// likewise computed by every block for itself, which costs a few microseconds of L2 reads a phase and saves a barrier.
//
// Data written in the kernel by one block and read by another (q, delta, mlp, the partial sums, the caches' new row)
// is read with ld.global.cg (L2, never a possibly stale L1 line); weights and the cross K/V are read-only here.
// Sums are float32 as everywhere; the order differs from the op-by-op kernels (attention is split into other parts,
// the layer norm sums over 512 threads), so the result equals theirs to float32 rounding, not bit for bit.
//
// Two builds of the same layer (kCompact, through piece() below): every piece inlined into its phase (176 KB of
// instructions for one row), or each piece one non-inlined function that every phase calls (~86 KB for one row, float16 only,
// WST_CUDA_PERSISTENT_COMPACT=1), to learn whether the phases are slow because their code is always cold.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

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
constexpr int kMaxLayers = 32;  // large-v3's decoder; the tables travel in the kernel's parameters (~11 KB)
constexpr int kMaxRows = 8;     // sequences a launch
constexpr int kTraceSlots = kPersistentTraceSlots;  // StackArgs::trace's clocks a layer

template <class T>
struct StackWeights {
  const float *ln1_g, *ln1_b;
  const T* w_qkv;
  const float* b_qkv;
  const T* w_out;
  const float* b_out;
  const float *ln2_g, *ln2_b;
  const T* w_cq;
  const float* b_cq;
  const T* w_cout;
  const float* b_cout;
  const float *ln3_g, *ln3_b;
  const T* w_fc1;
  const float* b_fc1;
  const T* w_fc2;
  const float* b_fc2;
};

// One layer's buffers of each sequence.
struct StackRows {
  float* k_cache[kMaxRows];  // [n_ctx, d], row stride ld_cache
  float* v_cache[kMaxRows];
  const float* cross[kMaxRows];  // [n_cross, 2d]: K | V, row stride ld_cross
};

template <class T>
struct StackArgs {
  StackWeights<T> w[kMaxLayers];
  StackRows rows[kMaxLayers];
  int position[kMaxRows];  // each sequence's position (a recorded step reads st->position instead)
  int n_layer, d, n_head, n_ff, n_cross, ld_cross, ld_cache;
  int self_chunks, cross_chunks;  // attention parts a (sequence's) head
  int shared_cross;               // every sequence attends over the same window: a part takes all their queries
  int x_pad, h_pad;               // shared memory: x [M][x_pad], then the products' input [M][h_pad], then the parts
  float* x;                       // [M, d], row stride ldx: the residual stream, read at the start, written at the end
  int ldx;
  float* q;           // [M, d] the attention's queries
  float* delta;       // [M, d] an output product's result, bias included
  float* mlp;         // [M, n_ff] gelu(fc1)
  float* fc2_part;    // [n_ff / d][M][d] fc2's sums by segment
  float* att_part;    // [M * n_head * chunks][kPart]
  unsigned* barrier;  // [2 * kGeneration]: arrivals at [0], generation at [kGeneration] (zeroed before each launch)
  const StepState* st;
  float scale;
  int early_loads;  // issue each product's first weight loads between arriving at the barrier before it and waiting
  // Null, or [n_layer * kTraceSlots + 2]: block 0's clock64 as it arrives at (2 p) and leaves (2 p + 1) the barrier
  // ending phase p of each layer, as it ends phase p's prologue (16 + p: the residual, layer norm or merge before its
  // products or attention parts), then at the start and the end (where a step's time goes; cuda_bench prints it).
  unsigned long long* trace;
};

__device__ __forceinline__ void mark(unsigned long long* trace, int slot) {
  if (trace != nullptr && blockIdx.x == 0 && threadIdx.x == 0) trace[slot] = clock64();
}

__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Every block of the grid waits here until all have arrived; what any block wrote before it is visible to all after
// it (the fence-atomic pattern of cooperative groups' grid sync). bar[0] counts arrivals; the last block to arrive
// resets it and advances the generation bar[kGeneration] (its own 128-byte line, apart from the arrivals' atomics),
// which the others wait on. A wait far longer than any phase (~2^22 polls, seconds) means a block never arrived (a
// bug, or blocks not all resident): the kernel traps (an "unspecified launch failure" on the host) rather than hang
// the GPU. (No printf here: its stack frame cost the kernel register spills.)
constexpr int kGeneration = 32;

// The barrier in two halves, so that a block can issue loads that do not depend on the other blocks (the next
// product's weights) between arriving and waiting. barrier_arrive returns, on thread 0, the generation to wait past.
__device__ __forceinline__ unsigned barrier_arrive(unsigned* bar) {
  __syncthreads();
  unsigned gen = 0;
  if (threadIdx.x == 0) {
    gen = load_acquire(bar + kGeneration);  // read before arriving: it cannot advance until this block arrives
    __threadfence();
    if (atomicAdd(bar, 1u) == gridDim.x - 1) {
      atomicExch(bar, 0u);
      __threadfence();
      atomicAdd(bar + kGeneration, 1u);
    }
  }
  return gen;
}

__device__ __forceinline__ void barrier_wait(unsigned* bar, unsigned gen) {
  if (threadIdx.x == 0) {
    unsigned polls = 0;
    while (load_acquire(bar + kGeneration) == gen)
      if (++polls == (1u << 22)) __trap();
    __threadfence();
  }
  __syncthreads();
}

__device__ __forceinline__ void grid_barrier(unsigned* bar) { barrier_wait(bar, barrier_arrive(bar)); }

// Items [first, last) of n, the block's share (contiguous).
__device__ __forceinline__ void block_items(int n, int* first, int* last) {
  const int per = (n + gridDim.x - 1) / gridDim.x;
  *first = min(n, static_cast<int>(blockIdx.x) * per);
  *last = min(n, *first + per);
}

// A warp's first round of 16-byte weight loads for the next product (gemv_items' first item), issued between
// arriving at a barrier and waiting at it (the weights do not depend on the other blocks), so the round trip to
// memory overlaps the wait. valid: loaded (the feature on and the warp has an item).
struct Preload {
  uint4 held[kHeld];
  bool valid = false;
};

template <class T>
__device__ __forceinline__ void preload(Preload& p, bool on, const T* w, int n, int k, int segs) {
  // Every register written on every path: what the previous product left is dead from here (no live range across
  // the attention phases between).
#pragma unroll
  for (int u = 0; u < kHeld; ++u) p.held[u] = make_uint4(0, 0, 0, 0);
  p.valid = false;
  if (!on) return;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int first, last;
  block_items(n * segs, &first, &last);
  const int i = first + warp, kseg = k / segs, k8 = kseg / 8;
  if (i >= last) return;
  const uint4* w8 = reinterpret_cast<const uint4*>(w + static_cast<size_t>(i) * kseg);
#pragma unroll
  for (int u = 0; u < kHeld; ++u) {
    const int c = lane + 32 * u;
    if (c < k8) p.held[u] = __ldg(w8 + c);
  }
  p.valid = true;
}

// Rows [0, n) of w [n, k] times the M rows of v (shared memory, row stride ldv), each weight row cut into `segs`
// segments of k / segs columns: item i is weight row i / segs, segment i % segs, and its weights are
// w[i * k / segs ...] (row-major), so a block's items are one range of memory. The block's warps take its items in
// turn; epi(row, segment, r, sum) gets each item's sum for sequence r on lane 0. pre: the warp's first round of
// loads where preload() made it (the same w, n, k, segs).
template <class T, int M, class Epi>
__device__ __forceinline__ void gemv_items(const T* w, int n, int k, int segs, const float* v, int ldv,
                                           const Preload& pre, Epi epi) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int first, last;
  block_items(n * segs, &first, &last);
  const int kseg = k / segs, k8 = kseg / 8;
  for (int i = first + warp; i < last; i += kWarps) {
    const int row = i / segs, seg = i % segs;
    const uint4* w8 = reinterpret_cast<const uint4*>(w + static_cast<size_t>(i) * kseg);
    const float* vs = v + seg * kseg;
    float acc[M] = {};
    for (int c0 = 0; c0 < k8; c0 += 32 * kHeld) {
      uint4 held[kHeld];
      if (pre.valid && c0 == 0 && i == first + warp) {
#pragma unroll
        for (int u = 0; u < kHeld; ++u) held[u] = pre.held[u];
      } else {
#pragma unroll
        for (int u = 0; u < kHeld; ++u) {
          const int c = c0 + lane + 32 * u;
          if (c < k8) held[u] = __ldg(w8 + c);
        }
      }
#pragma unroll
      for (int u = 0; u < kHeld; ++u) {
        const int c = c0 + lane + 32 * u;
        if (c < k8) accumulate8<T, M>(held[u], vs, ldv, c, acc);
      }
    }
#pragma unroll
    for (int r = 0; r < M; ++r) {
      float a = acc[r];
      for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
      if (lane == 0) epi(row, seg, r, a);
    }
  }
}

// Arrive at the barrier, issue the next product's first loads (when `on`), then wait.
template <class T>
__device__ __forceinline__ void barrier_preloading(unsigned* bar, Preload& p, bool on, const T* w, int n, int k,
                                                   int segs) {
  const unsigned gen = barrier_arrive(bar);
  preload(p, on, w, n, k, segs);
  barrier_wait(bar, gen);
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

// The 128-byte lines of the n floats at p (a bias or a layer norm's gains; none where p is null) asked into L2 by the
// grid, a line a thread: these small weights are read after a phase's sums (the gains) or its products (the bias), so a
// trip to memory there is on the phase's critical path; asked a phase early, they are in L2 by then.
__device__ __forceinline__ void prefetch_small(const float* p, int n) {
  if (p == nullptr) return;
  const int lines = (n * static_cast<int>(sizeof(float)) + 127) / 128;
  for (int l = blockIdx.x * blockDim.x + threadIdx.x; l < lines; l += gridDim.x * blockDim.x) prefetch_l2(p + l * 32);
}

// Attention part `item` of n_head * chunks a sequence: sequence b, head h, keys [j0, j1) of n_keys.
__device__ __forceinline__ void part_of(int item, int n_head, int chunks, int n_keys, int* b, int* h, int* j0,
                                        int* j1) {
  *b = item / (n_head * chunks);
  const int rest = item % (n_head * chunks), c = rest % chunks, per = (n_keys + chunks - 1) / chunks;
  *h = rest / chunks;
  *j0 = min(n_keys, c * per);
  *j1 = min(n_keys, *j0 + per);
}


// Head h of MQ queries (rows of q, row stride ldq, written by the previous phase) over keys [j0, j1) of k, v (row
// stride ld; the head's 64 columns): an online softmax per warp and query over every kWarps-th group of kG keys (each
// key loaded once for all MQ queries), the warps folded together, query r's weighted sums, maximum and sum of
// exponentials written to part + r * part_stride. No keys: a sum of exponentials of 0 (the merge skips the part; only
// an exact 0 is skipped, so a NaN from the inputs reaches the output as it would op by op).
template <int MQ>
__device__ void attend_part(const float* q, int ldq, const float* k, const float* v, int ld, int h, int j0, int j1,
                            float scale, float* part, size_t part_stride) {
  // Keys a warp has in flight at once (8 for one query made the kernel spill registers; not measured yet).
  constexpr int kG = 4;
  __shared__ float wm[kWarps], wl[kWarps];
  __shared__ float wo[kWarps][kDh];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float q0[MQ], q1[MQ], m[MQ], l[MQ], o0[MQ], o1[MQ];
#pragma unroll
  for (int r = 0; r < MQ; ++r) {
    q0[r] = __ldcg(q + static_cast<size_t>(r) * ldq + h * kDh + lane) * scale;
    q1[r] = __ldcg(q + static_cast<size_t>(r) * ldq + h * kDh + 32 + lane) * scale;
    m[r] = -INFINITY;
    l[r] = o0[r] = o1[r] = 0.0f;
  }
  for (int jb = j0 + kG * warp; jb < j1; jb += kG * kWarps) {
    float kr[kG][2], vr[kG][2];
#pragma unroll
    for (int u = 0; u < kG; ++u) {
      const bool in = jb + u < j1;
      const size_t off = static_cast<size_t>(in ? jb + u : j0) * ld + h * kDh + lane;
      kr[u][0] = in ? __ldcg(k + off) : 0.0f;
      kr[u][1] = in ? __ldcg(k + off + 32) : 0.0f;
      vr[u][0] = in ? __ldcg(v + off) : 0.0f;
      vr[u][1] = in ? __ldcg(v + off + 32) : 0.0f;
    }
#pragma unroll
    for (int r = 0; r < MQ; ++r) {
      float s[kG];
      float mx = m[r];
#pragma unroll
      for (int u = 0; u < kG; ++u) {
        s[u] = jb + u < j1 ? warp_sum(q0[r] * kr[u][0] + q1[r] * kr[u][1]) : -INFINITY;
        mx = fmaxf(mx, s[u]);
      }
      const float corr = m[r] == -INFINITY ? 0.0f : expf(m[r] - mx);
      l[r] *= corr;
      o0[r] *= corr;
      o1[r] *= corr;
#pragma unroll
      for (int u = 0; u < kG; ++u)
        if (jb + u < j1) {
          const float p = expf(s[u] - mx);
          l[r] += p;
          o0[r] += p * vr[u][0];
          o1[r] += p * vr[u][1];
        }
      m[r] = mx;
    }
  }
#pragma unroll
  for (int r = 0; r < MQ; ++r) {
    if (lane == 0) {
      wm[warp] = m[r];
      wl[warp] = l[r];
    }
    wo[warp][lane] = o0[r];
    wo[warp][lane + 32] = o1[r];
    __syncthreads();
    if (threadIdx.x < kDh) {
      const int t = threadIdx.x;
      float bm = -INFINITY;
      for (int w = 0; w < kWarps; ++w)
        if (wl[w] != 0.0f) bm = fmaxf(bm, wm[w]);
      float acc = 0.0f, bl = 0.0f;
      for (int w = 0; w < kWarps; ++w)
        if (wl[w] != 0.0f) {
          const float e = expf(wm[w] - bm);
          acc += wo[w][t] * e;
          bl += wl[w] * e;
        }
      float* out = part + r * part_stride;
      out[t] = acc;
      if (t == 0) {
        out[kDh] = bm;
        out[kDh + 1] = bl;
      }
    }
    __syncthreads();  // wm, wl, wo are written again for the next query
  }
}

// A piece of the layer, F(args...), inlined where it is called, or (kCompact) called through one non-inlined copy of
// F taking F's own parameters (one copy whatever the arguments' types at each call), so that every phase that runs F
// runs the same instructions (the compact kernel below).
template <auto F, class Signature = decltype(F)>
struct NonInlined;
template <auto F, class... P>
struct NonInlined<F, void (*)(P...)> {
  static __device__ __noinline__ void call(P... p) { F(p...); }
};

template <bool kCompact, auto F, class... A>
__device__ __forceinline__ void piece(A&&... a) {
  if constexpr (kCompact) NonInlined<F>::call(static_cast<A&&>(a)...);
  else F(static_cast<A&&>(a)...);
}

// Every self-attention part of the block: sequence b's query over rows 0 .. position[b] of its caches.
template <int M, bool kCompact = false>
__device__ void self_parts(const StackRows& rows, const int* position, const float* q, int d, int ld, int n_head,
                           int chunks, float scale, float* part) {
  for (int item = blockIdx.x; item < M * n_head * chunks; item += gridDim.x) {
    const int seq = item / (n_head * chunks);
    int b, h, j0, j1;
    part_of(item, n_head, chunks, position[seq] + 1, &b, &h, &j0, &j1);
    piece<kCompact, attend_part<1>>(q + static_cast<size_t>(b) * d, d, rows.k_cache[b], rows.v_cache[b], ld, h, j0,
                                    j1, scale, part + static_cast<size_t>(item) * kPart, size_t{0});
  }
}

// Every cross-attention part of the block. Shared window: item (h, c) takes all M queries and writes sequence b's
// part where self_parts' layout puts it ((b * n_head + h) * chunks + c); otherwise as self_parts.
template <int M, bool kCompact = false>
__device__ void cross_parts(const StackRows& rows, bool shared, const float* q, int d, int ld, int n_keys, int n_head,
                            int chunks, float scale, float* part) {
  if (shared) {
    for (int item = blockIdx.x; item < n_head * chunks; item += gridDim.x) {
      int b, h, j0, j1;
      part_of(item, n_head, chunks, n_keys, &b, &h, &j0, &j1);
      piece<kCompact, attend_part<M>>(q, d, rows.cross[0], rows.cross[0] + d, ld, h, j0, j1, scale,
                                      part + static_cast<size_t>(item) * kPart,
                                      static_cast<size_t>(n_head) * chunks * kPart);
    }
    return;
  }
  for (int item = blockIdx.x; item < M * n_head * chunks; item += gridDim.x) {
    int b, h, j0, j1;
    part_of(item, n_head, chunks, n_keys, &b, &h, &j0, &j1);
    piece<kCompact, attend_part<1>>(q + static_cast<size_t>(b) * d, d, rows.cross[b], rows.cross[b] + d, ld, h, j0,
                                    j1, scale, part + static_cast<size_t>(item) * kPart, size_t{0});
  }
}

// The K and V rows of the block's first cross-attention part asked into L2.
__device__ __forceinline__ void prefetch_cross(const StackRows& rows, bool shared, int rows_n, int d, int ld,
                                               int n_head, int chunks, int n_keys) {
  const int item = blockIdx.x;
  if (item >= (shared ? 1 : rows_n) * n_head * chunks) return;
  int b, h, j0, j1;
  part_of(item, n_head, chunks, n_keys, &b, &h, &j0, &j1);
  prefetch_head_rows(rows.cross[b], rows.cross[b] + d, ld, ld, h, kDh, j0, j1);
}

// The K and V rows of the block's first self-attention part asked into L2, those before `position` (the row at
// `position` is written by this phase).
__device__ __forceinline__ void prefetch_self(const StackRows& rows, const int* position, int rows_n, int ld,
                                              int n_head, int chunks) {
  const int item = blockIdx.x;
  if (item >= rows_n * n_head * chunks) return;
  const int seq = item / (n_head * chunks);
  int b, h, j0, j1;
  part_of(item, n_head, chunks, position[seq] + 1, &b, &h, &j0, &j1);  // self_parts' split
  prefetch_head_rows(rows.k_cache[b], rows.v_cache[b], ld, ld, h, kDh, j0, min(j1, position[seq]));
}

// Sequence b's parts (written by the previous phase, chunks a head) merged into out [n_head * 64] (shared memory),
// through stage (shared memory, n_head * chunks * kPart floats). Every thread of the block takes part.
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
      if (ph[c * kPart + kDh + 1] != 0.0f) mx = fmaxf(mx, ph[c * kPart + kDh]);
    float sum = 0.0f, acc = 0.0f;
    for (int c = 0; c < chunks; ++c) {
      const float l = ph[c * kPart + kDh + 1];
      if (l != 0.0f) {
        const float e = expf(ph[c * kPart + kDh] - mx);
        sum += l * e;
        acc += ph[c * kPart + t] * e;
      }
    }
    out[idx] = acc / sum;
  }
  __syncthreads();  // stage is written again for the next sequence
}

template <int M>
__device__ __forceinline__ void merge_rows(const float* part, int n_head, int chunks, float* stage, float* hs,
                                           int h_pad) {
  for (int b = 0; b < M; ++b)
    merge_parts(part + static_cast<size_t>(b) * n_head * chunks * kPart, n_head, chunks, stage,
                hs + static_cast<size_t>(b) * h_pad);
}

// hs rows = layer_norm(xs rows) (d values each, shared memory).
template <int M>
__device__ __forceinline__ void norm_into(const float* xs, int x_pad, float* hs, int h_pad, int d, const float* g,
                                          const float* b, float* red) {
  for (int r = 0; r < M; ++r)
    for (int i = threadIdx.x; i < d; i += kThreads) hs[r * h_pad + i] = xs[r * x_pad + i];
  __syncthreads();
  for (int r = 0; r < M; ++r) norm_rows<1, 1>(hs + r * h_pad, d, g, b, red);  // (one turn at a time: registers)
  __syncthreads();
}

// xs += delta (an output product's result, bias included; [M, d] written by the previous phase).
template <int M>
__device__ __forceinline__ void add_delta(float* xs, int x_pad, const float* delta, int d) {
  for (int r = 0; r < M; ++r)
    for (int i = threadIdx.x; i < d; i += kThreads) xs[r * x_pad + i] += __ldcg(delta + static_cast<size_t>(r) * d + i);
  __syncthreads();
}

// xs += bias + fc2's segment sums, in segment order.
template <int M>
__device__ __forceinline__ void add_fc2(float* xs, int x_pad, const float* part, const float* bias, int d, int segs) {
  for (int r = 0; r < M; ++r)
    for (int i = threadIdx.x; i < d; i += kThreads) {
      float v = bias ? bias[i] : 0.0f;
      for (int s = 0; s < segs; ++s) v += __ldcg(part + (static_cast<size_t>(s) * M + r) * d + i);
      xs[r * x_pad + i] += v;
    }
  __syncthreads();
}

// What a product does with each output (row j, segment seg, sequence r, sum s): the bias added and the result stored,
// as the phase needs. One struct for every product, so that the compact kernel below has one product body.
enum class EpiKind : int { qkv, store, gelu, fc2_part };
struct Epilogue {
  EpiKind kind;
  const float* bias;  // or null
  float* out;         // store, gelu: out[r * ld + j]; fc2_part: out[(seg * M + r) * ld + j]; qkv: q[r * d + j]
  int ld;
  float* const* k_cache;  // qkv: rows j in [d, 2d) to k_cache[r][position[r] * ld_cache + j - d], [2d, 3d) to v_cache
  float* const* v_cache;
  const int* position;
  int ld_cache;
};

template <int M>
__device__ __forceinline__ void apply_epilogue(const Epilogue& e, int j, int seg, int r, float s) {
  switch (e.kind) {
    case EpiKind::qkv: {
      const float v = s + (e.bias ? e.bias[j] : 0.0f);
      const int d = e.ld;
      if (j < d) e.out[static_cast<size_t>(r) * d + j] = v;
      else if (j < 2 * d) e.k_cache[r][static_cast<size_t>(e.position[r]) * e.ld_cache + (j - d)] = v;
      else e.v_cache[r][static_cast<size_t>(e.position[r]) * e.ld_cache + (j - 2 * d)] = v;
      break;
    }
    case EpiKind::store:
      e.out[static_cast<size_t>(r) * e.ld + j] = s + (e.bias ? e.bias[j] : 0.0f);
      break;
    case EpiKind::gelu: {
      const float v = s + (e.bias ? e.bias[j] : 0.0f);
      e.out[static_cast<size_t>(r) * e.ld + j] = gelu_erf(v);
      break;
    }
    case EpiKind::fc2_part:
      e.out[(static_cast<size_t>(seg) * M + r) * e.ld + j] = s;
      break;
  }
}

// A product of the layer with its epilogue. kPre: *pre holds the warp's first loads where the kernel issued them
// early; without (the compact kernel, pre null), the first-item path folds away.
template <class T, int M, bool kPre>
__device__ __forceinline__ void gemv_phase(const T* w, int n, int k, int segs, const float* v, int ldv,
                                           const Preload* pre, const Epilogue& e) {
  const Preload none{};
  gemv_items<T, M>(w, n, k, segs, v, ldv, kPre ? *pre : none,
                   [&](int j, int seg, int r, float s) { apply_epilogue<M>(e, j, seg, r, s); });
}

template <class T, int M, bool kCompact>
__global__ void __launch_bounds__(kThreads, 1) decoder_stack_kernel(const __grid_constant__ StackArgs<T> a) {
  extern __shared__ float4 smem4[];
  float* xs = reinterpret_cast<float*>(smem4);  // [M][x_pad] this block's copy of x
  float* hs = xs + M * a.x_pad;                 // [M][h_pad] the current product's input
  float* stage = hs + M * a.h_pad;              // attention parts being merged
  __shared__ float red[64];  // norm_rows
  __shared__ int position[kMaxRows];
  const int d = a.d, segs = a.n_ff / d, xp = a.x_pad, hp = a.h_pad;
  if (threadIdx.x < M) position[threadIdx.x] = a.st ? a.st->position : a.position[threadIdx.x];
  for (int r = 0; r < M; ++r)
    for (int i = threadIdx.x; i < d; i += kThreads) xs[r * xp + i] = __ldcg(a.x + static_cast<size_t>(r) * a.ldx + i);
  __syncthreads();
  mark(a.trace, a.n_layer * kTraceSlots);
  // Early loads for one row only (with more, the held registers across the prologues made the kernel spill), and
  // only in the sm_90 code (the sm_80 code spilled a few registers with them; not measured there).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const bool early = !kCompact && M == 1 && a.early_loads != 0;
#else
  const bool early = false;
#endif
  Preload pre;
  preload(pre, early, a.w[0].w_qkv, 3 * d, d, 1);
  const Preload* held = kCompact ? nullptr : &pre;  // the products' early loads (none in the compact kernel)
  constexpr auto gemv = gemv_phase<T, M, !kCompact>;
  // The barrier before a product: its first weight loads issued between arriving and waiting (when `early`).
  auto sync_loading = [&](const T* w, int n, int k, int s) {
    if constexpr (kCompact) piece<true, grid_barrier>(a.barrier);
    else barrier_preloading(a.barrier, pre, early, w, n, k, s);
  };
  prefetch_small(a.w[0].ln1_g, d);
  prefetch_small(a.w[0].ln1_b, d);
  prefetch_small(a.w[0].b_qkv, 3 * d);
  for (int li = 0; li < a.n_layer; ++li) {
    const StackWeights<T>& L = a.w[li];
    const StackRows& R = a.rows[li];
    if (li > 0) piece<kCompact, add_fc2<M>>(xs, xp, a.fc2_part, a.w[li - 1].b_fc2, d, segs);
    // 1. q | k | v
    piece<kCompact, norm_into<M>>(xs, xp, hs, hp, d, L.ln1_g, L.ln1_b, red);
    piece<kCompact, prefetch_items<T>>(L.w_out, d, d, 1);
    piece<kCompact, prefetch_items<T>>(L.w_cq, d, d, 1);
    prefetch_small(L.b_out, d);
    prefetch_small(L.ln2_g, d);
    prefetch_small(L.ln2_b, d);
    prefetch_small(L.b_cq, d);
    piece<kCompact, prefetch_self>(R, position, M, a.ld_cache, a.n_head, a.self_chunks);
    mark(a.trace, li * kTraceSlots + 16);
    piece<kCompact, gemv>(L.w_qkv, 3 * d, d, 1, hs, hp, held,
              Epilogue{EpiKind::qkv, L.b_qkv, a.q, d, R.k_cache, R.v_cache, position, a.ld_cache});
    mark(a.trace, li * kTraceSlots + 0);
    piece<kCompact, grid_barrier>(a.barrier);
    mark(a.trace, li * kTraceSlots + 1);
    // 2. self-attention parts over rows 0 .. position of each sequence's caches
    mark(a.trace, li * kTraceSlots + 17);
    piece<kCompact, self_parts<M, kCompact>>(R, position, a.q, d, a.ld_cache, a.n_head, a.self_chunks, a.scale,
                                             a.att_part);
    mark(a.trace, li * kTraceSlots + 2);
    sync_loading(L.w_out, d, d, 1);
    mark(a.trace, li * kTraceSlots + 3);
    // 3. merged; the output product
    piece<kCompact, merge_rows<M>>(a.att_part, a.n_head, a.self_chunks, stage, hs, hp);
    piece<kCompact, prefetch_cross>(R, a.shared_cross, M, d, a.ld_cross, a.n_head, a.cross_chunks, a.n_cross);
    mark(a.trace, li * kTraceSlots + 18);
    piece<kCompact, gemv>(L.w_out, d, d, 1, hs, hp, held, Epilogue{EpiKind::store, L.b_out, a.delta, d});
    mark(a.trace, li * kTraceSlots + 4);
    sync_loading(L.w_cq, d, d, 1);
    mark(a.trace, li * kTraceSlots + 5);
    // 4. the residual; the cross-attention's queries
    piece<kCompact, add_delta<M>>(xs, xp, a.delta, d);
    piece<kCompact, norm_into<M>>(xs, xp, hs, hp, d, L.ln2_g, L.ln2_b, red);
    piece<kCompact, prefetch_items<T>>(L.w_cout, d, d, 1);
    piece<kCompact, prefetch_items<T>>(L.w_fc1, a.n_ff, d, 1);
    prefetch_small(L.b_cout, d);
    prefetch_small(L.ln3_g, d);
    prefetch_small(L.ln3_b, d);
    prefetch_small(L.b_fc1, a.n_ff);
    mark(a.trace, li * kTraceSlots + 19);
    piece<kCompact, gemv>(L.w_cq, d, d, 1, hs, hp, held, Epilogue{EpiKind::store, L.b_cq, a.q, d});
    mark(a.trace, li * kTraceSlots + 6);
    piece<kCompact, grid_barrier>(a.barrier);
    mark(a.trace, li * kTraceSlots + 7);
    // 5. cross-attention parts over each sequence's window
    mark(a.trace, li * kTraceSlots + 20);
    piece<kCompact, cross_parts<M, kCompact>>(R, a.shared_cross, a.q, d, a.ld_cross, a.n_cross, a.n_head,
                                              a.cross_chunks, a.scale, a.att_part);
    mark(a.trace, li * kTraceSlots + 8);
    sync_loading(L.w_cout, d, d, 1);
    mark(a.trace, li * kTraceSlots + 9);
    // 6. merged; the output product
    piece<kCompact, merge_rows<M>>(a.att_part, a.n_head, a.cross_chunks, stage, hs, hp);
    piece<kCompact, prefetch_items<T>>(L.w_fc2, d, a.n_ff, segs);
    prefetch_small(L.b_fc2, d);
    mark(a.trace, li * kTraceSlots + 21);
    piece<kCompact, gemv>(L.w_cout, d, d, 1, hs, hp, held, Epilogue{EpiKind::store, L.b_cout, a.delta, d});
    mark(a.trace, li * kTraceSlots + 10);
    sync_loading(L.w_fc1, a.n_ff, d, 1);
    mark(a.trace, li * kTraceSlots + 11);
    // 7. the residual; fc1 with GELU
    piece<kCompact, add_delta<M>>(xs, xp, a.delta, d);
    piece<kCompact, norm_into<M>>(xs, xp, hs, hp, d, L.ln3_g, L.ln3_b, red);
    if (li + 1 < a.n_layer) {
      piece<kCompact, prefetch_items<T>>(a.w[li + 1].w_qkv, 3 * d, d, 1);
      prefetch_small(a.w[li + 1].ln1_g, d);
      prefetch_small(a.w[li + 1].ln1_b, d);
      prefetch_small(a.w[li + 1].b_qkv, 3 * d);
    }
    mark(a.trace, li * kTraceSlots + 22);
    piece<kCompact, gemv>(L.w_fc1, a.n_ff, d, 1, hs, hp, held, Epilogue{EpiKind::gelu, L.b_fc1, a.mlp, a.n_ff});
    mark(a.trace, li * kTraceSlots + 12);
    sync_loading(L.w_fc2, d, a.n_ff, segs);
    mark(a.trace, li * kTraceSlots + 13);
    // 8. fc2 by segments
    for (int r = 0; r < M; ++r)
      for (int i = threadIdx.x; i < a.n_ff; i += kThreads) hs[r * hp + i] = __ldcg(a.mlp + static_cast<size_t>(r) * a.n_ff + i);
    __syncthreads();
    mark(a.trace, li * kTraceSlots + 23);
    piece<kCompact, gemv>(L.w_fc2, d, a.n_ff, segs, hs, hp, held,
                          Epilogue{EpiKind::fc2_part, nullptr, a.fc2_part, d});
    mark(a.trace, li * kTraceSlots + 14);
    if (li + 1 < a.n_layer) sync_loading(a.w[li + 1].w_qkv, 3 * d, d, 1);
    else piece<kCompact, grid_barrier>(a.barrier);
    mark(a.trace, li * kTraceSlots + 15);
  }
  piece<kCompact, add_fc2<M>>(xs, xp, a.fc2_part, a.w[a.n_layer - 1].b_fc2, d, segs);
  mark(a.trace, a.n_layer * kTraceSlots + 1);
  if (blockIdx.x == 0)
    for (int r = 0; r < M; ++r)
      for (int i = threadIdx.x; i < d; i += kThreads) a.x[static_cast<size_t>(r) * a.ldx + i] = xs[r * xp + i];
}

const float* ptr(const Mat& m) { return m.empty() ? nullptr : m.data; }

template <class T>
const T* half_ptr(const Weights& w) {
  return static_cast<const T*>(w.packed.get());
}

int round4(int n) { return (n + 3) / 4 * 4; }

// The launch's shape: attention parts a head, shared memory.
struct StackShape {
  int self_chunks, cross_chunks, x_pad, h_pad;
  size_t shared;
};

StackShape stack_shape(int n_sm, int rows, int d, int n_head, int n_ff, bool shared_cross) {
  StackShape s{};
  s.self_chunks = std::max(1, n_sm / (rows * n_head));
  s.cross_chunks = std::max(1, n_sm / ((shared_cross ? 1 : rows) * n_head));
  s.x_pad = round4(d);
  s.h_pad = round4(std::max(d, n_ff));
  s.shared = sizeof(float) * (static_cast<size_t>(rows) * (s.x_pad + s.h_pad) +
                              static_cast<size_t>(n_head) * std::max(s.self_chunks, s.cross_chunks) * kPart);
  return s;
}

// f(std::integral_constant<int, M>{}) for M = m (1 .. kMaxRows): the kernel's instantiation for m rows.
template <class F>
auto with_rows(int m, F&& f) {
  switch (m) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

// Lets decoder_stack_kernel<T, M, C> take `shared` bytes of dynamic shared memory: the attribute is only raised (per
// instantiation, as half_linear.cu's launch_gemv does), so a model with a smaller block never takes back what a
// larger one's launches need; asked of the driver only when it grows. False where the device refuses.
template <class T, int M, bool C>
bool allow_shared(size_t shared) {
  static size_t allowed = 48 * 1024;
  if (shared <= allowed) return true;
  if (cudaFuncSetAttribute(decoder_stack_kernel<T, M, C>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(shared)) != cudaSuccess) {
    cudaGetLastError();  // clear it: the caller falls back to the ops in turn
    return false;
  }
  allowed = shared;
  return true;
}

template <class T, int M, bool C>
void launch_stack(const StackArgs<T>& args, int n_sm, size_t shared, cudaStream_t stream) {
  if (!allow_shared<T, M, C>(shared)) throw Error("decoder layers: the device refuses " + std::to_string(shared) +
                                                " bytes of shared memory a block");
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(n_sm);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = shared;
  config.stream = stream;
  cudaLaunchAttribute attribute[1] = {};
  attribute[0].id = cudaLaunchAttributeCooperative;  // every block resident at once (the barriers need it)
  attribute[0].val.cooperative = 1;
  config.attrs = attribute;
  config.numAttrs = 1;
  WST_CUDA_CHECK(cudaLaunchKernelEx(&config, decoder_stack_kernel<T, M, C>, args));
}

// Whether a block of decoder_stack_kernel<T, M, C> with `shared` bytes of dynamic shared memory fits on an SM of this
// device (a cooperative launch of one block an SM needs it; false also where the kernel has no image for the device).
template <class T, int M, bool C>
bool resident(size_t shared) {
  int blocks = 0;
  if (!allow_shared<T, M, C>(shared) ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, decoder_stack_kernel<T, M, C>, kThreads, shared) !=
          cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return blocks >= 1;
}

// Whether every sequence attends over the same window (beams): cross_kv [layer][sequence].
bool shares_window(const std::vector<std::vector<const Mat*>>& cross_kv) {
  for (const auto& layer : cross_kv)
    for (const Mat* c : layer)
      if (c->data != layer[0]->data) return false;
  return true;
}

// The kernel's scratch rows: q and attn [M, d], mlp [M, n_ff], contiguous.
bool stack_scratch_fits(const std::vector<DecoderLayerWeights>& layers, const Mat& x, const Mat& q, const Mat& attn,
                        const Mat& mlp) {
  const int d = x.cols, m = x.rows, n_ff = layers.empty() ? 0 : layers[0].fc1.w.rows;
  return q.rows >= m && q.cols >= d && q.ld == d && attn.rows >= m && attn.cols >= d && attn.ld == d && mlp.rows >= m &&
         mlp.cols >= n_ff && mlp.ld == n_ff;
}

}  // namespace

bool CudaBackend::decoder_stack_fits(const std::vector<DecoderLayerWeights>& layers,
                                     const std::vector<std::vector<Mat*>>& k_caches,
                                     const std::vector<std::vector<Mat*>>& v_caches,
                                     const std::vector<std::vector<const Mat*>>& cross_kv, int n_head,
                                     const Mat& x) const {
  const int n = static_cast<int>(layers.size()), d = x.cols, m = x.rows;
  if (precision_ == Precision::f32 || !cooperative_ || n < 1 || n > kMaxLayers || m < 1 || m > kMaxRows ||
      n_head < 1 || d != n_head * kDh || static_cast<int>(k_caches.size()) != n ||
      static_cast<int>(v_caches.size()) != n || static_cast<int>(cross_kv.size()) != n)
    return false;
  const WeightType t = layers[0].qkv.w.type;
  if (t != (precision_ == Precision::f16 ? WeightType::float16 : WeightType::bfloat16)) return false;
  const int n_ff = layers[0].fc1.w.rows;
  if (n_ff < d || n_ff % d != 0) return false;
  auto lin = [&](const LinearWeights& l, int rows, int cols) {
    return l.w.type == t && l.w.rows == rows && l.w.cols == cols && (l.b.empty() || l.b.cols == rows);
  };
  auto ln = [&](const LayerNormWeights& l) { return l.gamma.cols == d && l.beta.cols == d; };
  const Mat* c0 = cross_kv[0].empty() ? nullptr : cross_kv[0][0];
  if (c0 == nullptr || k_caches[0].empty() || k_caches[0][0] == nullptr) return false;
  const int ld_cache = k_caches[0][0]->ld;
  for (int i = 0; i < n; ++i) {
    const DecoderLayerWeights& l = layers[i];
    if (!ln(l.attn_ln) || !ln(l.cross_ln) || !ln(l.mlp_ln) || !lin(l.qkv, 3 * d, d) || !lin(l.attn_out, d, d) ||
        !lin(l.cross_q, d, d) || !lin(l.cross_out, d, d) || !lin(l.fc1, n_ff, d) || !lin(l.fc2, d, n_ff))
      return false;
    if (static_cast<int>(k_caches[i].size()) != m || static_cast<int>(v_caches[i].size()) != m ||
        static_cast<int>(cross_kv[i].size()) != m)
      return false;
    for (int b = 0; b < m; ++b) {
      const Mat *k = k_caches[i][b], *v = v_caches[i][b], *c = cross_kv[i][b];
      if (!k || !v || !c || k->cols != d || v->cols != d || k->ld != ld_cache || v->ld != ld_cache || c->cols != 2 * d ||
          c->ld != c0->ld || c->rows != c0->rows || c->rows < 1)
        return false;
      // Each sequence its own caches (the kernel writes their new rows in parallel; op by op, one after another).
      for (int e = 0; e < b; ++e)
        if (k_caches[i][e]->data == k->data || v_caches[i][e]->data == v->data) return false;
    }
  }
  // The block's dynamic shared memory; resident() then asks the device whether it fits with the kernel's static
  // arrays (4.3 KiB for one row, 8.4 KiB for more).
  const size_t shared = stack_shape(n_sm_, m, d, n_head, n_ff, shares_window(cross_kv)).shared;
  if (shared > shared_optin_) return false;
  const bool compact = precision_ == Precision::f16 && persistent_compact_;
  const auto key = std::make_tuple(precision_ == Precision::f16 ? (compact ? 3 : 1) : 2, m, shared);
  auto it = stack_resident_.find(key);
  if (it == stack_resident_.end())
    it = stack_resident_
             .emplace(key, with_rows(m, [&](auto rows) {
                        if (precision_ != Precision::f16) return resident<__nv_bfloat16, rows(), false>(shared);
                        return compact ? resident<__half, rows(), true>(shared)
                                       : resident<__half, rows(), false>(shared);
                      }))
             .first;
  return it->second;
}

void CudaBackend::run_decoder_stack(const std::vector<DecoderLayerWeights>& layers,
                                    const std::vector<std::vector<Mat*>>& k_caches,
                                    const std::vector<std::vector<Mat*>>& v_caches,
                                    const std::vector<std::vector<const Mat*>>& cross_kv, const int* positions,
                                    const StepState* st, int n_head, Mat& x, Mat& q, Mat& attn, Mat& mlp) {
  const int n = static_cast<int>(layers.size()), d = x.cols, m = x.rows, n_ff = layers[0].fc1.w.rows;
  if (!stack_scratch_fits(layers, x, q, attn, mlp))
    throw Error("decoder layers: scratch rows of the wrong shape for " + std::to_string(m) + " x " + std::to_string(d));
  for (const auto& layer : cross_kv)
    for (const Mat* c : layer) fresh_cross_kv(*c, true);  // (the kernel reads the float32 K/V)
  const bool shared_cross = shares_window(cross_kv);
  const StackShape shape = stack_shape(n_sm_, m, d, n_head, n_ff, shared_cross);
  // Scratch kept alive by the stream's order (the pool hands a block out again only to later work) or, while
  // recording, by the recording (alloc_bytes): fc2's segment sums, the attention parts, the barrier's two counters
  // (zeroed before every launch).
  std::shared_ptr<void> fc2_part = alloc_bytes(sizeof(float) * static_cast<size_t>(m) * n_ff);
  const int parts = m * n_head * std::max(shape.self_chunks, shape.cross_chunks);
  std::shared_ptr<void> att_part = alloc_bytes(sizeof(float) * static_cast<size_t>(parts) * kPart);
  std::shared_ptr<void> barrier = alloc_bytes(2 * kGeneration * sizeof(unsigned));
  WST_CUDA_CHECK(cudaMemsetAsync(barrier.get(), 0, 2 * kGeneration * sizeof(unsigned), stream_));
  auto fill = [&](auto& args, auto tag) {
    using T = decltype(tag);
    for (int i = 0; i < n; ++i) {
      const DecoderLayerWeights& l = layers[i];
      auto& s = args.w[i];
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
      s.w_cout = half_ptr<T>(l.cross_out.w);
      s.b_cout = ptr(l.cross_out.b);
      s.ln3_g = l.mlp_ln.gamma.data;
      s.ln3_b = l.mlp_ln.beta.data;
      s.w_fc1 = half_ptr<T>(l.fc1.w);
      s.b_fc1 = ptr(l.fc1.b);
      s.w_fc2 = half_ptr<T>(l.fc2.w);
      s.b_fc2 = ptr(l.fc2.b);
      for (int b = 0; b < m; ++b) {
        args.rows[i].k_cache[b] = k_caches[i][b]->data;
        args.rows[i].v_cache[b] = v_caches[i][b]->data;
        args.rows[i].cross[b] = cross_kv[i][b]->data;
      }
    }
    for (int b = 0; b < m; ++b) args.position[b] = positions ? positions[b] : 0;
    args.n_layer = n;
    args.d = d;
    args.n_head = n_head;
    args.n_ff = n_ff;
    args.n_cross = cross_kv[0][0]->rows;
    args.ld_cross = cross_kv[0][0]->ld;
    args.ld_cache = k_caches[0][0]->ld;
    args.self_chunks = shape.self_chunks;
    args.cross_chunks = shape.cross_chunks;
    args.shared_cross = shared_cross ? 1 : 0;
    args.x_pad = shape.x_pad;
    args.h_pad = shape.h_pad;
    args.x = x.data;
    args.ldx = x.ld;
    args.q = q.data;
    args.delta = attn.data;
    args.mlp = mlp.data;
    args.fc2_part = static_cast<float*>(fc2_part.get());
    args.att_part = static_cast<float*>(att_part.get());
    args.barrier = static_cast<unsigned*>(barrier.get());
    args.st = st;
    args.scale = 1.0f / std::sqrt(static_cast<float>(kDh));
    args.early_loads = persistent_early_loads_ ? 1 : 0;
    args.trace = persistent_trace_;
  };
  ++persistent_launches_;
  if (precision_ == Precision::f16) {
    StackArgs<__half> args{};
    fill(args, __half{});
    with_rows(m, [&](auto rows) {
      if (persistent_compact_) launch_stack<__half, rows(), true>(args, n_sm_, shape.shared, stream_);
      else launch_stack<__half, rows(), false>(args, n_sm_, shape.shared, stream_);
    });
  } else {
    StackArgs<__nv_bfloat16> args{};
    fill(args, __nv_bfloat16{});
    with_rows(m, [&](auto rows) { launch_stack<__nv_bfloat16, rows(), false>(args, n_sm_, shape.shared, stream_); });
  }
}

void CudaBackend::decoder_layers_at(const std::vector<DecoderLayerWeights>& layers, std::vector<Mat>& k_caches,
                                    std::vector<Mat>& v_caches, const std::vector<Mat>& cross_kv, int n_head, Mat& x,
                                    Mat& qkv, Mat& attn, Mat& q, Mat& mlp) {
  if (!recording_) throw Error("decoder_layers_at: only while a step is recorded");
  for (const Mat& c : k_caches) note_step_rows(c.rows);
  for (const Mat& c : v_caches) note_step_rows(c.rows);
  const size_t n = layers.size();
  std::vector<std::vector<Mat*>> ks(n), vs(n);
  std::vector<std::vector<const Mat*>> cs(n);
  for (size_t i = 0; i < n && i < k_caches.size() && i < v_caches.size() && i < cross_kv.size(); ++i) {
    ks[i] = {&k_caches[i]};
    vs[i] = {&v_caches[i]};
    cs[i] = {&cross_kv[i]};
  }
  if (!persistent_decoder_ || k_caches.size() != n || v_caches.size() != n || cross_kv.size() != n ||
      !decoder_stack_fits(layers, ks, vs, cs, n_head, x) || !stack_scratch_fits(layers, x, q, attn, mlp))
    return Backend::decoder_layers_at(layers, k_caches, v_caches, cross_kv, n_head, x, qkv, attn, q, mlp);
  run_decoder_stack(layers, ks, vs, cs, nullptr, static_cast<const StepState*>(step_dev_.get()), n_head, x, q, attn,
                    mlp);
}

void CudaBackend::decoder_layers_rows(const std::vector<DecoderLayerWeights>& layers,
                                      const std::vector<std::vector<Mat*>>& k_caches,
                                      const std::vector<std::vector<Mat*>>& v_caches, const std::vector<int>& positions,
                                      const std::vector<std::vector<const Mat*>>& cross_kv, int n_head, Mat& x,
                                      Mat& qkv, Mat& attn, Mat& q, Mat& mlp) {
  const int n = static_cast<int>(layers.size()), rows = x.rows;
  auto fallback = [&] {
    Backend::decoder_layers_rows(layers, k_caches, v_caches, positions, cross_kv, n_head, x, qkv, attn, q, mlp);
  };
  if (!persistent_decoder_ || recording_ || static_cast<int>(positions.size()) != rows ||
      static_cast<int>(k_caches.size()) != n || static_cast<int>(v_caches.size()) != n ||
      static_cast<int>(cross_kv.size()) != n || !stack_scratch_fits(layers, x, q, attn, mlp))
    return fallback();
  // More sequences than a launch takes (batched windows, 16 by default where memory allows): launches of up to
  // kMaxRows rows in turn, each reading the weights once, when every one of them fits.
  struct Chunk {
    int b0, m;
    std::vector<std::vector<Mat*>> k, v;
    std::vector<std::vector<const Mat*>> c;
  };
  std::vector<Chunk> chunks;
  for (int b0 = 0; b0 < rows; b0 += kMaxRows) {
    Chunk ch{b0, std::min(kMaxRows, rows - b0), {}, {}, {}};
    for (int i = 0; i < n; ++i) {
      if (static_cast<int>(k_caches[i].size()) != rows || static_cast<int>(v_caches[i].size()) != rows ||
          static_cast<int>(cross_kv[i].size()) != rows)
        return fallback();
      ch.k.emplace_back(k_caches[i].begin() + b0, k_caches[i].begin() + b0 + ch.m);
      ch.v.emplace_back(v_caches[i].begin() + b0, v_caches[i].begin() + b0 + ch.m);
      ch.c.emplace_back(cross_kv[i].begin() + b0, cross_kv[i].begin() + b0 + ch.m);
    }
    if (!decoder_stack_fits(layers, ch.k, ch.v, ch.c, n_head, x.rows_view(b0, ch.m))) return fallback();
    // Distinct caches across the chunks too (fits checks within one launch).
    for (int i = 0; i < n; ++i)
      for (int b = b0; b < b0 + ch.m; ++b)
        for (int e = 0; e < b0; ++e)
          if (k_caches[i][e]->data == k_caches[i][b]->data || v_caches[i][e]->data == v_caches[i][b]->data)
            return fallback();
    for (int i = 0; i < n; ++i)
      for (int b = 0; b < ch.m; ++b) {
        const int p = positions[b0 + b];
        if (p < 0 || p >= ch.k[i][b]->rows || p >= ch.v[i][b]->rows) return fallback();
      }
    chunks.push_back(std::move(ch));
  }
  for (const Chunk& ch : chunks) {
    Mat xc = x.rows_view(ch.b0, ch.m), qc = q.rows_view(ch.b0, ch.m), ac = attn.rows_view(ch.b0, ch.m),
        mc = mlp.rows_view(ch.b0, ch.m);
    run_decoder_stack(layers, ch.k, ch.v, ch.c, positions.data() + ch.b0, nullptr, n_head, xc, qc, ac, mc);
  }
}

}  // namespace wst::engine::cuda
