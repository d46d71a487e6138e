// Multi-head attention for many queries (the encoder's 1500 frames, a prompt) in one kernel on the tensor
// cores, for the half-precision modes: the scores never go to device memory (flash attention, FlashAttention-2's
// loop order). A block takes kWarps x 16 queries of one head; each warp keeps its 16 queries' running maximum,
// sum of exponentials and output in registers while the block walks the keys 64 at a time. Q, K and V are
// read as float32 (the backend's activations) and rounded to T (half or bfloat16) on the way into the
// products; the products accumulate in float32 (mma.sync m16n8k16), the softmax is float32 in base 2.
// With mma.cuh's fragment layouts, the scores' accumulator registers are, two 8-key tiles at a time, the A operand
// of P V (no shuffles).
// Head width 64 only (every Whisper model); other widths take attention.cu's path.
// flash_attention_half_kernel is the encoder's half-precision path (encoder_blocks.cu): the same block step
// (attend_block) over q|k|v already in T, with K and V copied asynchronously one block of keys ahead (two stages).
// Checked against a double-precision reference by tools/cuda/cuda_check.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <type_traits>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/flash_softmax.cuh"
#include "engine/cuda/mma.cuh"
#include "engine/cuda/row_products.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

constexpr int kDh = kFlashDh;  // head width
constexpr int kBlockK = 64;   // keys per step
constexpr int kPad = 8;       // halves of padding per shared row: rows 36 words apart, no bank conflicts
constexpr int kRow = kDh + kPad;


// One block of 64 keys for kTiles tiles of a warp's 16 queries each (A fragments qa[i], already scaled by log2(e) /
// sqrt(64)): the scores against K, keys at or past lim[i][0] / lim[i][1] (rows g and g + 8 of tile i) masked when
// `edge`, the running maxima m, sums l and outputs o rescaled, and o += P V. K's B fragments come from
// k_frag(key tile n, step pair p, b): b[0], b[1] for dims 32p .. 32p + 15 and b[2], b[3] for the next 16; V's from
// v_frag(key step, dim tile, b0, b1). Each fragment serves every tile; each tile's values are computed in the same
// order whatever kTiles is (kTiles = 2 gives kTiles = 1's bits). kFree: the products as ordinary asm statements and the
// exponentials as the bare instruction (exp2_).
template <class T, int kTiles, bool kFree, class KFrag, class VFrag>
__device__ __forceinline__ void attend_tiles(const uint32_t (&qa)[kTiles][kDh / 16][4], KFrag k_frag, int kb, bool edge,
                                             const int (&lim)[kTiles][2], float (&o)[kTiles][kDh / 8][4],
                                             float (&m)[kTiles][2], float (&l)[kTiles][2], VFrag v_frag) {
  // Scores for 16 queries x 64 keys a tile: 8 tiles of 8 keys.
  float s[kTiles][kBlockK / 8][4];
#pragma unroll
  for (int n = 0; n < kBlockK / 8; ++n) {
#pragma unroll
    for (int i = 0; i < kTiles; ++i) s[i][n][0] = s[i][n][1] = s[i][n][2] = s[i][n][3] = 0.f;
#pragma unroll
    for (int p = 0; p < kDh / 32; ++p) {
      uint32_t b[4];
      k_frag(n, p, b);
#pragma unroll
      for (int i = 0; i < kTiles; ++i) {
        mma<T, kFree>(s[i][n], qa[i][2 * p], b[0], b[1]);
        mma<T, kFree>(s[i][n], qa[i][2 * p + 1], b[2], b[3]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kTiles; ++i) online_softmax<kFree>(s[i], kb, edge, lim[i], o[i], m[i], l[i]);
  // out += P V: keys 16 at a time (two score tiles make one A fragment), dims in 8 tiles of 8.
#pragma unroll
  for (int st = 0; st < kBlockK / 16; ++st) {
    uint32_t pa[kTiles][4];
#pragma unroll
    for (int i = 0; i < kTiles; ++i) weights_fragment<T>(s[i], st, pa[i]);
#pragma unroll
    for (int n = 0; n < kDh / 8; ++n) {
      uint32_t b0, b1;
      v_frag(st, n, b0, b1);
#pragma unroll
      for (int i = 0; i < kTiles; ++i) mma<T, kFree>(o[i][n], pa[i], b0, b1);
    }
  }
}

// K's B fragments for attend_tiles from [key][dim] rows of kRow halves: two 32-bit shared loads a fragment register
// pair (ks32: the rows read as 32-bit words), or one ldmatrix of four 8x8 tiles for four registers.
__device__ __forceinline__ void k_frag_words(const uint32_t* ks32, int n, int p, uint32_t (&b)[4]) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int w = (n * 8 + g) * (kRow / 2) + p * 16 + t;
  b[0] = ks32[w];
  b[1] = ks32[w + 4];
  b[2] = ks32[w + 8];
  b[3] = ks32[w + 12];
}
__device__ __forceinline__ void k_frag_ldmatrix(const uint16_t* ks, int n, int p, uint32_t (&b)[4]) {
  // Lanes 8j .. 8j + 7 address the rows (keys 8n .. 8n + 7) of tile j: dims 32p + 8j .. + 7.
  const int lane = threadIdx.x % 32;
  const unsigned a =
      static_cast<unsigned>(__cvta_generic_to_shared(ks + (n * 8 + lane % 8) * kRow + p * 32 + (lane / 8) * 8));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
               : "r"(a));
}

// q, k, v: float32 rows, head h in columns [h * 64, h * 64 + 64). scale_log2 = log2(e) / sqrt(64).
// causal_offset < 0: every query sees every key; else query i sees keys 0 .. causal_offset + i.
template <class T, int kWarps>
__global__ void __launch_bounds__(32 * kWarps)
    flash_attention_kernel(const float* __restrict__ q, int ldq, const float* __restrict__ k, int ldk,
                           const float* __restrict__ v, int ldv, float* __restrict__ out, int ldo, int tq, int tk,
                           float scale_log2, int causal_offset) {
  __shared__ __align__(16) uint16_t ks[kBlockK * kRow];  // K block, [key][dim]
  __shared__ __align__(16) uint16_t vt[kDh * kRow];      // V block transposed, [dim][key]
  const int h = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int q0 = blockIdx.x * kWarps * 16 + warp * 16;  // this warp's first query
  const int col0 = h * kDh;

  // This warp's 16 queries as A fragments, scaled (base-2 softmax) and rounded once.
  uint32_t qa[1][kDh / 16][4];
  {
    const int r0 = q0 + g, r1 = q0 + g + 8;
#pragma unroll
    for (int s = 0; s < kDh / 16; ++s) {
      const int c = col0 + s * 16 + 2 * t;
      float2 x00 = make_float2(0.f, 0.f), x10 = x00, x01 = x00, x11 = x00;
      if (r0 < tq) {
        x00 = *reinterpret_cast<const float2*>(q + static_cast<size_t>(r0) * ldq + c);
        x01 = *reinterpret_cast<const float2*>(q + static_cast<size_t>(r0) * ldq + c + 8);
      }
      if (r1 < tq) {
        x10 = *reinterpret_cast<const float2*>(q + static_cast<size_t>(r1) * ldq + c);
        x11 = *reinterpret_cast<const float2*>(q + static_cast<size_t>(r1) * ldq + c + 8);
      }
      qa[0][s][0] = pack2<T>(x00.x * scale_log2, x00.y * scale_log2);
      qa[0][s][1] = pack2<T>(x10.x * scale_log2, x10.y * scale_log2);
      qa[0][s][2] = pack2<T>(x01.x * scale_log2, x01.y * scale_log2);
      qa[0][s][3] = pack2<T>(x11.x * scale_log2, x11.y * scale_log2);
    }
  }
  float o[1][kDh / 8][4];
#pragma unroll
  for (int n = 0; n < kDh / 8; ++n) o[0][n][0] = o[0][n][1] = o[0][n][2] = o[0][n][3] = 0.f;
  float m[1][2] = {{-INFINITY, -INFINITY}}, l[1][2] = {{0.f, 0.f}};  // rows g and g + 8 (l: this lane's share)

  // The last key any query of this block sees.
  const int block_last_q = min(tq, (blockIdx.x + 1) * kWarps * 16) - 1;
  const int n_keys = causal_offset < 0 ? tk : min(tk, causal_offset + block_last_q + 1);
  const uint32_t* ks32 = reinterpret_cast<const uint32_t*>(ks);
  const uint32_t* vt32 = reinterpret_cast<const uint32_t*>(vt);

  for (int kb = 0; kb < n_keys; kb += kBlockK) {
    __syncthreads();  // the previous block's K and V are no longer read
    // 64 keys x 64 dims of K and V, float4 by float4; keys past the end are zeros.
    for (int i = threadIdx.x; i < kBlockK * kDh / 4; i += 32 * kWarps) {
      const int key = i / (kDh / 4), d4 = (i % (kDh / 4)) * 4;
      float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv;
      if (kb + key < tk) {
        kv = *reinterpret_cast<const float4*>(k + static_cast<size_t>(kb + key) * ldk + col0 + d4);
        vv = *reinterpret_cast<const float4*>(v + static_cast<size_t>(kb + key) * ldv + col0 + d4);
      }
      uint2 packed;
      packed.x = pack2<T>(kv.x, kv.y);
      packed.y = pack2<T>(kv.z, kv.w);
      *reinterpret_cast<uint2*>(ks + key * kRow + d4) = packed;
      vt[(d4 + 0) * kRow + key] = bits<T>(vv.x);
      vt[(d4 + 1) * kRow + key] = bits<T>(vv.y);
      vt[(d4 + 2) * kRow + key] = bits<T>(vv.z);
      vt[(d4 + 3) * kRow + key] = bits<T>(vv.w);
    }
    __syncthreads();
    if (q0 >= tq) continue;  // a warp past the last query only helps load

    const bool edge = kb + kBlockK > tk || causal_offset >= 0;
    const int lim[1][2] = {{causal_offset < 0 ? tk : min(tk, causal_offset + q0 + g + 1),
                            causal_offset < 0 ? tk : min(tk, causal_offset + q0 + g + 9)}};
    attend_tiles<T, 1, false>(
        qa, [&](int n, int p, uint32_t(&b)[4]) { k_frag_words(ks32, n, p, b); }, kb, edge, lim, o, m, l,
        [&](int st, int n, uint32_t& b0, uint32_t& b1) {
          const int w = (n * 8 + g) * (kRow / 2) + st * 8 + t;
          b0 = vt32[w];
          b1 = vt32[w + 4];
        });
  }
  if (q0 >= tq) return;
  const float2 inv = row_inverses(l[0][0], l[0][1]);
  const float inv0 = inv.x, inv1 = inv.y;
  const int r0 = q0 + g, r1 = q0 + g + 8;
#pragma unroll
  for (int n = 0; n < kDh / 8; ++n) {
    const int c = col0 + n * 8 + 2 * t;
    if (r0 < tq) *reinterpret_cast<float2*>(out + static_cast<size_t>(r0) * ldo + c) = make_float2(o[0][n][0] * inv0, o[0][n][1] * inv0);
    if (r1 < tq) *reinterpret_cast<float2*>(out + static_cast<size_t>(r1) * ldo + c) = make_float2(o[0][n][2] * inv1, o[0][n][3] * inv1);
  }
}

// B fragments of two 8x8 tiles straight from row-major shared memory, transposed on the way (ldmatrix .trans):
// lanes 0-7 give the addresses of the first tile's rows, lanes 8-15 the second's.
__device__ __forceinline__ void load_trans_x2(const uint16_t* row, uint32_t& b0, uint32_t& b1) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n" : "=r"(b0), "=r"(b1) : "r"(a));
}

// The encoder's self-attention from the product's half output: qkv [t, 3d] (q | k | v, head h at columns
// h * 64 of each third, row stride ld), every query over every key, out [t, d] in T (row stride ldo). The q and
// v biases of the product (bias [3d] float32, or null) are added here: q's to the query as it is loaded, v's to
// the output (the softmax weights sum to 1); k's is left out, as it adds the same amount to all of a query's
// scores, which the softmax ignores. K and V go to shared memory by asynchronous copies, two blocks of keys in
// flight (the next one loads while the current one is multiplied); V's B fragments come through ldmatrix .trans.
// A warp takes kTiles x 16 queries (each K and V fragment read from shared memory serves them all); kLdm: K's
// fragments through ldmatrix too, the products as ordinary asm statements and the exponentials as the bare
// instruction. Every shape gives the same bits (FlashShape in cuda_backend.cuh; exp2_ says where they could not).
// (One tile a warp: 128 registers a thread, so that 16 warps fit an SM, as the original shape has.)
template <class T, int kWarps, int kTiles, bool kLdm>
__global__ void __launch_bounds__(32 * kWarps, kTiles == 1 ? 16 / kWarps : 1)
    flash_attention_half_kernel(const T* __restrict__ qkv, int ld, int d, const float* __restrict__ bias,
                                T* __restrict__ out, int ldo, int tk, float scale_log2) {
  __shared__ __align__(16) uint16_t ks[2][kBlockK * kRow];  // K blocks, [key][dim]
  __shared__ __align__(16) uint16_t vs[2][kBlockK * kRow];  // V blocks, [key][dim]
  const int h = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4;
  const int q0 = (blockIdx.x * kWarps + warp) * kTiles * 16;  // this warp's first query
  const int col0 = h * kDh;
  const uint16_t* base = reinterpret_cast<const uint16_t*>(qkv);

  // Keys [kb, kb + 64) into stage `st`: 64 rows of 8 16-byte pieces for each of K and V.
  auto load = [&](int st, int kb) {
    for (int i = threadIdx.x; i < kBlockK * (kDh / 8); i += 32 * kWarps) {
      const int key = i / (kDh / 8), c8 = (i % (kDh / 8)) * 8;
      const bool valid = kb + key < tk;
      const size_t row = static_cast<size_t>(valid ? kb + key : 0) * ld;
      copy16_async(&ks[st][key * kRow + c8], base + row + d + col0 + c8, valid);
      copy16_async(&vs[st][key * kRow + c8], base + row + 2 * d + col0 + c8, valid);
    }
    commit_copies();
  };
  load(0, 0);

  uint32_t qa[kTiles][kDh / 16][4];
#pragma unroll
  for (int i = 0; i < kTiles; ++i) query_fragments<T>(qkv, ld, tk, q0 + 16 * i + g, col0, bias, scale_log2, qa[i]);
  float o[kTiles][kDh / 8][4], m[kTiles][2], l[kTiles][2];
  int lim[kTiles][2];
#pragma unroll
  for (int i = 0; i < kTiles; ++i) {
#pragma unroll
    for (int n = 0; n < kDh / 8; ++n) o[i][n][0] = o[i][n][1] = o[i][n][2] = o[i][n][3] = 0.f;
    m[i][0] = m[i][1] = -INFINITY;
    l[i][0] = l[i][1] = 0.f;
    lim[i][0] = lim[i][1] = tk;
  }

  int st = 0;
  for (int kb = 0; kb < tk; kb += kBlockK, st ^= 1) {
    next_stage_then_wait(load, st, kb, kBlockK, tk);
    __syncthreads();
    if (q0 >= tk) continue;  // a warp past the last query only helps load
    const uint16_t* vb = vs[st];
    // ldmatrix rows: lanes 0-7 keys 16 st' + 0..7, lanes 8-15 keys 16 st' + 8..15, at dims 8 n.
    const int vrow = (lane % 16) * kRow;
    const uint16_t* kbase = ks[st];
    attend_tiles<T, kTiles, kLdm>(
        qa,
        [&](int n, int p, uint32_t(&b)[4]) {
          if constexpr (kLdm)
            k_frag_ldmatrix(kbase, n, p, b);
          else
            k_frag_words(reinterpret_cast<const uint32_t*>(kbase), n, p, b);
        },
        kb, kb + kBlockK > tk, lim, o, m, l,
        [&](int kstep, int n, uint32_t& b0, uint32_t& b1) {
          load_trans_x2(vb + kstep * 16 * kRow + vrow + n * 8, b0, b1);
        });
  }
#pragma unroll
  for (int i = 0; i < kTiles; ++i) {
    if (q0 + 16 * i >= tk) break;  // (warp-uniform: nothing after the loop may need every lane, but keep it so)
    store_head_rows<T>(o[i], l[i], q0 + 16 * i + g, tk, col0, bias ? bias + 2 * d : nullptr, out, ldo);
  }
}

template <class T>
void launch(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset, int n_sm,
            cudaStream_t stream) {
  const float scale_log2 = 1.4426950408889634f / std::sqrt(static_cast<float>(kDh));
  const int tq = q.rows;
  // Eight warps a block read K and V half as often as four; four when eight would leave SMs idle.
  if (static_cast<long long>((tq + 127) / 128) * n_head >= n_sm) {
    dim3 grid((tq + 127) / 128, n_head);
    flash_attention_kernel<T, 8><<<grid, 256, 0, stream>>>(q.data, q.ld, k.data, k.ld, v.data, v.ld, out.data, out.ld,
                                                            tq, k.rows, scale_log2, causal_offset);
  } else {
    dim3 grid((tq + 63) / 64, n_head);
    flash_attention_kernel<T, 4><<<grid, 128, 0, stream>>>(q.data, q.ld, k.data, k.ld, v.data, v.ld, out.data, out.ld,
                                                            tq, k.rows, scale_log2, causal_offset);
  }
  WST_CUDA_CHECK_LAUNCH();
}

template <class T, int kWarps, int kTiles, bool kLdm>
void launch_half_as(const T* qkv, int ld, int t, int d, const float* bias, T* out, int ldo, cudaStream_t stream) {
  constexpr int kQueries = kWarps * kTiles * 16;  // a block's
  const float scale_log2 = 1.4426950408889634f / std::sqrt(static_cast<float>(kDh));
  const dim3 grid((t + kQueries - 1) / kQueries, d / kDh);
  flash_attention_half_kernel<T, kWarps, kTiles, kLdm><<<grid, 32 * kWarps, 0, stream>>>(qkv, ld, d, bias, out, ldo, t,
                                                                                         scale_log2);
  WST_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_half(const T* qkv, int ld, int t, int d, const float* bias, T* out, int ldo, int n_sm, cudaStream_t stream,
                 FlashShape shape) {
  // 128 queries a block read K and V half as often as 64; 64 when 128 would leave SMs idle.
  if (is_wgmma(shape)) return flash_wgmma_half<T>(qkv, ld, t, d, bias, out, ldo, stream, shape);
  const bool wide = static_cast<long long>((t + 127) / 128) * (d / kDh) >= n_sm;
  switch (shape) {
    case FlashShape::words16:
      return wide ? launch_half_as<T, 8, 1, false>(qkv, ld, t, d, bias, out, ldo, stream)
                  : launch_half_as<T, 4, 1, false>(qkv, ld, t, d, bias, out, ldo, stream);
    case FlashShape::ldmatrix16:
      return wide ? launch_half_as<T, 8, 1, true>(qkv, ld, t, d, bias, out, ldo, stream)
                  : launch_half_as<T, 4, 1, true>(qkv, ld, t, d, bias, out, ldo, stream);
    case FlashShape::ldmatrix32:
      return wide ? launch_half_as<T, 4, 2, true>(qkv, ld, t, d, bias, out, ldo, stream)
                  : launch_half_as<T, 2, 2, true>(qkv, ld, t, d, bias, out, ldo, stream);
    default:
      break;
  }
  throw Error("flash_attention_half: unknown launch shape");
}

}  // namespace

template <class T>
void flash_attention_half(const T* qkv, int ld, int t, int d, const float* bias, T* out, int ldo, int n_sm,
                          cudaStream_t stream, FlashShape shape) {
  // 16-byte copies of K and V rows and 4-byte stores of out: rows and head columns 16-byte aligned.
  if (d % kDh != 0 || ld % 8 != 0 || ldo % 2 != 0 || (reinterpret_cast<size_t>(qkv) & 15) != 0 ||
      (reinterpret_cast<size_t>(out) & 3) != 0)
    throw Error("flash_attention_half: needs a head width of 64 and 16-byte aligned rows");
  if (t == 0) return;
  launch_half(qkv, ld, t, d, bias, out, ldo, n_sm, stream, shape);
}
template void flash_attention_half<__half>(const __half*, int, int, int, const float*, __half*, int, int, cudaStream_t,
                                          FlashShape);
template void flash_attention_half<__nv_bfloat16>(const __nv_bfloat16*, int, int, int, const float*, __nv_bfloat16*,
                                                  int, int, cudaStream_t, FlashShape);

bool CudaBackend::flash_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) {
  if (precision_ == Precision::f32 || q.rows < 2 || q.cols != n_head * kDh) return false;
  // float4 loads of K and V and float2 of Q and out: 16-byte aligned rows and columns.
  for (const Mat* m : {&q, &k, &v, static_cast<const Mat*>(&out)})
    if ((reinterpret_cast<size_t>(m->data) & 15) != 0 || m->ld % 4 != 0) return false;
  if (precision_ == Precision::f16)
    launch<__half>(q, k, v, out, n_head, causal_offset, n_sm_, stream_);
  else
    launch<__nv_bfloat16>(q, k, v, out, n_head, causal_offset, n_sm_, stream_);
  return true;
}

}  // namespace wst::engine::cuda
