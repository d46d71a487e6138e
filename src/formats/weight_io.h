// Reading and writing every weight format through WhisperWeights (formats/whisper_weights.h).
//
//   WhisperWeights w = read_weights("/models/ggml-tiny.en.bin");   // format from the contents
//   write_weights(w, WeightFormat::kCt2, "/models/tiny.en-ct2", DType::kF16);
//
// Format names (ModelInfo::format, benchmark parameters): "ctranslate2", "openai", "safetensors", "ggml",
// "ggml-q8_0", "mlx". `models convert --to` also takes ct2, pt and hf. A ggml file whose header says q8_0
// (file type 7) is "ggml-q8_0": whisper.cpp runs it with other kernels, so the benchmark keeps it apart.
#pragma once

#include <optional>
#include <string>

#include "formats/whisper_weights.h"

namespace wst::formats {

enum class WeightFormat { kCt2, kOpenai, kSafetensors, kGgml, kGgmlQ8_0, kMlx };

const char* format_name(WeightFormat f);
// "ct2"/"ctranslate2", "pt"/"openai", "safetensors"/"hf", "ggml", "ggml-q8_0", "mlx"; throws wst::Error for others.
WeightFormat parse_format_name(const std::string& name);

// The format of the file or directory at `path`, judged from its contents; std::nullopt when it is none of
// them (missing paths too).
std::optional<WeightFormat> detect_format(const std::string& path);

// Reads any format. Throws wst::Error naming the file and problem (missing, truncated, corrupt, refused
// content, a tensor of the wrong shape); the result has passed WhisperWeights::validate().
WhisperWeights read_weights(const std::string& path);

// Per-format readers (the path as the format stores it: a directory for ct2, safetensors and mlx, a file
// for openai and ggml; read_ggml reads every ggml file type, q8_0 included).
WhisperWeights read_ct2(const std::string& dir);
WhisperWeights read_openai_pt(const std::string& file);
WhisperWeights read_safetensors_dir(const std::string& dir);
WhisperWeights read_ggml(const std::string& file);
WhisperWeights read_mlx(const std::string& dir);

// Writes `w` as `format` at `out` (a directory or a file as above) with every tensor stored as `dtype`
// (float tensors only; std::nullopt keeps each tensor's dtype where the format can store it). The output is
// written under a temporary name beside `out` and renamed into place only when complete; an existing `out`
// is an error unless `overwrite`. Writers that need a tokenizer or facts (ct2, safetensors, ggml) throw a
// clear error when `w` lacks them.
void write_weights(const WhisperWeights& w, WeightFormat format, const std::string& out,
                   std::optional<DType> dtype = std::nullopt, bool overwrite = false);

// Per-format writers, called by write_weights with a temporary path that does not exist yet.
void write_ct2(const WhisperWeights& w, const std::string& dir, std::optional<DType> dtype);
void write_openai_pt(const WhisperWeights& w, const std::string& file, std::optional<DType> dtype);
void write_safetensors_dir(const WhisperWeights& w, const std::string& dir, std::optional<DType> dtype);
void write_ggml(const WhisperWeights& w, const std::string& file, std::optional<DType> dtype);
// The matrices (all but the positional embeddings) as q8_0, the conv kernels float16, the rest float32: the
// file whisper.cpp's quantize tool makes. `dtype` may be std::nullopt or float16.
void write_ggml_q8_0(const WhisperWeights& w, const std::string& file, std::optional<DType> dtype);
void write_mlx(const WhisperWeights& w, const std::string& dir, std::optional<DType> dtype);

}  // namespace wst::formats
