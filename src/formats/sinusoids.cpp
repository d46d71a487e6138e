#include "formats/sinusoids.h"

#include <cmath>

namespace wst::formats {

std::vector<float> openai_sinusoids(int length, int channels) {
  const int half = channels / 2;
  // np.log(10000) / (channels // 2 - 1) is a double; torch multiplies it into arange() as a float32 scalar.
  const float neg_increment = static_cast<float>(-std::log(10000.0) / (half - 1));
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i) inv[i] = static_cast<float>(std::exp(static_cast<double>(neg_increment * static_cast<float>(i))));
  std::vector<float> out(static_cast<size_t>(length) * channels);  // [length, channels]
  for (int t = 0; t < length; ++t) {
    float* row = out.data() + static_cast<size_t>(t) * channels;
    for (int i = 0; i < half; ++i) {
      const float x = static_cast<float>(t) * inv[i];
      row[i] = static_cast<float>(std::sin(static_cast<double>(x)));
      row[half + i] = static_cast<float>(std::cos(static_cast<double>(x)));
    }
  }
  return out;
}

}  // namespace wst::formats
