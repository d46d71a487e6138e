// Which tokenizer goes with a set of weights. CTranslate2 and Hugging Face directories carry a tokenizer.json
// and ggml files carry their vocabulary; an OpenAI checkpoint or an MLX directory carries none, so it is
// taken from a tokenizer.json beside the weights, or from any model with the same vocabulary already in a
// cache (all English-only Whisper models share one vocabulary, all multilingual ones but large-v3 another).
// Nothing is downloaded here.
#pragma once

#include <string>

#include "formats/whisper_weights.h"
#include "models/resolver.h"

namespace wst::models {

struct TokenizerSource {
  std::string tokenizer_json;  // a tokenizer.json path; "" when the weights' own vocabulary is used
  bool from_vocab = false;     // WhisperWeights::vocab (a ggml file)
  std::string description;     // one line for --verbose: where it came from
};

// Throws wst::Error naming the weights and saying how to get a tokenizer when none is found.
TokenizerSource find_tokenizer(const formats::WhisperWeights& w, const Resolver& resolver);
// Same, with the catalog and the caches from the environment.
TokenizerSource find_tokenizer(const formats::WhisperWeights& w);
// For Engine's EngineOptions::tokenizer_json: "" when the model at `path` carries its own tokenizer, else
// the tokenizer.json find_tokenizer picks. Throws as find_tokenizer (and read_weights).
std::string tokenizer_json_for(const std::string& model_path);

}  // namespace wst::models
