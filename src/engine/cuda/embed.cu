// CUDA token + position embedding lookup (tables of float32, float16 or bfloat16 rows). The ids and positions travel
// as kernel arguments (up to kIdsPerLaunch a launch), so no host-to-device copy is queued and a decoder step stays
// capturable in a CUDA graph.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {
constexpr int kIdsPerLaunch = 64;
struct Ids {
  int v[kIdsPerLaunch];
};

__device__ __forceinline__ float widen(float v) { return v; }
__device__ __forceinline__ float widen(__half v) { return __half2float(v); }
__device__ __forceinline__ float widen(__nv_bfloat16 v) { return __bfloat162float(v); }

// Threads a block; a row is ceil(cols / kEmbedThreads) blocks, a value a thread. (A block a row walked the row in
// turns, each waiting for its loads: a large-v3 step's embedding took 8.2 us to the next kernel's release, tiny's
// 3.1, run 67's chain probe, ~0.75 us a turn.)
constexpr int kEmbedThreads = 128;

dim3 embed_grid(int cols, int rows) { return dim3((cols + kEmbedThreads - 1) / kEmbedThreads, rows); }

// y[i] = table[ids[i]] + pos[at[i]] for a table of float32, float16 or bfloat16 rows (ldt elements apart).
template <class T>
__global__ void embed_kernel(const T* __restrict__ table, int ldt, Ids ids, Ids at, const float* __restrict__ pos,
                             int ldp, float* __restrict__ y, int ldy, int cols) {
  const int i = blockIdx.y, c = blockIdx.x * blockDim.x + threadIdx.x;  // token i, value c
  if (c >= cols) return;
  y[static_cast<size_t>(i) * ldy + c] =
      widen(table[static_cast<size_t>(ids.v[i]) * ldt + c]) + pos[static_cast<size_t>(at.v[i]) * ldp + c];
}

// A recorded step's rows (a greedy step's one, a beam step's several): y[b] = table[st[b].token] + pos[st[b].position].
template <class T>
__global__ void embed_at_kernel(const T* __restrict__ table, int ldt, const float* __restrict__ pos, int ldp,
                                float* __restrict__ y, int ldy, int cols, const StepState* st) {
  wait_for_previous_kernel();
  let_next_kernel_start();
  const int b = blockIdx.y, c = blockIdx.x * blockDim.x + threadIdx.x;  // row b, value c
  if (c >= cols) return;
  y[static_cast<size_t>(b) * ldy + c] =
      widen(table[static_cast<size_t>(st[b].token) * ldt + c]) + pos[static_cast<size_t>(st[b].position) * ldp + c];
}

// embed_at_kernel over y's rows, each reading its StepState from st.
void launch_embed_at(const Weights& table, const Mat& pos, Mat& y, const StepState* st, cudaStream_t stream) {
  const dim3 grid = embed_grid(y.cols, y.rows), block(kEmbedThreads);
  switch (table.type) {
    case WeightType::float32:
      embed_at_kernel<<<grid, block, 0, stream>>>(table.f32.data, table.f32.ld, pos.data, pos.ld, y.data, y.ld, y.cols,
                                                  st);
      break;
    case WeightType::float16:
      embed_at_kernel<<<grid, block, 0, stream>>>(static_cast<const __half*>(table.packed.get()), table.cols, pos.data,
                                                  pos.ld, y.data, y.ld, y.cols, st);
      break;
    case WeightType::bfloat16:
      embed_at_kernel<<<grid, block, 0, stream>>>(static_cast<const __nv_bfloat16*>(table.packed.get()), table.cols,
                                                  pos.data, pos.ld, y.data, y.ld, y.cols, st);
      break;
    case WeightType::int8:
      throw Error("cuda backend: int8 embeddings are not supported");
  }
  WST_CUDA_CHECK_LAUNCH();
}

// Row i at position positions[i], or pos_offset + i where positions is null.
template <class T>
void launch_embed(const T* table, int ldt, int n_rows, int cols, const int* ids, int n, const Mat& pos, int pos_offset,
                const int* positions, Mat& y, cudaStream_t stream) {
  if (!positions && (pos_offset < 0 || pos_offset + n > pos.rows))
    throw Error("embed: positions " + std::to_string(pos_offset) + ".." + std::to_string(pos_offset + n) +
                " exceed the text context of " + std::to_string(pos.rows));
  if (y.rows != n || y.cols != cols || pos.cols != cols)
    throw Error("embed: y [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] does not fit " +
                std::to_string(n) + " tokens of width " + std::to_string(cols));
  for (int i0 = 0; i0 < n; i0 += kIdsPerLaunch) {
    const int m = std::min(kIdsPerLaunch, n - i0);
    Ids chunk{}, at{};
    for (int i = 0; i < m; ++i) {
      const int id = ids[i0 + i];
      if (id < 0 || id >= n_rows) throw Error("embed: token id " + std::to_string(id) + " out of range");
      chunk.v[i] = id;
      at.v[i] = positions ? positions[i0 + i] : pos_offset + i0 + i;
      if (at.v[i] < 0 || at.v[i] >= pos.rows)
        throw Error("embed: position " + std::to_string(at.v[i]) + " outside the text context of " +
                    std::to_string(pos.rows));
    }
    embed_kernel<<<embed_grid(cols, m), kEmbedThreads, 0, stream>>>(table, ldt, chunk, at, pos.data, pos.ld,
                                        y.data + static_cast<size_t>(i0) * y.ld, y.ld, cols);
    WST_CUDA_CHECK_LAUNCH();
  }
}
}  // namespace

void CudaBackend::embed_at(const Weights& table, const Mat& pos, Mat& y) {
  if (!recording_) throw Error("embed_at: only while a step is recorded");
  note_step_rows(pos.rows);
  if (y.rows != 1 || y.cols != table.cols || pos.cols != table.cols)
    throw Error("embed_at: y [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] does not fit one token of width " +
                std::to_string(table.cols));
  launch_embed_at(table, pos, y, static_cast<const StepState*>(step_dev_.get()), stream_);
}

void CudaBackend::embed_rows_at(const Weights& table, const Mat& pos, Mat& y) {
  if (!recording_ || !recording_rows_) throw Error("embed_rows_at: only while a beam step is recorded");
  if (y.rows != rows_n_ || y.cols != table.cols || pos.cols != table.cols)
    throw Error("embed_rows_at: y [" + std::to_string(y.rows) + ", " + std::to_string(y.cols) + "] does not fit " +
                std::to_string(rows_n_) + " tokens of width " + std::to_string(table.cols));
  launch_embed_at(table, pos, y, rows_states(), stream_);
}

void CudaBackend::embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) {
  launch_embed(table.data, table.ld, table.rows, table.cols, ids, n, pos, pos_offset, nullptr, y, stream_);
}

void CudaBackend::embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) {
  embed_weights(table, ids, n, pos, pos_offset, nullptr, y);
}

void CudaBackend::embed_rows(const Weights& table, const int* ids, const int* positions, int n, const Mat& pos,
                             Mat& y) {
  embed_weights(table, ids, n, pos, 0, positions, y);
}

void CudaBackend::embed_weights(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset,
                                const int* positions, Mat& y) {
  switch (table.type) {
    case WeightType::float32:
      return launch_embed(table.f32.data, table.f32.ld, table.f32.rows, table.f32.cols, ids, n, pos, pos_offset,
                          positions, y, stream_);
    case WeightType::float16:
      return launch_embed(static_cast<const __half*>(table.packed.get()), table.cols, table.rows, table.cols, ids, n,
                          pos, pos_offset, positions, y, stream_);
    case WeightType::bfloat16:
      return launch_embed(static_cast<const __nv_bfloat16*>(table.packed.get()), table.cols, table.rows, table.cols,
                          ids, n, pos, pos_offset, positions, y, stream_);
    case WeightType::int8:
      break;
  }
  throw Error("cuda backend: " + std::string(weight_type_name(table.type)) + " embeddings are not supported");
}

}  // namespace wst::engine::cuda
