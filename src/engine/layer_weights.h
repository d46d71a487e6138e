// The weights of one encoder or decoder layer as a backend holds them (model.h places them). Apart from model.h
// so that the CUDA sources, compiled as C++17, can read them without the formats' C++20 headers.
#pragma once

#include "engine/backend.h"

namespace wst::engine {

struct LayerNormWeights {
  Mat gamma, beta;  // [1, n_state]
};

struct LinearWeights {
  Weights w;  // [n_out, n_in]
  Mat b;  // [1, n_out]; empty when the layer has no bias
};

struct EncoderLayerWeights {
  LayerNormWeights attn_ln;
  LinearWeights qkv;  // [3 * n_state, n_state]: q, k, v stacked (k's bias is zero in Whisper)
  LinearWeights attn_out;
  LayerNormWeights mlp_ln;
  LinearWeights fc1, fc2;  // [4 n_state, n_state], [n_state, 4 n_state]
};

struct DecoderLayerWeights {
  LayerNormWeights attn_ln;
  LinearWeights qkv;
  LinearWeights attn_out;
  LayerNormWeights cross_ln;
  LinearWeights cross_q;   // [n_state, n_state]
  LinearWeights cross_kv;  // [2 * n_state, n_state]: k, v stacked
  LinearWeights cross_out;
  LayerNormWeights mlp_ln;
  LinearWeights fc1, fc2;
};

}  // namespace wst::engine
