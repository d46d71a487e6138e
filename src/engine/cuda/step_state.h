// What varies between replays of a recorded greedy step (Backend::set_step), and how the next step's follows from a
// pick: plain C++ (shared by the kernels, the host and the CPU tests).
#pragma once

#include "engine/backend.h"

#if defined(__CUDACC__)
#define WST_HOST_DEVICE __host__ __device__
#else
#define WST_HOST_DEVICE
#endif

namespace wst::engine::cuda {

// Read on the device by the *_at kernels and the greedy pick. A recorded step's first node copies it into place
// (from what the host set, or from what the step before predicted: step_graph.cu); no kernel writes it, so kernels
// may read it before waiting for the kernel before them (launch.cuh).
struct StepState {
  int token = 0, position = 0;
  int a0 = 0, a1 = 0, b0 = 0, b1 = 0;  // the rules' masked ranges (StepRules)
  int timestamp_rule = 0, ts_begin = 0;
  int eot = 0, n_vocab = 0;  // for next_step_state's timestamp rules
};

WST_HOST_DEVICE inline int clamp_to_vocab(int v, int n_vocab) { return v < 0 ? 0 : (v > n_vocab ? n_vocab : v); }

// The state for `rules` (its ranges clamped to the vocabulary), token and position left as they are.
inline void set_rules(StepState& st, const StepRules& rules, int n_vocab) {
  st.a0 = clamp_to_vocab(rules.mask_a_begin, n_vocab);
  st.a1 = clamp_to_vocab(rules.mask_a_end, n_vocab);
  st.b0 = clamp_to_vocab(rules.mask_b_begin, n_vocab);
  st.b1 = clamp_to_vocab(rules.mask_b_end, n_vocab);
  st.timestamp_rule = rules.timestamp_rule ? 1 : 0;
  st.ts_begin = clamp_to_vocab(rules.ts_begin, n_vocab);
  st.eot = clamp_to_vocab(rules.eot, n_vocab);
  st.n_vocab = n_vocab;
}

// The step after `s` once it picked `pick`, as greedy decoding continues: the pick is the next token, one position
// on, and the rules timestamp_step_rules (decoding.h) gives after it. What the rules need of the tokens before is in
// s's ranges: a range a (masked) right after a timestamp, [0, eot) while a segment is open; range b starts at
// ts_begin once a timestamp was sampled (even where it is empty) and ends at the last one (an open segment) or one
// past it. Should the host's rules ever differ from this prediction, the step is simply run again
// (CudaBackend::replay_step compares the states whole).
WST_HOST_DEVICE inline StepState next_step_state(const StepState& s, int pick) {
  StepState n = s;
  n.token = pick;
  n.position = s.position + 1;
  if (!s.timestamp_rule) return n;
  const bool last_was_ts = s.a1 > s.a0;
  const bool open = last_was_ts && s.a0 == 0;
  int last_ts = s.b0 == s.ts_begin && s.ts_begin > 0 ? (open ? s.b1 : s.b1 - 1) : -1;
  const bool is_ts = pick >= s.ts_begin;
  if (is_ts) last_ts = pick;
  n.a0 = n.a1 = n.b0 = n.b1 = 0;
  if (is_ts) {
    n.a0 = last_was_ts ? s.ts_begin : 0;  // a pair closed: text must follow; else only a timestamp or EOT
    n.a1 = last_was_ts ? s.n_vocab : s.eot;
  }
  if (last_ts >= 0) {
    n.b0 = s.ts_begin;
    n.b1 = clamp_to_vocab(is_ts && !last_was_ts ? last_ts : last_ts + 1, s.n_vocab);
  }
  return n;
}

inline bool same_state(const StepState& a, const StepState& b) {
  return a.token == b.token && a.position == b.position && a.a0 == b.a0 && a.a1 == b.a1 && a.b0 == b.b0 &&
         a.b1 == b.b1 && a.timestamp_rule == b.timestamp_rule && a.ts_begin == b.ts_begin && a.eot == b.eot &&
         a.n_vocab == b.n_vocab;
}

}  // namespace wst::engine::cuda
