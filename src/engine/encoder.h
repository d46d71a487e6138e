// Whisper's audio encoder: two convolutions with GELU, sinusoidal positions, pre-LN transformer blocks.
#pragma once

#include "engine/backend.h"
#include "engine/model.h"

namespace wst::engine {

// mel: [n_mels, 2 * n_audio_ctx] row-major on the host (one 30 s window). Returns [n_audio_ctx, n_audio_state].
Mat encode(const WhisperModel& model, Backend& backend, const float* mel);

}  // namespace wst::engine
