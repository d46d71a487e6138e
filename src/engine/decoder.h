// Whisper's text decoder with a self-attention KV cache. Cross-attention K/V are computed once per window
// (set_audio), then each forward() call appends tokens at the current position and returns logits.
#pragma once

#include <vector>

#include "engine/backend.h"
#include "engine/model.h"

namespace wst::engine {

class Decoder {
 public:
  Decoder(const WhisperModel& model, Backend& backend);

  // Computes every layer's cross-attention K/V from the encoder output [n_audio_ctx, n_audio_state]
  // and empties the self-attention cache.
  void set_audio(const Mat& encoder_out);
  // Drops cached positions from `n_keep` on (the cache then holds tokens [0, n_keep)).
  void truncate(int n_keep);
  int n_past() const { return n_past_; }

  // Runs `tokens` at positions n_past() .. n_past() + n - 1 and appends them to the cache.
  // For each index in `logit_rows` (relative to `tokens`), writes n_vocab logits to logits_out in order.
  void forward(const std::vector<int>& tokens, const std::vector<int>& logit_rows, std::vector<float>& logits_out);

 private:
  const WhisperModel& m_;
  Backend& be_;
  std::vector<Mat> self_k_, self_v_;    // per layer [n_text_ctx, n_text_state]
  std::vector<Mat> cross_kv_;           // per layer [n_audio_ctx, 2 * n_text_state]: k | v
  int n_past_ = 0;
};

}  // namespace wst::engine
