// Backend::pick_greedy on the GPU: a greedy step's logit filters, log-softmax and argmax where the logits are,
// so that 8 bytes come back instead of n_vocab floats (on the GPU machine the host-side filters took 1.5 ms a
// token, more than the tiny decoder step itself). One block walks the vocabulary a few times (it is in L2):
//   1. the masks (suppressed ids as a bitmask, two ranges) and the maxima of all, text and timestamp logits;
//   2. log-sum-exp of everything, in double as decoding.cpp's log_softmax;
//   3. the timestamp rule on the log-probabilities, rounded to float as the host's are;
//   4. the first maximum of what is left (torch.argmax), and its log-probability.
// The arithmetic follows decoding.cpp's step by step; only the order of the double-precision sums differs.
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstring>

#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {
namespace {

constexpr int kThreads = 1024;

__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Block-wide reductions; every thread gets the result. `scratch` holds one value per warp.
__device__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < blockDim.x / 32 ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

__device__ double block_sum(double v, double* scratch) {
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < blockDim.x / 32 ? scratch[lane] : 0.0;
  return warp_sum(v);
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

__device__ float filtered(const float* logits, const unsigned* bits, const StepState& r, int t) {
  const bool masked = ((bits[t >> 5] >> (t & 31)) & 1u) || (t >= r.a0 && t < r.a1) || (t >= r.b0 && t < r.b1);
  return masked ? -INFINITY : logits[t];
}

// The rules come from the device (StepState), so that a recorded step reads each replay's own.
__global__ void greedy_pick_kernel(const float* logits, int n_vocab, const unsigned* bits, const StepState* state,
                                   int* out_token, float* out_logprob) {
  const StepState r = *state;
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  __shared__ int iscratch[32];
  const int ts_begin = r.timestamp_rule ? r.ts_begin : n_vocab;

  // 1. Maxima of everything, of the text tokens and of the timestamps, after the masks.
  float mx = -INFINITY, mx_text = -INFINITY, mx_ts = -INFINITY;
  for (int t = threadIdx.x; t < n_vocab; t += blockDim.x) {
    const float v = filtered(logits, bits, r, t);
    mx = fmaxf(mx, v);
    if (t < ts_begin) mx_text = fmaxf(mx_text, v);
    else mx_ts = fmaxf(mx_ts, v);
  }
  mx = block_max(mx, fscratch);
  mx_text = block_max(mx_text, fscratch);
  mx_ts = block_max(mx_ts, fscratch);

  // 2. log-sum-exp in double (decoding.cpp's log_softmax).
  double sum = 0;
  for (int t = threadIdx.x; t < n_vocab; t += blockDim.x) {
    const float v = filtered(logits, bits, r, t);
    if (v != -INFINITY) sum += exp(static_cast<double>(v) - static_cast<double>(mx));
  }
  sum = block_sum(sum, dscratch);
  const double lse = static_cast<double>(mx) + log(sum);

  // 3. The timestamp rule: the timestamps' summed probability against the most probable text token, both as
  //    float log-probabilities (the host's lp[t] = float(logit - lse)).
  bool text_masked = false;
  if (r.timestamp_rule && mx_ts != -INFINITY) {
    const float max_text = mx_text == -INFINITY ? -INFINITY : static_cast<float>(mx_text - lse);
    const float mx_ts_lp = static_cast<float>(mx_ts - lse);
    double s = 0;
    for (int t = ts_begin + threadIdx.x; t < n_vocab; t += blockDim.x) {
      const float v = filtered(logits, bits, r, t);
      if (v != -INFINITY)
        s += exp(static_cast<double>(static_cast<float>(v - lse)) - static_cast<double>(mx_ts_lp));
    }
    s = block_sum(s, dscratch);
    text_masked = static_cast<double>(mx_ts_lp) + log(s) > static_cast<double>(max_text);
  }

  // 4. The first maximum of what is left, and its log-probability under the final filtered logits.
  const int from = text_masked ? ts_begin : 0;
  float best = -INFINITY;
  int best_i = INT_MAX;
  for (int t = from + threadIdx.x; t < n_vocab; t += blockDim.x) better(best, best_i, filtered(logits, bits, r, t), t);
  block_argmax(best, best_i, fscratch, iscratch);
  double lse_final = lse;
  if (text_masked) {  // the text tokens are gone: log-sum-exp of the timestamps alone
    double s = 0;
    for (int t = ts_begin + threadIdx.x; t < n_vocab; t += blockDim.x) {
      const float v = filtered(logits, bits, r, t);
      if (v != -INFINITY) s += exp(static_cast<double>(v) - static_cast<double>(mx_ts));
    }
    s = block_sum(s, dscratch);
    lse_final = static_cast<double>(mx_ts) + log(s);
  }
  if (threadIdx.x == 0) {
    if (best_i == INT_MAX) best_i = 0;  // everything masked: the host's max_element gives the first
    *out_token = best_i;
    *out_logprob = best == -INFINITY ? -INFINITY : static_cast<float>(best - lse_final);
  }
}

}  // namespace

void CudaBackend::prepare_pick(int n_vocab, const StepRules& rules) {
  if (n_vocab <= 0) throw Error("pick_greedy: no logits");
  const std::vector<int> none;
  const std::vector<int>& suppress = rules.suppress ? *rules.suppress : none;
  if (!pick_out_) {
    pick_out_ = alloc_bytes(2 * sizeof(int));
    step_dev_ = alloc_bytes(sizeof(StepState));
    WST_CUDA_CHECK(cudaMallocHost(&pick_host_, 2 * sizeof(int)));
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
    WST_CUDA_CHECK(cudaMemcpy(pick_bits_.get(), bits.data(), bits.size() * sizeof(unsigned), cudaMemcpyHostToDevice));
    pick_suppress_ = suppress;
    pick_vocab_ = n_vocab;
  }
  auto clamp = [n_vocab](int v) { return v < 0 ? 0 : (v > n_vocab ? n_vocab : v); };
  StepState& st = *step_host_;
  st.a0 = clamp(rules.mask_a_begin);
  st.a1 = clamp(rules.mask_a_end);
  st.b0 = clamp(rules.mask_b_begin);
  st.b1 = clamp(rules.mask_b_end);
  st.timestamp_rule = rules.timestamp_rule ? 1 : 0;
  st.ts_begin = clamp(rules.ts_begin);
}

void CudaBackend::launch_pick(const Mat& logits) {
  if (logits.rows != 1 || logits.cols != pick_vocab_)
    throw Error("pick_greedy: logits must be one row of " + std::to_string(pick_vocab_) + ", got [" +
                std::to_string(logits.rows) + ", " + std::to_string(logits.cols) + "]");
  int* out = static_cast<int*>(pick_out_.get());
  greedy_pick_kernel<<<1, kThreads, 0, stream_>>>(logits.data, logits.cols, static_cast<const unsigned*>(pick_bits_.get()),
                                                  static_cast<const StepState*>(step_dev_.get()), out,
                                                  reinterpret_cast<float*>(out + 1));
  WST_CUDA_CHECK_LAUNCH();
  WST_CUDA_CHECK(cudaMemcpyAsync(pick_host_, out, 2 * sizeof(int), cudaMemcpyDeviceToHost, stream_));
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

void CudaBackend::pick_greedy_at(const Mat& logits) {
  if (!recording_) throw Error("pick_greedy_at: only while a step is recorded");
  launch_pick(logits);  // the result lands in pinned memory; replay_step reads it
}

}  // namespace wst::engine::cuda
