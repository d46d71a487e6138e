// Element-wise math written so the compiler vectorises it (plain loops over float, no calls into libm;
// reductions marked `omp simd`, built with -fopenmp-simd: no OpenMP runtime).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace wst::engine::cpu {

// exp(x) for x <= 0 (softmax after subtracting the row maximum); relative error below 3e-7 (about 2 ulp) against exp,
// 0 for x < -87.3 (where expf underflows to subnormals). Cody-Waite range reduction x = n ln2 + r,
// |r| <= ln2/2, then a degree-6 Taylor polynomial of e^r, scaled by 2^n through the exponent bits.
inline float exp_nonpositive(float x) {
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  x = x < -87.3f ? -87.3f : x;
  // Round to nearest by adding and subtracting 1.5 * 2^23 (no libm call, so the loop vectorises).
  const float kRound = 12582912.0f;
  const float n = (x * kLog2e + kRound) - kRound;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// erf(x) to within 5e-7 in float (1.5e-7 in exact arithmetic: Abramowitz & Stegun 7.1.26: 1 - t (a1 + t (a2 + ...)) e^(-x^2), t = 1 / (1 + p|x|)),
// in plain arithmetic so loops over it vectorise (std::erf does not).
inline float erf_approx(float x) {
  const float z = x < 0.0f ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * exp_nonpositive(-z * z);
  return x < 0.0f ? -y : y;
}

// In place: s[j] = exp(s[j] - max) / sum for j < n (the softmax of one row).
inline void softmax_row(float* s, int n) {
  float mx = s[0];
#pragma omp simd reduction(max : mx)
  for (int j = 1; j < n; ++j) mx = s[j] > mx ? s[j] : mx;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < n; ++j) {
    s[j] = exp_nonpositive(s[j] - mx);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int j = 0; j < n; ++j) s[j] *= inv;
}

}  // namespace wst::engine::cpu
