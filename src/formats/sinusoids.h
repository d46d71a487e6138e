// openai-whisper's encoder positional embedding, which formats that do not store it (MLX) leave to the loader.
#pragma once

#include <vector>

namespace wst::formats {

// [length, channels] float32: row t is sin(t * inv_timescale[i]) for i < channels / 2, then cos of the same,
// with inv_timescale[i] = exp(-i * log(10000) / (channels / 2 - 1)), as openai-whisper's sinusoids(). The
// rounding follows its float32 torch arithmetic step by step (the products and exp() rounded to float32);
// sin, cos and exp are evaluated in double and rounded, i.e. correctly rounded, where torch's float32
// kernels may be 1 ulp off. channels must be even and at least 4.
std::vector<float> openai_sinusoids(int length, int channels);

}  // namespace wst::formats
