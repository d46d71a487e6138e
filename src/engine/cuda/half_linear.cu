// CUDA weights in half precision (float16, bfloat16): upload, linear (plain and fused with the layer norm
// before it and the GELU or residual add after it). Their embedding lookup is embed.cu's.
// - Few rows (a decoded token, a handful of beams): a matrix-vector kernel bound by reading the weights, one
//   warp per output row, 16-byte loads (8 halves), the activations in shared memory as float32, float32 sums,
//   the bias added at the end. Half the bytes of the float32 kernel in linear.cu.
// - 2 to 16 rows of float16 weights (beams, batched windows): tensor_rows.cu's tensor-core kernel instead, by default.
// - More rows (the encoder, a prompt, the cross-attention K/V): the activations are rounded to the weights'
//   type and cuBLAS multiplies on the tensor cores with float32 accumulation and a float32 output
//   (cublasGemmEx), the bias written into y first (beta = 1) as linear.cu does.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/row_products.cuh"
#include "engine/cuda/tensor_rows.cuh"
#include "engine/layer_weights.h"
#include "util/errors.h"
#include "util/half.h"

namespace wst::engine::cuda {

namespace {

constexpr int kMaxGemvRows = 8;    // x rows handled by the matrix-vector kernel
constexpr int kMaxGemvWarps = 8;   // warps a block, at most (GemvShape::warps)
// The activations' shared memory a block, at most (GemvConfig::shared_limit, set once from the device). 96 KiB:
// letting the kernel take 160 KiB (a 5-beam step's fc2 in one chunk) was slower: a large-v3 5-beam step 6.48 against
// 5.91-5.99 ms (run 33; fewer blocks an SM). Rows x width beyond it go through the kernel in chunks of the width.
constexpr size_t kMaxGemvShared = 96 * 1024;
// A chunk's activations when M rows x k do not fit at once (fc2's 5120 wide input with several rows).
constexpr size_t kGemvChunkBytes = 48 * 1024;
// 16-byte weight loads a lane keeps in registers for one output row (one row a warp): 8 covers rows up to 2048 wide
// (every product whose input is the residual stream), 20 up to 5120 (the MLP's second product); more registers a
// thread mean fewer blocks an SM. With R rows a warp: 5 a row (1280 wide: large-v3's whole row), or 20 / R for the
// wide input.
constexpr int kHeldNarrow = 8, kHeldWide = 20;
template <int R, bool kWide>
constexpr int held_per_row() {
  return R == 1 ? (kWide ? kHeldWide : kHeldNarrow) : (kWide ? kHeldWide / R : 5);
}

// kEpiKv: write y, and write its columns [d, 2d) and [2d, 3d) into row `position` of the K and V caches too
// (a recorded step's qkv product: the cache copies need no kernels of their own).
enum : int { kEpiNone = 0, kEpiGelu = 1, kEpiAdd = 2, kEpiKv = 3 };

// The matrix-vector kernel's layer norm: none; x normed in shared memory before the products (kNormRows); or folded
// into the weights (kNormFolded, one row: NormFold, cuda_backend.cuh): the products run on the raw row, and each
// warp takes the row's mean m and 1 / std r itself, y = r (acc - m s_j) + b'_j.
enum : int { kNormNone = 0, kNormRows = 1, kNormFolded = 2 };

// Where kEpiKv writes: the two caches, their row stride, the model width d, the step's position on the device.
struct KvTarget {
  float* k = nullptr;
  float* v = nullptr;
  int ld = 0, d = 0;
  const StepState* step = nullptr;
};

// The M (>= 2) rows of xs [M, k] layer-normed in place: each warp takes whole rows (its mean and variance by warp
// shuffles, two passes as layer_norm.cu), then the block applies them. norm_rows (row_products.cuh) runs the rows
// one after another with two block-wide sums each; with 5 beams that was most of a product's time (run 32: the
// 5-row q|k|v product 25.5 us against 8.9 for one row).
template <int M>
__device__ __forceinline__ void norm_rows_by_warp(float* xs, int k, const float* gamma, const float* beta) {
  __shared__ float stat[M][2];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = blockDim.x / 32;
  for (int r = warp; r < M; r += n_warps) {
    float mean, rstd;
    row_stats_by_warp(xs + r * k, k, lane, &mean, &rstd);
    if (lane == 0) {
      stat[r][0] = mean;
      stat[r][1] = rstd;
    }
  }
  __syncthreads();
  for (int r = 0; r < M; ++r) apply_norm(xs + r * k, k, stat[r][0], stat[r][1], gamma, beta);
}

// The M rows of xs [M, k] layer-normed as the matrix-vector kernel does it: a warp a row (norm_rows_by_warp) or by the
// whole block (norm_rows; its order depends on the block's size: 256 threads wherever this runs).
template <int M>
__device__ __forceinline__ void norm_rows_of_gemv(float* xs, int k, const float* gamma, const float* beta,
                                                  bool by_warp) {
  if (by_warp) {
    norm_rows_by_warp<M>(xs, k, gamma, beta);
  } else {
    __shared__ float red[64];
    norm_rows<M>(xs, k, gamma, beta, red);
  }
}

template <class T, int M, int R>
__device__ __forceinline__ void accumulate8_wide(const uint4 (&raw)[R], const float* xs, int k, int i,
                                                 float (&acc)[R][M]);

// One 16-byte load of weights for each of the warp's R output rows times the M rows of x in shared memory: each
// x value read from shared memory serves R rows of weights (accumulate8_wide; one row: row_products.cuh's
// accumulate8).
template <class T, int M, int R>
__device__ __forceinline__ void accumulate8_rows(const uint4 (&raw)[R], const float* xs, int k, int i,
                                                 float (&acc)[R][M]) {
  if constexpr (R == 1) {
    accumulate8<T, M>(raw[0], xs, k, i, acc[0]);  // the code the fused attention kernels run: the same bits
  } else {
    accumulate8_wide<T, M, R>(raw, xs, k, i, acc);
  }
}

template <class T, int M, int R>
__device__ __forceinline__ void accumulate8_wide(const uint4 (&raw)[R], const float* xs, int k, int i,
                                                 float (&acc)[R][M]) {
  using T2 = typename Pair<T>::type;
  float wf[R][8];
#pragma unroll
  for (int q = 0; q < R; ++q) {
    const T2* h = reinterpret_cast<const T2*>(&raw[q]);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 f = to_float2(h[e]);
      wf[q][2 * e] = f.x;
      wf[q][2 * e + 1] = f.y;
    }
  }
#pragma unroll
  for (int r = 0; r < M; ++r) {
    const float4* xr = reinterpret_cast<const float4*>(xs + r * k + 8 * i);
    const float4 a = xr[0], b = xr[1];
#pragma unroll
    for (int q = 0; q < R; ++q)
      acc[q][r] += wf[q][0] * a.x + wf[q][1] * a.y + wf[q][2] * a.z + wf[q][3] * a.w + wf[q][4] * b.x +
                   wf[q][5] * b.y + wf[q][6] * b.z + wf[q][7] * b.w;
  }
}

// Blocks an SM the compiler keeps registers for: three for float16's narrow one-row kernel without a layer norm, one
// output row a warp (80 registers a thread, as before it took R rows and chunks; otherwise it took 93, and two blocks
// fit). bfloat16, a layer norm (91 before, as now) and more rows would spill at 80.
template <class T>
constexpr int gemv_min_blocks(int m, int r, int held, bool chunked, bool norm) {
  return std::is_same_v<T, __half> && r == 1 && held <= kHeldNarrow && !chunked && !norm && m == 1 ? 3 : 1;
}

// The warp's R rows times the chunk xs [M, cn] (x's values [c0, c0 + cn)), from the 16-byte index `from` (the
// lane's own, in steps of 32) to the chunk's end: kBatch loads a row in flight before their products (1 where the
// held loads cover the rows, so that the registers stay as few as before).
template <class T, int M, int R, int kBatch>
__device__ __forceinline__ void accumulate_span(const uint4* const (&w8)[R], const bool (&has)[R], const float* xs,
                                                int cn, int c0, int from, float (&acc)[R][M]) {
  const int i_begin = c0 / 8, i_end = (c0 + cn) / 8;
  int i = from;
  if constexpr (kBatch > 1) {
    for (; i + 32 * (kBatch - 1) < i_end; i += 32 * kBatch) {
      uint4 raw[kBatch][R];
#pragma unroll
      for (int u = 0; u < kBatch; ++u)
#pragma unroll
        for (int q = 0; q < R; ++q) raw[u][q] = has[q] ? __ldg(w8[q] + i + 32 * u) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int u = 0; u < kBatch; ++u) accumulate8_rows<T, M, R>(raw[u], xs, cn, i + 32 * u - i_begin, acc);
    }
  }
  for (; i < i_end; i += 32) {
    uint4 raw[R];
#pragma unroll
    for (int q = 0; q < R; ++q) raw[q] = has[q] ? __ldg(w8[q] + i) : make_uint4(0, 0, 0, 0);
    accumulate8_rows<T, M, R>(raw, xs, cn, i - i_begin, acc);
  }
}

// y[r, j] = epilogue(bias[j] + sum_t w[j, t] norm(x)[r, t]) for r < M. Each warp computes R consecutive output rows
// j (a block: blockDim.x / 32 warps). kNorm: x is layer-normed (gamma, beta) as it is loaded (every block normalises
// the few rows itself: k values each, cheaper than a launch). kEpi: write, write the GELU, or add to y. k % 8 == 0
// (gemv_fits), so the rows of w are 16-byte aligned and read 8 halves a load. Each lane loads its share of its rows
// (up to kHeld loads a row) into registers first, all in flight together, before waiting for the kernel that writes
// x (launch.cuh): the weights' trip from memory overlaps that kernel's end. kChunked: x is read kc values at a time
// (M rows of k floats exceed the shared memory; never with kNorm; the held loads all fall in the first chunk,
// kc >= 256 * kHeld). Every row's sum runs in the same order whatever R, the warps or the chunks, so one row (M = 1)
// gives the same bits for every launch shape.
template <class T, int M, int R, int kNorm, int kEpi, int kHeld, bool kChunked>
__global__ void __launch_bounds__(32 * kMaxGemvWarps, gemv_min_blocks<T>(M, R, kHeld, kChunked, kNorm != kNormNone)) half_gemv_kernel(const float* x, int ldx, const float* gamma, const float* beta, const T* w,
                                 const float* bias, const float* row_sums, float* y, int ldy, int n, int k, int kc,
                                 bool norm_by_warp, bool staged, KvTarget kv) {
  static_assert(kNorm != kNormFolded || (M == 1 && !kChunked), "the folded norm takes one whole row");
  constexpr int kBatch = R == 1 && !kChunked ? 1 : 4;
  // [M, kc] floats, 16-byte aligned for load_rows; then, staged (GemvConfig::stage_norm), the norm's gains and
  // biases [2, k]
  extern __shared__ float4 xs_raw[];
  float* xs = reinterpret_cast<float*>(xs_raw);
  const int lane = threadIdx.x % 32;
  const int j0 = (blockIdx.x * static_cast<int>(blockDim.x / 32) + static_cast<int>(threadIdx.x / 32)) * R;
  const int k8 = k / 8;
  const uint4* w8[R];
  bool has[R];
#pragma unroll
  for (int q = 0; q < R; ++q) {
    has[q] = j0 + q < n;
    w8[q] = reinterpret_cast<const uint4*>(w + static_cast<size_t>(has[q] ? j0 + q : 0) * k);
  }
  uint4 held[kHeld][R];
#pragma unroll
  for (int u = 0; u < kHeld; ++u)
#pragma unroll
    for (int q = 0; q < R; ++q)
      if (has[q] && lane + 32 * u < k8) held[u][q] = __ldg(w8[q] + lane + 32 * u);
  // The bias and the norm's gains are weights too: read (or asked into L2) before waiting, not after the sums.
  float bq[R];
#pragma unroll
  for (int q = 0; q < R; ++q) bq[q] = bias && has[q] ? __ldg(bias + j0 + q) : 0.0f;
  float sq[kNorm == kNormFolded ? R : 1];  // the folded weights' row sums s_j
  if constexpr (kNorm == kNormFolded) {
#pragma unroll
    for (int q = 0; q < R; ++q) sq[q] = has[q] ? __ldg(row_sums + j0 + q) : 0.0f;
  }
  if constexpr (kNorm == kNormRows) prepare_norm_weights(gamma, beta, k, staged, xs + M * kc);
  wait_for_previous_kernel();
  let_next_kernel_start();
  // The residual this product adds onto, read now (written by an earlier kernel) rather than after the sums, where
  // its trip to L2 would follow them; for the one- and two-value cases only (registers).
  constexpr bool kEarlyAdd = kEpi == kEpiAdd && M * R <= 2;
  float prev[kEarlyAdd ? R : 1][kEarlyAdd ? M : 1];
  if constexpr (kEarlyAdd) {
#pragma unroll
    for (int q = 0; q < R; ++q)
#pragma unroll
      for (int r = 0; r < M; ++r)
        prev[q][r] = lane == 0 && has[q] ? y[static_cast<size_t>(r) * ldy + j0 + q] : 0.0f;
  }
  const int cn = kChunked ? min(kc, k) : k;
  load_rows<M>(x, ldx, cn, xs);
  __syncthreads();
  chain_probe_mark(1);  // (a probe build's phases: 1 x loaded, 2 normed, 3 summed, 4 written)
  if constexpr (kNorm == kNormRows) {
    take_norm_weights(staged, xs + M * kc, k, 0, &gamma, &beta);
    norm_rows_of_gemv<M>(xs, k, gamma, beta, norm_by_warp);
    __syncthreads();
    chain_probe_mark(2);
  }
  if (!kChunked && !has[0]) return;  // (a chunked block's warps all take part in its barriers)
  // The folded norm's statistics, by every warp for itself (no barrier): row_stats_by_warp's two passes, the bits of
  // the warp norm's mean and 1 / std whatever the shape.
  float mean = 0.0f, rstd = 1.0f;
  if constexpr (kNorm == kNormFolded) row_stats_by_warp(xs, k, lane, &mean, &rstd);
  float acc[R][M] = {};
  if (has[0]) {
#pragma unroll
    for (int u = 0; u < kHeld; ++u)
      if (lane + 32 * u < k8) accumulate8_rows<T, M, R>(held[u], xs, cn, lane + 32 * u, acc);
    accumulate_span<T, M, R, kBatch>(w8, has, xs, cn, 0, lane + 32 * kHeld, acc);
  }
  if constexpr (kChunked) {
    for (int c0 = kc; c0 < k; c0 += kc) {
      const int cm = min(kc, k - c0);
      __syncthreads();  // every warp is done with the previous chunk
      load_rows<M>(x + c0, ldx, cm, xs);
      __syncthreads();
      if (has[0]) accumulate_span<T, M, R, kBatch>(w8, has, xs, cm, c0, c0 / 8 + lane, acc);
    }
  }
  chain_probe_mark(3);
#pragma unroll
  for (int q = 0; q < R; ++q) {
    if (!has[q]) break;
    const int j = j0 + q;
#pragma unroll
    for (int r = 0; r < M; ++r) {
      float a = acc[q][r];
      for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
      if (lane == 0) {
        float v = a + bq[q];  // as a + (bias ? bias[j] : 0): the same bits
        if constexpr (kNorm == kNormFolded) v = folded_norm_value(a, mean, rstd, sq[q], bq[q]);
        float* out = y + static_cast<size_t>(r) * ldy + j;
        if constexpr (kEpi == kEpiGelu) v = gelu_erf(v);
        if constexpr (kEarlyAdd) *out = prev[q][r] + v;  // as *out += v
        else if constexpr (kEpi == kEpiAdd) *out += v;
        else *out = v;
        if constexpr (kEpi == kEpiKv) {
          const size_t row = static_cast<size_t>(kv.step->position) * kv.ld;
          if (j >= 2 * kv.d) kv.v[row + (j - 2 * kv.d)] = v;
          else if (j >= kv.d) kv.k[row + (j - kv.d)] = v;
        }
      }
    }
  }
  chain_probe_mark(4);
}

// Rounds x [rows, cols] (row stride ldx) to T, contiguous.
template <class T>
__global__ void round_rows_kernel(const float* x, int ldx, int rows, int cols, T* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<size_t>(rows) * cols) return;
  const int r = static_cast<int>(i / cols), c = static_cast<int>(i % cols);
  out[i] = from_float<T>(x[static_cast<size_t>(r) * ldx + c]);
}

// The held loads a row when x goes in chunks: all in the first chunk (gemv_chunk's chunks are >= 1024 wide).
constexpr int kHeldChunked = 4;
constexpr int kMinGemvChunk = 1024;
static_assert(32 * 8 * kHeldChunked <= kMinGemvChunk, "the chunked kernel's held loads must fall in its first chunk");

// The chunk of x's width a block reads at once: all of it where M rows fit in the shared memory; otherwise, with
// cfg.chunks, as many values as fit in min(shared_limit, kGemvChunkBytes), a multiple of 256 (8 a lane's load, 32
// lanes); 0 where it does not fit (then the rounded tensor-core product; the chunked kernel's held loads must fall in
// its first chunk, so a chunk under 1024 does not fit either).
int gemv_chunk(int m, int k, const GemvConfig& cfg) {
  const size_t row_bytes = static_cast<size_t>(m) * sizeof(float);
  if (row_bytes * k <= cfg.shared_limit) return k;
  if (!cfg.chunks) return 0;
  const size_t per = std::min(cfg.shared_limit, kGemvChunkBytes) / row_bytes / 256 * 256;
  return per >= kMinGemvChunk ? static_cast<int>(per) : 0;
}

// Whether M rows' layer norms go a warp a row (norm_rows_by_warp) rather than block-wide (norm_rows).
bool warp_norm(int m, const GemvConfig& cfg) { return m > 1 ? cfg.norm_by_warp : cfg.one_row_norm_by_warp; }

// staged: the norm's gains and biases staged in shared memory before the wait (GemvConfig::stage_norm; kNormRows
// only). row_sums: kNormFolded's s.
template <class T, int M, int R, int kNorm, int kEpi, int kHeld, bool kChunked>
void launch_gemv_shape(bool chained, bool by_warp, bool staged, const GemvShape& shape, const Mat& x,
                       const float* gamma, const float* beta, const T* w, const float* bias, const float* row_sums,
                       Mat& y, int n, int k, int kc, cudaStream_t stream, const KvTarget& kv) {
  constexpr auto kernel = half_gemv_kernel<T, M, R, kNorm, kEpi, kHeld, kChunked>;
  staged = kNorm == kNormRows && staged;
  const size_t shared = (static_cast<size_t>(M) * kc + (staged ? 2 * static_cast<size_t>(k) : 0)) * sizeof(float);
  allow_dynamic_shared<kernel>(shared);
  launch_kernel(chained, kernel, dim3(blocks_for(n, shape.warps * R)), dim3(32 * shape.warps), shared, stream, x.data,
                x.ld, gamma, beta, w, bias, row_sums, y.data, y.ld, n, k, kc,
                kNorm == kNormRows && kEpi != kEpiKv && by_warp, staged, kv);
}


// kWide: no layer norm and an input over 2048 (fc2), the wide kernel's shapes and held loads.
// row_sums: kNormFolded's s (NormFold).
template <class T, int M, int kNorm, int kEpi, bool kWide>
void launch_gemv(bool chained, const GemvConfig& cfg, const Mat& x, const float* gamma, const float* beta, const T* w,
                 const float* bias, Mat& y, int n, int k, cudaStream_t stream, KvTarget kv = {},
                 const float* row_sums = nullptr) {
  GemvShape shape = cfg.shapes[M > 1][kWide];
  bool by_warp = warp_norm(M, cfg);
  // fc1 and the logits' product of one row: their own shape, the row normed by a warp (gemv_expanding).
  if (kEpi != kEpiKv && gemv_expanding(M, n, k, cfg)) {
    shape = cfg.one_row_expanding;
    by_warp = true;
  }
  // A block-wide layer norm sums in an order that depends on the block's size (block_sum): 8 warps always, so that
  // every shape gives the bits of the default (and of the fused attention kernels' normed_row, 256 threads; a warp
  // norm of one row gives other bits). The recorded step's q|k|v product with its cache writes keeps the default
  // shape and the block-wide norm.
  if constexpr (kNorm == kNormRows) {
    if (!by_warp) shape.warps = kMaxGemvWarps;
  }
  if constexpr (kEpi == kEpiKv) shape = GemvShape{1, kMaxGemvWarps};
  const int kc = gemv_chunk(M, k, cfg);  // gemv_fits made sure it is > 0
  if constexpr (kWide && kNorm == kNormNone) {
    // Only the wide input with several rows needs chunks; one row a warp there.
    if (kc < k)
      return launch_gemv_shape<T, M, 1, kNormNone, kEpi, kHeldChunked, true>(chained, by_warp, false, shape, x, gamma,
                                                                              beta, w, bias, row_sums, y, n, k, kc,
                                                                              stream, kv);
  }
  switch (shape.rows_per_warp) {
    case 2:
      return launch_gemv_shape<T, M, 2, kNorm, kEpi, held_per_row<2, kWide>(), false>(chained, by_warp, cfg.stage_norm,
                                                                                     shape, x, gamma, beta, w, bias,
                                                                                     row_sums, y, n, k, k, stream, kv);
    case 4:
      return launch_gemv_shape<T, M, 4, kNorm, kEpi, held_per_row<4, kWide>(), false>(chained, by_warp, cfg.stage_norm,
                                                                                     shape, x, gamma, beta, w, bias,
                                                                                     row_sums, y, n, k, k, stream, kv);
    default:
      return launch_gemv_shape<T, M, 1, kNorm, kEpi, held_per_row<1, kWide>(), false>(chained, by_warp, cfg.stage_norm,
                                                                                     shape, x, gamma, beta, w, bias,
                                                                                     row_sums, y, n, k, k, stream, kv);
  }
}

template <class T, int M>
void gemv_epilogue(bool chained, const GemvConfig& cfg, const Mat& x, const float* gamma, const float* beta,
                   const T* w, const float* bias, int epi, Mat& y, int n, int k, cudaStream_t stream) {
  if (gamma) {
    if (epi == kEpiGelu) return launch_gemv<T, M, kNormRows, kEpiGelu, false>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
    if (epi == kEpiAdd) return launch_gemv<T, M, kNormRows, kEpiAdd, false>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
    return launch_gemv<T, M, kNormRows, kEpiNone, false>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
  }
  if (k > 32 * 8 * kHeldNarrow) {
    if (epi == kEpiGelu) return launch_gemv<T, M, kNormNone, kEpiGelu, true>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
    if (epi == kEpiAdd) return launch_gemv<T, M, kNormNone, kEpiAdd, true>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
    return launch_gemv<T, M, kNormNone, kEpiNone, true>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
  }
  if (epi == kEpiGelu) return launch_gemv<T, M, kNormNone, kEpiGelu, false>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
  if (epi == kEpiAdd) return launch_gemv<T, M, kNormNone, kEpiAdd, false>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
  return launch_gemv<T, M, kNormNone, kEpiNone, false>(chained, cfg, x, gamma, beta, w, bias, y, n, k, stream);
}

template <class T>
void gemv_rows(bool chained, const GemvConfig& cfg, const Mat& x, const float* gamma, const float* beta, const T* w,
               const float* bias, int epi, Mat& y, int n, int k, cudaStream_t stream) {
  switch (x.rows) {
    case 1: return gemv_epilogue<T, 1>(chained, cfg, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 2: return gemv_epilogue<T, 2>(chained, cfg, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 3: return gemv_epilogue<T, 3>(chained, cfg, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 4: return gemv_epilogue<T, 4>(chained, cfg, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 5: return gemv_epilogue<T, 5>(chained, cfg, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 6: return gemv_epilogue<T, 6>(chained, cfg, x, gamma, beta, w, bias, epi, y, n, k, stream);
    case 7: return gemv_epilogue<T, 7>(chained, cfg, x, gamma, beta, w, bias, epi, y, n, k, stream);
    default: return gemv_epilogue<T, 8>(chained, cfg, x, gamma, beta, w, bias, epi, y, n, k, stream);
  }
}

// One row through the folded norm's kernel (kNormFolded; CudaBackend::NormFold): w is W', row_sums s, bias b'. The
// launch shape is the one-row product's own (cfg), a block-wide norm's 8 warps not needed.
template <class T>
void gemv_folded(bool chained, const GemvConfig& cfg, const Mat& x, const T* w, const float* row_sums,
                 const float* bias, int epi, Mat& y, int n, int k, cudaStream_t stream) {
  if (epi == kEpiGelu)
    return launch_gemv<T, 1, kNormFolded, kEpiGelu, false>(chained, cfg, x, nullptr, nullptr, w, bias, y, n, k, stream,
                                                          {}, row_sums);
  launch_gemv<T, 1, kNormFolded, kEpiNone, false>(chained, cfg, x, nullptr, nullptr, w, bias, y, n, k, stream, {},
                                                  row_sums);
}

// A NormFold's parts, a block a row j of w [n, k]: w2[j] = w[j] * gamma rounded to T, row_sums[j] the sum of those
// rounded values, bias2[j] = w[j] . beta + bias[j] (float32 sums).
template <class T>
__global__ void fold_norm_kernel(const T* w, const float* gamma, const float* beta, const float* bias, int k, T* w2,
                                 float* row_sums, float* bias2) {
  __shared__ float red[32];
  const size_t row = static_cast<size_t>(blockIdx.x) * k;
  float s = 0.0f, b = 0.0f;
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    const float wv = to_float(w[row + i]);
    const T f = from_float<T>(wv * gamma[i]);
    w2[row + i] = f;
    s += to_float(f);
    b += wv * beta[i];
  }
  s = block_sum(s, red);
  b = block_sum(b, red);
  if (threadIdx.x == 0) {
    row_sums[blockIdx.x] = s;
    bias2[blockIdx.x] = b + (bias ? bias[blockIdx.x] : 0.0f);
  }
}

// The M rows of x layer-normed once into y (float32, row stride ldy), exactly as half_gemv_kernel normalises them in
// each of its blocks (load_rows, then norm_rows_of_gemv over the same 256 threads). The kernel without its norm then
// reads these rows and gives the normed kernel's bits.
template <int M>
__global__ void __launch_bounds__(32 * kMaxGemvWarps) norm_rows_kernel(const float* x, int ldx, int k, const float* gamma,
                                                                       const float* beta, bool by_warp, float* y,
                                                                       int ldy, bool staged) {
  extern __shared__ float4 xs_raw[];  // [M, k]; staged, then the gains and biases [2, k] (half_gemv_kernel's)
  float* xs = reinterpret_cast<float*>(xs_raw);
  prepare_norm_weights(gamma, beta, k, staged, xs + M * k);
  wait_for_previous_kernel();
  let_next_kernel_start();
  load_rows<M>(x, ldx, k, xs);
  __syncthreads();
  take_norm_weights(staged, xs + M * k, k, 0, &gamma, &beta);
  norm_rows_of_gemv<M>(xs, k, gamma, beta, by_warp);
  __syncthreads();
  for (int i = threadIdx.x; i < M * k; i += blockDim.x) {
    const int r = i / k;
    y[static_cast<size_t>(r) * ldy + (i - r * k)] = xs[i];
  }
}

template <int M>
void launch_norm_rows(bool chained, const GemvConfig& cfg, const Mat& x, const float* gamma, const float* beta,
                      Mat& y, cudaStream_t stream) {
  constexpr auto kernel = norm_rows_kernel<M>;
  const size_t shared = static_cast<size_t>(M + (cfg.stage_norm ? 2 : 0)) * x.cols * sizeof(float);
  allow_dynamic_shared<kernel>(shared);
  launch_kernel(chained, kernel, dim3(1), dim3(32 * kMaxGemvWarps), shared, stream, x.data, x.ld, x.cols, gamma, beta,
                warp_norm(M, cfg), y.data, y.ld, cfg.stage_norm);
}

void norm_rows_once(bool chained, const GemvConfig& cfg, const Mat& x, const float* gamma, const float* beta, Mat& y,
                    cudaStream_t stream) {
  if (x.rows < 1 || x.rows > kMaxGemvRows)
    throw Error("norm_rows_once: " + std::to_string(x.rows) + " rows (1 to " + std::to_string(kMaxGemvRows) + ")");
  switch (x.rows) {
    case 1: return launch_norm_rows<1>(chained, cfg, x, gamma, beta, y, stream);
    case 2: return launch_norm_rows<2>(chained, cfg, x, gamma, beta, y, stream);
    case 3: return launch_norm_rows<3>(chained, cfg, x, gamma, beta, y, stream);
    case 4: return launch_norm_rows<4>(chained, cfg, x, gamma, beta, y, stream);
    case 5: return launch_norm_rows<5>(chained, cfg, x, gamma, beta, y, stream);
    case 6: return launch_norm_rows<6>(chained, cfg, x, gamma, beta, y, stream);
    case 7: return launch_norm_rows<7>(chained, cfg, x, gamma, beta, y, stream);
    default: return launch_norm_rows<8>(chained, cfg, x, gamma, beta, y, stream);
  }
}

// A layer norm needs whole rows at once; without one, a wide input (over 2048: fc2) may go in chunks (gemv_chunk).
bool gemv_fits(int m, int k, const GemvConfig& cfg, bool norm) {
  if (m < 1 || m > kMaxGemvRows || k % 8 != 0) return false;
  if (static_cast<size_t>(m) * k * sizeof(float) <= cfg.shared_limit) return true;
  return !norm && k > 32 * 8 * kHeldNarrow && gemv_chunk(m, k, cfg) > 0;
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

void half_product_bias(cublasHandle_t blas, const Weights& w, const void* x, int ldx, int m, const float* bias, Mat& y,
                       cudaStream_t stream) {
  float beta = 0.0f;
  if (bias) {
    broadcast_rows(y, bias, stream);
    beta = 1.0f;
  }
  half_product(blas, w, x, ldx, m, y.data, CUDA_R_32F, y.ld, beta);
}

void round_rows_to(const Mat& w, WeightType type, void* out, cudaStream_t stream) {
  if (type != WeightType::float16 && type != WeightType::bfloat16)
    throw Error("to_half: float16 or bfloat16 only, not " + std::string(weight_type_name(type)));
  const size_t total = static_cast<size_t>(w.rows) * w.cols;
  if (total == 0) return;
  if (type == WeightType::float16)
    round_rows_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(w.data, w.ld, w.rows, w.cols,
                                                                  static_cast<__half*>(out));
  else
    round_rows_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(w.data, w.ld, w.rows, w.cols,
                                                                  static_cast<__nv_bfloat16*>(out));
  WST_CUDA_CHECK_LAUNCH();
}

Weights CudaBackend::to_half(const Mat& w, WeightType type) {
  std::shared_ptr<void> dev = alloc_bytes(static_cast<size_t>(w.rows) * w.cols * 2);
  round_rows_to(w, type, dev.get(), stream_);
  return Weights(type, w.rows, w.cols, dev);
}

const Weights& CudaBackend::rounded_weights(const Mat& w, WeightType type) {
  drop_expired(rounded_);  // copies of freed weights go first (their memory back to the pool)
  for (const Rounded& r : rounded_)
    if (r.src.is(w) && r.type == type) return r.w;
  if (!w.storage) throw Error("rounded_weights: the matrix owns no storage to keep its rounding by");
  rounded_.push_back({CopySource::of(w), type, to_half(w, type)});
  return rounded_.back().w;
}

void CudaBackend::linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) {
  if (w.type == WeightType::float32) return linear(x, w.f32, bias, y);
  if (w.type != WeightType::float16 && w.type != WeightType::bfloat16)
    throw Error("cuda backend: " + std::string(weight_type_name(w.type)) + " weights are not supported");
  check_linear_shapes(x, w.rows, w.cols, y);
  const int m = x.rows, n = w.rows, k = x.cols;
  if (m == 0 || n == 0) return;
  const float* b = bias_or_null(bias);
  const bool f16 = w.type == WeightType::float16;
  if (gemv_fits(m, k, gemv_, false)) {
    gemv_chunked_launches_ += gemv_chunk(m, k, gemv_) < k;
    if (f16)
      gemv_rows(chained_, gemv_, x, nullptr, nullptr, static_cast<const __half*>(w.packed.get()), b,
                kEpiNone, y, n, k, stream_);
    else
      gemv_rows(chained_, gemv_, x, nullptr, nullptr,
                static_cast<const __nv_bfloat16*>(w.packed.get()), b, kEpiNone, y, n, k, stream_);
    return;
  }
  // x rounded to the weights' type, then one tensor-core product.
  const Weights xh = to_half(x, w.type);
  product_over_half(w, xh.packed.get(), k, m, b, y);
}

void CudaBackend::product_over_half(const Weights& w, const void* xh, int ldx, int m, const float* bias, Mat& y) {
  if (bias && lt_bias_ && product_bias(w, xh, ldx, m, y.data, y.ld, bias)) return;
  half_product_bias(blas_, w, xh, ldx, m, bias, y, stream_);
}

void CudaBackend::linears(const Mat& x, const std::vector<const Weights*>& w, const std::vector<const Mat*>& bias,
                          const std::vector<Mat*>& y) {
  bool shared = !w.empty() && bias.size() == w.size() && y.size() == w.size() && x.rows > 0 &&
                !gemv_fits(x.rows, x.cols, gemv_, false);
  for (size_t i = 0; shared && i < w.size(); ++i)
    shared = w[i]->type == w[0]->type && (w[0]->type == WeightType::float16 || w[0]->type == WeightType::bfloat16);
  if (!shared) return Backend::linears(x, w, bias, y);
  for (size_t i = 0; i < w.size(); ++i) check_linear_shapes(x, w[i]->rows, w[i]->cols, *y[i]);
  // The rounding linear makes for each product, made once (the same bits).
  const Weights xh = to_half(x, w[0]->type);
  for (size_t i = 0; i < w.size(); ++i)
    if (w[i]->rows > 0)
      product_over_half(*w[i], xh.packed.get(), x.cols, x.rows, bias_or_null(bias[i]), *y[i]);
}

void CudaBackend::linear_fused(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                               Epilogue epilogue, Mat& y) {
  // One kernel for a few rows of half weights (the decoder's steps): 2 to 16 rows of float16 on the tensor cores
  // (tensor_rows.cu, set_tensor_rows), otherwise up to 8 rows through the matrix-vector kernel; else the ops in turn.
  const bool half = w.type == WeightType::float16 || w.type == WeightType::bfloat16;
  const bool shapes = x.cols == w.cols && y.rows == x.rows && y.cols == w.rows &&
                      (!gamma || (gamma->cols == x.cols && beta && beta->cols == x.cols));
  // The tensor-core kernel reads the norm's gains and biases 16 bytes at a time.
  const bool aligned = !gamma || (beta && ((reinterpret_cast<uintptr_t>(gamma->data) |
                                            reinterpret_cast<uintptr_t>(beta->data)) & 15) == 0);
  const bool tensor = tensor_rows_ && x.rows >= tensor_rows_min_ && w.type == WeightType::float16 && shapes &&
                      aligned && tensor_rows_fit(x, w.cols, w.rows);
  if (!tensor && (!half || !shapes || !gemv_fits(x.rows, x.cols, gemv_, gamma != nullptr)))
    return Backend::linear_fused(x, gamma, beta, w, bias, epilogue, y);
  const int epi = epilogue == Epilogue::gelu ? kEpiGelu : epilogue == Epilogue::add ? kEpiAdd : kEpiNone;
  const float* g = gamma ? gamma->data : nullptr;
  const float* be = gamma ? beta->data : nullptr;
  const float* b = bias_or_null(bias);
  // A wide output (the logits): the rows normalised once by one block, then the kernel without its norm, rather
  // than every one of its thousands of blocks normalising them again (set_norm_once): the kernel's own norm code, so
  // its bits. For the tensor-core kernel, whose own norm always goes a warp a row, the norm once does too, whatever
  // the matrix-vector kernel's switches say.
  if (g != nullptr && x.rows == 1 && !tensor && epi != kEpiAdd) {
    if (const NormFold* fp = fold_for(w, g, be, b)) {
      const NormFold& f = *fp;
      ++norm_fold_launches_;
      if (w.type == WeightType::float16)
        return gemv_folded(chained_, gemv_, x, static_cast<const __half*>(f.w.packed.get()), f.row_sums.data,
                           f.bias.data, epi, y, w.rows, x.cols, stream_);
      return gemv_folded(chained_, gemv_, x, static_cast<const __nv_bfloat16*>(f.w.packed.get()), f.row_sums.data,
                         f.bias.data, epi, y, w.rows, x.cols, stream_);
    }
  }
  Mat normed;
  const Mat* in = &x;
  if (g != nullptr && norm_once_ && w.rows >= kNormOnceMinOutputs && gemv_fits(x.rows, x.cols, gemv_, true)) {
    normed = alloc(x.rows, x.cols);
    GemvConfig norm_cfg = gemv_;
    if (tensor) norm_cfg.norm_by_warp = norm_cfg.one_row_norm_by_warp = true;
    if (gemv_expanding(x.rows, w.rows, x.cols, gemv_)) norm_cfg.one_row_norm_by_warp = true;  // as its own norm
    norm_rows_once(chained_, norm_cfg, x, g, be, normed, stream_);
    ++norm_once_launches_;
    in = &normed;
    g = be = nullptr;
  }
  if (tensor) {
    ++tensor_rows_launches_;
    return tensor_rows(chained_, tensor_rows_tiles_, tensor_rows_narrow_tiles_, tensor_rows_occupancy_, *in, g, be,
                       static_cast<const __half*>(w.packed.get()), b, epi, y, w.rows, x.cols, stream_);
  }
  gemv_chunked_launches_ += gemv_chunk(x.rows, x.cols, gemv_) < x.cols;
  gemv_expanding_launches_ += gemv_expanding(x.rows, w.rows, x.cols, gemv_);
  if (w.type == WeightType::float16)
    gemv_rows(chained_, gemv_, *in, g, be, static_cast<const __half*>(w.packed.get()), b, epi, y,
              w.rows, x.cols, stream_);
  else
    gemv_rows(chained_, gemv_, *in, g, be, static_cast<const __nv_bfloat16*>(w.packed.get()), b, epi,
              y, w.rows, x.cols, stream_);
}

void CudaBackend::linear_fused_kv_at(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                                     Mat& y, Mat& k_cache, Mat& v_cache) {
  if (!recording_) throw Error("linear_fused_kv_at: only while a step is recorded");
  note_step_rows(std::min(k_cache.rows, v_cache.rows));
  const bool half = w.type == WeightType::float16 || w.type == WeightType::bfloat16;
  const int d = k_cache.cols;
  if (!half || x.rows != 1 || !gamma || !beta || !gemv_fits(1, x.cols, gemv_, true) || x.cols != w.cols || y.rows != 1 ||
      y.cols != w.rows || w.rows != 3 * d || v_cache.cols != d || k_cache.ld != v_cache.ld ||
      gamma->cols != x.cols || beta->cols != x.cols)
    return Backend::linear_fused_kv_at(x, gamma, beta, w, bias, y, k_cache, v_cache);
  const float* b = bias_or_null(bias);
  const KvTarget kv{k_cache.data, v_cache.data, k_cache.ld, d, static_cast<const StepState*>(step_dev_.get())};
  if (const NormFold* f = fold_for(w, gamma->data, beta->data, b)) {
    ++norm_fold_launches_;
    if (w.type == WeightType::float16)
      return launch_gemv<__half, 1, kNormFolded, kEpiKv, false>(chained_, gemv_, x, nullptr, nullptr,
                                                                static_cast<const __half*>(f->w.packed.get()),
                                                                f->bias.data, y, w.rows, x.cols, stream_, kv,
                                                                f->row_sums.data);
    return launch_gemv<__nv_bfloat16, 1, kNormFolded, kEpiKv, false>(
        chained_, gemv_, x, nullptr, nullptr, static_cast<const __nv_bfloat16*>(f->w.packed.get()), f->bias.data, y,
        w.rows, x.cols, stream_, kv, f->row_sums.data);
  }
  if (w.type == WeightType::float16)
    launch_gemv<__half, 1, kNormRows, kEpiKv, false>(chained_, gemv_, x, gamma->data, beta->data,
                                                static_cast<const __half*>(w.packed.get()), b, y, w.rows, x.cols,
                                                stream_, kv);
  else
    launch_gemv<__nv_bfloat16, 1, kNormRows, kEpiKv, false>(chained_, gemv_, x, gamma->data, beta->data,
                                                       static_cast<const __nv_bfloat16*>(w.packed.get()), b, y, w.rows,
                                                       x.cols, stream_, kv);
}

const CudaBackend::NormFold* CudaBackend::fold_for(const Weights& w, const float* gamma, const float* beta,
                                                   const float* bias) const {
  if (!norm_fold_ && !norm_fold_attention_) return nullptr;  // (every normed one-row launch asks: no lookup when off)
  const auto it = norm_folds_.find(w.packed.get());
  if (it == norm_folds_.end()) return nullptr;
  const NormFold& f = it->second;
  const bool on = f.attention ? norm_fold_attention_ : norm_fold_;
  return on && f.gamma == gamma && f.beta == beta && f.source_bias == bias ? &f : nullptr;
}

const CudaBackend::NormFold& CudaBackend::fold_norm(const Weights& w, const Mat& gamma, const Mat& beta,
                                                    const Mat* bias, bool attention) {
  if (w.type != WeightType::float16 && w.type != WeightType::bfloat16)
    throw Error("fold_norm: " + std::string(weight_type_name(w.type)) + " weights (float16 or bfloat16 only)");
  if (gamma.cols != w.cols || beta.cols != w.cols || gamma.rows != 1 || beta.rows != 1 ||
      (bias && !bias->empty() && bias->cols != w.rows))
    throw Error("fold_norm: gains, biases or bias do not match weights of " + std::to_string(w.rows) + " x " +
                std::to_string(w.cols));
  if (recording_) throw Error("fold_norm: not while a step is recorded");
  const float* b = bias_or_null(bias);
  if (const auto it = norm_folds_.find(w.packed.get()); it != norm_folds_.end()) {
    const NormFold& f = it->second;
    if (f.gamma == gamma.data && f.beta == beta.data && f.source_bias == b && f.attention == attention) return f;
    // Replacing it would free W', s and b' while a recorded step may still read them.
    throw Error("fold_norm: these " + std::to_string(w.rows) + " x " + std::to_string(w.cols) +
                " weights are already folded with other gains, biases or bias");
  }
  NormFold f;
  f.w = Weights(w.type, w.rows, w.cols, alloc_bytes(static_cast<size_t>(w.rows) * w.cols * 2));
  f.row_sums = alloc(1, w.rows);
  f.bias = alloc(1, w.rows);
  f.gamma = gamma.data;
  f.beta = beta.data;
  f.source_bias = b;
  f.attention = attention;
  f.source = w.packed;
  void* w2 = const_cast<void*>(f.w.packed.get());
  if (w.type == WeightType::float16)
    fold_norm_kernel<<<w.rows, 256, 0, stream_>>>(static_cast<const __half*>(w.packed.get()), gamma.data, beta.data,
                                                  b, w.cols, static_cast<__half*>(w2), f.row_sums.data, f.bias.data);
  else
    fold_norm_kernel<<<w.rows, 256, 0, stream_>>>(static_cast<const __nv_bfloat16*>(w.packed.get()), gamma.data,
                                                  beta.data, b, w.cols, static_cast<__nv_bfloat16*>(w2),
                                                  f.row_sums.data, f.bias.data);
  WST_CUDA_CHECK(cudaGetLastError());
  // Done before any kernel reads them: a chained kernel may load its weights before waiting for the kernel before it
  // (launch.cuh), which is only right for memory no kernel writes.
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return norm_folds_[w.packed.get()] = std::move(f);
}

void CudaBackend::prepare_decoder(const std::vector<DecoderLayerWeights>& layers) {
  const auto half = [](const Weights& w) { return w.type == WeightType::float16 || w.type == WeightType::bfloat16; };
  for (const DecoderLayerWeights& l : layers) {
    if (norm_fold_ && half(l.fc1.w)) fold_norm(l.fc1.w, l.mlp_ln.gamma, l.mlp_ln.beta, &l.fc1.b);
    if (norm_fold_attention_ && half(l.qkv.w)) fold_norm(l.qkv.w, l.attn_ln.gamma, l.attn_ln.beta, &l.qkv.b, true);
    if (norm_fold_attention_ && half(l.cross_q.w))
      fold_norm(l.cross_q.w, l.cross_ln.gamma, l.cross_ln.beta, &l.cross_q.b, true);
  }
}

}  // namespace wst::engine::cuda
