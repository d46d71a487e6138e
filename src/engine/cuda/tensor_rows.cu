// A few rows (up to 16: beams, batched windows) times float16 weights on the tensor cores, for the decoder's steps:
// the matrix-vector kernel (half_linear.cu) takes 1.3-2.3x a one-row product's time for the same weight bytes with 5
// rows (run 36's per-op bench; its sums are float32 FMAs, every weight times every row, each row read from shared
// memory), while a tensor-core product spends one m16n8k16 on 8 outputs x 16 inputs of every row at once.
//
// The weights are the B operand (8 output features a tile, n = 8), the rows the A operand (16 rows, the rows past m
// zero). A warp walks its share of the input 32 values at a time; lane (g, t) loads 8 consecutive weights of feature
// g (16 bytes) and the same 8 positions of rows g and g + 8, and the 32 positions are fed to two products in an order
// of the k axis that differs from memory's (the sum over k does not care): product 1 takes positions 8t..8t+3, product
// 2 8t+4..8t+7, the same for A and B. So every load is a 16-byte one and no shuffles are needed.
//
// The rows stay (nearly) float32: each value is split into a half part and a rounded remainder scaled by 2^11
// (x = hi + lo / 2048, to about 22 bits), two products a step; float32 accumulation. The weights are float16 exactly.
// The block's 8 warps split the input's width, their partial sums meet in shared memory and are added in a fixed order
// (the same bits every run). Epilogues as half_linear.cu's: bias, then nothing, GELU or added onto y.
// A layer norm of the rows (gamma, beta), when given, is applied as the values are loaded: each row's mean and inverse
// deviation by one warp first, in norm_rows_by_warp's order (half_linear.cu), so the normed values are that kernel's.
#include "engine/cuda/tensor_rows.cuh"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/launch.cuh"
#include "engine/cuda/mma.cuh"
#include "engine/cuda/row_products.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kMaxRows = 16;
constexpr float kLoScale = 2048.0f;  // 2^11: the remainder lifted out of float16's subnormals

// 32-value steps a warp holds in registers per tile (kHeldSteps / kOcc / NT), loaded before waiting for the previous
// kernel (launch.cuh): 20 with one tile at one block an SM covers fc2's 5120 wide input over 8 warps; at two blocks
// an SM half of it, so that a thread fits 128 registers.
constexpr int kHeldSteps = 20;

// The 8 values v[0..8) split into the A operand's halves for the two products: hi[p] / lo[p] = registers of product p
// for this lane's row (g or g + 8). A value past float16's range (|v| > 65504) becomes infinite here, where the
// matrix-vector kernel would stay finite; the decoder's activations into its products stay far below it.
__device__ __forceinline__ void split8(const float (&v)[8], uint32_t (&hi)[2][2], uint32_t (&lo)[2][2]) {
#pragma unroll
  for (int p = 0; p < 2; ++p)
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      const float a = v[4 * p + 2 * q], b = v[4 * p + 2 * q + 1];
      const __half2 h = __floats2half2_rn(a, b);
      const float2 hf = __half22float2(h);
      hi[p][q] = *reinterpret_cast<const uint32_t*>(&h);
      lo[p][q] = pack2<__half>((a - hf.x) * kLoScale, (b - hf.y) * kLoScale);
    }
}

// Row r's 8 values from column col (zero past m), layer-normed when kNorm.
template <bool kNorm>
__device__ __forceinline__ void load8(const float* x, int ldx, int m, int r, int col, const float* gamma,
                                      const float* beta, const float (*stat)[2], float (&v)[8]) {
  if (r >= m) {
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = 0.0f;
    return;
  }
  const float4* p = reinterpret_cast<const float4*>(x + static_cast<size_t>(r) * ldx + col);
  const float4 a = p[0], b = p[1];
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  if constexpr (kNorm) {
    const float4* g4 = reinterpret_cast<const float4*>(gamma + col);
    const float4* b4 = reinterpret_cast<const float4*>(beta + col);
    const float4 ga = g4[0], gb = g4[1], ba = b4[0], bb = b4[1];
    const float gm[8] = {ga.x, ga.y, ga.z, ga.w, gb.x, gb.y, gb.z, gb.w};
    const float bt[8] = {ba.x, ba.y, ba.z, ba.w, bb.x, bb.y, bb.z, bb.w};
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = (v[e] - stat[r][0]) * stat[r][1] * gm[e] + bt[e];
  }
}

// y[r, j] = epilogue(bias[j] + sum_t w[j, t] norm(x)[r, t]) for r < m <= 16; a block takes 8 * NT features j.
// kOcc: blocks an SM (1, or 2 with half the steps held: 128 registers a thread at most).
template <bool kNorm, int kEpi, int NT, int kOcc>
__global__ void __launch_bounds__(32 * kWarps, kOcc) tensor_rows_kernel(const float* x, int ldx, int m,
                                                                        const float* gamma, const float* beta,
                                                                        const __half* w, const float* bias, float* y,
                                                                        int ldy, int n, int k) {
  constexpr int kHeld = kHeldSteps / kOcc / NT;
  __shared__ float stat[kMaxRows][2];
  __shared__ float part[kWarps][kMaxRows][8 * NT + 1];  // +1: the epilogue's reads a row apart fall in other banks
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int j0 = blockIdx.x * 8 * NT;
  const int steps = k / 32, per = (steps + kWarps - 1) / kWarps;
  const int s_begin = min(warp * per, steps), s_end = min(s_begin + per, steps);
  const uint4* wrow[NT];
  bool has[NT];
#pragma unroll
  for (int i = 0; i < NT; ++i) {
    has[i] = j0 + 8 * i + g < n;
    wrow[i] = reinterpret_cast<const uint4*>(w + static_cast<size_t>(has[i] ? j0 + 8 * i + g : 0) * k) + t;
  }
  uint4 held[kHeld][NT];
#pragma unroll
  for (int u = 0; u < kHeld; ++u)
#pragma unroll
    for (int i = 0; i < NT; ++i)
      held[u][i] = has[i] && s_begin + u < s_end ? __ldg(wrow[i] + 4 * (s_begin + u)) : make_uint4(0, 0, 0, 0);
  // The epilogue's outputs (o = row * 8 NT + feature, kOuts a thread) and their biases, read before waiting.
  constexpr int kOuts = (kMaxRows * 8 * NT + 32 * kWarps - 1) / (32 * kWarps);
  float bq[kOuts];
#pragma unroll
  for (int e = 0; e < kOuts; ++e) {
    const int o = threadIdx.x + e * 32 * kWarps, f = o % (8 * NT);
    bq[e] = o / (8 * NT) < m && j0 + f < n && bias ? __ldg(bias + j0 + f) : 0.0f;
  }
  if constexpr (kNorm) {
    prefetch_lines_l2(gamma, sizeof(float) * k);
    prefetch_lines_l2(beta, sizeof(float) * k);
  }
  wait_for_previous_kernel();
  let_next_kernel_start();
  if constexpr (kNorm) {
    // Each row's mean and 1 / sqrt(var + 1e-5) by one warp, as norm_rows_by_warp (half_linear.cu).
    for (int r = warp; r < m; r += kWarps) {
      float mean, rstd;
      row_stats_by_warp(x + static_cast<size_t>(r) * ldx, k, lane, &mean, &rstd);
      if (lane == 0) {
        stat[r][0] = mean;
        stat[r][1] = rstd;
      }
    }
    __syncthreads();
  }
  float acc_hi[NT][4] = {}, acc_lo[NT][4] = {};
  auto step = [&](int s, const uint4 (&wv)[NT]) {
    const int col = 32 * s + 8 * t;
    float v0[8], v1[8];
    load8<kNorm>(x, ldx, m, g, col, gamma, beta, stat, v0);
    load8<kNorm>(x, ldx, m, g + 8, col, gamma, beta, stat, v1);
    uint32_t h0[2][2], l0[2][2], h1[2][2], l1[2][2];
    split8(v0, h0, l0);
    split8(v1, h1, l1);
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      const uint32_t ah[4] = {h0[p][0], h1[p][0], h0[p][1], h1[p][1]};
      const uint32_t al[4] = {l0[p][0], l1[p][0], l0[p][1], l1[p][1]};
#pragma unroll
      for (int i = 0; i < NT; ++i) {
        const uint32_t b0 = p == 0 ? wv[i].x : wv[i].z, b1 = p == 0 ? wv[i].y : wv[i].w;
        mma<__half, true>(acc_hi[i], ah, b0, b1);
        mma<__half, true>(acc_lo[i], al, b0, b1);
      }
    }
  };
#pragma unroll
  for (int u = 0; u < kHeld; ++u)
    if (s_begin + u < s_end) step(s_begin + u, held[u]);
  for (int s = s_begin + kHeld; s < s_end; ++s) {
    uint4 wv[NT];
#pragma unroll
    for (int i = 0; i < NT; ++i) wv[i] = has[i] ? __ldg(wrow[i] + 4 * s) : make_uint4(0, 0, 0, 0);
    step(s, wv);
  }
  // The warps' partial sums: C's {row g, features 2t, 2t + 1}, {row g + 8, ...}.
#pragma unroll
  for (int i = 0; i < NT; ++i) {
    part[warp][g][8 * i + 2 * t] = acc_hi[i][0] + acc_lo[i][0] * (1.0f / kLoScale);
    part[warp][g][8 * i + 2 * t + 1] = acc_hi[i][1] + acc_lo[i][1] * (1.0f / kLoScale);
    part[warp][g + 8][8 * i + 2 * t] = acc_hi[i][2] + acc_lo[i][2] * (1.0f / kLoScale);
    part[warp][g + 8][8 * i + 2 * t + 1] = acc_hi[i][3] + acc_lo[i][3] * (1.0f / kLoScale);
  }
  __syncthreads();
#pragma unroll
  for (int e = 0; e < kOuts; ++e) {
    const int o = threadIdx.x + e * 32 * kWarps, r = o / (8 * NT), f = o % (8 * NT);
    if (r >= m || j0 + f >= n) continue;
    float a = 0.0f;
#pragma unroll
    for (int v = 0; v < kWarps; ++v) a += part[v][r][f];
    float val = a + bq[e];
    float* out = y + static_cast<size_t>(r) * ldy + j0 + f;
    if constexpr (kEpi == 1) val = gelu_erf(val);
    if constexpr (kEpi == 2) *out += val;
    else *out = val;
  }
}

template <bool kNorm, int kEpi, int NT, int kOcc>
void launch_tiles(bool chained, const Mat& x, const float* gamma, const float* beta, const __half* w,
                  const float* bias, Mat& y, int n, int k, cudaStream_t stream) {
  launch_kernel(chained, tensor_rows_kernel<kNorm, kEpi, NT, kOcc>, dim3(blocks_for(n, 8 * NT)), dim3(32 * kWarps), 0,
                stream, x.data, x.ld, x.rows, gamma, beta, w, bias, y.data, y.ld, n, k);
}

template <bool kNorm, int kEpi, int kOcc>
void launch_occ(bool chained, int tiles, const Mat& x, const float* gamma, const float* beta, const __half* w,
                const float* bias, Mat& y, int n, int k, cudaStream_t stream) {
  switch (tiles) {
    case 1: return launch_tiles<kNorm, kEpi, 1, kOcc>(chained, x, gamma, beta, w, bias, y, n, k, stream);
    case 2: return launch_tiles<kNorm, kEpi, 2, kOcc>(chained, x, gamma, beta, w, bias, y, n, k, stream);
    default: return launch_tiles<kNorm, kEpi, 4, kOcc>(chained, x, gamma, beta, w, bias, y, n, k, stream);
  }
}

template <bool kNorm, int kEpi>
void launch_epi(bool chained, int tiles, int occupancy, const Mat& x, const float* gamma, const float* beta,
                const __half* w, const float* bias, Mat& y, int n, int k, cudaStream_t stream) {
  if (occupancy == 2) return launch_occ<kNorm, kEpi, 2>(chained, tiles, x, gamma, beta, w, bias, y, n, k, stream);
  launch_occ<kNorm, kEpi, 1>(chained, tiles, x, gamma, beta, w, bias, y, n, k, stream);
}

}  // namespace

bool tensor_rows_fit(const Mat& x, int k, int n) {
  return x.rows >= 1 && x.rows <= kMaxRows && n > 0 && k >= 32 && k % 32 == 0 && x.cols == k && x.ld % 4 == 0 &&
         reinterpret_cast<uintptr_t>(x.data) % 16 == 0;
}

void tensor_rows(bool chained, int tiles, int narrow_tiles, int occupancy, const Mat& x, const float* gamma,
                 const float* beta, const __half* w, const float* bias, int epi, Mat& y, int n, int k,
                 cudaStream_t stream) {
  tiles = tensor_rows_tiles(n, k, tiles, narrow_tiles, occupancy);
  const bool norm = gamma != nullptr;
  if (norm && epi == 1) return launch_epi<true, 1>(chained, tiles, occupancy, x, gamma, beta, w, bias, y, n, k, stream);
  if (norm && epi == 2) return launch_epi<true, 2>(chained, tiles, occupancy, x, gamma, beta, w, bias, y, n, k, stream);
  if (norm) return launch_epi<true, 0>(chained, tiles, occupancy, x, gamma, beta, w, bias, y, n, k, stream);
  if (epi == 1) return launch_epi<false, 1>(chained, tiles, occupancy, x, gamma, beta, w, bias, y, n, k, stream);
  if (epi == 2) return launch_epi<false, 2>(chained, tiles, occupancy, x, gamma, beta, w, bias, y, n, k, stream);
  return launch_epi<false, 0>(chained, tiles, occupancy, x, gamma, beta, w, bias, y, n, k, stream);
}

}  // namespace wst::engine::cuda
