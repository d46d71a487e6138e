// Backend::pick_greedy and Backend::top_candidates on the GPU: a step's logit filters (StepRules),
// log-softmax and choice where the logits are, so that a few bytes come back instead of n_vocab floats (on the GPU machine the host-side filters took 1.5 ms a
// token, more than the tiny decoder step itself). One block walks the vocabulary a few times (it is in L2):
//   1. the masks (suppressed ids as a bitmask, two ranges) and the maxima of all, text and timestamp logits;
//   2. log-sum-exp of everything, in double as decoding.cpp's log_softmax;
//   3. the timestamp rule on the log-probabilities, rounded to float as the host's are;
//   4. the first maximum of what is left (torch.argmax) and its log-probability; or, for beam search, each
//      row's k best continuations by the beam's score plus the log-probability.
// The arithmetic follows decoding.cpp's step by step; only the order of the double-precision sums differs.
// On sm_90 (CudaBackend::set_pick_cluster, the default there), a row is a cluster of kPickCtas blocks, each walking its
// share of the vocabulary and exchanging its maxima, sums and best candidates with the others through distributed
// shared memory: one block spent 69.5 us of a large-v3 token issuing the double-precision exponentials on one SM
// (Nsight Compute, run 65); the cluster took 0.025-0.036 ms off every model's greedy token (run 66). Every block of
// a cluster adds the blocks' sums in rank order, so all get the same bits.
#include <cooperative_groups.h>

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstring>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {
namespace {

constexpr int kThreads = 1024;      // the one-block kernels (before sm_90)
constexpr int kPickCtas = 8;        // blocks a row on sm_90 (a cluster; 8 is the portable maximum)
constexpr int kPickThreads = 512;   // threads of each of them
// Turns of a pass whose loads go together (for_each_filtered), by the blocks a row.
template <int kC>
constexpr int kTurns = kC > 1 ? 8 : 4;

// Block-wide reduction by `op` (max or sum); every thread gets the result. `scratch` holds one value per warp.
template <class T, class Op>
__device__ T block_reduce(T v, T* scratch, T identity, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < blockDim.x / 32 ? scratch[lane] : identity;
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ float block_max(float v, float* scratch) {
  return block_reduce(v, scratch, -INFINITY, [](float a, float b) { return fmaxf(a, b); });
}

__device__ double block_sum(double v, double* scratch) {
  return block_reduce(v, scratch, 0.0, [](double a, double b) { return a + b; });
}

// The larger value; of equal values the smaller index (the first maximum).
__device__ void better(float& v, int& i, float v2, int i2) {
  if (v2 > v || (v2 == v && i2 < i)) {
    v = v2;
    i = i2;
  }
}

__device__ void block_argmax(float& v, int& i, float* fscratch, int* iscratch) {
  for (int o = 16; o > 0; o >>= 1) better(v, i, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, i, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) {
    fscratch[warp] = v;
    iscratch[warp] = i;
  }
  __syncthreads();
  v = lane < blockDim.x / 32 ? fscratch[lane] : -INFINITY;
  i = lane < blockDim.x / 32 ? iscratch[lane] : INT_MAX;
  for (int o = 16; o > 0; o >>= 1) better(v, i, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, i, o));
}

// f(t, v) for t = from + threadIdx.x, from + threadIdx.x + blockDim.x, ... below hi, in that order, v the logit
// after the rules' masks (-inf where the suppressed ids' bitmask or either range masks t): a thread's values of 8
// turns (kTurns: 8 in the cluster kernels' 512-thread blocks, 4 in the 1024-thread blocks before sm_90, whose
// registers 8 would overrun) loaded together (the logit whether masked or not) before any is used. A loop over t waited for each turn's
// mask word, then its logit: ~13 turns a pass over 51866 logits at 8 x 512 threads, two L2 round trips each, in
// each of the pick's 3-5 passes (a beam row's top candidates: one pass a candidate). The same values in the same
// order.
template <int kTurns, class F>
__device__ __forceinline__ void for_each_filtered(const float* logits, const unsigned* bits, const StepState& r,
                                                  int from, int hi, F&& f) {
  for (int t0 = from + threadIdx.x; t0 < hi; t0 += kTurns * blockDim.x) {
    unsigned word[kTurns];
    float logit[kTurns];
#pragma unroll
    for (int u = 0; u < kTurns; ++u) {
      const int t = t0 + u * blockDim.x;
      if (t < hi) {
        word[u] = bits[t >> 5];
        logit[u] = logits[t];
      }
    }
#pragma unroll
    for (int u = 0; u < kTurns; ++u) {
      const int t = t0 + u * blockDim.x;
      if (t >= hi) break;
      const bool masked = ((word[u] >> (t & 31)) & 1u) || (t >= r.a0 && t < r.a1) || (t >= r.b0 && t < r.b1);
      f(t, masked ? -INFINITY : logit[u]);
    }
  }
}

// What a block shares with the other blocks of its row's cluster: one slot an exchange, so that one cluster barrier
// an exchange suffices (a block cannot write a slot again before every block has passed the barrier after reading
// it: the candidates' rounds alternate two slots).
struct PickSlots {
  float max3[3];
  double sum, ts_sum, ts_only_sum;
  float best[2];
  int best_i[2];
};

// The cluster-wide value of a block's result (every thread of every block gets it); kC == 1: the block's own.
template <int kC>
__device__ void cluster_max3(float& a, float& b, float& c, PickSlots* slots) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900  // clusters: sm_90 (kC > 1 runs only there)
  if constexpr (kC > 1) {
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    if (threadIdx.x == 0) {
      slots->max3[0] = a;
      slots->max3[1] = b;
      slots->max3[2] = c;
    }
    cluster.sync();
    for (int r = 0; r < kC; ++r) {
      const float* o = cluster.map_shared_rank(slots->max3, r);
      a = fmaxf(a, o[0]);
      b = fmaxf(b, o[1]);
      c = fmaxf(c, o[2]);
    }
  }
#endif
}

// The blocks' sums added in rank order (the same bits in every block).
template <int kC>
__device__ double cluster_sum(double v, double* slot) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900  // clusters: sm_90 (kC > 1 runs only there)
  if constexpr (kC > 1) {
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    if (threadIdx.x == 0) *slot = v;
    cluster.sync();
    v = 0;
    for (int r = 0; r < kC; ++r) v += *cluster.map_shared_rank(slot, r);
  }
#endif
  return v;
}

// The best (value, index) of the cluster by `better` (order-free); `parity` picks the slot.
template <int kC>
__device__ void cluster_argmax(float& v, int& i, PickSlots* slots, int parity) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900  // clusters: sm_90 (kC > 1 runs only there)
  if constexpr (kC > 1) {
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    if (threadIdx.x == 0) {
      slots->best[parity] = v;
      slots->best_i[parity] = i;
    }
    cluster.sync();
    for (int r = 0; r < kC; ++r)
      better(v, i, *cluster.map_shared_rank(&slots->best[parity], r), *cluster.map_shared_rank(&slots->best_i[parity], r));
  }
#endif
}

// A row's share [lo, hi) of the vocabulary for block `rank` of kC.
template <int kC>
__device__ void row_share(int n_vocab, int rank, int* lo, int* hi) {
  const int per = (n_vocab + kC - 1) / kC;
  *lo = min(n_vocab, rank * per);
  *hi = min(n_vocab, *lo + per);
}

// What the rules leave of a row: whether the timestamp rule masked the text tokens, where the timestamps begin
// (n_vocab when the rule is off), and the log-sum-exp of what is left (the host's log_softmax of the filtered
// row). Steps 1-3 above and the final log-sum-exp; every thread of the row's kC blocks gets the result. This block
// walks [lo, hi) of the vocabulary.
struct RowStats {
  bool text_masked;
  int ts_begin;
  double lse;
};

template <int kC>
__device__ RowStats row_stats(const float* logits, int n_vocab, int lo, int hi, const unsigned* bits,
                              const StepState& r, float* fscratch, double* dscratch, PickSlots* slots) {
  const int ts_begin = r.timestamp_rule ? r.ts_begin : n_vocab;
  const int ts_lo = max(lo, ts_begin);

  // 1. Maxima of everything, of the text tokens and of the timestamps, after the masks.
  float mx = -INFINITY, mx_text = -INFINITY, mx_ts = -INFINITY;
  for_each_filtered<kTurns<kC>>(logits, bits, r, lo, hi, [&](int t, float v) {
    mx = fmaxf(mx, v);
    if (t < ts_begin) mx_text = fmaxf(mx_text, v);
    else mx_ts = fmaxf(mx_ts, v);
  });
  mx = block_max(mx, fscratch);
  mx_text = block_max(mx_text, fscratch);
  mx_ts = block_max(mx_ts, fscratch);
  cluster_max3<kC>(mx, mx_text, mx_ts, slots);

  // 2. log-sum-exp in double (decoding.cpp's log_softmax).
  double sum = 0;
  for_each_filtered<kTurns<kC>>(logits, bits, r, lo, hi, [&](int, float v) {
    if (v != -INFINITY) sum += exp(static_cast<double>(v) - static_cast<double>(mx));
  });
  sum = cluster_sum<kC>(block_sum(sum, dscratch), &slots->sum);
  const double lse = static_cast<double>(mx) + log(sum);

  // 3. The timestamp rule: the timestamps' summed probability against the most probable text token, both as
  //    float log-probabilities (the host's lp[t] = float(logit - lse)). The conditions are the cluster's: every
  //    block takes the same branches (each has barriers inside).
  bool text_masked = false;
  if (r.timestamp_rule && mx_ts != -INFINITY) {
    const float max_text = mx_text == -INFINITY ? -INFINITY : static_cast<float>(mx_text - lse);
    const float mx_ts_lp = static_cast<float>(mx_ts - lse);
    double s = 0;
    for_each_filtered<kTurns<kC>>(logits, bits, r, ts_lo, hi, [&](int, float v) {
      if (v != -INFINITY)
        s += exp(static_cast<double>(static_cast<float>(v - lse)) - static_cast<double>(mx_ts_lp));
    });
    s = cluster_sum<kC>(block_sum(s, dscratch), &slots->ts_sum);
    text_masked = static_cast<double>(mx_ts_lp) + log(s) > static_cast<double>(max_text);
  }
  double lse_final = lse;
  if (text_masked) {  // the text tokens are gone: log-sum-exp of the timestamps alone
    double s = 0;
    for_each_filtered<kTurns<kC>>(logits, bits, r, ts_lo, hi, [&](int, float v) {
      if (v != -INFINITY) s += exp(static_cast<double>(v) - static_cast<double>(mx_ts));
    });
    s = cluster_sum<kC>(block_sum(s, dscratch), &slots->ts_only_sum);
    lse_final = static_cast<double>(mx_ts) + log(s);
  }
  return {text_masked, ts_begin, lse_final};
}

// The rules come from the device (StepState), so that a recorded step reads each replay's own. Row b (logits ld apart;
// blocks b kC .. b kC + kC - 1, a cluster where kC > 1) is picked under state[b] into out[2 b] (the token) and
// out[2 b + 1] (the log-probability's bits).
// Where `next` is set (a recorded greedy step, one row): also the state of the step after this pick
// (next_step_state) into next[b], and the pick into pinned host memory, at host_slots[2 (position & 1)] (the token,
// then the log-probability's bits), so that the step after it may already run while the host reads this one.
template <int kC>
__device__ void greedy_pick_row(const float* logits, int ld, int n_vocab, const unsigned* bits, const StepState* state,
                                int* out, StepState* next, int* host_slots) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  __shared__ int iscratch[32];
  __shared__ PickSlots slots;
  wait_for_previous_kernel();
  let_next_kernel_start();
  const int b = blockIdx.x / kC, rank = blockIdx.x % kC;
  int lo, hi;
  row_share<kC>(n_vocab, rank, &lo, &hi);
  logits += static_cast<size_t>(b) * ld;
  const StepState r = state[b];
  const RowStats st = row_stats<kC>(logits, n_vocab, lo, hi, bits, r, fscratch, dscratch, &slots);
  // 4. The first maximum of what is left, and its log-probability under the final filtered logits.
  const int from = st.text_masked ? st.ts_begin : 0;
  float best = -INFINITY;
  int best_i = INT_MAX;
  for_each_filtered<kTurns<kC>>(logits, bits, r, max(lo, from), hi, [&](int t, float v) { better(best, best_i, v, t); });
  block_argmax(best, best_i, fscratch, iscratch);
  cluster_argmax<kC>(best, best_i, &slots, 0);
  if (threadIdx.x == 0 && rank == 0) {
    if (best_i == INT_MAX) best_i = 0;  // everything masked: the host's max_element gives the first
    const float lp = best == -INFINITY ? -INFINITY : static_cast<float>(best - st.lse);
    out[2 * b] = best_i;
    reinterpret_cast<float*>(out)[2 * b + 1] = lp;
    if (next != nullptr) {
      next[b] = next_step_state(r, best_i);
      int* slot = host_slots + 2 * (r.position & 1);
      slot[0] = best_i;
      slot[1] = __float_as_int(lp);
      __threadfence_system();
    }
  }
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
  if constexpr (kC > 1) cooperative_groups::this_cluster().sync();  // no block leaves while another reads its slots
#endif
}

__global__ void greedy_pick_kernel(const float* logits, int ld, int n_vocab, const unsigned* bits,
                                   const StepState* state, int* out, StepState* next, int* host_slots) {
  greedy_pick_row<1>(logits, ld, n_vocab, bits, state, out, next, host_slots);
}

__global__ void greedy_pick_cluster_kernel(const float* logits, int ld, int n_vocab, const unsigned* bits,
                                           const StepState* state, int* out, StepState* next, int* host_slots) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  greedy_pick_row<kPickCtas>(logits, ld, n_vocab, bits, state, out, next, host_slots);
#endif
}

// Beam search: row b (as above) under rules[b] gives its k best continuations by score =
// beam_scores[b] + float(logit - lse), best first, the lower token among equals (BeamSearch's order within a
// beam); round j finds the best candidate strictly after round j - 1's. Token -1: the row had fewer than k.
template <int kC>
__device__ void top_candidates_row(const float* logits, int ld, int n_vocab, const unsigned* bits,
                                   const StepState* rules, const float* beam_scores, int k, float* out_score,
                                   int* out_token) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  __shared__ int iscratch[32];
  __shared__ PickSlots slots;
  const int b = blockIdx.x / kC, rank = blockIdx.x % kC;
  int lo, hi;
  row_share<kC>(n_vocab, rank, &lo, &hi);
  const float* row = logits + static_cast<size_t>(b) * ld;
  const StepState r = rules[b];
  const RowStats st = row_stats<kC>(row, n_vocab, lo, hi, bits, r, fscratch, dscratch, &slots);
  const float c = beam_scores[b];
  const int from = st.text_masked ? st.ts_begin : 0;
  float prev = INFINITY;
  int prev_t = -1;
  for (int j = 0; j < k; ++j) {
    float best = -INFINITY;
    int best_t = INT_MAX;
    for_each_filtered<kTurns<kC>>(row, bits, r, max(lo, from), hi, [&](int t, float v) {
      if (v == -INFINITY) return;
      const float score = c + static_cast<float>(v - st.lse);
      if (score > prev || (score == prev && t <= prev_t)) return;  // taken in an earlier round
      better(best, best_t, score, t);
    });
    block_argmax(best, best_t, fscratch, iscratch);
    cluster_argmax<kC>(best, best_t, &slots, j & 1);
    if (threadIdx.x == 0 && rank == 0) {
      out_score[b * k + j] = best;
      out_token[b * k + j] = best_t == INT_MAX ? -1 : best_t;
    }
    prev = best;
    prev_t = best_t;
  }
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
  if constexpr (kC > 1) cooperative_groups::this_cluster().sync();  // no block leaves while another reads its slots
#endif
}

__global__ void top_candidates_kernel(const float* logits, int ld, int n_vocab, const unsigned* bits,
                                      const StepState* rules, const float* beam_scores, int k, float* out_score,
                                      int* out_token) {
  top_candidates_row<1>(logits, ld, n_vocab, bits, rules, beam_scores, k, out_score, out_token);
}

__global__ void top_candidates_cluster_kernel(const float* logits, int ld, int n_vocab, const unsigned* bits,
                                              const StepState* rules, const float* beam_scores, int k,
                                              float* out_score, int* out_token) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  top_candidates_row<kPickCtas>(logits, ld, n_vocab, bits, rules, beam_scores, k, out_score, out_token);
#endif
}

// Rows' picks: a cluster of kPickCtas blocks a row where `cluster` (sm_90), else one block a row.
void launch_greedy_pick(bool cluster, bool chained, cudaStream_t stream, int n_rows, const float* logits, int ld,
                        int n_vocab, const unsigned* bits, const StepState* state, int* out,
                        StepState* next = nullptr, int* host_slots = nullptr) {
  if (cluster)
    return launch_cluster_kernel(chained, kPickCtas, greedy_pick_cluster_kernel, dim3(n_rows * kPickCtas),
                                 dim3(kPickThreads), 0, stream, logits, ld, n_vocab, bits, state, out, next,
                                 host_slots);
  launch_kernel(chained, greedy_pick_kernel, dim3(n_rows), dim3(kThreads), 0, stream, logits, ld, n_vocab, bits, state,
                out, next, host_slots);
}

void launch_top_candidates(bool cluster, cudaStream_t stream, int n_rows, const float* logits, int ld, int n_vocab,
                           const unsigned* bits, const StepState* rules, const float* beam_scores, int k,
                           float* out_score, int* out_token) {
  if (cluster)
    return launch_cluster_kernel(false, kPickCtas, top_candidates_cluster_kernel, dim3(n_rows * kPickCtas),
                                 dim3(kPickThreads), 0, stream, logits, ld, n_vocab, bits, rules, beam_scores, k,
                                 out_score, out_token);
  launch_kernel(false, top_candidates_kernel, dim3(n_rows), dim3(kThreads), 0, stream, logits, ld, n_vocab, bits, rules,
                beam_scores, k, out_score, out_token);
}

}  // namespace

void CudaBackend::prepare_pick(int n_vocab, const StepRules& rules) {
  if (n_vocab <= 0) throw Error("pick_greedy: no logits");
  const std::vector<int> none;
  const std::vector<int>& suppress = rules.suppress ? *rules.suppress : none;
  if (!pick_out_) {
    pick_out_ = alloc_bytes(2 * sizeof(int));
    step_dev_ = alloc_bytes(sizeof(StepState));
    step_next_dev_ = alloc_bytes(sizeof(StepState));
    WST_CUDA_CHECK(cudaMallocHost(&pick_host_, 2 * sizeof(int)));
    WST_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&pick_slots_host_), 4 * sizeof(int)));
    WST_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&step_host_), sizeof(StepState)));
    *step_host_ = StepState{};
  }
  // The suppressed ids as a bitmask, rewritten in place when they change (they are fixed for a transcription).
  if (!pick_bits_ || pick_vocab_ != n_vocab || pick_suppress_ != suppress) {
    std::vector<unsigned> bits((n_vocab + 31) / 32, 0u);
    for (int t : suppress) {
      if (t < 0 || t >= n_vocab) throw Error("pick_greedy: suppressed token " + std::to_string(t) + " out of range");
      bits[t >> 5] |= 1u << (t & 31);
    }
    if (!pick_bits_ || pick_vocab_ != n_vocab) pick_bits_ = alloc_bytes(bits.size() * sizeof(unsigned));
    WST_CUDA_CHECK(cudaStreamSynchronize(stream_));  // a replay still reading the old mask
    // On the backend's stream: a plain cudaMemcpy from pageable memory may return before its DMA lands, and the
    // non-blocking stream does not wait for it (cuda_check's picks caught a kernel reading half-copied logits so).
    // The pageable source is staged before the call returns, so `bits` may go.
    WST_CUDA_CHECK(cudaMemcpyAsync(pick_bits_.get(), bits.data(), bits.size() * sizeof(unsigned), cudaMemcpyHostToDevice,
                                   stream_));
    pick_suppress_ = suppress;
    pick_vocab_ = n_vocab;
    ++pick_bits_version_;  // a step run ahead under the old mask is not this step
  }
  set_rules(*step_host_, rules, n_vocab);
}

void CudaBackend::launch_pick(const Mat& logits, bool recorded) {
  if (logits.rows != 1 || logits.cols != pick_vocab_)
    throw Error("pick_greedy: logits must be one row of " + std::to_string(pick_vocab_) + ", got [" +
                std::to_string(logits.rows) + ", " + std::to_string(logits.cols) + "]");
  int* out = static_cast<int*>(pick_out_.get());
  // A recorded greedy step leaves its pick in pinned memory itself, and the next step's state beside it.
  launch_greedy_pick(pick_cluster(), chained_, stream_, 1, static_cast<const float*>(logits.data), logits.ld,
                     logits.cols, static_cast<const unsigned*>(pick_bits_.get()),
                     static_cast<const StepState*>(step_dev_.get()), out,
                     recorded ? static_cast<StepState*>(step_next_dev_.get()) : nullptr,
                     recorded ? pick_slots_host_ : nullptr);
  if (!recorded) WST_CUDA_CHECK(cudaMemcpyAsync(pick_host_, out, 2 * sizeof(int), cudaMemcpyDeviceToHost, stream_));
}

GreedyPick CudaBackend::read_pick() {
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  GreedyPick p;
  std::memcpy(&p.token, pick_host_, sizeof(int));
  std::memcpy(&p.logprob, static_cast<const char*>(pick_host_) + sizeof(int), sizeof(float));
  return p;
}

GreedyPick CudaBackend::pick_greedy(const Mat& logits, const StepRules& rules) {
  prepare_pick(logits.cols, rules);
  WST_CUDA_CHECK(cudaMemcpyAsync(step_dev_.get(), step_host_, sizeof(StepState), cudaMemcpyHostToDevice, stream_));
  launch_pick(logits);
  return read_pick();
}

namespace {
// Whether every row suppresses the same tokens (the pick kernels' one bitmask).
bool one_suppress_list(const std::vector<StepRules>& rules) {
  for (const StepRules& r : rules)
    if (r.suppress != rules[0].suppress &&
        (r.suppress == nullptr || rules[0].suppress == nullptr || *r.suppress != *rules[0].suppress))
      return false;
  return true;
}
}  // namespace

std::vector<StepState> CudaBackend::row_rules(int n_vocab, const std::vector<StepRules>& rules, const char* what) {
  // The suppressed ids are the same for every row (decoding's every-step list); the ranges are per row.
  if (rules.empty() || !one_suppress_list(rules))
    throw Error(std::string(what) + ": every row must suppress the same tokens");
  std::vector<StepState> states(rules.size());
  for (size_t b = 0; b < rules.size(); ++b) {
    prepare_pick(n_vocab, rules[b]);
    states[b] = *step_host_;
  }
  return states;
}

std::vector<GreedyPick> CudaBackend::pick_greedy_rows(const Mat& logits, const std::vector<StepRules>& rules) {
  const int n = logits.rows;
  if (!pick_rows_ || n < 1 || static_cast<int>(rules.size()) != n || !one_suppress_list(rules))
    return Backend::pick_greedy_rows(logits, rules);
  const std::vector<StepState> states = row_rules(logits.cols, rules, "pick_greedy_rows");
  auto st_dev = alloc_bytes(states.size() * sizeof(StepState));
  auto out = alloc_bytes(static_cast<size_t>(n) * 2 * sizeof(int));
  WST_CUDA_CHECK(cudaMemcpyAsync(st_dev.get(), states.data(), states.size() * sizeof(StepState), cudaMemcpyHostToDevice,
                                 stream_));
  launch_greedy_pick(pick_cluster(), chained_, stream_, n, static_cast<const float*>(logits.data), logits.ld,
                     logits.cols, static_cast<const unsigned*>(pick_bits_.get()),
                     static_cast<const StepState*>(st_dev.get()), static_cast<int*>(out.get()));
  std::vector<int> host(static_cast<size_t>(n) * 2);
  WST_CUDA_CHECK(cudaMemcpyAsync(host.data(), out.get(), host.size() * sizeof(int), cudaMemcpyDeviceToHost, stream_));
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));  // also keeps `states` alive until copied
  std::vector<GreedyPick> picks(n);
  for (int b = 0; b < n; ++b) {
    picks[b].token = host[2 * b];
    std::memcpy(&picks[b].logprob, &host[2 * b + 1], sizeof(float));
  }
  return picks;
}

std::vector<BeamCandidate> CudaBackend::top_candidates(const Mat& logits, const std::vector<StepRules>& rules,
                                                       const std::vector<float>& beam_scores, int k) {
  const int n = logits.rows, n_vocab = logits.cols;
  if (static_cast<int>(rules.size()) != n || static_cast<int>(beam_scores.size()) != n || k < 1 || n < 1)
    throw Error("top_candidates: " + std::to_string(n) + " rows need as many rules and scores, and k >= 1");
  const std::vector<StepState> states = row_rules(n_vocab, rules, "top_candidates");
  auto st_dev = alloc_bytes(states.size() * sizeof(StepState));
  auto sc_dev = alloc_bytes(beam_scores.size() * sizeof(float));
  auto out_s = alloc_bytes(static_cast<size_t>(n) * k * sizeof(float));
  auto out_t = alloc_bytes(static_cast<size_t>(n) * k * sizeof(int));
  WST_CUDA_CHECK(cudaMemcpyAsync(st_dev.get(), states.data(), states.size() * sizeof(StepState), cudaMemcpyHostToDevice,
                                 stream_));
  WST_CUDA_CHECK(cudaMemcpyAsync(sc_dev.get(), beam_scores.data(), beam_scores.size() * sizeof(float),
                                 cudaMemcpyHostToDevice, stream_));
  launch_top_candidates(pick_cluster(), stream_, n, logits.data, logits.ld, n_vocab,
                        static_cast<const unsigned*>(pick_bits_.get()), static_cast<const StepState*>(st_dev.get()),
                        static_cast<const float*>(sc_dev.get()), k, static_cast<float*>(out_s.get()),
                        static_cast<int*>(out_t.get()));
  std::vector<float> scores(static_cast<size_t>(n) * k);
  std::vector<int> tokens(static_cast<size_t>(n) * k);
  WST_CUDA_CHECK(cudaMemcpyAsync(scores.data(), out_s.get(), scores.size() * sizeof(float), cudaMemcpyDeviceToHost, stream_));
  WST_CUDA_CHECK(cudaMemcpyAsync(tokens.data(), out_t.get(), tokens.size() * sizeof(int), cudaMemcpyDeviceToHost, stream_));
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));  // also keeps `states` and the scores alive until copied
  return compact_candidates(scores.data(), tokens.data(), n, k);
}

std::vector<BeamCandidate> compact_candidates(const float* scores, const int* tokens, int n, int k) {
  std::vector<BeamCandidate> out;
  out.reserve(static_cast<size_t>(n) * k);
  for (int b = 0; b < n; ++b)
    for (int j = 0; j < k; ++j) {
      const size_t i = static_cast<size_t>(b) * k + j;
      if (tokens[i] < 0) break;
      out.push_back({scores[i], b, tokens[i]});
    }
  return out;
}

void CudaBackend::top_candidates_at(const Mat& logits) {
  if (!recording_ || !recording_rows_) throw Error("top_candidates_at: only while a beam step is recorded");
  const int n = logits.rows, k = rows_k_;
  if (n != rows_n_ || logits.cols != pick_vocab_)
    throw Error("top_candidates_at: logits [" + std::to_string(n) + ", " + std::to_string(logits.cols) +
                "] do not fit the step set (" + std::to_string(rows_n_) + " rows of " + std::to_string(pick_vocab_) +
                ")");
  const size_t m = static_cast<size_t>(n) * k;
  auto out = alloc_bytes(m * (sizeof(float) + sizeof(int)));  // kept by the recording
  auto* out_s = static_cast<float*>(out.get());
  launch_top_candidates(pick_cluster(), stream_, n, logits.data, logits.ld, logits.cols,
                        static_cast<const unsigned*>(pick_bits_.get()), rows_states(), rows_scores(), k, out_s,
                        reinterpret_cast<int*>(out_s + m));
  // Into the recording's pinned buffer (begin_rows_recording), read by replay_rows_step after its sync.
  WST_CUDA_CHECK(cudaMemcpyAsync(rows_out_host_, out_s, m * (sizeof(float) + sizeof(int)), cudaMemcpyDeviceToHost,
                                 stream_));
}

void CudaBackend::pick_greedy_at(const Mat& logits) {
  if (!recording_) throw Error("pick_greedy_at: only while a step is recorded");
  launch_pick(logits, true);  // the result lands in pinned memory; replay_step reads it
  step_picks_ = true;
}

}  // namespace wst::engine::cuda
