// ggml type names, block sizes and dequantisation; see ggml_types.h. This file is compiled with
// -ffp-contract=off (CMakeLists.txt) so that `q * d + m` stays two float32 roundings, as in the reference.
#include "formats/ggml_types.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/half.h"

namespace wst::formats {

namespace {

constexpr size_t kBlock = 32;  // weights per block of every quantised type read here

// Index = ggml type id (ggml.h); "" where an id was removed from ggml.
constexpr const char* kTypeNames[] = {
    "f32",     "f16",    "q4_0",    "q4_1",  "",       "",       "q5_0",   "q5_1",  "q8_0",   "q8_1",  "q2_K",
    "q3_K",    "q4_K",   "q5_K",    "q6_K",  "q8_K",   "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s",
    "iq2_s",   "iq4_xs", "i8",      "i16",   "i32",    "i64",    "f64",    "iq1_m", "bf16",   "",      "",
    "",        "tq1_0",  "tq2_0",   "",      "",       "",       "mxfp4",  "nvfp4", "q1_0",   "q2_0",
};

uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The fifth bits of q5 blocks: bit j of qh belongs to weight j, bit j + 16 to weight j + 16.
int high_bit(uint32_t qh, size_t bit) { return static_cast<int>((qh >> bit) & 1u) << 4; }

void dequantize_block(GgmlType type, const uint8_t* b, float* w) {
  switch (type) {
    case GgmlType::kQ4_0: {
      const float d = half_to_float(u16_at(b));
      const uint8_t* qs = b + 2;
      for (size_t j = 0; j < 16; ++j) {
        w[j] = static_cast<float>((qs[j] & 15) - 8) * d;
        w[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
      }
      return;
    }
    case GgmlType::kQ4_1: {
      const float d = half_to_float(u16_at(b)), m = half_to_float(u16_at(b + 2));
      const uint8_t* qs = b + 4;
      for (size_t j = 0; j < 16; ++j) {
        w[j] = static_cast<float>(qs[j] & 15) * d + m;
        w[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
      }
      return;
    }
    case GgmlType::kQ5_0: {
      const float d = half_to_float(u16_at(b));
      const uint32_t qh = u32_at(b + 2);
      const uint8_t* qs = b + 6;
      for (size_t j = 0; j < 16; ++j) {
        w[j] = static_cast<float>(((qs[j] & 15) | high_bit(qh, j)) - 16) * d;
        w[j + 16] = static_cast<float>(((qs[j] >> 4) | high_bit(qh, j + 16)) - 16) * d;
      }
      return;
    }
    case GgmlType::kQ5_1: {
      const float d = half_to_float(u16_at(b)), m = half_to_float(u16_at(b + 2));
      const uint32_t qh = u32_at(b + 4);
      const uint8_t* qs = b + 8;
      for (size_t j = 0; j < 16; ++j) {
        w[j] = static_cast<float>((qs[j] & 15) | high_bit(qh, j)) * d + m;
        w[j + 16] = static_cast<float>((qs[j] >> 4) | high_bit(qh, j + 16)) * d + m;
      }
      return;
    }
    case GgmlType::kQ8_0: {
      const float d = half_to_float(u16_at(b));
      for (size_t j = 0; j < kBlock; ++j) w[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
      return;
    }
    case GgmlType::kF32:
    case GgmlType::kF16:
      return;  // not block-quantised; callers never pass these
  }
}

}  // namespace

std::string ggml_type_name(int32_t type) {
  constexpr int32_t n = static_cast<int32_t>(sizeof kTypeNames / sizeof kTypeNames[0]);
  if (type < 0 || type >= n || !*kTypeNames[type]) return "unknown";
  return kTypeNames[type];
}

bool ggml_type_readable(int32_t type) {
  switch (type) {
    case 0: case 1: case 2: case 3: case 6: case 7: case 8: return true;
    default: return false;
  }
}

size_t ggml_block_weights(GgmlType type) {
  return type == GgmlType::kF32 || type == GgmlType::kF16 ? 1 : kBlock;
}

size_t ggml_block_bytes(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return 4;
    case GgmlType::kF16: return 2;
    case GgmlType::kQ4_0: return 18;
    case GgmlType::kQ4_1: return 20;
    case GgmlType::kQ5_0: return 22;
    case GgmlType::kQ5_1: return 24;
    case GgmlType::kQ8_0: return 34;
  }
  return 0;
}

void ggml_quantize_q8_0(const float* x, size_t n_blocks, uint8_t* out) {
  for (size_t i = 0; i < n_blocks; ++i, x += kBlock, out += 34) {
    float amax = 0.0f;
    for (size_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = float_to_half(d);
    std::memcpy(out, &dh, 2);
    for (size_t j = 0; j < kBlock; ++j) {
      const float q = std::roundf(x[j] * id);
      // Finite inputs give |q| <= 127; a NaN or infinity (which writers refuse beforehand) stores 0, never UB.
      out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q >= -127.0f && q <= 127.0f ? q : 0.0f));
    }
  }
}

void ggml_dequantize(GgmlType type, const uint8_t* src, size_t n_blocks, float* out) {
  const size_t step = ggml_block_bytes(type);
  for (size_t i = 0; i < n_blocks; ++i) dequantize_block(type, src + i * step, out + i * kBlock);
}

}  // namespace wst::formats
