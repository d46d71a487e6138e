// The flash-attention kernels' shared steps (flash_attention.cu on mma.sync, flash_wgmma.cu on wgmma): the queries'
// fragments, the online softmax over one block of scores held in the tensor cores' accumulator layout, the output
// rows' store, and the asynchronous copies of K and V into shared memory. A warp holds 16 queries; lane (g = lane / 4,
// t = lane % 4) holds, for each tile n of 8 keys, s[n][0..1] = row g, keys 8n + 2t, + 1 and s[n][2..3] = row g + 8
// (mma.cuh's C layout, which wgmma's accumulator repeats a warp at a time). The softmax is float32 in base 2 (the
// queries come scaled by log2(e) / sqrt(64)). Device code only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "engine/cuda/mma.cuh"
#include "engine/cuda/row_products.cuh"

namespace wst::engine::cuda {

constexpr int kFlashDh = 64;  // head width (every Whisper model)

// 2^x. kFast: the bare ex2.approx.ftz instruction; exp2f is the same instruction with a rescaling around it for
// results below 2^-126, which the fast form flushes to 0. Such a weight or rescaling factor cannot move a sum to
// which the largest weight adds 1; it reaches an output only through a subnormal (a bfloat16 weight in
// [2^-133, 2^-126), or a rescaled output with nothing else in it), which needs a score 87 (natural log) below the
// row's maximum and, in practice, no bias on v: the same values in every case met in practice, not by construction.
template <bool kFast>
__device__ __forceinline__ float exp2_(float x) {
  if constexpr (kFast) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
  } else {
    return exp2f(x);
  }
}

// One block of kN x 8 keys (starting at key kb) for a warp's 16 queries: keys at or past lim[0] / lim[1] (rows g and
// g + 8) masked when `edge`; the running maxima m and sums l (this lane's share) updated, the outputs o rescaled, and
// s turned into the softmax weights against the new maxima (not yet divided by the sums).
template <bool kFast, int kN, bool kSkipUnitRescale = false>
__device__ __forceinline__ void online_softmax(float (&s)[kN][4], int kb, bool edge, const int (&lim)[2],
                                               float (&o)[kFlashDh / 8][4], float (&m)[2], float (&l)[2]) {
  const int t = threadIdx.x % 4;
  // Keys past the end, or past a query's causal limit, get no weight.
  if (edge) {
#pragma unroll
    for (int n = 0; n < kN; ++n) {
      const int key = kb + n * 8 + 2 * t;
      if (key >= lim[0]) s[n][0] = -INFINITY;
      if (key + 1 >= lim[0]) s[n][1] = -INFINITY;
      if (key >= lim[1]) s[n][2] = -INFINITY;
      if (key + 1 >= lim[1]) s[n][3] = -INFINITY;
    }
  }
  float mx0 = m[0], mx1 = m[1];
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
    mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
  }
  // The four lanes of a quad hold one row between them.
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
  // A row with nothing visible yet keeps -inf as its maximum; exponentials are then taken against 0.
  const float base0 = mx0 == -INFINITY ? 0.f : mx0, base1 = mx1 == -INFINITY ? 0.f : mx1;
  // exp2(-inf) = 0 on the first block
  const float a0 = exp2_<kFast>(m[0] - base0), a1 = exp2_<kFast>(m[1] - base1);
  m[0] = mx0;
  m[1] = mx1;
  // (The sums' rescaling stays outside the branch below: the compiler fuses it with the first addition to the sums
  // into one rounding, which a multiplication under a branch would split into two.)
  l[0] *= a0;
  l[1] *= a1;
  // kSkipUnitRescale: once the maxima settle (most blocks after the first few) both factors are exactly 1 in every
  // lane, and the outputs' rescaling is skipped (x * 1 is x, so the same bits): 32 multiplications a block of keys
  // less for the warp (the wgmma kernels; the mma.sync kernels at their 128 registers would spill for the vote).
  // Exact only without flush-to-zero (x * 1 keeps a subnormal x): these files are not built with -ftz or fast math.
  if (!kSkipUnitRescale || !__all_sync(0xffffffffu, a0 == 1.f && a1 == 1.f)) {
#pragma unroll
    for (int n = 0; n < kFlashDh / 8; ++n) {
      o[n][0] *= a0;
      o[n][1] *= a0;
      o[n][2] *= a1;
      o[n][3] *= a1;
    }
  }
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    s[n][0] = exp2_<kFast>(s[n][0] - base0);
    s[n][1] = exp2_<kFast>(s[n][1] - base0);
    s[n][2] = exp2_<kFast>(s[n][2] - base1);
    s[n][3] = exp2_<kFast>(s[n][3] - base1);
    l[0] += s[n][0] + s[n][1];
    l[1] += s[n][2] + s[n][3];
  }
}

// The A fragment of P V for keys 16 st .. 16 st + 15: two 8-key tiles of the weights, rounded to T.
template <class T, int kN>
__device__ __forceinline__ void weights_fragment(const float (&s)[kN][4], int st, uint32_t (&pa)[4]) {
  pa[0] = pack2<T>(s[2 * st][0], s[2 * st][1]);
  pa[1] = pack2<T>(s[2 * st][2], s[2 * st][3]);
  pa[2] = pack2<T>(s[2 * st + 1][0], s[2 * st + 1][1]);
  pa[3] = pack2<T>(s[2 * st + 1][2], s[2 * st + 1][3]);
}

// A warp's 16 queries of head columns col0 .. col0 + 63 (rows r0 = its first query + g and r0 + 8 of qkv, row stride
// ld, zeros at or past `rows`) as the A fragments of Q K^T: q's bias (bias: [d] float32, or null) added and the
// scale applied in float32, then rounded to T once.
template <class T>
__device__ __forceinline__ void query_fragments(const T* qkv, int ld, int rows, int r0, int col0, const float* bias,
                                                float scale_log2, uint32_t (&qa)[kFlashDh / 16][4]) {
  const int t = threadIdx.x % 32 % 4, r1 = r0 + 8;
#pragma unroll
  for (int s = 0; s < kFlashDh / 16; ++s) {
    const int c = col0 + s * 16 + 2 * t;
    float2 b_lo = make_float2(0.f, 0.f), b_hi = b_lo;
    if (bias) {
      b_lo = make_float2(bias[c], bias[c + 1]);
      b_hi = make_float2(bias[c + 8], bias[c + 9]);
    }
    float2 x00 = make_float2(0.f, 0.f), x10 = x00, x01 = x00, x11 = x00;
    if (r0 < rows) {
      x00 = to_float2(*reinterpret_cast<const typename Pair<T>::type*>(qkv + static_cast<size_t>(r0) * ld + c));
      x01 = to_float2(*reinterpret_cast<const typename Pair<T>::type*>(qkv + static_cast<size_t>(r0) * ld + c + 8));
    }
    if (r1 < rows) {
      x10 = to_float2(*reinterpret_cast<const typename Pair<T>::type*>(qkv + static_cast<size_t>(r1) * ld + c));
      x11 = to_float2(*reinterpret_cast<const typename Pair<T>::type*>(qkv + static_cast<size_t>(r1) * ld + c + 8));
    }
    qa[s][0] = pack2<T>((x00.x + b_lo.x) * scale_log2, (x00.y + b_lo.y) * scale_log2);
    qa[s][1] = pack2<T>((x10.x + b_lo.x) * scale_log2, (x10.y + b_lo.y) * scale_log2);
    qa[s][2] = pack2<T>((x01.x + b_hi.x) * scale_log2, (x01.y + b_hi.y) * scale_log2);
    qa[s][3] = pack2<T>((x11.x + b_hi.x) * scale_log2, (x11.y + b_hi.y) * scale_log2);
  }
}

// 1 / (the softmax denominators) of rows g and g + 8: each lane holds a share of them, the quad sums them.
__device__ __forceinline__ float2 row_inverses(float l0, float l1) {
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  return make_float2(1.f / l0, 1.f / l1);
}

// A warp's 16 output rows (the first r0 = its first query + g) of head columns col0 .. col0 + 63, divided by the
// softmax sums, plus v's bias (bias_v: [d] float32, or null), rounded to T; rows at or past `rows` not written.
template <class T>
__device__ __forceinline__ void store_head_rows(const float (&o)[kFlashDh / 8][4], const float (&l)[2], int r0,
                                                int rows, int col0, const float* bias_v, T* out, int ldo) {
  const int t = threadIdx.x % 4, r1 = r0 + 8;
  const float2 inv = row_inverses(l[0], l[1]);
  const float inv0 = inv.x, inv1 = inv.y;
#pragma unroll
  for (int n = 0; n < kFlashDh / 8; ++n) {
    const int c = col0 + n * 8 + 2 * t;
    const float2 bv = bias_v ? make_float2(bias_v[c], bias_v[c + 1]) : make_float2(0.f, 0.f);
    if (r0 < rows)
      *reinterpret_cast<uint32_t*>(out + static_cast<size_t>(r0) * ldo + c) =
          pack2<T>(o[n][0] * inv0 + bv.x, o[n][1] * inv0 + bv.y);
    if (r1 < rows)
      *reinterpret_cast<uint32_t*>(out + static_cast<size_t>(r1) * ldo + c) =
          pack2<T>(o[n][2] * inv1 + bv.x, o[n][3] * inv1 + bv.y);
  }
}

// 16 bytes global -> shared (at shared address dst) without passing through registers; `valid` false writes zeros
// (reads nothing).
__device__ __forceinline__ void copy16_async(uint32_t dst, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void copy16_async(void* smem, const void* gmem, bool valid) {
  copy16_async(static_cast<uint32_t>(__cvta_generic_to_shared(smem)), gmem, valid);
}
__device__ __forceinline__ void commit_copies() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void wait_copies() { asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending)); }

// The two-stage loop's turn: once every thread is done with the other stage, the keys from kb + step (if any) start
// into it (load(stage, first key)) while this thread waits for its copies of the keys from kb into stage st.
template <class Load>
__device__ __forceinline__ void next_stage_then_wait(Load&& load, int st, int kb, int step, int tk) {
  __syncthreads();  // every thread is done with the stage the next load overwrites
  if (kb + step < tk) {
    load(st ^ 1, kb + step);
    wait_copies<1>();  // this block's keys have landed; the next block's may still be in flight
  } else {
    wait_copies<0>();
  }
}

}  // namespace wst::engine::cuda
