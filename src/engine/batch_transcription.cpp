// Batched transcription (Engine::transcribe_batch): several recordings advance window by window in lockstep.
// Each round encodes one window of every recording in the batch, decodes them greedily as one decoder batch
// (Decoder::set_audios, WindowDecoder::decode_greedy_batch), redoes alone, on the one-window path, any window
// whose result calls for temperature fallback, and moves every recording on by run()'s rules. A recording that
// ends leaves its place to the next one waiting. docs/BATCHING.md has the guarantee and its limits.
#include <chrono>
#include <string>

#include "engine/decoding.h"
#include "util/errors.h"

namespace wst::engine {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Whether every window's first decode can go through the greedy batch: beam search runs at temperature 0 and
// a ladder that starts above 0 samples, both one window at a time.
bool batchable(const TranscribeOptions& opt) {
  return opt.beam_size == 1 && !opt.temperatures.empty() && opt.temperatures[0] == 0.0f;
}

}  // namespace

std::vector<Transcript> Transcriber::run_batch(const std::vector<std::vector<float>>& pcms,
                                               const TranscribeOptions& opt, int batch_size) {
  if (batch_size < 1) throw Error("batch size " + std::to_string(batch_size) + " (must be 1 or more)");
  check_transcribe_options(opt);
  // Refused before any work, as run() refuses it.
  for (size_t i = 0; i < pcms.size(); ++i)
    if (pcms[i].empty())
      throw Error("audio " + std::to_string(i + 1) + " of " + std::to_string(pcms.size()) +
                  ": empty (0 samples)");
  std::vector<Transcript> out(pcms.size());
  if (!batchable(opt) || batch_size == 1) {
    for (size_t i = 0; i < pcms.size(); ++i) out[i] = run(pcms[i], opt);
    return out;
  }

  WindowDecoder wd(model_, tok_, decoder_, opt);
  wd.set_timings(&timings_);
  std::vector<Transcription> state(pcms.size());
  std::vector<size_t> active;  // recordings in the batch, in the order they joined
  size_t next = 0;
  for (;;) {
    // Finished recordings leave; waiting ones join while there is room (one may be done at once: no frames).
    for (size_t k = 0; k < active.size();)
      if (state[active[k]].done()) {
        out[active[k]] = finish(state[active[k]]);
        state[active[k]] = Transcription{};  // its mel is no longer needed
        active.erase(active.begin() + static_cast<long>(k));
      } else {
        ++k;
      }
    while (static_cast<int>(active.size()) < batch_size && next < pcms.size()) {
      state[next] = start(pcms[next], opt);
      if (state[next].done())
        out[next] = finish(state[next]);
      else
        active.push_back(next);
      ++next;
    }
    if (active.empty()) break;

    std::vector<Mat> encs;
    std::vector<std::vector<int>> initials;
    for (size_t i : active) {
      encs.push_back(encode_window(state[i]));
      initials.push_back(window_prompt(state[i], opt));
    }
    decoder_.set_audios(encs);
    double td = now_ms();
    std::vector<WindowResult> res = wd.decode_greedy_batch(initials);
    for (size_t k = 0; k < active.size(); ++k) {
      timings_.n_decoded_tokens += static_cast<int>(res[k].tokens.size()) + 1;
      if (needs_fallback(res[k], opt) && opt.temperatures.size() > 1) {
        // The next temperatures on this window alone, through run()'s path (sampling, best_of).
        decoder_.set_audio(encs[k]);
        wd.reset();
        res[k] = decode_with_fallback(wd, initials[k], state[active[k]].rng, opt, 1, std::move(res[k]));
      }
    }
    timings_.decode_ms += now_ms() - td;
    for (size_t k = 0; k < active.size(); ++k) add_window(state[active[k]], res[k], opt);
  }
  return out;
}

}  // namespace wst::engine
