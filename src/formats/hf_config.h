// The JSON files of a Hugging Face transformers Whisper directory besides model.safetensors: what
// WhisperForConditionalGeneration, WhisperProcessor and pipeline("automatic-speech-recognition") read
// (transformers 4.49), and the dims read back from config.json.
//
//   config.json               WhisperConfig: sizes, special token ids, suppress lists, tied output projection
//   generation_config.json    generate(): start/end/no-timestamps/previous-text ids, suppress lists,
//                             languages and tasks (multilingual models), alignment heads
//   preprocessor_config.json  WhisperFeatureExtractor (16 kHz, n_fft 400, hop 160, 30 s chunks)
//   tokenizer.json            copied; WhisperTokenizerFast reads it alone
//   vocab.json, merges.txt,   taken from tokenizer.json: the slow WhisperTokenizer, which WhisperProcessor
//   added_tokens.json,        loads, reads these instead (without them from_pretrained asks for sentencepiece
//   special_tokens_map.json   and protobuf)
//   tokenizer_config.json     names WhisperTokenizer and the bos/eos/pad/unk token
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "formats/whisper_weights.h"

namespace wst::formats {

// The dims of a config.json (path names it in errors); throws "<path>: not a Whisper config (...)" when
// model_type is not "whisper", and a one-line error for sizes this layout cannot hold (encoder and decoder of
// different widths are one d_model here; an MLP other than 4 x d_model, scaled embeddings, an activation
// other than gelu are refused).
WhisperDims hf_dims_from_config(const nlohmann::json& config, const std::string& path);

// config.json for `w` (its dims, and the special token ids of w.facts), weights stored as `stored`.
nlohmann::json hf_config_json(const WhisperWeights& w, DType stored);

// Writes every JSON and tokenizer file above into `dir` (which exists). `w` must carry tokenizer_json and
// facts (models::prepare_for_writing); `stored` is the dtype of model.safetensors (config's torch_dtype).
void write_hf_side_files(const WhisperWeights& w, const std::string& dir, DType stored);

}  // namespace wst::formats
