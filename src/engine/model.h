// The loaded Whisper model: architecture (read from the files) and weights placed on a backend.
// Every format is read into formats::WhisperWeights first (formats/weight_io.h), then placed here; the
// compute type decides how each linear layer's weights are kept (backend.h's WeightType).
#pragma once

#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/layer_weights.h"
#include "formats/whisper_weights.h"
#include "wst/engine.h"

namespace wst::engine {

struct WhisperModel {
  ModelInfo info;
  Mat conv1_w, conv1_b;  // [n_audio_state, 3 * n_mels], [1, n_audio_state]
  Mat conv2_w, conv2_b;  // [n_audio_state, 3 * n_audio_state]
  Mat encoder_pos;       // [n_audio_ctx, n_audio_state]
  std::vector<EncoderLayerWeights> encoder_layers;
  LayerNormWeights encoder_ln;
  Weights token_embedding;  // [n_vocab, n_text_state], also the output projection (tied)
  Mat decoder_pos;       // [n_text_ctx, n_text_state]
  std::vector<DecoderLayerWeights> decoder_layers;
  LayerNormWeights decoder_ln;
  std::vector<std::pair<int, int>> alignment_heads;  // (layer, head) for word timing, when the files say
};

// How weights are kept for a compute type (EngineOptions::compute_type):
//   "float32"  float32 math on the file's values. The decoder's matrix-vector weights (and the tied output
//              projection) stay float16 where the file stores float16, which holds the same values in half the
//              bytes (backends without float16 weights widen them); everything else is float32.
//   "float16"  as float32, with the decoder's weights rounded to float16 whatever the file stores; the encoder's
//              too on a backend whose half-precision products are fast (fast_matrix_products: CUDA).
//   "bfloat16" every linear layer's weights and the embedding in bfloat16 (backends that support it: CUDA).
//   "int8"     every linear layer's weights int8 per row (the encoder's, the decoder's); the token embedding and
//              output projection float16 (in int8 it cost 0.5 points of LibriSpeech WER); convolutions,
//              norms, attention float32.
struct WeightPolicy {
  WeightType encoder = WeightType::float32;      // encoder linears and the decoder's cross-attention K/V
  WeightType decoder = WeightType::float32;      // decoder linears
  WeightType embedding = WeightType::float32;    // the token embedding, also the output projection (tied)
  bool decoder_only_if_stored_f16 = false;       // float16 for the decoder only where the file stores float16
  std::string compute_type = "float32";          // what ModelInfo::compute_dtype reports
};
// The policy for a compute type name; throws wst::Error for an unknown name.
WeightPolicy weight_policy(const std::string& compute_type);

// Places weights read from any format on `backend`. Throws wst::Error naming the source path when a tensor
// is missing, of the wrong shape or not finite.
WhisperModel load_whisper(const formats::WhisperWeights& weights, Backend& backend,
                          const WeightPolicy& policy = WeightPolicy{});
// read_weights(path) (any format, judged from the contents) then load_whisper.
WhisperModel load_model_files(const std::string& path, Backend& backend, const WeightPolicy& policy = WeightPolicy{});

}  // namespace wst::engine
