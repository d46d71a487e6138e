// ggml's tensor element types as a whisper.cpp model file names them, and the dequantisation of the
// block-quantised ones this tool reads (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) to float32.
//
// Block layouts (little-endian, packed, 32 weights per block, quantisation version 2; ggml's
// ggml-common.h), with d and m IEEE halves:
//   q4_0 (18 bytes): d, qs[16]          w[j] = ((qs[j] & 15) - 8) * d,  w[j+16] = ((qs[j] >> 4) - 8) * d
//   q4_1 (20 bytes): d, m, qs[16]       w[j] = (qs[j] & 15) * d + m,    w[j+16] = (qs[j] >> 4) * d + m
//   q5_0 (22 bytes): d, qh[4], qs[16]   as q4_0 with bit j (w[j]) or j+16 (w[j+16]) of the u32 qh as each
//                                       nibble's fifth bit, minus 16 instead of 8
//   q5_1 (24 bytes): d, m, qh[4], qs[16] as q4_1 with the fifth bits of q5_0
//   q8_0 (34 bytes): d, int8 qs[32]     w[j] = qs[j] * d
// Products and sums are rounded to float32 one at a time (never fused): the values equal those of the
// gguf Python package's dequantize(), which tests/formats/ggml_types_test.cpp checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wst::formats {

enum class GgmlType : int32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
};

// The header field after the magic and ten hyperparameters: quantisation version * 1000 + ggml's file type
// (ggml.h's ggml_ftype: 0 all f32, 1 f16 matrices, 7 mostly q8_0, ...). Unquantised files carry no version.
constexpr size_t kGgmlFileTypeOffset = 4 + 10 * 4;
constexpr int32_t kGgmlQuantVersionFactor = 1000;
constexpr int32_t kGgmlQuantVersion = 2;
constexpr int32_t kGgmlFileTypeQ8_0 = 7;
// The file type of a header's field, without the quantisation version.
inline int32_t ggml_file_type(int32_t field) { return field % kGgmlQuantVersionFactor; }

// ggml's name of any type id ("q6_K", "bf16"); "unknown" for ids ggml never had.
std::string ggml_type_name(int32_t type);

// Whether this tool reads tensors of this type id.
bool ggml_type_readable(int32_t type);

// For a readable type: weights per block (1 for f32 and f16) and bytes per block.
size_t ggml_block_weights(GgmlType type);
size_t ggml_block_bytes(GgmlType type);

// Quantises `n_blocks` * 32 floats at `x` into q8_0 blocks at `out` (34 bytes each), as ggml's reference
// quantize_row_q8_0 does: d = max|x| / 127 stored as a half, q = roundf(x * (1 / d)) with the float d.
void ggml_quantize_q8_0(const float* x, size_t n_blocks, uint8_t* out);

// Dequantises `n_blocks` blocks of a quantised type at `src` (any alignment) into `n_blocks` * 32 floats.
void ggml_dequantize(GgmlType type, const uint8_t* src, size_t n_blocks, float* out);

}  // namespace wst::formats
