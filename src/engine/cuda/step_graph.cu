// Greedy decoder steps as CUDA graphs (Backend::records_steps): the step is captured once from the stream,
// with its position-dependent ops reading the step's StepState on the device, and replayed for every token.
// The state is copied from pinned host memory by the graph's first node, so each replay reads its own; the
// greedy pick's 8 bytes come back by its last node. Everything the captured kernels touch stays allocated
// for the recording's life (CudaBackend::recorded_), so the pool cannot hand it to anything else.
#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

struct StepRecording {
  cudaGraphExec_t exec = nullptr;
  std::vector<std::shared_ptr<void>> keep;
  ~StepRecording() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

// cache[position] = src (one row of `cols` floats).
__global__ void copy_to_row_kernel(const float* src, float* cache, int ldc, int cols, const StepState* st) {
  wait_for_previous_kernel();
  let_next_kernel_start();
  float* dst = cache + static_cast<size_t>(st->position) * ldc;
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) dst[c] = src[c];
}

}  // namespace

void CudaBackend::set_step(int token, int position, const StepRules& rules, int n_vocab) {
  if (recording_) throw Error("set_step: a step is being recorded");
  prepare_pick(n_vocab, rules);
  step_host_->token = token;
  step_host_->position = position;
}

void CudaBackend::begin_step_recording() {
  if (recording_) throw Error("begin_step_recording: already recording");
  if (!step_dev_) throw Error("begin_step_recording: set_step first");
  recorded_.clear();
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  // Relaxed: the pool may cudaMalloc a block for a buffer first used in the recording.
  WST_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  recording_ = true;
  WST_CUDA_CHECK(cudaMemcpyAsync(step_dev_.get(), step_host_, sizeof(StepState), cudaMemcpyHostToDevice, stream_));
}

std::shared_ptr<void> CudaBackend::end_step_recording() {
  if (!recording_) throw Error("end_step_recording: not recording");
  recording_ = false;
  cudaGraph_t graph = nullptr;
  const cudaError_t e = cudaStreamEndCapture(stream_, &graph);
  auto rec = std::make_shared<StepRecording>();
  rec->keep = std::move(recorded_);
  recorded_.clear();
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw_cuda_error("cudaStreamEndCapture", cudaGetErrorString(e), __FILE__, __LINE__);
  }
  const cudaError_t ie = cudaGraphInstantiate(&rec->exec, graph, 0);
  cudaGraphDestroy(graph);
  if (ie != cudaSuccess) throw_cuda_error("cudaGraphInstantiate", cudaGetErrorString(ie), __FILE__, __LINE__);
  rec->keep.push_back(step_dev_);  // the state, the mask and the result the graph reads and writes
  rec->keep.push_back(pick_bits_);
  rec->keep.push_back(pick_out_);
  return rec;
}

GreedyPick CudaBackend::replay_step(const std::shared_ptr<void>& recording) {
  auto* rec = static_cast<StepRecording*>(recording.get());
  if (rec == nullptr || rec->exec == nullptr) throw Error("replay_step: no recording");
  WST_CUDA_CHECK(cudaGraphLaunch(rec->exec, stream_));
  return read_pick();
}

void CudaBackend::copy_to_row_at(const Mat& src, Mat& cache) {
  if (!recording_) throw Error("copy_to_row_at: only while a step is recorded");
  if (src.rows != 1 || src.cols != cache.cols)
    throw Error("copy_to_row_at: a row of " + std::to_string(cache.cols) + " expected, got [" +
                std::to_string(src.rows) + ", " + std::to_string(src.cols) + "]");
  launch_kernel(chained_, copy_to_row_kernel, dim3(blocks_for(src.cols, 256)), dim3(256), 0, stream_,
                static_cast<const float*>(src.data), cache.data, cache.ld, src.cols,
                static_cast<const StepState*>(step_dev_.get()));
}

}  // namespace wst::engine::cuda
