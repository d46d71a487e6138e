// One long recording cut at silences into chunks of at most 30 s, for transcribing the chunks together
// (Engine::transcribe_chunked), as faster-whisper's BatchedInferencePipeline cuts its VAD segments into
// batches: here by energy alone, no voice-activity model.
//
// The energy is measured in frames of 30 ms (mean square, in dB, smoothed over 5 frames). A frame is silent
// below a threshold set from the recording's own distribution (its 10th percentile plus a quarter of the way
// to its 90th; 20 dB below the 90th where silence is too rare to reach the 10th), so that the cut adapts to
// the recording's noise floor and loudness. Each chunk ends in the last silent stretch of the 10 s before
// the 30 s limit (the one nearest the limit: chunks as long as they may be), at that stretch's quietest frame;
// with no silent frame there, at the quietest frame there.
#pragma once

#include <cstddef>
#include <vector>

#include "wst/engine.h"

namespace wst::engine {

struct Chunk {
  size_t start = 0, end = 0;  // samples [start, end) of the recording
};

constexpr size_t kMaxChunkSamples = 30 * 16000;

// Chunks covering pcm (16 kHz) end to end, each at most max_samples long, cut on 30 ms frame boundaries
// (multiples of 160 samples, a mel hop). No chunk for empty audio.
std::vector<Chunk> cut_at_silences(const std::vector<float>& pcm, size_t max_samples = kMaxChunkSamples);

// One transcript of the chunks' transcripts: segments in order, renumbered, moved by their chunk's start
// (seek in mel frames, times in seconds; their timestamp tokens stay relative to the chunk), texts joined,
// the first chunk's language.
Transcript join_chunks(const std::vector<Chunk>& chunks, std::vector<Transcript> parts);

}  // namespace wst::engine
