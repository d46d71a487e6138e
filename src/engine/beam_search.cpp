#include "engine/beam_search.h"

#include <algorithm>
#include <cmath>

#include "util/errors.h"

namespace wst::engine {

float ranker_score(float sum_logprob, size_t length, std::optional<float> length_penalty) {
  const double len = static_cast<double>(std::max<size_t>(length, 1));
  const double penalty = length_penalty ? std::pow((5.0 + len) / 6.0, *length_penalty) : len;
  return static_cast<float>(sum_logprob / penalty);
}

int best_hypothesis(const std::vector<Hypothesis>& hyps, std::optional<float> length_penalty) {
  int best = -1;
  float best_score = 0;
  for (size_t i = 0; i < hyps.size(); ++i) {
    const float s = ranker_score(hyps[i].sum_logprob, hyps[i].tokens.size(), length_penalty);
    if (best < 0 || s > best_score) {
      best = static_cast<int>(i);
      best_score = s;
    }
  }
  return best;
}

namespace {
// Higher score first; on equal scores the lower (beam, token), as a top-k over the flattened rows.
bool better_candidate(const BeamCandidate& a, const BeamCandidate& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.beam != b.beam ? a.beam < b.beam : a.token < b.token;
}
}  // namespace

BeamSearch::BeamSearch(int beam_size, float patience, int eot)
    : beam_size_(beam_size), eot_(eot), beams_(1), beam_logprobs_(1, 0.0f) {
  if (beam_size < 1) throw Error("beam search: beam size " + std::to_string(beam_size) + " (must be >= 1)");
  if (!(patience > 0)) throw Error("beam search: patience " + std::to_string(patience) + " (must be > 0)");
  max_candidates_ = std::max(1, static_cast<int>(std::lround(static_cast<float>(beam_size) * patience)));
}

std::vector<int> BeamSearch::step(const std::vector<float>& logprobs, int n_vocab, bool last) {
  if (done_) throw Error("beam search: step after the search ended");
  const int n_beams = static_cast<int>(beams_.size());
  if (logprobs.size() != static_cast<size_t>(n_beams) * n_vocab)
    throw Error("beam search: expected " + std::to_string(n_beams) + " x " + std::to_string(n_vocab) +
                " log-probabilities, got " + std::to_string(logprobs.size()));

  // The 2 * beam_size best continuations over all beams (two per beam would not do: half may be EOT).
  const size_t n_cand = 2 * static_cast<size_t>(beam_size_);
  std::vector<BeamCandidate> top;
  top.reserve(n_cand + 1);
  for (int b = 0; b < n_beams; ++b) {
    const float* row = logprobs.data() + static_cast<size_t>(b) * n_vocab;
    for (int t = 0; t < n_vocab; ++t) {
      if (row[t] == -INFINITY) continue;
      const BeamCandidate c{beam_logprobs_[b] + row[t], b, t};  // float sums, as CTranslate2's scores
      if (top.size() == n_cand && !better_candidate(c, top.back())) continue;
      top.insert(std::upper_bound(top.begin(), top.end(), c, better_candidate), c);
      if (top.size() > n_cand) top.pop_back();
    }
  }
  return advance(top, last);
}

std::vector<int> BeamSearch::step_from_candidates(std::vector<BeamCandidate> candidates, bool last) {
  if (done_) throw Error("beam search: step after the search ended");
  for (const BeamCandidate& c : candidates)
    if (c.beam < 0 || c.beam >= static_cast<int>(beams_.size()))
      throw Error("beam search: a candidate continues beam " + std::to_string(c.beam) + " of " +
                  std::to_string(beams_.size()));
  std::sort(candidates.begin(), candidates.end(), better_candidate);
  if (candidates.size() > 2 * static_cast<size_t>(beam_size_)) candidates.resize(2 * static_cast<size_t>(beam_size_));
  return advance(candidates, last);
}

std::vector<int> BeamSearch::advance(const std::vector<BeamCandidate>& top, bool last) {
  std::vector<std::vector<int>> next_beams;
  std::vector<float> next_logprobs;
  std::vector<int> sources;
  size_t spare = static_cast<size_t>(beam_size_);  // next candidate to replace a finished one
  for (size_t k = 0; k < top.size() && k < static_cast<size_t>(beam_size_); ++k) {
    size_t keep = k;
    if (top[k].token == eot_ || last) {
      Hypothesis h{beams_[top[k].beam], top[k].score};
      if (top[k].token != eot_) h.tokens.push_back(top[k].token);
      finished_.push_back(std::move(h));
      keep = top.size();
      for (size_t j = spare; j < top.size(); ++j)
        if (top[j].token != eot_) {
          keep = j;
          spare = j + 1;
          break;
        }
      if (keep == top.size()) continue;  // no unfinished candidate left: one beam fewer
    }
    std::vector<int> seq = beams_[top[keep].beam];
    seq.push_back(top[keep].token);
    next_beams.push_back(std::move(seq));
    next_logprobs.push_back(top[keep].score);
    sources.push_back(top[keep].beam);
  }

  if (last || next_beams.empty() || static_cast<int>(finished_.size()) >= max_candidates_) {
    done_ = true;
    return {};
  }
  beams_ = std::move(next_beams);
  beam_logprobs_ = std::move(next_logprobs);
  return sources;
}

}  // namespace wst::engine
