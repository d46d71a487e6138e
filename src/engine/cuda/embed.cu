// CUDA token + position embedding lookup. The ids travel as kernel arguments (up to kIdsPerLaunch a launch),
// so no host-to-device copy is queued and a decoder step stays capturable in a CUDA graph.
#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
constexpr int kIdsPerLaunch = 64;
struct Ids {
  int v[kIdsPerLaunch];
};

__global__ void embed_kernel(const float* table, int ldt, Ids ids, const float* pos, int ldp, float* y, int ldy,
                             int cols) {
  const int i = blockIdx.x;  // one block per token
  const float* e = table + static_cast<size_t>(ids.v[i]) * ldt;
  const float* p = pos + static_cast<size_t>(i) * ldp;
  float* yr = y + static_cast<size_t>(i) * ldy;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = e[c] + p[c];
}
}  // namespace

void CudaBackend::embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) {
  if (pos_offset < 0 || pos_offset + n > pos.rows)
    throw Error("embed: positions " + std::to_string(pos_offset) + ".." + std::to_string(pos_offset + n) +
                " exceed the text context of " + std::to_string(pos.rows));
  if (y.rows != n || y.cols != table.cols || pos.cols != table.cols)
    throw Error("embed: y [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] does not fit " +
                std::to_string(n) + " tokens of width " + std::to_string(table.cols));
  for (int i0 = 0; i0 < n; i0 += kIdsPerLaunch) {
    const int m = std::min(kIdsPerLaunch, n - i0);
    Ids chunk{};
    for (int i = 0; i < m; ++i) {
      const int id = ids[i0 + i];
      if (id < 0 || id >= table.rows) throw Error("embed: token id " + std::to_string(id) + " out of range");
      chunk.v[i] = id;
    }
    embed_kernel<<<m, 128, 0, stream_>>>(table.data, table.ld, chunk, pos.data + static_cast<size_t>(pos_offset + i0) * pos.ld,
                                         pos.ld, y.data + static_cast<size_t>(i0) * y.ld, y.ld, table.cols);
    WST_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace wst::engine::cuda
