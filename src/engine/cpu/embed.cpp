// CPU token + position embedding lookup.
#include "engine/cpu/cpu_backend.h"
#include "util/errors.h"

namespace wst::engine::cpu {

void CpuBackend::embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) {
  if (pos_offset + n > pos.rows)
    throw Error("embed: positions " + std::to_string(pos_offset) + ".." + std::to_string(pos_offset + n) +
                " exceed the text context of " + std::to_string(pos.rows));
  for (int i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= table.rows) throw Error("embed: token id " + std::to_string(ids[i]) + " out of range");
    const float* e = table.data + static_cast<size_t>(ids[i]) * table.ld;
    const float* p = pos.data + static_cast<size_t>(pos_offset + i) * pos.ld;
    float* yr = y.data + static_cast<size_t>(i) * y.ld;
    for (int c = 0; c < table.cols; ++c) yr[c] = e[c] + p[c];
  }
}

}  // namespace wst::engine::cpu
