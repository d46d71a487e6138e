// Kernels for linear layers whose weights are not float32 (float16, int8), with the instruction set chosen at
// run time: AVX-512 (VNNI for int8) where the CPU has it, AVX2 + F16C + FMA otherwise, plain C++ as the last
// resort. Each computes rows [j0, j1) of y = x @ w^T (+ bias) for up to kMaxRows rows of x at a time, reading
// every weight row once for all of them: the decoder's products have one row per sequence and are bound by
// the bytes of weights read.
#pragma once

#include <cstdint>

namespace wst::engine::cpu {

constexpr int kMaxRows = 4;

// float <-> IEEE half, n values.
void f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_f16(const float* src, uint16_t* dst, int64_t n);

// x [m, k] (row stride ldx), w float16 [n, k], y [m, n] (row stride ldy), bias [n] or nullptr; m <= kMaxRows.
void gemv_f16(const float* x, int m, int ldx, const uint16_t* w, int k, const float* bias, float* y, int ldy, int j0,
              int j1);

// Activations quantised for the int8 products: per row q = round(x * scale) in [-127, 127], stored as q + 128
// (unsigned, what the VNNI instruction multiplies by signed weights), with scale = 127 / max |x| of the row.
void quantize_rows_u8(const float* x, int m, int ldx, int k, uint8_t* q, float* scales);

// y = (xq @ wq^T) / (x_scale * 1 / w_scale) (+ bias) for quantised x (quantize_rows_u8, row stride k) and
// int8 weights with per-row scales and row sums; m <= kMaxRows.
void gemv_i8(const uint8_t* xq, const float* x_scales, int m, const int8_t* w, const float* w_scales,
             const int32_t* w_row_sums, int k, const float* bias, float* y, int ldy, int j0, int j1);

// What the kernels run on this CPU: "avx512-vnni", "avx512", "avx2" or "generic".
const char* packed_kernels_isa();

}  // namespace wst::engine::cpu
