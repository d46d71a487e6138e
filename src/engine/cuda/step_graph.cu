// Greedy decoder steps as CUDA graphs (Backend::records_steps): the step is captured once from the stream,
// with its position-dependent ops reading the step's StepState on the device, and replayed for every token.
// The graph's first node copies the state into place from the device (what replay_step put there, or what the step
// before predicted: the step run ahead), so each replay reads its own; the pick kernel writes the greedy pick's 8
// bytes straight into pinned host memory. (A beam step's state is copied from pinned memory, its candidates back by
// its last node.) Everything the captured kernels touch stays allocated
// for the recording's life (CudaBackend::recorded_), so the pool cannot hand it to anything else.
#include <atomic>
#include <climits>
#include <cstring>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/launch.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

struct StepRecording {
  cudaGraphExec_t exec = nullptr;
  unsigned long long serial = 0;  // which recording a step run ahead replayed (an address may be reused)
  int positions = 0;  // the positions its step may run at: the fewest rows of a cache or positional table it uses
  bool picks = false;  // its step ends in the greedy pick (which predicts the next step's state)
  std::vector<std::shared_ptr<void>> keep;
  // A beam step's: its rows, candidates a row, kind, layers and cache strides (fixed in its kernels), and where its
  // last node leaves the candidates (pinned: n * k scores, then n * k tokens).
  int n = 0, k = 0, kind = -1, layers = 0, ldk = 0, ldv = 0;
  void* candidates = nullptr;
  ~StepRecording() {
    if (exec) cudaGraphExecDestroy(exec);
    if (candidates) cudaFreeHost(candidates);
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

void CudaBackend::begin_recording(const void* src, void* dev, size_t bytes, cudaMemcpyKind kind) {
  if (recording_) throw Error("begin_step_recording: already recording");
  recorded_.clear();
  step_rows_ = INT_MAX;
  step_picks_ = false;
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  // Relaxed: the pool may cudaMalloc a block for a buffer first used in the recording.
  WST_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  recording_ = true;
  try {
    WST_CUDA_CHECK(cudaMemcpyAsync(dev, src, bytes, kind, stream_));
  } catch (...) {
    abort_step_recording();
    throw;
  }
}

void CudaBackend::abort_step_recording() noexcept {
  if (!recording_) return;
  recording_ = false;
  recording_rows_ = false;
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream_, &graph) == cudaSuccess && graph != nullptr) cudaGraphDestroy(graph);
  cudaGetLastError();  // the capture's error, if any, is not this call's to report
  recorded_.clear();
  if (rows_out_host_) cudaFreeHost(rows_out_host_);
  rows_out_host_ = nullptr;
}

void CudaBackend::begin_step_recording() {
  if (!step_dev_) throw Error("begin_step_recording: set_step first");
  // The first node takes the state from step_next_dev_: replay_step puts the host's there, or the step before's
  // pick its prediction (a step run ahead).
  begin_recording(step_next_dev_.get(), step_dev_.get(), sizeof(StepState), cudaMemcpyDeviceToDevice);
  recording_rows_ = false;
}

void CudaBackend::set_rows_step(const std::vector<int>& tokens, const std::vector<int>& positions,
                                const std::vector<std::vector<Mat*>>& k_caches,
                                const std::vector<std::vector<Mat*>>& v_caches, const std::vector<StepRules>& rules,
                                const std::vector<float>& beam_scores, int n_vocab, int k) {
  if (recording_) throw Error("set_rows_step: a step is being recorded");
  rows_kind_ = -1;  // nothing replays until the step is set whole
  const int n = static_cast<int>(tokens.size()), n_layer = static_cast<int>(k_caches.size());
  if (n < 1 || static_cast<int>(positions.size()) != n || static_cast<int>(rules.size()) != n ||
      static_cast<int>(beam_scores.size()) != n || static_cast<int>(v_caches.size()) != n_layer || k < 1)
    throw Error("set_rows_step: " + std::to_string(n) + " rows need as many positions, rules and scores, and k >= 1");
  for (int i = 0; i < n_layer; ++i)
    if (static_cast<int>(k_caches[i].size()) != n || static_cast<int>(v_caches[i].size()) != n)
      throw Error("set_rows_step: layer " + std::to_string(i) + " needs a K and a V cache for each of " +
                  std::to_string(n) + " rows");
  // Recordable: a launch's rows, the self-attention in cluster kernels, every cache of one shape with the row there.
  // Otherwise nothing is set: the step runs eagerly.
  bool fits = record_rows_ && sm90_ && clusters_ && !persistent_decoder_ && n <= kMaxStepRows && n_layer >= 1 &&
              n_layer <= kMaxRecordedLayers;
  const Mat* k0 = fits ? k_caches[0][0] : nullptr;
  const Mat* v0 = fits ? v_caches[0][0] : nullptr;
  bool one_block = small_self_;
  for (int i = 0; fits && i < n_layer; ++i)
    for (int b = 0; fits && b < n; ++b) {
      const Mat& kc = *k_caches[i][b];
      const Mat& vc = *v_caches[i][b];
      fits = kc.cols == k0->cols && vc.cols == k0->cols && kc.ld == k0->ld && vc.ld == v0->ld && positions[b] >= 0 &&
             positions[b] < kc.rows && positions[b] < vc.rows;
      one_block = one_block && positions[b] + 1 <= kSmallSelfKeys;
    }
  if (!fits) return;
  if (!rows_host_) {
    rows_dev_ = alloc_bytes(kRowsStepBytes);
    WST_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&rows_host_), kRowsStepBytes));
  }
  const std::vector<StepState> states = row_rules(n_vocab, rules, "set_rows_step");
  for (int b = 0; b < n; ++b) {
    if (tokens[b] < 0 || tokens[b] >= n_vocab)
      throw Error("set_rows_step: token " + std::to_string(tokens[b]) + " out of range");
    rows_host_->row[b] = states[b];
    rows_host_->row[b].token = tokens[b];
    rows_host_->row[b].position = positions[b];
    rows_host_->score[b] = beam_scores[b];
  }
  auto* layers = reinterpret_cast<LayerCaches*>(reinterpret_cast<char*>(rows_host_) + sizeof(RowsStep));
  for (int i = 0; i < n_layer; ++i)
    for (int b = 0; b < n; ++b) {
      layers[i].k[b] = k_caches[i][b]->data;
      layers[i].v[b] = v_caches[i][b]->data;
    }
  rows_n_ = n;
  rows_layers_ = n_layer;
  rows_k_ = k;
  rows_ldk_ = k0->ld;
  rows_ldv_ = v0->ld;
  rows_kind_ = one_block ? 1 : 0;
}

void CudaBackend::begin_rows_recording() {
  if (rows_kind_ < 0) throw Error("begin_rows_recording: set_rows_step first, with a step that can be recorded");
  // The candidates' pinned buffer, before the capture (it belongs to the recording).
  if (rows_out_host_) cudaFreeHost(rows_out_host_);
  rows_out_host_ = nullptr;
  WST_CUDA_CHECK(cudaMallocHost(&rows_out_host_, static_cast<size_t>(rows_n_) * rows_k_ * (sizeof(float) + sizeof(int))));
  begin_recording(rows_host_, rows_dev_.get(), sizeof(RowsStep) + rows_layers_ * sizeof(LayerCaches));
  recording_rows_ = true;
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
  static std::atomic<unsigned long long> serials{0};  // (one numbering for every backend in the process)
  rec->serial = ++serials;
  rec->positions = step_rows_ == INT_MAX ? 0 : step_rows_;
  rec->picks = step_picks_;
  rec->keep.push_back(step_dev_);  // the state, the mask and the result the graph reads and writes
  rec->keep.push_back(step_next_dev_);
  rec->keep.push_back(pick_bits_);
  rec->keep.push_back(pick_out_);
  if (recording_rows_) {
    rec->keep.push_back(rows_dev_);
    rec->n = rows_n_;
    rec->k = rows_k_;
    rec->kind = rows_kind_;
    rec->layers = rows_layers_;
    rec->ldk = rows_ldk_;
    rec->ldv = rows_ldv_;
    rec->candidates = rows_out_host_;
    rows_out_host_ = nullptr;
    recording_rows_ = false;
  }
  return rec;
}

std::vector<BeamCandidate> CudaBackend::replay_rows_step(const std::shared_ptr<void>& recording) {
  auto* rec = static_cast<StepRecording*>(recording.get());
  if (rec == nullptr || rec->exec == nullptr || rec->candidates == nullptr)
    throw Error("replay_rows_step: no beam step recording");
  if (rows_kind_ < 0 || rec->n != rows_n_ || rec->k != rows_k_ || rec->kind != rows_kind_ ||
      rec->layers != rows_layers_ || rec->ldk != rows_ldk_ || rec->ldv != rows_ldv_)
    throw Error("replay_rows_step: recorded for " + std::to_string(rec->n) + " rows, " + std::to_string(rec->k) +
                " candidates, kind " + std::to_string(rec->kind) + "; the step set has " + std::to_string(rows_n_) +
                ", " + std::to_string(rows_k_) + ", kind " + std::to_string(rows_kind_));
  WST_CUDA_CHECK(cudaGraphLaunch(rec->exec, stream_));
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  const size_t m = static_cast<size_t>(rec->n) * rec->k;
  const auto* scores = static_cast<const float*>(rec->candidates);
  const auto* tokens = reinterpret_cast<const int*>(scores + m);
  return compact_candidates(scores, tokens, rec->n, rec->k);
}

void CudaBackend::launch_replay(void* recording, int position) {
  WST_CUDA_CHECK(cudaGraphLaunch(static_cast<StepRecording*>(recording)->exec, stream_));
  WST_CUDA_CHECK(cudaEventRecord(step_done_[position & 1], stream_));
}

GreedyPick CudaBackend::replay_step(const std::shared_ptr<void>& recording) {
  auto* rec = static_cast<StepRecording*>(recording.get());
  if (rec == nullptr || rec->exec == nullptr || rec->candidates != nullptr)
    throw Error("replay_step: no greedy step recording");
  for (cudaEvent_t& e : step_done_)
    if (!e) WST_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  const StepState want = *step_host_;  // set_step's
  // Whether this step is the one the last pick predicted, and whether that one already runs.
  const bool predicted = ahead_.valid && ahead_.recording == rec->serial && same_state(ahead_.state, want);
  const bool hit = ahead_.launched && predicted && ahead_.bits_version == pick_bits_version_;
  if (ahead_.launched) ++(hit ? ahead_hits_ : ahead_misses_);
  // The step after this one runs ahead unless this one was not as predicted: a caller whose rules do not follow
  // next_step_state would otherwise pay a wasted step every token (after one such step, running ahead resumes once
  // a step is as predicted again).
  // Never past the caches' and the positional table's last row (the step ahead would write and read outside them),
  // only where the step ends in the pick (which writes the prediction), and under the timestamp rule only with its
  // end of text known (next_step_state needs it to tell an open segment).
  const bool run_ahead = step_ahead_ && (predicted || !ahead_.valid) && want.position + 1 < rec->positions &&
                         rec->picks && (!want.timestamp_rule || (want.eot > 0 && want.eot < want.ts_begin));
  ahead_.valid = ahead_.launched = false;
  if (!hit) {
    // A step run ahead that is not this one finishes first (the stream's order) and is overwritten: its cache row
    // is this step's, its pick slot the next one's.
    WST_CUDA_CHECK(cudaMemcpyAsync(step_next_dev_.get(), step_host_, sizeof(StepState), cudaMemcpyHostToDevice,
                                   stream_));
    launch_replay(rec, want.position);
  }
  if (run_ahead) {
    launch_replay(rec, want.position + 1);  // under the state this step's pick predicts
    ahead_.launched = true;
    ahead_.bits_version = pick_bits_version_;
  }
  // This step's pick: written by its pick kernel into the slot of its position's parity (the step ahead writes the
  // other one).
  WST_CUDA_CHECK(cudaEventSynchronize(step_done_[want.position & 1]));
  const int* slot = pick_slots_host_ + 2 * (want.position & 1);
  GreedyPick p;
  p.token = slot[0];
  std::memcpy(&p.logprob, &slot[1], sizeof(float));
  ahead_.valid = rec->picks;
  ahead_.recording = rec->serial;
  ahead_.state = next_step_state(want, p.token);
  return p;
}

void CudaBackend::forget_step_ahead() {
  ahead_.valid = false;
  if (!ahead_.launched) return;
  ahead_.launched = false;
  ++ahead_unused_;
  // Nothing may change under it (a recording destroyed, the host's state rewritten while a copy reads it).
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_to_row_at(const Mat& src, Mat& cache) {
  if (!recording_) throw Error("copy_to_row_at: only while a step is recorded");
  note_step_rows(cache.rows);
  if (src.rows != 1 || src.cols != cache.cols)
    throw Error("copy_to_row_at: a row of " + std::to_string(cache.cols) + " expected, got [" +
                std::to_string(src.rows) + ", " + std::to_string(src.cols) + "]");
  launch_kernel(chained_, copy_to_row_kernel, dim3(blocks_for(src.cols, 256)), dim3(256), 0, stream_,
                static_cast<const float*>(src.data), cache.data, cache.ld, src.cols,
                static_cast<const StepState*>(step_dev_.get()));
}

}  // namespace wst::engine::cuda
