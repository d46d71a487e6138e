// The bookkeeping of beam search and of ranking candidates, apart from the model so that it can be tested
// on made-up log-probabilities.
//
// The search is CTranslate2's BeamSearch as faster-whisper runs it (the project's reference); it is
// openai-whisper's BeamSearchDecoder up to four details, where we follow CTranslate2:
//  - candidates: the 2 * beam_size best (beam, token) continuations over all beams (openai: beam_size + 1
//    per beam, then the best overall);
//  - a candidate ending in EOT finishes a hypothesis only when it ranks among the first beam_size; its place
//    goes to the next unfinished candidate after them (openai also finishes EOTs ranked above the last
//    beam kept);
//  - the finished list is not capped at round(beam_size * patience) (openai stops adding once it is full);
//  - at the length limit every live beam becomes a hypothesis (openai adds live beams only to fill up to
//    beam_size).
// The search ends once round(beam_size * patience) hypotheses have finished, as both do when a length
// penalty is used (faster-whisper always passes one).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "engine/backend.h"  // BeamCandidate

namespace wst::engine {

// A finished sequence: its tokens (EOT excluded) and the sum of their log-probabilities (EOT included).
struct Hypothesis {
  std::vector<int> tokens;
  float sum_logprob = 0;
};

// openai-whisper's MaximumLikelihoodRanker: the sum of log-probabilities divided by a length penalty,
// `length` itself when length_penalty is unset (what faster-whisper's default length_penalty=1 computes too),
// else ((5 + length) / 6) ^ length_penalty. An empty sequence counts as length 1.
float ranker_score(float sum_logprob, size_t length, std::optional<float> length_penalty);
// Index of the best hypothesis by ranker_score (the first of equals); -1 when there is none.
int best_hypothesis(const std::vector<Hypothesis>& hyps, std::optional<float> length_penalty);

class BeamSearch {
 public:
  // One live beam (empty, log-probability 0) to begin with.
  BeamSearch(int beam_size, float patience, int eot);

  int beam_size() const { return beam_size_; }
  // Hypotheses after which the search stops: round(beam_size * patience), at least 1.
  int max_candidates() const { return max_candidates_; }
  // The live beams: tokens so far, summed log-probabilities.
  const std::vector<std::vector<int>>& beams() const { return beams_; }
  const std::vector<float>& beam_logprobs() const { return beam_logprobs_; }
  const std::vector<Hypothesis>& finished() const { return finished_; }
  bool done() const { return done_; }

  // One step. logprobs: [beams().size(), n_vocab], each row the (filtered) log-softmax after that beam;
  // -inf entries are never chosen. `last`: the length limit is reached, every live beam finishes.
  // Returns, for each new live beam, the index of the beam it continues (for the decoder's caches);
  // empty once done().
  std::vector<int> step(const std::vector<float>& logprobs, int n_vocab, bool last);
  // The same step from each beam's best continuations (at least the 2 * beam_size best of every beam, by score
  // and then the lower token, as Backend::top_candidates gives them): the candidates the search keeps are the
  // same as step()'s from the whole rows.
  std::vector<int> step_from_candidates(std::vector<BeamCandidate> candidates, bool last);

 private:
  // The step once its 2 * beam_size best candidates are known, best first.
  std::vector<int> advance(const std::vector<BeamCandidate>& top, bool last);
  int beam_size_, max_candidates_, eot_;
  std::vector<std::vector<int>> beams_;
  std::vector<float> beam_logprobs_;
  std::vector<Hypothesis> finished_;
  bool done_ = false;
};

}  // namespace wst::engine
