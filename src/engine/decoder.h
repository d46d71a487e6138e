// Whisper's text decoder with self-attention KV caches. Cross-attention K/V are computed once per window
// (set_audio), then forward() appends tokens to one sequence and returns logits.
//
// Several sequences (the beams of a beam search, the candidates of best_of sampling) decode as one batch:
// fork() copies sequence 0 into n caches, forward_step() runs one new token per sequence with batched
// linears [n_seq, n_text_state] and per-sequence self-attention, and reorder() lets sequences continue other
// sequences' caches. Every cache is a backend Mat; reordering only copies rows through Backend::copy.
//
// The sequences may also attend to different windows (batched transcription: one window of each of several
// recordings): set_audios() computes every window's cross-attention K/V and starts one sequence per window.
// Each sequence keeps its window and its own length through fork() and reorder(); forward_step() then runs
// the linears as one batch and each sequence's cross-attention over its own window.
#pragma once

#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"

namespace wst::engine {

class Decoder {
 public:
  Decoder(const WhisperModel& model, Backend& backend);
  // A step run ahead replays this decoder's recording on its caches: it must end first. (An error there was the
  // GPU's, reported by whatever call met it first; a destructor must not throw it.)
  ~Decoder() {
    try {
      be_.forget_step_ahead();
    } catch (...) {
    }
  }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Computes every layer's cross-attention K/V from the encoder output [n_audio_ctx, n_audio_state]
  // and empties the self-attention cache; one sequence.
  void set_audio(const Mat& encoder_out);
  // One window per encoder output (each [n_audio_ctx, n_audio_state]): sequence i, empty, attends to
  // encoder_outs[i].
  void set_audios(const std::vector<Mat>& encoder_outs);
  // Drops cached positions from `n_keep` on, in every sequence (the caches then hold tokens [0, n_keep)).
  void truncate(int n_keep);
  // Tokens in sequence `seq`'s cache.
  int n_past(int seq = 0) const { return seqs_.at(seq).n_past; }
  int n_seq() const { return static_cast<int>(seqs_.size()); }

  // Runs `tokens` through sequence `seq` at positions n_past(seq) .. n_past(seq) + n - 1 and appends them to
  // its cache. For each index in `logit_rows` (relative to `tokens`), writes n_vocab logits to logits_out in order.
  void forward(const std::vector<int>& tokens, const std::vector<int>& logit_rows, std::vector<float>& logits_out,
               int seq = 0);

  // Whether forward_and_pick can be used (the backend picks greedy tokens where the logits are: a GPU).
  bool picks_greedy() const { return be_.picks_greedy(); }
  // Sequence 0 (the only one), one token, as forward({token}, {0}, ...), but the logits stay on the backend,
  // which applies `rules` and picks the greedy token there (Backend::pick_greedy). Where the backend records
  // steps (a CUDA graph), the step is recorded once and replayed for every token after (Backend::records_steps).
  GreedyPick forward_and_pick(int token, const StepRules& rules);

  // From one sequence to `n` copies of it (sequence 0 keeps its cache; n - 1 caches receive its rows).
  void fork(int n);
  // New sequence i continues old sequence src[i] (src.size() new sequences; an old one may be continued by
  // several or by none). Only caches continued twice are copied, and only the rows since the fork.
  void reorder(const std::vector<int>& src);
  // Forgets the recorded steps, so the next ones record anew: after a backend setting that changes which kernels
  // a step runs (a recording keeps the ones it was made with).
  void drop_recordings() {
    be_.forget_step_ahead();
    step_recording_.reset();
    rows_recordings_.clear();
  }
  // One token per sequence, each at its own position n_past(seq); logits_out = [n_seq, n_vocab].
  void forward_step(const std::vector<int>& tokens, std::vector<float>& logits_out);
  // The same step with the logits left on the backend, which applies each sequence's rules and returns its k
  // best continuations (Backend::top_candidates; where picks_greedy()). Where the backend records steps and every
  // sequence attends to one window, the step is recorded once for each number of sequences (and
  // Backend::rows_step_kind) and replayed after, with the same candidates as the eager step.
  std::vector<BeamCandidate> forward_step_top(const std::vector<int>& tokens, const std::vector<StepRules>& rules,
                                              const std::vector<float>& beam_scores, int k);
  // forward_step, but the logits stay on the backend, which applies rules[b] to sequence b's and picks its
  // greedy token there (Backend::pick_greedy_rows: on a GPU, every row in one launch). Only where picks_greedy().
  std::vector<GreedyPick> forward_step_and_pick(const std::vector<int>& tokens, const std::vector<StepRules>& rules);

 private:
  struct Cache {
    std::vector<Mat> k, v;  // per layer [n_text_ctx, n_text_state]
  };
  struct Sequence {
    int slot = 0;    // its cache in slots_
    int n_past = 0;  // tokens in that cache
    int audio = 0;   // its window in cross_kv_
  };
  Cache& cache_of(int seq) { return slots_[seqs_[seq].slot]; }
  // Runs `tokens` through every layer of sequence `seq` (appending them to its cache) and returns the last
  // layer's output [n, n_text_state], before the final norm.
  Mat run_layers(const std::vector<int>& tokens, int seq);
  // logits = the final norm of x, times the token embedding (the tied output projection).
  void project(const Mat& x, Mat& logits);
  int mlp_width() const;  // the MLP's hidden width (fc1's rows): the steps' scratch
  // forward_step's work up to the logits [n_seq, n_vocab], left on the backend.
  Mat step_logits(const std::vector<int>& tokens);
  // forward_and_pick's step as the backend records it (the position-dependent ops as their *_at forms).
  void record_step();
  // A step's positions and each layer's caches, sequence by sequence (checked: one token a sequence, within the
  // text context).
  struct StepRows {
    std::vector<int> positions;
    std::vector<std::vector<Mat*>> k_caches, v_caches;  // [layer][sequence]
  };
  StepRows step_rows(const std::vector<int>& tokens);
  // forward_step_top's step of n rows as the backend records it (Backend::set_rows_step's ops).
  void record_rows_step(int n);
  void ensure_slots(int n);
  void ensure_windows(int n);
  // Every layer's cross-attention K/V of one encoder output into window `w` (sole_window: as
  // Backend::cross_kv_written).
  void compute_cross_kv(const Mat& encoder_out, int w, bool sole_window);
  // Copies rows [r0, r1) of every layer from slot `from` to slot `to`.
  void copy_rows(int from, int to, int r0, int r1);

  const WhisperModel& m_;
  Backend& be_;
  std::vector<Cache> slots_;                // physical caches, allocated when first needed
  std::vector<Sequence> seqs_;              // the sequences being decoded
  std::vector<std::vector<Mat>> cross_kv_;  // per window, per layer [n_audio_ctx, 2 * n_text_state]: k | v
  Mat pick_logits_;                         // [1, n_vocab]: forward_and_pick's logits, kept on the backend
  // The recorded greedy step, the cache slot and window it reads, and its buffers (fixed: the recording holds
  // them).
  std::shared_ptr<void> step_recording_;
  int step_recording_slot_ = -1, step_recording_audio_ = -1;
  Mat step_x_, step_qkv_, step_attn_, step_q_, step_mlp_;
  // Recorded beam steps (Backend::set_rows_step): one per number of rows, Backend::rows_step_kind, candidates a row
  // and window; their buffers hold rows_capacity_ rows (fixed while the recordings hold them).
  struct RowsRecording {
    int n = 0, kind = 0, k = 0, audio = 0;
    std::shared_ptr<void> recording;
  };
  std::vector<RowsRecording> rows_recordings_;
  int rows_capacity_ = 0;
  Mat rows_x_, rows_qkv_, rows_attn_, rows_q_, rows_mlp_, rows_logits_;
  int n_shared_ = 0;  // rows [0, n_shared_) are equal in every slot in use (the prompt at the fork)
};

}  // namespace wst::engine
