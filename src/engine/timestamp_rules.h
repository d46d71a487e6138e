// The timestamp rules' masks after the tokens sampled so far in a window (openai-whisper's ApplyTimestampRules
// without the first step's own): no text right after a closing pair, only a timestamp or EOT in an open segment,
// timestamps never decreasing. WindowDecoder::step_rules adds the suppressed ids; a header of its own so that the
// GPU benchmark (tools/cuda) can give its steps the same rules without the rest of decoding.
#pragma once

#include <vector>

#include "engine/backend.h"

namespace wst::engine {

inline StepRules timestamp_step_rules(const std::vector<int>& sampled, int ts_begin, int eot, int n_vocab) {
  StepRules r;
  r.timestamp_rule = true;
  r.ts_begin = ts_begin;
  r.eot = eot;
  const size_t n = sampled.size();
  const bool last_was_ts = n >= 1 && sampled[n - 1] >= ts_begin;
  const bool penultimate_was_ts = n < 2 || sampled[n - 2] >= ts_begin;
  if (last_was_ts) {
    if (penultimate_was_ts) {  // a pair just closed (or the window opened with one): text must follow
      r.mask_a_begin = ts_begin;
      r.mask_a_end = n_vocab;
    } else {  // an open segment: only a timestamp (or EOT) may follow
      r.mask_a_begin = 0;
      r.mask_a_end = eot;
    }
  }
  int last_ts = -1;
  for (int t : sampled)
    if (t >= ts_begin) last_ts = t;
  if (last_ts >= 0) {
    // Timestamps never decrease, and a segment has non-zero length.
    r.mask_b_begin = ts_begin;
    r.mask_b_end = (last_was_ts && !penultimate_was_ts) ? last_ts : last_ts + 1;
  }
  return r;
}

}  // namespace wst::engine
