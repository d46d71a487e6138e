// Matrix-vector kernels for float16 and int8 weights (packed_kernels.h). Whisper's widths are multiples of 64,
// but every kernel also handles a tail.
#include "engine/cpu/packed_kernels.h"

#include "util/half.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace wst::engine::cpu {
namespace {

enum class Isa { generic, avx2, avx512, avx512_vnni };

Isa detect() {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  if (avx512 && __builtin_cpu_supports("avx512vnni")) return Isa::avx512_vnni;
  if (avx512) return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::avx2;
  return Isa::generic;
}

const Isa kIsa = detect();

// ---- float16 products ----
void gemv_f16_generic(const float* x, int m, int ldx, const uint16_t* w, int k, const float* bias, float* y, int ldy,
                      int j0, int j1) {
  for (int j = j0; j < j1; ++j) {
    const uint16_t* wj = w + static_cast<size_t>(j) * k;
    for (int r = 0; r < m; ++r) {
      const float* xr = x + static_cast<size_t>(r) * ldx;
      float acc = 0.0f;
      for (int i = 0; i < k; ++i) acc += xr[i] * half_to_float(wj[i]);
      y[static_cast<size_t>(r) * ldy + j] = acc + (bias ? bias[j] : 0.0f);
    }
  }
}

template <int M>
__attribute__((target("avx2,fma,f16c"))) void gemv_f16_avx2_m(const float* x, int ldx, const uint16_t* w, int k,
                                                               const float* bias, float* y, int ldy, int j0, int j1) {
  const int k16 = k & ~15;
  for (int j = j0; j < j1; ++j) {
    const uint16_t* wj = w + static_cast<size_t>(j) * k;
    __m256 acc[M][2];
    for (int r = 0; r < M; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int i = 0; i < k16; i += 16) {
      const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wj + i)));
      const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wj + i + 8)));
      for (int r = 0; r < M; ++r) {
        const float* xr = x + static_cast<size_t>(r) * ldx + i;
        acc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(xr), w0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8), w1, acc[r][1]);
      }
    }
    for (int r = 0; r < M; ++r) {
      const __m256 s = _mm256_add_ps(acc[r][0], acc[r][1]);
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      h = _mm_add_ss(h, _mm_movehdup_ps(h));
      float acc_s = _mm_cvtss_f32(h);
      const float* xr = x + static_cast<size_t>(r) * ldx;
      for (int i = k16; i < k; ++i) acc_s += xr[i] * half_to_float(wj[i]);
      y[static_cast<size_t>(r) * ldy + j] = acc_s + (bias ? bias[j] : 0.0f);
    }
  }
}

template <int M>
__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"))) void gemv_f16_avx512_m(
    const float* x, int ldx, const uint16_t* w, int k, const float* bias, float* y, int ldy, int j0, int j1) {
  const int k32 = k & ~31;
  for (int j = j0; j < j1; ++j) {
    const uint16_t* wj = w + static_cast<size_t>(j) * k;
    __m512 acc[M][2];
    for (int r = 0; r < M; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int i = 0; i < k32; i += 32) {
      const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wj + i)));
      const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wj + i + 16)));
      for (int r = 0; r < M; ++r) {
        const float* xr = x + static_cast<size_t>(r) * ldx + i;
        acc[r][0] = _mm512_fmadd_ps(_mm512_loadu_ps(xr), w0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(_mm512_loadu_ps(xr + 16), w1, acc[r][1]);
      }
    }
    for (int r = 0; r < M; ++r) {
      float acc_s = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
      const float* xr = x + static_cast<size_t>(r) * ldx;
      for (int i = k32; i < k; ++i) acc_s += xr[i] * half_to_float(wj[i]);
      y[static_cast<size_t>(r) * ldy + j] = acc_s + (bias ? bias[j] : 0.0f);
    }
  }
}

// ---- int8 products ----
void gemv_i8_generic(const uint8_t* xq, const float* xs, int m, const int8_t* w, const float* ws, const int32_t* wsum,
                     int k, const float* bias, float* y, int ldy, int j0, int j1) {
  for (int j = j0; j < j1; ++j) {
    const int8_t* wj = w + static_cast<size_t>(j) * k;
    for (int r = 0; r < m; ++r) {
      const uint8_t* xr = xq + static_cast<size_t>(r) * k;
      int32_t acc = 0;
      for (int i = 0; i < k; ++i) acc += static_cast<int32_t>(xr[i]) * wj[i];
      acc -= 128 * wsum[j];
      y[static_cast<size_t>(r) * ldy + j] = static_cast<float>(acc) * (ws[j] / xs[r]) + (bias ? bias[j] : 0.0f);
    }
  }
}

template <int M>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void gemv_i8_vnni_m(
    const uint8_t* xq, const float* xs, const int8_t* w, const float* ws, const int32_t* wsum, int k,
    const float* bias, float* y, int ldy, int j0, int j1) {
  const int k64 = k & ~63;
  for (int j = j0; j < j1; ++j) {
    const int8_t* wj = w + static_cast<size_t>(j) * k;
    __m512i acc[M];
    for (int r = 0; r < M; ++r) acc[r] = _mm512_setzero_si512();
    for (int i = 0; i < k64; i += 64) {
      const __m512i wv = _mm512_loadu_si512(wj + i);
      for (int r = 0; r < M; ++r)
        acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_loadu_si512(xq + static_cast<size_t>(r) * k + i), wv);
    }
    for (int r = 0; r < M; ++r) {
      int32_t s = _mm512_reduce_add_epi32(acc[r]);
      const uint8_t* xr = xq + static_cast<size_t>(r) * k;
      for (int i = k64; i < k; ++i) s += static_cast<int32_t>(xr[i]) * wj[i];
      s -= 128 * wsum[j];
      y[static_cast<size_t>(r) * ldy + j] = static_cast<float>(s) * (ws[j] / xs[r]) + (bias ? bias[j] : 0.0f);
    }
  }
}

// Without VNNI: the activations back to signed (q = u8 - 128, exact) and 16-bit multiply-adds of sign-moved
// pairs: |q| * (w with q's sign), at most 2 * 127 * 127 per pair, so nothing saturates.
template <int M>
__attribute__((target("avx2"))) void gemv_i8_avx2_m(const uint8_t* xq, const float* xs, const int8_t* w,
                                                     const float* ws, const int32_t* wsum, int k, const float* bias,
                                                     float* y, int ldy, int j0, int j1) {
  const int k32 = k & ~31;
  const __m256i ones = _mm256_set1_epi16(1), bias128 = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int j = j0; j < j1; ++j) {
    const int8_t* wj = w + static_cast<size_t>(j) * k;
    __m256i acc[M];
    for (int r = 0; r < M; ++r) acc[r] = _mm256_setzero_si256();
    for (int i = 0; i < k32; i += 32) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wj + i));
      for (int r = 0; r < M; ++r) {
        const __m256i xu = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + static_cast<size_t>(r) * k + i));
        const __m256i xs8 = _mm256_xor_si256(xu, bias128);  // u8 - 128 as int8
        const __m256i prod = _mm256_maddubs_epi16(_mm256_sign_epi8(xs8, xs8), _mm256_sign_epi8(wv, xs8));
        acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(prod, ones));
      }
    }
    for (int r = 0; r < M; ++r) {
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc[r]), _mm256_extracti128_si256(acc[r], 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
      int32_t s = _mm_cvtsi128_si32(s4);  // sum of q * w for i < k32 (signed q)
      const uint8_t* xr = xq + static_cast<size_t>(r) * k;
      for (int i = k32; i < k; ++i) s += (static_cast<int32_t>(xr[i]) - 128) * wj[i];
      y[static_cast<size_t>(r) * ldy + j] = static_cast<float>(s) * (ws[j] / xs[r]) + (bias ? bias[j] : 0.0f);
    }
  }
}

}  // namespace

namespace {
__attribute__((target("avx,f16c"))) int64_t f16_to_f32_f16c(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  return i;
}
}  // namespace

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = kIsa != Isa::generic ? f16_to_f32_f16c(src, dst, n) : 0;
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) { float_to_half_n(src, dst, static_cast<size_t>(n)); }

void gemv_f16(const float* x, int m, int ldx, const uint16_t* w, int k, const float* bias, float* y, int ldy, int j0,
              int j1) {
  switch (kIsa) {
    case Isa::avx512:
    case Isa::avx512_vnni:
      switch (m) {
        case 1: return gemv_f16_avx512_m<1>(x, ldx, w, k, bias, y, ldy, j0, j1);
        case 2: return gemv_f16_avx512_m<2>(x, ldx, w, k, bias, y, ldy, j0, j1);
        case 3: return gemv_f16_avx512_m<3>(x, ldx, w, k, bias, y, ldy, j0, j1);
        default: return gemv_f16_avx512_m<4>(x, ldx, w, k, bias, y, ldy, j0, j1);
      }
    case Isa::avx2:
      switch (m) {
        case 1: return gemv_f16_avx2_m<1>(x, ldx, w, k, bias, y, ldy, j0, j1);
        case 2: return gemv_f16_avx2_m<2>(x, ldx, w, k, bias, y, ldy, j0, j1);
        case 3: return gemv_f16_avx2_m<3>(x, ldx, w, k, bias, y, ldy, j0, j1);
        default: return gemv_f16_avx2_m<4>(x, ldx, w, k, bias, y, ldy, j0, j1);
      }
    case Isa::generic: break;
  }
  gemv_f16_generic(x, m, ldx, w, k, bias, y, ldy, j0, j1);
}

void quantize_rows_u8(const float* x, int m, int ldx, int k, uint8_t* q, float* scales) {
  for (int r = 0; r < m; ++r) {
    const float* xr = x + static_cast<size_t>(r) * ldx;
    float amax = 0.0f;
#pragma omp simd reduction(max : amax)
    for (int i = 0; i < k; ++i) amax = std::max(amax, std::fabs(xr[i]));
    const float scale = amax > 0.0f ? 127.0f / amax : 1.0f;
    scales[r] = scale;
    uint8_t* qr = q + static_cast<size_t>(r) * k;
#pragma omp simd
    for (int i = 0; i < k; ++i) qr[i] = static_cast<uint8_t>(static_cast<int>(std::nearbyint(xr[i] * scale)) + 128);
  }
}

void gemv_i8(const uint8_t* xq, const float* xs, int m, const int8_t* w, const float* ws, const int32_t* wsum, int k,
             const float* bias, float* y, int ldy, int j0, int j1) {
  switch (kIsa) {
    case Isa::avx512_vnni:
      switch (m) {
        case 1: return gemv_i8_vnni_m<1>(xq, xs, w, ws, wsum, k, bias, y, ldy, j0, j1);
        case 2: return gemv_i8_vnni_m<2>(xq, xs, w, ws, wsum, k, bias, y, ldy, j0, j1);
        case 3: return gemv_i8_vnni_m<3>(xq, xs, w, ws, wsum, k, bias, y, ldy, j0, j1);
        default: return gemv_i8_vnni_m<4>(xq, xs, w, ws, wsum, k, bias, y, ldy, j0, j1);
      }
    case Isa::avx512:
    case Isa::avx2:
      switch (m) {
        case 1: return gemv_i8_avx2_m<1>(xq, xs, w, ws, wsum, k, bias, y, ldy, j0, j1);
        case 2: return gemv_i8_avx2_m<2>(xq, xs, w, ws, wsum, k, bias, y, ldy, j0, j1);
        case 3: return gemv_i8_avx2_m<3>(xq, xs, w, ws, wsum, k, bias, y, ldy, j0, j1);
        default: return gemv_i8_avx2_m<4>(xq, xs, w, ws, wsum, k, bias, y, ldy, j0, j1);
      }
    case Isa::generic: break;
  }
  gemv_i8_generic(xq, xs, m, w, ws, wsum, k, bias, y, ldy, j0, j1);
}

const char* packed_kernels_isa() {
  switch (kIsa) {
    case Isa::avx512_vnni: return "avx512-vnni";
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::generic: break;
  }
  return "generic";
}

}  // namespace wst::engine::cpu
