// IEEE half and bfloat16 to float, bit-exact (subnormals, inf and NaN included).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace wst {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// n halves (unaligned bytes are fine) to floats. F16C's conversion is exact, like half_to_float, 8 at a time.
inline void half_to_float_n(const uint8_t* src, float* dst, size_t n) {
  size_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
#endif
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = half_to_float(h);
  }
}

// float to IEEE half, rounding to nearest even as numpy and torch do (overflow to inf, NaN kept NaN).
inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00;            // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00;           // rounds to >= 65520: inf
  if (abs < 0x38800000u) {                                // below the smallest normal half: subnormal or 0
    if (abs < 0x33000000u) return sign;                   // below half the smallest subnormal
    const uint32_t e = abs >> 23, m = (abs & 0x7fffff) | 0x800000;
    const uint32_t drop = 126 - e;                        // value = m * 2^(e - 150) = (m >> drop) * 2^-24
    uint32_t h = m >> drop;
    const uint32_t rem = m & ((1u << drop) - 1), halfway = 1u << (drop - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) ++h;
    return sign | static_cast<uint16_t>(h);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);               // rebias exponent 127 -> 15
  const uint32_t rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;    // may carry into the exponent: still right
  return sign | static_cast<uint16_t>(h);
}

#if defined(__x86_64__) || defined(__i386__)
// F16C's narrowing, 8 at a time (its rounding is float_to_half's: to nearest even, overflow to inf, subnormals kept),
// the tail by float_to_half. Built for F16C whatever the file's flags (the CUDA module's host code has no -march);
// call it only where the CPU has F16C (float_to_half_n checks).
__attribute__((target("f16c,avx"))) inline void float_to_half_f16c(const float* src, uint16_t* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) dst[i] = float_to_half(src[i]);
}
#endif

// n floats to halves as float_to_half rounds them (a NaN stays a NaN, its payload not necessarily 0x7e00's), with
// F16C where the CPU has it (checked once, at run time).
inline void float_to_half_n(const float* src, uint16_t* dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool f16c = [] {
    __builtin_cpu_init();  // (safe even if first called from a static initialiser)
    return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
  }();
  if (f16c) return float_to_half_f16c(src, dst, n);
#endif
  for (size_t i = 0; i < n; ++i) dst[i] = float_to_half(src[i]);
}

// float to bfloat16, rounding to nearest even (NaN kept NaN), as torch's conversion.
inline uint16_t float_to_bfloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace wst
