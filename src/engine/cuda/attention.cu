// CUDA multi-head attention, two paths:
// - one query (a decoded token): on sm_90 one kernel of thread-block clusters (cluster_attention.cu); before it,
//   split-K over the keys. Block (head, chunk) scores kChunk keys, takes their
//   softmax relative to the chunk's maximum and the chunk's weighted sum of values; a second kernel merges
//   the chunks by their maxima (the online-softmax rule), so the 1500 cross-attention keys spread over many
//   blocks instead of one per head. (Version 1 had one warp per key and a 64-step serial loop over the
//   values per block; merging in the head's last block instead of a second launch was slower: times in
//   docs/cuda_notes.md.)
// - several queries (encoder, prompt): per head, scores = q k^T / sqrt(d_head) by one strided-batched sgemm
//   over all heads (a head is a column slice, so heads are dh columns apart), a masked row softmax, then
//   out = P v by a second strided-batched sgemm: the float32 checking path. In the half-precision modes
//   flash_attention.cu's fused kernel takes these shapes and never writes the [n_head, Tq, Tk] scores.
// Test: tests/engine/cuda_backend_test.cpp; check and time: tools/cuda/cuda_check.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
// One-query path: a block is kWarps warps, each scoring kKeysPerWarp keys (loads unrolled, so they are in flight
// together), keeping its own maximum, sum of exponentials and weighted sum of values; the warps are merged in
// shared memory and the block writes one partial result for the merge kernel.
constexpr int kWarps = 4;
constexpr int kKeysPerWarp = 8;
constexpr int kChunk = kWarps * kKeysPerWarp;  // keys per block
constexpr int kMaxHeadDim = 128;
constexpr int kDimsPerLane = kMaxHeadDim / 32;

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// part: [n_head, n_chunks, dh + 2]: the chunk's unnormalised output, its score maximum, its sum of exponentials.
// With `st` set (a recorded step), n_visible is the step's position + 1 and the grid covers every key: the
// chunks past it come out empty (maximum -inf, sum 0) and weigh nothing in the merge, which then gives the
// same sums as a grid of just the visible chunks. Each warp loads its keys' K and V values into registers, all in
// flight together, all after the wait (the path before sm_90 or with WST_CUDA_CLUSTERS=0; cluster_attention.cu is
// the one that loads early).
__global__ void one_query_partial_kernel(const float* q, const float* k, int ldk, const float* v, int ldv, int dh,
                                         int n_visible, float scale, float* part, int n_chunks, const StepState* st) {
  const int h = blockIdx.x, c = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int j0 = c * kChunk + warp * kKeysPerWarp;
  float kr[kKeysPerWarp][kDimsPerLane], vr[kKeysPerWarp][kDimsPerLane];
  auto load_kv = [&](int nj) {
#pragma unroll
    for (int u = 0; u < kKeysPerWarp; ++u)
#pragma unroll
      for (int e = 0; e < kDimsPerLane; ++e) {
        const int t = lane + 32 * e;
        const bool in = u < nj && t < dh;
        kr[u][e] = in ? k[static_cast<size_t>(j0 + u) * ldk + h * dh + t] : 0.0f;
        vr[u][e] = in ? v[static_cast<size_t>(j0 + u) * ldv + h * dh + t] : 0.0f;
      }
  };
  wait_for_previous_kernel();
  let_next_kernel_start();
  if (st != nullptr) n_visible = st->position + 1;
  const int nj = max(0, min(kKeysPerWarp, n_visible - j0));  // the same for the whole warp
  load_kv(nj);
  __shared__ float qs[kMaxHeadDim];
  __shared__ float wm[kWarps], wl[kWarps];
  __shared__ float wo[kWarps][kMaxHeadDim];
  for (int t = threadIdx.x; t < dh; t += blockDim.x) qs[t] = q[h * dh + t] * scale;
  __syncthreads();
  float s[kKeysPerWarp];
#pragma unroll
  for (int u = 0; u < kKeysPerWarp; ++u) {
    float acc = 0.0f;
#pragma unroll
    for (int e = 0; e < kDimsPerLane; ++e) {
      const int t = lane + 32 * e;
      if (t < dh) acc += qs[t] * kr[u][e];
    }
    s[u] = u < nj ? warp_sum(acc) : -INFINITY;
  }
  float m = -INFINITY;
#pragma unroll
  for (int u = 0; u < kKeysPerWarp; ++u) m = fmaxf(m, s[u]);
  float l = 0.0f, o[kDimsPerLane] = {};
#pragma unroll
  for (int u = 0; u < kKeysPerWarp; ++u) {
    if (u < nj) {
      const float p = expf(s[u] - m);
      l += p;
#pragma unroll
      for (int e = 0; e < kDimsPerLane; ++e) o[e] += p * vr[u][e];
    }
  }
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int e = 0; e < kDimsPerLane; ++e) {
    const int t = lane + 32 * e;
    if (t < dh) wo[warp][t] = o[e];
  }
  __syncthreads();
  // Warps without keys weigh 0 (warp 0 has keys unless the whole chunk is past n_visible, in a recorded step).
  float mx = wm[0];
  for (int w = 1; w < kWarps; ++w) mx = fmaxf(mx, wm[w]);
  float weight[kWarps];
  float sum = 0.0f;
  for (int w = 0; w < kWarps; ++w) {
    weight[w] = wl[w] > 0.0f ? expf(wm[w] - mx) : 0.0f;
    sum += wl[w] * weight[w];
  }
  float* out = part + (static_cast<size_t>(h) * n_chunks + c) * (dh + 2);
  for (int t = threadIdx.x; t < dh; t += blockDim.x) {
    float acc = 0.0f;
    for (int w = 0; w < kWarps; ++w) acc += wo[w][t] * weight[w];
    out[t] = acc;
  }
  if (threadIdx.x == 0) {
    out[dh] = mx;
    out[dh + 1] = sum;
  }
}

__global__ void one_query_merge_kernel(const float* part, int n_chunks, int dh, float* out) {
  wait_for_previous_kernel();
  let_next_kernel_start();
  const int h = blockIdx.x;
  const float* ph = part + static_cast<size_t>(h) * n_chunks * (dh + 2);
  float m = -INFINITY;
  for (int c = 0; c < n_chunks; ++c) m = fmaxf(m, ph[c * (dh + 2) + dh]);
  float l = 0.0f;
  for (int c = 0; c < n_chunks; ++c) l += ph[c * (dh + 2) + dh + 1] * expf(ph[c * (dh + 2) + dh] - m);
  for (int t = threadIdx.x; t < dh; t += blockDim.x) {
    float o = 0.0f;
    for (int c = 0; c < n_chunks; ++c) o += ph[c * (dh + 2) + t] * expf(ph[c * (dh + 2) + dh] - m);
    out[h * dh + t] = o / l;
  }
}

// One block per row of scores [n_head * tq, tk]; row h * tq + i is query i of head h. Keys past the causal
// limit get probability 0.
__global__ void masked_softmax_kernel(float* s, int tq, int tk, int causal_offset) {
  const int row = blockIdx.x, i = row % tq;
  float* sr = s + static_cast<size_t>(row) * tk;
  const int visible = causal_offset < 0 ? tk : min(tk, causal_offset + i + 1);
  __shared__ float red[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = blockDim.x / 32;
  float m = -INFINITY;
  for (int j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, sr[j]);
  m = warp_max(m);
  if (lane == 0) red[warp] = m;
  __syncthreads();
  m = red[0];
  for (int w = 1; w < n_warps; ++w) m = fmaxf(m, red[w]);
  __syncthreads();
  float l = 0.0f;
  for (int j = threadIdx.x; j < visible; j += blockDim.x) {
    const float p = expf(sr[j] - m);
    sr[j] = p;
    l += p;
  }
  l = warp_sum(l);
  if (lane == 0) red[warp] = l;
  __syncthreads();
  l = 0.0f;
  for (int w = 0; w < n_warps; ++w) l += red[w];
  const float inv = 1.0f / l;
  for (int j = threadIdx.x; j < tk; j += blockDim.x) sr[j] = j < visible ? sr[j] * inv : 0.0f;
}
// f[i] = h[i] for n values, eight a thread where n allows (a K/V's float32 values made from its shadow).
__global__ void widen_half_kernel(const __half* h, float* f, size_t n) {
  const size_t i = (blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x) * 8;
  if (i + 8 <= n) {
    const uint4 raw = *reinterpret_cast<const uint4*>(h + i);
    const __half2* p = reinterpret_cast<const __half2*>(&raw);
    float4 a, b;
    float2 v = __half22float2(p[0]);
    a.x = v.x, a.y = v.y;
    v = __half22float2(p[1]);
    a.z = v.x, a.w = v.y;
    v = __half22float2(p[2]);
    b.x = v.x, b.y = v.y;
    v = __half22float2(p[3]);
    b.z = v.x, b.w = v.y;
    reinterpret_cast<float4*>(f + i)[0] = a;
    reinterpret_cast<float4*>(f + i)[1] = b;
  } else {
    for (size_t j = i; j < n; ++j) f[j] = __half2float(h[j]);
  }
}
}  // namespace

void CudaBackend::mark_cross_f32_recorded() {
  std::shared_ptr<void> mark = cross_f32_readers_.lock();
  if (!mark) {
    mark = std::make_shared<char>(0);
    cross_f32_readers_ = mark;
  }
  recorded_.push_back(std::move(mark));  // held by the recording (step_graph.cu) as long as it can be replayed
}

bool CudaBackend::fresh_cross_kv(const Mat& m, bool cross_read) {
  if (m.rows == 0 || m.cols == 0) return false;
  if (recording_ && cross_read) mark_cross_f32_recorded();
  const float* lo = m.data;
  const float* hi = m.data + static_cast<size_t>(m.rows - 1) * m.ld + m.cols;
  bool launched = false;
  for (HalfKv& h : half_kv_) {
    const float* h_lo = h.src.data;
    const float* h_hi = h_lo + static_cast<size_t>(h.src.rows) * h.src.cols;  // (contiguous)
    if (hi <= h_lo || lo >= h_hi || h.src.owner.expired()) continue;
    if (recording_) {
      // A replay reads these float32 values again, after later windows' cross_kv: from now on it writes them.
      mark_cross_f32_recorded();
      recorded_.push_back(h.half);
    }
    if (!h.f32_stale) continue;
    const size_t n = static_cast<size_t>(h.src.rows) * h.src.cols;
    widen_half_kernel<<<blocks_for((n + 7) / 8, 256), 256, 0, stream_>>>(static_cast<const __half*>(h.half.get()),
                                                                        const_cast<float*>(h_lo), n);
    WST_CUDA_CHECK_LAUNCH();
    launched = true;
    ++cross_kv_widened_;
    // (In a capture the widening runs only at the replays, each from the shadow of its time: still stale now.)
    if (!recording_) h.f32_stale = false;
  }
  return launched;
}

void CudaBackend::cross_kv(const Mat& x, const std::vector<const Weights*>& w, const std::vector<const Mat*>& bias,
                           const std::vector<Mat*>& kv, bool sole_window) {
  bool direct = half_direct_kv_ && half_kv_on() && sole_window && sm90_ && clusters_ && !recording_ &&
                cross_f32_readers_.expired() && !w.empty() && bias.size() == w.size() && kv.size() == w.size() && x.rows > 0 &&
                x.cols % 8 == 0;
  for (size_t i = 0; direct && i < w.size(); ++i) {
    const Mat& y = *kv[i];
    direct = w[i]->type == WeightType::float16 && y.storage && y.ld == y.cols && y.cols % 8 == 0 &&
             y.rows == x.rows && y.cols == w[i]->rows && w[i]->cols == x.cols && bias[i] && bias[i]->cols == y.cols;
  }
  if (!direct) return Backend::cross_kv(x, w, bias, kv, sole_window);
  drop_expired(half_kv_);
  const Weights xh = to_half(x, WeightType::float16);  // the rounding linear makes, once for every layer
  for (size_t i = 0; i < w.size(); ++i) {
    Mat& y = *kv[i];
    auto it = std::find_if(half_kv_.begin(), half_kv_.end(), [&](const HalfKv& h) { return h.src.is(y); });
    if (it == half_kv_.end())
      it = half_kv_.insert(half_kv_.end(),
                           HalfKv{CopySource::of(y), alloc_bytes(static_cast<size_t>(y.rows) * y.cols * 2)});
    // (The float32 values too where cuBLASLt has no half-output algorithm.)
    if (product_bias_half(*w[i], xh.packed.get(), x.cols, x.rows, it->half.get(), y.cols, bias[i]->data)) {
      it->f32_stale = true;
      ++half_direct_kv_products_;
    } else {
      product_over_half(*w[i], xh.packed.get(), x.cols, x.rows, bias[i]->data, y);
      round_rows_to(y, WeightType::float16, it->half.get(), stream_);
      it->f32_stale = false;
    }
  }
}

void CudaBackend::one_row_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int n_visible,
                                    const StepState* st, bool kv_fixed) {
  // K/V widened just now are written by the op just before: not loaded before waiting for it.
  if (fresh_cross_kv(k, kv_fixed) | fresh_cross_kv(v, kv_fixed)) kv_fixed = false;
  AttentionRows rows{};
  rows.k[0] = k.data;
  rows.v[0] = v.data;
  rows.n_visible[0] = n_visible;
  const int dh = q.cols / n_head;
  cluster_attention(chained_, stream_, q.data, q.ld, rows, 1, k.ld, v.ld, n_head, dh,
                    1.0f / std::sqrt(static_cast<float>(dh)), out.data, out.ld, st, kv_fixed);
}

void CudaBackend::few_queries_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, bool kv_fixed) {
  rows_attention(q, std::vector<const Mat*>(q.rows, &k), std::vector<const Mat*>(q.rows, &v), out, n_head, kv_fixed);
}

void CudaBackend::rows_attention(const Mat& q, const std::vector<const Mat*>& ks, const std::vector<const Mat*>& vs,
                                 Mat& out, int n_head, bool kv_fixed) {
  const int n = q.rows, dh = q.cols / n_head;
  // Every row over the same keys: each read once (with enough heads to fill the card; cuda_backend.cuh).
  bool same = (n >= 2 ? shared_kv_ && n_head >= shared_kv_min_heads_ : one_row_scores_first_ && kv_fixed) &&
              shared_kv_attention_fits(n, dh, ks[0]->data, vs[0]->data, ks[0]->ld, vs[0]->ld);
  for (int b = 1; same && b < n; ++b)
    same = ks[b]->data == ks[0]->data && vs[b]->data == vs[0]->data && ks[b]->rows == ks[0]->rows;
  if (same) {
    ++shared_kv_launches_;
    if (const auto hk = kv_fixed ? half_kv_view(*ks[0], *vs[0], n, dh) : std::nullopt)
      return shared_kv_attention(chained_, stream_, q.data, q.ld, n, hk->k, hk->v, hk->ld, hk->ld, ks[0]->rows, n_head,
                                 dh, 1.0f / std::sqrt(static_cast<float>(dh)), out.data, out.ld, kv_fixed);
    // K/V widened just now are written by the op just before: not loaded before waiting for it.
    if (fresh_cross_kv(*ks[0], kv_fixed) | fresh_cross_kv(*vs[0], kv_fixed)) kv_fixed = false;
    return shared_kv_attention(chained_, stream_, q.data, q.ld, n, ks[0]->data, vs[0]->data, ks[0]->ld, vs[0]->ld,
                               ks[0]->rows, n_head, dh, 1.0f / std::sqrt(static_cast<float>(dh)), out.data, out.ld,
                               kv_fixed);
  }
  bool widened = false;
  for (int b = 0; b < n; ++b) widened |= fresh_cross_kv(*ks[b], kv_fixed) | fresh_cross_kv(*vs[b], kv_fixed);
  if (widened) kv_fixed = false;  // (as above)
  for (int b0 = 0; b0 < n; b0 += kMaxAttentionRows) {
    const int m = std::min(kMaxAttentionRows, n - b0);
    AttentionRows rows{};
    for (int i = 0; i < m; ++i) {
      rows.k[i] = ks[b0 + i]->data;
      rows.v[i] = vs[b0 + i]->data;
      rows.n_visible[i] = ks[b0 + i]->rows;
    }
    cluster_attention(chained_, stream_, q.data + static_cast<size_t>(b0) * q.ld, q.ld, rows, m, ks[0]->ld, vs[0]->ld,
                      n_head, dh, 1.0f / std::sqrt(static_cast<float>(dh)), out.data + static_cast<size_t>(b0) * out.ld,
                      out.ld, nullptr, kv_fixed);
  }
}

void CudaBackend::cross_kv_written(const Mat& kv, bool sole_window) {
  drop_expired(half_kv_);  // shadows of freed K/V go first (their memory back to the pool)
  auto it = std::find_if(half_kv_.begin(), half_kv_.end(), [&](const HalfKv& h) { return h.src.is(kv); });
  // Off (or float32, which must give the CPU's tokens; or bfloat16, whose range float16 does not have; or one of
  // several windows): no new shadow. One a recording still holds (use_count > 1: a step recorded while it was on,
  // replayed for this window too) is refreshed all the same, so that it never reads an older window's K/V; one
  // nobody else holds goes.
  if (!half_kv_on() || !sole_window || !(sm90_ && clusters_) || kv.cols % 2 != 0 ||
      kv.ld != kv.cols || !kv.storage) {
    if (it == half_kv_.end()) return;
    if (it->half.use_count() == 1 || kv.ld != kv.cols || !kv.storage) {
      half_kv_.erase(it);
      return;
    }
  } else if (it == half_kv_.end()) {
    it = half_kv_.insert(half_kv_.end(),
                         HalfKv{CopySource::of(kv), alloc_bytes(static_cast<size_t>(kv.rows) * kv.cols * 2)});
  }
  round_rows_to(kv, WeightType::float16, it->half.get(), stream_);  // in stream order: never stale for what follows
  it->f32_stale = false;  // (kv's float32 values were just written)
  if (recording_) recorded_.push_back(it->half);
}

std::optional<CudaBackend::HalfKvView> CudaBackend::half_kv_view(const Mat& k, const Mat& v, int n_rows, int dh) {
  // (Whatever shadow an earlier precision left: float32 must give the CPU's tokens, bfloat16 keeps its range.)
  if (!half_kv_on()) return std::nullopt;
  const HalfKv* hk = half_kv_for(k, v);
  if (!hk) return std::nullopt;
  const __half* kh = static_cast<const __half*>(hk->half.get());
  const HalfKvView view{kh, kh + (v.data - hk->src.data), hk->src.cols};  // the shadow is contiguous
  if (!shared_kv_attention_fits(n_rows, dh, view.k, view.v, view.ld, view.ld)) return std::nullopt;
  ++half_cross_kv_launches_;
  if (recording_) recorded_.push_back(hk->half);  // the recording keeps its shadow alive
  return view;
}

const CudaBackend::HalfKv* CudaBackend::half_kv_for(const Mat& k, const Mat& v) const {
  // k and v as the two halves of one [rows, 2d] K/V.
  const Mat kv{k.storage, k.data, k.rows, 2 * k.cols, k.ld};
  if (v.data != k.data + k.cols || v.cols != k.cols || v.rows != k.rows || v.ld != k.ld) return nullptr;
  for (const HalfKv& h : half_kv_)
    if (h.src.is(kv)) return &h;
  return nullptr;
}

void CudaBackend::cross_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) {
  // The window's K/V were made by set_audio, never by the op just before: the cluster kernel loads its first keys
  // before waiting for that op (kv_fixed). Shapes it does not take go through attention().
  const int d = q.cols;
  if (!(sm90_ && clusters_) || q.rows < 1 || q.rows > kMaxAttentionRows || k.rows < 1 || n_head <= 0 ||
      d % n_head != 0 || d / n_head > kMaxHeadDim || k.cols != d || v.cols != d || v.rows != k.rows ||
      out.rows != q.rows || out.cols != d)
    return attention(q, k, v, out, n_head, -1);
  few_queries_attention(q, k, v, out, n_head, true);
}

void CudaBackend::cross_attention_rows(const Mat& q, const std::vector<const Mat*>& ks,
                                       const std::vector<const Mat*>& vs, Mat& out, int n_head) {
  const int n = q.rows, d = q.cols;
  bool fits = sm90_ && clusters_ && n >= 1 && static_cast<int>(ks.size()) == n && static_cast<int>(vs.size()) == n &&
              out.rows == n && out.cols == d && n_head > 0 && d % n_head == 0 && d / n_head <= kMaxHeadDim;
  for (int b = 0; fits && b < n; ++b)
    fits = ks[b]->rows >= 1 && ks[b]->cols == d && vs[b]->cols == d && vs[b]->rows == ks[b]->rows &&
           ks[b]->ld == ks[0]->ld && vs[b]->ld == vs[0]->ld;
  if (!fits) return Backend::cross_attention_rows(q, ks, vs, out, n_head);
  // The windows' K/V were made by set_audio(s), never by the op just before (kv_fixed, as cross_attention).
  rows_attention(q, ks, vs, out, n_head, true);
}

namespace {
// Whether wo [d, d] in `type` (the fused kernel's weights') can be folded into it, with bo [1, d] or none: its rows
// copied 16 bytes at a time (cp.async), the heads' partials within the backend's scratch (made: set_fused_out).
bool folds(const Weights& wo, const Mat* bo, WeightType type, int d, int n_head, const Mat& scratch,
           int max_partials) {
  return scratch.data && wo.type == type && wo.rows == d && wo.cols == d && wo.packed &&
         (reinterpret_cast<uintptr_t>(wo.packed.get()) & 15) == 0 &&
         static_cast<long long>(n_head) * d <= max_partials && (!bo || bo->empty() || bo->cols == d);
}

// The fused kernels' fold arguments (null where wo is: no fold), over the backend's scratch: partials, then counters.
template <class T>
FoldedOutput<T> fold_args(const Weights* wo, const Mat* bo, const Mat& x, const Mat& scratch, int n_partials) {
  return {wo ? static_cast<const T*>(wo->packed.get()) : nullptr, bias_or_null(bo), x.data, scratch.data,
          reinterpret_cast<unsigned*>(scratch.data + n_partials)};
}
}  // namespace

bool CudaBackend::launch_fused_cross(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq,
                                     const Mat& k, const Mat& v, Mat& out, int n_head, const Weights* wo,
                                     const Mat* bo) {
  const int d = x.cols;
  const bool half = wq.type == WeightType::float16 || wq.type == WeightType::bfloat16;
  if (!fused_cross_ || d > fused_cross_max_width_ || !(sm90_ && clusters_) || !half || x.rows != 1 ||
      !cross_query_attention_fits(d, n_head) || !shared_kv_attention_fits(1, d / n_head, k.data, v.data, k.ld, v.ld) ||
      wq.rows != d || wq.cols != d || gamma.cols != d || beta.cols != d || k.rows < 1 || k.cols != d ||
      v.cols != d || v.rows != k.rows || out.rows != 1 || out.cols != d || (bq && !bq->empty() && bq->cols != d) ||
      (wo && !folds(*wo, bo, wq.type, d, n_head, fold_scratch_, kFoldPartials)))
    return false;
  // Only over the K/V's float16 shadow, which the unfused attention reads too (the same bits either way): over the
  // float32 K/V the kernel spills and was slower than the two kernels (session 18), which then run instead.
  const auto hk = half_kv_view(k, v, 1, d / n_head);
  if (!hk) return false;
  const float* b = bq && !bq->empty() ? bq->data : nullptr;
  ++fused_cross_launches_;
  if (wo) ++fused_out_launches_;
  // The norm folded into wq (NormFold): W', b' and s in place of wq, bq and the gains.
  const NormFold* nf = fold_for(wq, gamma.data, beta.data, b);
  if (nf) ++norm_fold_launches_;
  const Weights& wq_run = nf ? nf->w : wq;
  const auto launch = [&](const auto* w) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(w)>>;
    const FoldedOutput<T> fold = fold_args<T>(wo, bo, x, fold_scratch_, kFoldPartials);
    cross_query_attention(chained_, stream_, x.data, x.ld, nf ? nullptr : gamma.data, nf ? nullptr : beta.data, w,
                          nf ? nf->bias.data : b, d, n_head, hk->k, hk->v, hk->ld, hk->ld, k.rows, out.data,
                          wo ? &fold : nullptr, gemv_.stage_norm, nf ? nf->row_sums.data : nullptr);
  };
  if (wq.type == WeightType::float16)
    launch(static_cast<const __half*>(wq_run.packed.get()));
  else
    launch(static_cast<const __nv_bfloat16*>(wq_run.packed.get()));
  return true;
}

void CudaBackend::cross_attention_from(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& wq,
                                       const Mat* bq, Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) {
  if (!launch_fused_cross(x, gamma, beta, wq, bq, k, v, out, n_head, nullptr, nullptr))
    Backend::cross_attention_from(x, gamma, beta, wq, bq, q, k, v, out, n_head);
}

void CudaBackend::cross_attention_out_from(const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq,
                                           const Weights& wo, const Mat* bo, Mat& x, Mat& q, const Mat& k,
                                           const Mat& v, Mat& out, int n_head) {
  if (fused_out_ && launch_fused_cross(x, gamma, beta, wq, bq, k, v, out, n_head, &wo, bo)) return;
  Backend::cross_attention_out_from(gamma, beta, wq, bq, wo, bo, x, q, k, v, out, n_head);
}

bool CudaBackend::launch_fused_self(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& w,
                                    const Mat* bias, Mat& k_cache, Mat& v_cache, Mat& out, int n_head,
                                    const Weights* wo, const Mat* bo) {
  const int d = x.cols;
  const bool half = w.type == WeightType::float16 || w.type == WeightType::bfloat16;
  if (!fused_self_ || !(sm90_ && clusters_) || !half || x.rows != 1 || !cross_query_attention_fits(d, n_head) ||
      w.rows != 3 * d || w.cols != d || gamma.cols != d || beta.cols != d || k_cache.cols != d ||
      v_cache.cols != d || k_cache.ld != v_cache.ld || out.rows != 1 || out.cols != d ||
      (bias && !bias->empty() && bias->cols != 3 * d) ||
      (wo && !folds(*wo, bo, w.type, d, n_head, fold_scratch_, kFoldPartials)))
    return false;
  const float* b = bias_or_null(bias);
  const auto* st = static_cast<const StepState*>(step_dev_.get());
  ++fused_self_launches_;
  if (wo) ++fused_out_launches_;
  // The norm folded into the q|k|v weights (NormFold): W', b' and s in place of w, bias and the gains.
  const NormFold* nf = fold_for(w, gamma.data, beta.data, b);
  if (nf) ++norm_fold_launches_;
  const Weights& w_run = nf ? nf->w : w;
  const auto launch = [&](const auto* wp) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(wp)>>;
    const FoldedOutput<T> fold = fold_args<T>(wo, bo, x, fold_scratch_, kFoldPartials);
    self_query_attention(chained_, stream_, x.data, x.ld, nf ? nullptr : gamma.data, nf ? nullptr : beta.data, wp,
                         nf ? nf->bias.data : b, d, n_head, k_cache.data, v_cache.data, k_cache.ld, st, out.data,
                         wo ? &fold : nullptr, gemv_.stage_norm, nf ? nf->row_sums.data : nullptr);
  };
  if (w.type == WeightType::float16)
    launch(static_cast<const __half*>(w_run.packed.get()));
  else
    launch(static_cast<const __nv_bfloat16*>(w_run.packed.get()));
  return true;
}

void CudaBackend::self_attention_at_from(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& w,
                                         const Mat* bias, Mat& qkv, Mat& k_cache, Mat& v_cache, Mat& out, int n_head) {
  if (!recording_) throw Error("self_attention_at_from: only while a step is recorded");
  note_step_rows(std::min(k_cache.rows, v_cache.rows));
  if (!launch_fused_self(x, gamma, beta, w, bias, k_cache, v_cache, out, n_head, nullptr, nullptr))
    Backend::self_attention_at_from(x, gamma, beta, w, bias, qkv, k_cache, v_cache, out, n_head);
}

void CudaBackend::self_attention_out_at_from(const Mat& gamma, const Mat& beta, const Weights& w, const Mat* bias,
                                             const Weights& wo, const Mat* bo, Mat& x, Mat& qkv, Mat& k_cache,
                                             Mat& v_cache, Mat& out, int n_head) {
  if (!recording_) throw Error("self_attention_out_at_from: only while a step is recorded");
  note_step_rows(std::min(k_cache.rows, v_cache.rows));
  if (fused_out_ && launch_fused_self(x, gamma, beta, w, bias, k_cache, v_cache, out, n_head, &wo, bo)) return;
  Backend::self_attention_out_at_from(gamma, beta, w, bias, wo, bo, x, qkv, k_cache, v_cache, out, n_head);
}

void CudaBackend::attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) {
  const int tq = q.rows, tk = k.rows, d = q.cols;
  if (n_head <= 0 || d % n_head != 0 || k.cols != d || v.cols != d || v.rows != tk || out.rows != tq || out.cols != d)
    throw Error("attention: shapes q [" + std::to_string(tq) + ", " + std::to_string(d) + "], k [" +
                std::to_string(tk) + ", " + std::to_string(k.cols) + "] do not agree with " + std::to_string(n_head) +
                " heads");
  const int dh = d / n_head;
  if (dh > kMaxHeadDim) throw Error("attention: head width " + std::to_string(dh) + " above " + std::to_string(kMaxHeadDim));
  if (tq == 0) return;
  fresh_cross_kv(k);  // (every way below reads the float32 values)
  fresh_cross_kv(v);
  if (tq > 1 && tq <= kMaxAttentionRows && causal_offset < 0 && sm90_ && clusters_) {
    if (tk == 0) throw Error("attention: the queries see no key");
    return few_queries_attention(q, k, v, out, n_head, false);  // K/V may come from the op just before
  }
  if (flash_attention(q, k, v, out, n_head, causal_offset)) return;  // half-precision modes, many queries
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  if (tq == 1) {
    const int n_visible = causal_offset < 0 ? tk : std::min(tk, causal_offset + 1);
    if (n_visible <= 0) throw Error("attention: the query sees no key");
    if (sm90_ && clusters_) return one_row_attention(q, k, v, out, n_head, n_visible, nullptr, false);
    const int n_chunks = (n_visible + kChunk - 1) / kChunk;
    Mat part = alloc(n_head * n_chunks, dh + 2);
    launch_kernel(chained_, one_query_partial_kernel, dim3(n_head, n_chunks), dim3(32 * kWarps), 0, stream_, q.data,
                  k.data, k.ld, v.data, v.ld, dh, n_visible, scale, part.data, n_chunks,
                  static_cast<const StepState*>(nullptr));
    launch_kernel(chained_, one_query_merge_kernel, dim3(n_head), dim3(std::min(dh, 256)), 0, stream_,
                  static_cast<const float*>(part.data), n_chunks, dh, out.data);
    return;
  }
  Mat scores = alloc(n_head * tq, tk);  // [n_head, tq, tk]
  const float one = 1.0f, zero = 0.0f;
  const long long stride_s = static_cast<long long>(tq) * tk;
  // Read column-major, S_h^T [tk, tq] = K_h^T^T Q_h^T, where K_h and Q_h as stored are [dh, tk] and [dh, tq]:
  // sgemm(T, N, tk, tq, dh), heads dh apart.
  WST_CUBLAS_CHECK(cublasSgemmStridedBatched(blas_, CUBLAS_OP_T, CUBLAS_OP_N, tk, tq, dh, &scale, k.data, k.ld, dh,
                                             q.data, q.ld, dh, &zero, scores.data, tk, stride_s, n_head));
  masked_softmax_kernel<<<n_head * tq, 256, 0, stream_>>>(scores.data, tq, tk, causal_offset);
  WST_CUDA_CHECK_LAUNCH();
  // out_h^T [dh, tq] = V_h^T [dh, tk] P_h^T [tk, tq]: sgemm(N, N, dh, tq, tk).
  WST_CUBLAS_CHECK(cublasSgemmStridedBatched(blas_, CUBLAS_OP_N, CUBLAS_OP_N, dh, tq, tk, &one, v.data, v.ld, dh,
                                             scores.data, tk, stride_s, &zero, out.data, out.ld, dh, n_head));
}

void CudaBackend::attention_at(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) {
  if (!recording_) throw Error("attention_at: only while a step is recorded");
  const int d = q.cols, tk = k.rows;
  if (q.rows != 1 || n_head <= 0 || d % n_head != 0 || k.cols != d || v.cols != d || v.rows != tk || out.rows != 1 ||
      out.cols != d)
    throw Error("attention_at: one query of width " + std::to_string(d) + " over k [" + std::to_string(tk) + ", " +
                std::to_string(k.cols) + "] with " + std::to_string(n_head) + " heads does not fit");
  const int dh = d / n_head;
  if (dh > kMaxHeadDim) throw Error("attention_at: head width " + std::to_string(dh) + " above " + std::to_string(kMaxHeadDim));
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  if (sm90_ && clusters_)
    return one_row_attention(q, k, v, out, n_head, tk, static_cast<const StepState*>(step_dev_.get()), false);
  const int n_chunks = (tk + kChunk - 1) / kChunk;  // every key of the cache; the kernel skips those not visible
  Mat part = alloc(n_head * n_chunks, dh + 2);
  launch_kernel(chained_, one_query_partial_kernel, dim3(n_head, n_chunks), dim3(32 * kWarps), 0, stream_, q.data,
                k.data, k.ld, v.data, v.ld, dh, tk, scale, part.data, n_chunks,
                static_cast<const StepState*>(step_dev_.get()));
  launch_kernel(chained_, one_query_merge_kernel, dim3(n_head), dim3(std::min(dh, 256)), 0, stream_,
                static_cast<const float*>(part.data), n_chunks, dh, out.data);
}

}  // namespace wst::engine::cuda
