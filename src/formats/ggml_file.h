// whisper.cpp's model file (ggml-*.bin): reader and writer internals. Use read_ggml / write_ggml
// (weight_io.h); this header exposes the in-memory parser for tests and the fuzz target.
//
// Layout (little-endian, no padding or alignment anywhere), as whisper.cpp's whisper_model_load reads it:
//   u32 magic 0x67676d6c
//   i32 n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
//       n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels
//   i32 ftype = quantisation version * 1000 + file type (0 all f32, 1 f16 matrices, 2.. quantised)
//   i32 n_mel, n_fft; f32 filters[n_mel * n_fft]        the mel filterbank, [n_mels, 201] row-major
//   i32 n_tokens; n_tokens x { u32 len; bytes[len] }      token bytes by id (raw bytes, not GPT-2's
//                                                         printable spelling); usually only the ordinary
//                                                         tokens: whisper.cpp names the specials itself
//   tensors until the end of the file:
//     i32 n_dims (0..4), i32 name_len, i32 type; i32 ne[n_dims]; bytes name[name_len]; data
//   ne is innermost first (numpy's shape reversed); names are openai-whisper's; the conv biases are
//   stored as [n_state, 1]. Element types: see ggml_types.h.
// With file type 1 whisper.cpp wants f16 for every matrix (linear weights, token embedding) and the conv
// kernels, f32 for the rest (vectors, conv biases, both positional embeddings); with 0 everything f32; a
// quantised file quantises the matrices and keeps the conv kernels f16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/whisper_weights.h"

namespace wst::formats {

// Parses a whole ggml file held in memory. F32 and F16 tensors whose data is aligned to its element size
// are views into `bytes` (the caller keeps them alive); the others are copied, quantised ones dequantised
// to float32. With `check_complete` the result has passed WhisperWeights::validate(); without, it holds
// whatever tensors the file has (for inspecting a partial file). Throws wst::Error "<path>: <problem>".
WhisperWeights parse_ggml(const uint8_t* bytes, size_t size, const std::string& path, bool check_complete = true);

// The number of ordinary tokens (those below <|endoftext|>) a model with `n_vocab` has: 50257 for the
// multilingual vocabulary (n_vocab >= 51865), else 50256.
int ggml_ordinary_tokens(int n_vocab);

}  // namespace wst::formats
