// Decoding as openai-whisper's transcribe() does it: per 30 s window, greedy or beam search at temperature 0
// and sampling (best_of candidates) above, the prompt (previous text),
// logit filters (blank and token suppression, timestamp rules), temperature fallback driven by the
// compression ratio and average log-probability, no-speech detection, and seeking by the last timestamp.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "engine/beam_search.h"
#include "engine/decoder.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "wst/engine.h"

namespace wst::engine {

// The outcome of decoding one window at one temperature (openai-whisper's DecodingResult).
struct WindowResult {
  std::vector<int> tokens;  // sampled tokens, EOT excluded, timestamps included
  std::string text;         // decoded text, stripped
  float avg_logprob = 0;
  float no_speech_prob = 0;
  float temperature = 0;
  float compression_ratio = 0;
  // Beam search and best_of > 1: every finished candidate (tokens, summed log-probability); `tokens` is the
  // best of them by the ranker. Empty for one greedy or sampled sequence.
  std::vector<Hypothesis> candidates;
};

// zlib compression ratio of the UTF-8 text, as openai-whisper's get_compression_ratio.
float compression_ratio(const std::string& text);

// Greedy, beam-search or sampled decoding of one window whose encoder output is already in `decoder` (set_audio).
class WindowDecoder {
 public:
  WindowDecoder(const WhisperModel& model, const Tokenizer& tokenizer, Decoder& decoder, const TranscribeOptions& options);

  // Decodes one window. `initial_tokens` = [sot_prev, prompt..., ] sot sequence [, no_timestamps].
  WindowResult decode(const std::vector<int>& initial_tokens, float temperature, std::mt19937_64& rng);
  // Forget the cached prompt (call after set_audio on the decoder).
  void reset() { cached_initial_.clear(); }
  // Where to add the time spent in logit filters and the tokenizer (Timings::filter_ms, tokenizer_ms).
  void set_timings(Timings* timings) { timings_ = timings; }
  // The summed log-probability this decoder gives `tokens` followed by EOT after `initial`, with the logit
  // filters applied at every step: the score a search would give that sequence (tests compare candidates
  // with it). Forgets the cached prompt.
  float score_tokens(const std::vector<int>& initial, const std::vector<int>& tokens);

  // Filters applied to each step's logits in place; `sampled` = tokens sampled so far in this window.
  void apply_filters(std::vector<float>& logits, const std::vector<int>& sampled) const;
  // The rules apply_filters uses after `sampled`, but for the first step's own (blank suppression, a timestamp
  // first, the latest initial timestamp): what a backend applies itself (Backend::pick_greedy).
  StepRules step_rules(const std::vector<int>& sampled) const;

 private:
  // The logits after the prompt (its forward pass cached across temperatures); sets cached_no_speech_.
  std::vector<float> prompt_logits(const std::vector<int>& initial);
  // Beam search from the prompt's logits; the decoder ends with one sequence again.
  std::vector<Hypothesis> beam_search(std::vector<float> logits, int max_steps);
  // best_of sequences sampled at `temperature` as one batch.
  std::vector<Hypothesis> sample_best_of(const std::vector<float>& logits, int max_steps, float temperature,
                                         std::mt19937_64& rng);

  const WhisperModel& model_;
  const Tokenizer& tok_;
  Decoder& decoder_;
  const TranscribeOptions& options_;
  Timings* timings_ = nullptr;
  std::vector<int> suppress_every_step_;  // suppress_tokens, and <|notimestamps|> when timestamps are on
  std::vector<int> suppress_begin_;   // suppressed at the first step (blank)
  int max_initial_timestamp_index_ = -1;
  int sample_len_ = 0;
  // The prompt's forward pass is the same for every temperature: kept and reused.
  std::vector<int> cached_initial_;
  std::vector<float> cached_first_logits_;
  float cached_no_speech_ = 0;
};

// The whole transcription of 16 kHz audio (openai-whisper's transcribe()).
class Transcriber {
 public:
  Transcriber(const WhisperModel& model, Backend& backend, const Tokenizer& tokenizer, Timings& timings, int n_threads);
  Transcript run(const std::vector<float>& pcm, const TranscribeOptions& options);

 private:
  // Language code detected from the first window (multilingual models).
  std::string detect_language(const std::vector<float>& mel_window);

  const WhisperModel& model_;
  Backend& backend_;
  const Tokenizer& tok_;
  Timings& timings_;
  int n_threads_;
  Decoder decoder_;
};

}  // namespace wst::engine
