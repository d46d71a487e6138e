// Summary statistics of a sample of run times.
//
//   Stats s = summarize({1.0, 2.0, 4.0});  // median 2, mean 7/3, min 1, max 4, stddev (sample) ~1.528
//
// Pure functions, thread-safe.
#pragma once
#include <cstddef>
#include <vector>

namespace wst::bench {

struct Stats {
  size_t n = 0;
  double median = 0;  // middle value; the mean of the two middle values when n is even
  double mean = 0;
  double min = 0;
  double max = 0;
  double stddev = 0;  // sample standard deviation (n - 1 in the denominator, as Python's statistics.stdev); 0 when n < 2
};

// All zero (n == 0) for an empty sample.
Stats summarize(std::vector<double> values);

// Real-time factor: how many seconds of audio one second of work transcribes (audio_s / work_s);
// above 1 is faster than real time. 0 when work_s <= 0.
double real_time_factor(double audio_s, double work_s);

}  // namespace wst::bench
