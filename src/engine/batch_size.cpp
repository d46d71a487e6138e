#include "engine/batch_size.h"

#include <algorithm>

namespace wst::engine {

long long window_device_bytes(const ModelInfo& h) {
  const long long f = sizeof(float);
  const long long self_kv = 2LL * h.n_text_layer * h.n_text_ctx * h.n_text_state * f;
  const long long cross_kv = 2LL * h.n_text_layer * h.n_audio_ctx * h.n_text_state * f;
  const long long encoder_out = static_cast<long long>(h.n_audio_ctx) * h.n_audio_state * f;
  const long long step = (10LL * h.n_text_state + h.n_vocab) * f;  // one row of x, qkv, mlp, ...; its logits
  return self_kv + cross_kv + encoder_out + step;
}

long long encoder_device_bytes(const ModelInfo& h) {
  const long long f = sizeof(float);
  // Residual, normed, qkv (3) and MLP (4) rows of the layer, and [n_head, n_ctx, n_ctx] attention scores.
  const long long activations = 9LL * h.n_audio_ctx * h.n_audio_state * f;
  const long long scores = static_cast<long long>(h.n_audio_head) * h.n_audio_ctx * h.n_audio_ctx * f;
  return activations + scores;
}

int auto_batch_size(const ModelInfo& h, long long free_device_bytes) {
  if (free_device_bytes < 0) return kCpuBatchSize;
  const long long usable = free_device_bytes / 10 * 8 - encoder_device_bytes(h);
  const long long n = usable / window_device_bytes(h);
  return static_cast<int>(std::clamp<long long>(n, 1, kMaxAutoBatchSize));
}

}  // namespace wst::engine
