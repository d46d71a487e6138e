// Median, mean, extremes and sample standard deviation; the real-time factor. See stats.h.
#include "bench/stats.h"

#include <algorithm>
#include <cmath>

namespace wst::bench {

Stats summarize(std::vector<double> values) {
  Stats s;
  s.n = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  s.min = values.front();
  s.max = values.back();
  s.median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(n);
  if (n >= 2) {
    // Two-pass: the deviations from the mean, not sum-of-squares minus square-of-sum, which cancels badly.
    double ss = 0;
    for (double v : values) ss += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(n - 1));
  }
  return s;
}

double real_time_factor(double audio_s, double work_s) { return work_s > 0 ? audio_s / work_s : 0.0; }

}  // namespace wst::bench
