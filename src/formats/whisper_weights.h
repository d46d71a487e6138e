// The one in-memory form of a Whisper model's weights that every format is read into and written from.
//
// Names and shapes are OpenAI's model_state_dict (openai-whisper's model.py), the format every other one was
// converted from:
//   encoder.conv1.weight [n_audio_state, n_mels, 3]        encoder.conv1.bias [n_audio_state]
//   encoder.conv2.weight [n_audio_state, n_audio_state, 3] encoder.conv2.bias
//   encoder.positional_embedding [n_audio_ctx, n_audio_state]
//   encoder.blocks.N.attn.{query,value,out}.{weight,bias}, encoder.blocks.N.attn.key.weight (no bias)
//   encoder.blocks.N.{attn_ln,mlp_ln}.{weight,bias}, encoder.blocks.N.mlp.{0,2}.{weight,bias}
//   encoder.ln_post.{weight,bias}
//   decoder.token_embedding.weight [n_vocab, n_text_state] (also the output projection)
//   decoder.positional_embedding [n_text_ctx, n_text_state]
//   decoder.blocks.N.{attn,cross_attn}.{query,key,value,out}.* as the encoder's, plus cross_attn_ln
//   decoder.blocks.N.{attn_ln,mlp_ln}.*, decoder.blocks.N.mlp.{0,2}.*, decoder.ln.{weight,bias}
// Linear weights are [n_out, n_in]. Tensors are views into memory the WhisperWeights keeps alive (a mapped
// file or a buffer it owns), so a reader copies nothing it does not have to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wst::formats {

enum class DType : uint8_t { kF32, kF16, kBF16 };
const char* dtype_name(DType t);  // "float32", "float16", "bfloat16"
size_t dtype_size(DType t);

struct TensorRef {
  std::vector<int64_t> shape;
  DType dtype = DType::kF32;
  const uint8_t* data = nullptr;  // little-endian elements, contiguous, row-major
  size_t n_bytes = 0;
  size_t n_elements() const;
  // The values as float32 (exact for all three dtypes).
  std::vector<float> to_f32() const;
};

// openai-whisper's ModelDimensions.
struct WhisperDims {
  int n_mels = 0, n_vocab = 0;
  int n_audio_ctx = 0, n_audio_state = 0, n_audio_head = 0, n_audio_layer = 0;
  int n_text_ctx = 0, n_text_state = 0, n_text_head = 0, n_text_layer = 0;
  bool operator==(const WhisperDims&) const = default;
};

// What writers need besides the weights, derived from the tokenizer and the catalog by the caller
// (models/convert) when the source did not carry it. Token ids are the model's own.
struct TokenizerFacts {
  int sot = -1, eot = -1, sot_prev = -1, sot_lm = -1, no_speech = -1, no_timestamps = -1;
  int transcribe = -1, translate = -1;
  std::vector<std::pair<int, std::string>> languages;  // (token id, code) in id order; empty for .en models
  std::vector<int> non_speech;      // openai's non_speech_tokens (suppress_tokens = -1), sorted
  std::vector<int> suppress_begin;  // suppressed at the first step: the blank (" ") token(s) and eot
};

struct WhisperWeights {
  WhisperDims dims;
  std::map<std::string, TensorRef> tensors;  // OpenAI names (above)

  // Where the weights came from.
  std::string format;  // "ctranslate2", "openai", "hf", "ggml", "mlx"
  std::string path;    // the file or directory read

  // What the source carried besides the weights; empty when it carried nothing.
  std::string tokenizer_json;                 // path of a Whisper tokenizer.json next to the weights
  std::vector<std::string> vocab;             // token bytes by id (ggml), the ordinary tokens only
  std::vector<std::pair<int, int>> alignment_heads;  // (layer, head)
  std::vector<float> mel_filters;             // [n_mels, 201] (ggml)
  TokenizerFacts facts;                       // filled for writers (see TokenizerFacts)

  // The tensor `name` with exactly `shape`; throws wst::Error "<path>: missing tensor NAME" or
  // "<path>: tensor NAME has shape [..], expected [..]".
  const TensorRef& get(const std::string& name, const std::vector<int64_t>& shape) const;
  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // Adds a tensor whose bytes this object owns (a reader that had to convert or reorder).
  const TensorRef& add_owned(const std::string& name, std::vector<int64_t> shape, DType dtype, std::vector<uint8_t> bytes);
  // Adds a view into memory kept alive by `owner` (a mapped file); use keep_alive once per owner.
  void add_view(const std::string& name, std::vector<int64_t> shape, DType dtype, const uint8_t* data, size_t n_bytes);
  void keep_alive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }

  // Checks that every tensor the dims call for is present with its shape, that nothing else is, and that
  // the dims describe a Whisper (n_mels 80 or 128, heads divide the widths). Throws naming `path`.
  void validate() const;

 private:
  std::vector<std::shared_ptr<const void>> owners_;
};

// The names and shapes of every tensor a model of `dims` has (what validate() checks against).
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const WhisperDims& dims);

// "[384, 80, 3]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace wst::formats
