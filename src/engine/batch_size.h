// How many windows batched transcription decodes together when the caller does not say
// (Engine::default_batch_size): a fixed number on the CPU, on a GPU as many as its free memory holds.
#pragma once

#include "wst/engine.h"

namespace wst::engine {

// On the CPU: the decoder's products of up to 16 rows go through the matrix-vector kernels that compute each
// row as they compute one row alone (docs/BATCHING.md); 8 keeps a round's latency near a single window's.
constexpr int kCpuBatchSize = 8;
// The most windows chosen automatically on a GPU (a bound on one round's latency and host memory, not tuned).
constexpr int kMaxAutoBatchSize = 32;

// Device bytes one more window in the batch takes: its self-attention KV cache
// (2 * n_text_layer * n_text_ctx * n_text_state floats), its cross-attention K/V
// (2 * n_text_layer * n_audio_ctx * n_text_state) and its encoder output (n_audio_ctx * n_audio_state), plus
// its decoder activations and logits row.
long long window_device_bytes(const ModelInfo& info);
// Device bytes of encoding one window, needed once whatever the batch (the windows are encoded one at a time):
// the layer's activations and the attention scores of the unfused path.
long long encoder_device_bytes(const ModelInfo& info);
// kCpuBatchSize when free_device_bytes < 0 (a backend in host memory); else the windows that fit in 80% of
// free_device_bytes after one encoder's working set, between 1 and kMaxAutoBatchSize.
int auto_batch_size(const ModelInfo& info, long long free_device_bytes);

}  // namespace wst::engine
