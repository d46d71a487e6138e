// Whisper's text decoder with self-attention KV caches. Cross-attention K/V are computed once per window
// (set_audio), then forward() appends tokens to one sequence and returns logits.
//
// Several sequences (the beams of a beam search, the candidates of best_of sampling) decode as one batch:
// fork() copies sequence 0 into n caches, forward_step() runs one new token per sequence with batched
// linears [n_seq, n_text_state] and per-sequence self-attention, and reorder() lets sequences continue other
// sequences' caches. Every cache is a backend Mat; reordering only copies rows through Backend::copy.
#pragma once

#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"

namespace wst::engine {

class Decoder {
 public:
  Decoder(const WhisperModel& model, Backend& backend);

  // Computes every layer's cross-attention K/V from the encoder output [n_audio_ctx, n_audio_state]
  // and empties the self-attention cache; one sequence.
  void set_audio(const Mat& encoder_out);
  // Drops cached positions from `n_keep` on, in every sequence (the caches then hold tokens [0, n_keep)).
  void truncate(int n_keep);
  int n_past() const { return n_past_; }
  int n_seq() const { return static_cast<int>(seq_slot_.size()); }

  // One sequence only: runs `tokens` at positions n_past() .. n_past() + n - 1 and appends them to the cache.
  // For each index in `logit_rows` (relative to `tokens`), writes n_vocab logits to logits_out in order.
  void forward(const std::vector<int>& tokens, const std::vector<int>& logit_rows, std::vector<float>& logits_out);

  // Whether forward_and_pick can be used (the backend picks greedy tokens where the logits are: a GPU).
  bool picks_greedy() const { return be_.picks_greedy(); }
  // One sequence, one token, as forward({token}, {0}, ...), but the logits stay on the backend, which applies
  // `rules` and picks the greedy token there (Backend::pick_greedy). Where the backend records steps (a CUDA
  // graph), the step is recorded once and replayed for every token after (Backend::records_steps).
  GreedyPick forward_and_pick(int token, const StepRules& rules);

  // From one sequence to `n` copies of it (sequence 0 keeps its cache; n - 1 caches receive its rows).
  void fork(int n);
  // New sequence i continues old sequence src[i] (src.size() new sequences; an old one may be continued by
  // several or by none). Only caches continued twice are copied, and only the rows since the fork.
  void reorder(const std::vector<int>& src);
  // One token per sequence, all at position n_past(); logits_out = [n_seq, n_vocab].
  void forward_step(const std::vector<int>& tokens, std::vector<float>& logits_out);
  // The same step with the logits left on the backend, which applies each sequence's rules and returns its k
  // best continuations (Backend::top_candidates; where picks_greedy()).
  std::vector<BeamCandidate> forward_step_top(const std::vector<int>& tokens, const std::vector<StepRules>& rules,
                                              const std::vector<float>& beam_scores, int k);

 private:
  struct Cache {
    std::vector<Mat> k, v;  // per layer [n_text_ctx, n_text_state]
  };
  Cache& cache_of(int seq) { return slots_[seq_slot_[seq]]; }
  // One sequence: runs `tokens` through every layer (appending them to the cache) and returns the last
  // layer's output [n, n_text_state], before the final norm.
  Mat run_layers(const std::vector<int>& tokens);
  // logits = the final norm of x, times the token embedding (the tied output projection).
  void project(const Mat& x, Mat& logits);
  // forward_step's work up to the logits [n_seq, n_vocab], left on the backend.
  Mat step_logits(const std::vector<int>& tokens);
  // forward_and_pick's step as the backend records it (the position-dependent ops as their *_at forms).
  void record_step();
  void ensure_slots(int n);
  // Copies rows [r0, n_past_) of every layer from slot `from` to slot `to`.
  void copy_rows(int from, int to, int r0);

  const WhisperModel& m_;
  Backend& be_;
  std::vector<Cache> slots_;   // physical caches, allocated when first needed
  std::vector<int> seq_slot_;  // sequence -> its slot
  std::vector<Mat> cross_kv_;  // per layer [n_audio_ctx, 2 * n_text_state]: k | v
  Mat pick_logits_;            // [1, n_vocab]: forward_and_pick's logits, kept on the backend
  // The recorded greedy step, the cache slot it writes, and its buffers (fixed: the recording holds them).
  std::shared_ptr<void> step_recording_;
  int step_recording_slot_ = -1;
  Mat step_x_, step_qkv_, step_attn_, step_q_, step_mlp_;
  int n_past_ = 0;
  int n_shared_ = 0;  // rows [0, n_shared_) are equal in every slot in use (the prompt at the fork)
};

}  // namespace wst::engine
