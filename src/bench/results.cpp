// Derived numbers of the results: per-row statistics, RTF, and the table order. See results.h.
#include "bench/results.h"

#include <algorithm>

namespace wst::bench {

Stats ImplResult::wall_stats() const {
  std::vector<double> v;
  for (const auto& t : runs) v.push_back(t.wall_ms);
  return summarize(std::move(v));
}

Stats ImplResult::internal_stats() const {
  std::vector<double> v;
  for (const auto& t : runs)
    if (t.internal_ms >= 0) v.push_back(t.internal_ms);
  // Only meaningful when every run reported one.
  if (v.size() != runs.size()) return {};
  return summarize(std::move(v));
}

double BenchResult::rtf(const ImplResult& r) const {
  return real_time_factor(audio.duration_s, r.wall_stats().median / 1000.0);
}

void sort_results(std::vector<ImplResult>& results) {
  std::stable_sort(results.begin(), results.end(), [](const ImplResult& a, const ImplResult& b) {
    if (a.ok() != b.ok()) return a.ok();
    if (!a.ok()) return false;
    return a.wall_stats().median < b.wall_stats().median;
  });
}

}  // namespace wst::bench
