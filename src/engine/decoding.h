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
#include "engine/timestamp_rules.h"
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
  // Greedy decoding at temperature 0 of several windows as one batch: the decoder holds one window per prompt
  // (Decoder::set_audios); result i is what decode(initials[i], 0, ...) gives with window i alone, provided
  // the backend computes each row of a product as it computes one row alone (see docs/BATCHING.md). Where the
  // backend picks greedy tokens itself (a GPU), the steps after the first pick there, as decode() does.
  std::vector<WindowResult> decode_greedy_batch(const std::vector<std::vector<int>>& initials);
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
  struct Sampling;
  // Runs the prompt through decoder sequence `seq`: the logits after it, and the no-speech probability.
  std::vector<float> prompt_forward(const std::vector<int>& initial, int seq, float& no_speech_prob);
  // The logits after the prompt (its forward pass cached across temperatures); sets cached_no_speech_.
  std::vector<float> prompt_logits(const std::vector<int>& initial);
  // One step of greedy or sampled decoding: filters `logits` in place, picks the next token (the first
  // maximum at temperature 0, else a sample) and adds its log-probability to sum_logprob.
  int next_token(std::vector<float>& logits, const std::vector<int>& sampled, float temperature,
                 std::mt19937_64& rng, double& sum_logprob) const;
  // Average log-probability, text and compression ratio of r from its tokens and their summed log-probability.
  void finish_result(WindowResult& r, double sum_logprob) const;
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

// Throws wst::Error naming the first option out of range (task, beam size, best_of, patience).
void check_transcribe_options(const TranscribeOptions& options);
// Whether a window's result calls for the next temperature (openai-whisper's decode_with_fallback rule:
// compression ratio too high or average log-probability too low, unless the window is likely silence).
bool needs_fallback(const WindowResult& result, const TranscribeOptions& options);

// One recording's progress through openai-whisper's transcribe() loop: what it keeps between windows.
struct Transcription {
  std::vector<float> mel;  // the whole audio plus 30 s of silence, normalised once
  int n_frames = 0;
  int content_frames = 0;  // mel frames of audio (the padding excluded)
  std::vector<int> sot_seq;
  std::vector<int> all_tokens;    // the initial prompt's tokens, then every segment's
  size_t n_initial_prompt = 0;
  size_t prompt_reset_since = 0;  // the previous-text prompt starts here in all_tokens
  int seek = 0;                   // mel frame where the next window starts
  std::mt19937_64 rng;            // the sampler of temperatures above 0, seeded from the options
  Transcript out;
  bool done() const { return seek >= content_frames; }
};

// The whole transcription of 16 kHz audio (openai-whisper's transcribe()).
class Transcriber {
 public:
  Transcriber(const WhisperModel& model, Backend& backend, const Tokenizer& tokenizer, Timings& timings, int n_threads);
  Transcript run(const std::vector<float>& pcm, const TranscribeOptions& options);
  // Several recordings decoded together, at most batch_size windows at a time (Engine::transcribe_batch,
  // batch_transcription.cpp): transcript i is run(pcms[i], options)'s.
  std::vector<Transcript> run_batch(const std::vector<std::vector<float>>& pcms, const TranscribeOptions& options,
                                    int batch_size);

 private:
  // Language code detected from the first window (multilingual models).
  std::string detect_language(const std::vector<float>& mel_window);
  // The state before the first window: the log-mel, the language (detected where not given), the prompt.
  Transcription start(const std::vector<float>& pcm, const TranscribeOptions& options);
  // Mel frames of audio in the window at t.seek (3000, less at the end).
  int window_frames(const Transcription& t) const;
  // The encoder output of the window at t.seek.
  Mat encode_window(const Transcription& t);
  // The window's prompt: previous text after <|startofprev|>, the sot sequence [, <|notimestamps|>].
  std::vector<int> window_prompt(const Transcription& t, const TranscribeOptions& options) const;
  // Temperature fallback from options.temperatures[from] on, until a result needs none; `res` when the
  // ladder has no temperature from `from` on.
  WindowResult decode_with_fallback(WindowDecoder& wd, const std::vector<int>& initial, std::mt19937_64& rng,
                                    const TranscribeOptions& options, size_t from, WindowResult res);
  // The window's segments added to t (silence skipped, segments cut at timestamp pairs), seek moved on.
  void add_window(Transcription& t, const WindowResult& res, const TranscribeOptions& options) const;
  // The transcript, its text joined from every segment's tokens.
  Transcript finish(Transcription& t) const;

  const WhisperModel& model_;
  Backend& backend_;
  const Tokenizer& tok_;
  Timings& timings_;
  int n_threads_;
  Decoder decoder_;
};

}  // namespace wst::engine
