// CUDA backend: device probe, memory pool, stream and cuBLAS set-up, uploads, downloads and strided copies.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cuda_fp16.h>

#include "engine/cuda/chain_probe.h"
#include "engine/cuda/cuda_backend.cuh"
#ifdef WST_CHAIN_PROBE
#include "engine/cuda/launch.cuh"  // chain_probe_readers
#endif
#include "util/errors.h"
#include "util/half.h"

namespace wst::engine::cuda {

namespace {
// Whether environment variable `name` is set to exactly `value` (the backend's switches: "0" turns off what is on by
// default, "1" turns on an experiment).
bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, value) == 0;
}
}  // namespace

void throw_cuda_error(const char* call, const std::string& why, const char* file, int line) {
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  throw Error(std::string("cuda: ") + call + " failed: " + why + " (" + base + ":" + std::to_string(line) + ")");
}

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
  }
}

namespace {
// Small blocks round to 512 bytes, large ones to 2 MiB, so the few shapes a model uses share free lists.
size_t round_bytes(size_t bytes) {
  const size_t unit = bytes < (size_t{1} << 20) ? 512 : (size_t{2} << 20);
  return (std::max<size_t>(bytes, 1) + unit - 1) / unit * unit;
}
}  // namespace

DevicePool::~DevicePool() {
  // Errors are ignored here: a destructor cannot throw, and at process exit the context may be gone already.
  cudaSetDevice(device_);
  for (auto& [size, blocks] : free_)
    for (float* p : blocks) cudaFree(p);
}

float* DevicePool::get(size_t bytes, size_t* rounded) {
  *rounded = round_bytes(bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(*rounded);
    if (it != free_.end() && !it->second.empty()) {
      float* p = it->second.back();
      it->second.pop_back();
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, *rounded);
  if (e == cudaErrorMemoryAllocation) {
    // Give the cached blocks back and try once more before failing.
    cudaGetLastError();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, blocks] : free_)
      for (float* q : blocks) {
        cudaFree(q);
        reserved_ -= size;
      }
    free_.clear();
    e = cudaMalloc(&p, *rounded);
  }
  if (e != cudaSuccess)
    throw_cuda_error("cudaMalloc", std::string(cudaGetErrorString(e)) + " (" + std::to_string(*rounded) + " bytes)",
                     __FILE__, __LINE__);
  std::lock_guard<std::mutex> lock(mu_);
  reserved_ += *rounded;
  peak_reserved_ = std::max(peak_reserved_, reserved_);
  return static_cast<float*>(p);
}

void DevicePool::put(float* p, size_t rounded) {
  std::lock_guard<std::mutex> lock(mu_);
  free_[rounded].push_back(p);
}

size_t DevicePool::bytes_idle() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [size, blocks] : free_) n += size * blocks.size();
  return n;
}

long long CudaBackend::free_device_bytes() const {
  WST_CUDA_CHECK(cudaSetDevice(device_));
  size_t free = 0, total = 0;
  WST_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return static_cast<long long>(free + pool_->bytes_idle());
}

void CudaBackend::set_fused_out(bool on) {
  fused_out_ = on;
  if (!on || fold_scratch_.data) return;
  // The folded output products' scratch (FoldedOutput), made the first time the fold is turned on (never inside a
  // recording: the switch is set between steps): partials for the widest model the kernels take, then the counters,
  // zeroed once here (each launch leaves them zero).
  fold_scratch_ = alloc(1, kFoldPartials + kFoldCounters);
  WST_CUDA_CHECK(cudaMemsetAsync(fold_scratch_.data + kFoldPartials, 0, kFoldCounters * sizeof(unsigned), stream_));
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

CudaBackend::CudaBackend(int device, bool allow_tf32, Precision precision) : device_(device) {
  int n = 0;
  WST_CUDA_CHECK(cudaGetDeviceCount(&n));
  if (device < 0 || device >= n)
    throw Error("device cuda:" + std::to_string(device) + ": no such GPU (" + std::to_string(n) + " here)");
  WST_CUDA_CHECK(cudaSetDevice(device));
  pool_ = std::make_shared<DevicePool>(device);
  WST_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  WST_CUBLAS_CHECK(cublasCreate(&blas_));
  WST_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
  blas_workspace_ = alloc(1, static_cast<int>(kBlasWorkspaceBytes / sizeof(float)));
  WST_CUBLAS_CHECK(cublasSetWorkspace(blas_, blas_workspace_.data, kBlasWorkspaceBytes));
  set_tf32(allow_tf32);
  if (precision != Precision::f32) set_precision(precision);
  pick_on_gpu_ = !env_is("WST_CUDA_HOST_FILTERS", "1");
  graphs_ = !env_is("WST_CUDA_GRAPH", "0");
  record_rows_ = !env_is("WST_CUDA_RECORD_BEAMS", "0");
  pick_rows_ = !env_is("WST_CUDA_PICK_ROWS", "0");
  pick_cluster_ = !env_is("WST_CUDA_PICK_CLUSTER", "0");
  step_ahead_ = !env_is("WST_CUDA_STEP_AHEAD", "0");
  int major = 0;
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&n_sm_, cudaDevAttrMultiProcessorCount, device));
  gemv_.shared_limit = gemv_shared_limit(device);
  gemv_.chunks = env_is("WST_CUDA_GEMV_CHUNKS", "1");
  gemv_.norm_by_warp = !env_is("WST_CUDA_GEMV_WARP_NORM", "0");
  gemv_.one_row_norm_by_warp = env_is("WST_CUDA_GEMV_WARP_NORM_ONE", "1");
  norm_once_ = !env_is("WST_CUDA_NORM_ONCE", "0");
  tensor_rows_ = !env_is("WST_CUDA_TENSOR_ROWS", "0");
  if (const char* tiles = std::getenv("WST_CUDA_TENSOR_ROWS_TILES"); tiles && *tiles)
    tensor_rows_tiles_ = parse_tensor_rows_tiles(tiles);
  if (const char* tiles = std::getenv("WST_CUDA_TENSOR_ROWS_NARROW_TILES"); tiles && *tiles)
    tensor_rows_narrow_tiles_ = parse_tensor_rows_narrow_tiles(tiles);
  if (const char* blocks = std::getenv("WST_CUDA_TENSOR_ROWS_OCCUPANCY"); blocks && *blocks)
    tensor_rows_occupancy_ = parse_tensor_rows_occupancy(blocks);
  if (const char* rows = std::getenv("WST_CUDA_TENSOR_ROWS_MIN"); rows && *rows)
    tensor_rows_min_ = parse_tensor_rows_min(rows);
  if (const char* shapes = std::getenv("WST_CUDA_GEMV_SHAPES"); shapes && *shapes) {
    const std::array<GemvShape, 4> s = parse_gemv_shapes(shapes);
    for (int i = 0; i < 4; ++i) set_gemv_shape(i >= 2, i % 2 == 1, s[i]);
  }
  if (const char* shape = std::getenv("WST_CUDA_GEMV_EXPANDING_SHAPE"); shape && *shape)
    gemv_.one_row_expanding = parse_expanding_shape(shape);
  if (const char* width = std::getenv("WST_CUDA_GEMV_EXPANDING_MIN"); width && *width)
    gemv_.expanding_min_input = parse_expanding_min_input(width);
  sm90_ = major >= 9 && sm90_code_runs();
  set_chained(!env_is("WST_CUDA_CHAIN", "0"));
  clusters_ = !env_is("WST_CUDA_CLUSTERS", "0");
  half_encoder_ = !env_is("WST_CUDA_HALF_ENCODER", "0");
  fused_cross_ = !env_is("WST_CUDA_FUSED_CROSS", "0");
  if (const char* width = std::getenv("WST_CUDA_FUSED_CROSS_MAX_WIDTH"); width && *width)
    fused_cross_max_width_ = parse_fused_cross_max_width(width);
  fused_self_ = !env_is("WST_CUDA_FUSED_SELF", "0");
  set_fused_out(env_is("WST_CUDA_FUSED_OUT", "1"));  // off: slower than the product kernels (run 73)
  shared_kv_ = !env_is("WST_CUDA_SHARED_KV", "0");
  one_row_scores_first_ = !env_is("WST_CUDA_ONE_ROW_SCORES_FIRST", "0");
  half_cross_kv_ = !env_is("WST_CUDA_HALF_CROSS_KV", "0");
  small_self_ = !env_is("WST_CUDA_SMALL_SELF", "0");
  if (const char* heads = std::getenv("WST_CUDA_SHARED_KV_MIN_HEADS"); heads && *heads)
    shared_kv_min_heads_ = parse_shared_kv_min_heads(heads);
  encoder_graphs_ = !env_is("WST_CUDA_ENCODER_GRAPH", "0");
  wgmma_ = flash_wgmma_available();  // (probed now, on this device, outside any capture)
  if (const char* shape = std::getenv("WST_CUDA_FLASH_SHAPE"); shape && *shape) set_flash_shape(parse_flash_shape(shape));
  fc1_epilogue_ = !env_is("WST_CUDA_FC1_EPILOGUE", "0");
  lt_bias_ = !env_is("WST_CUDA_LT_BIAS", "0");
  half_direct_kv_ = !env_is("WST_CUDA_HALF_DIRECT_KV", "0");
  stem_fused_ = !env_is("WST_CUDA_STEM_FUSED", "0");
  half_mel_ = !env_is("WST_CUDA_HALF_MEL", "0");
  int cooperative = 0;
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
  cooperative_ = cooperative != 0;
  int optin = 0;
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  shared_optin_ = static_cast<size_t>(optin);
  persistent_decoder_ = env_is("WST_CUDA_PERSISTENT_DECODER", "1");
  persistent_early_loads_ = !env_is("WST_CUDA_PERSISTENT_EARLY", "0");
  persistent_compact_ = env_is("WST_CUDA_PERSISTENT_COMPACT", "1");
  set_prefetch_rows(!env_is("WST_CUDA_PREFETCH_ROWS", "0"));
  set_norm_staged(!env_is("WST_CUDA_NORM_STAGED", "0"));
  norm_fold_ = env_is("WST_CUDA_NORM_FOLD", "1");
  norm_fold_attention_ = env_is("WST_CUDA_NORM_FOLD_ATTENTION", "1");
}

void CudaBackend::set_prefetch_rows(bool on) {
  prefetch_rows_ = on;
  set_attention_row_prefetch(on, stream_);
}

void CudaBackend::set_precision(Precision p) {
  precision_ = p;
  // The float32 products left in a half-precision model (the convolutions) may as well use TF32.
  set_tf32(p != Precision::f32);
}

std::shared_ptr<void> CudaBackend::alloc_bytes(size_t bytes) {
  size_t rounded = 0;
  float* p = pool_->get(bytes, &rounded);
  std::shared_ptr<DevicePool> pool = pool_;
  std::shared_ptr<void> block(p, [pool, rounded](void* q) { pool->put(static_cast<float*>(q), rounded); });
  if (recording_) recorded_.push_back(block);  // a recorded step uses it at every replay
  return block;
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(stream_);
  if (pick_host_) cudaFreeHost(pick_host_);
  if (pick_slots_host_) cudaFreeHost(pick_slots_host_);
  for (cudaEvent_t e : step_done_)
    if (e) cudaEventDestroy(e);
  if (step_host_) cudaFreeHost(step_host_);
  if (rows_host_) cudaFreeHost(rows_host_);
  if (rows_out_host_) cudaFreeHost(rows_out_host_);
  if (staging_host_) cudaFreeHost(staging_host_);
  if (staging_free_) cudaEventDestroy(staging_free_);
  if (blas_) cublasDestroy(blas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::set_gemv_shape(bool several_rows, bool wide, GemvShape shape) {
  check_gemv_shape(shape);
  gemv_.shapes[several_rows][wide] = shape;
}

void CudaBackend::set_gemv_expanding_shape(GemvShape shape, int min_input) {
  check_expanding_shape(shape, min_input);
  gemv_.one_row_expanding = shape;
  gemv_.expanding_min_input = min_input;
}

void CudaBackend::set_tf32(bool on) {
  // CUBLAS_DEFAULT_MATH keeps float32 products in float32 (no TF32), the checking path.
  WST_CUBLAS_CHECK(cublasSetMathMode(blas_, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

void CudaBackend::synchronize() { WST_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

Mat CudaBackend::alloc(int rows, int cols) {
  size_t rounded = 0;
  float* p = pool_->get(static_cast<size_t>(rows) * cols * sizeof(float), &rounded);
  std::shared_ptr<DevicePool> pool = pool_;
  std::shared_ptr<float> storage(p, [pool, rounded](float* q) { pool->put(q, rounded); });
  if (recording_) recorded_.push_back(storage);  // a recorded step uses it at every replay
  return {storage, p, rows, cols, cols};
}

Mat CudaBackend::upload(const float* host, int rows, int cols) {
  Mat m = alloc(rows, cols);
  WST_CUDA_CHECK(cudaMemcpyAsync(m.data, host, static_cast<size_t>(rows) * cols * sizeof(float),
                                 cudaMemcpyHostToDevice, stream_));
  // The caller may free `host` as soon as this returns.
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return m;
}

Mat CudaBackend::upload_transposed(const float* host, int rows, int cols) {
  return upload_staged(host, rows, cols, false);
}

Mat CudaBackend::upload_mel(const float* mel, int n_mels, int n_frames) {
  return upload_staged(mel, n_mels, n_frames, half_mel_ && precision_ == Precision::f16);
}

Mat CudaBackend::upload_staged(const float* host, int rows, int cols, bool half) {
  // Not while a step is recorded: a replay would read the pinned buffer as a later call left it.
  if (recording_) throw Error("upload_transposed / upload_mel: not while a step is recorded");
  Mat out = alloc(cols, rows);
  if (rows == 0 || cols == 0) return out;
  const size_t n = static_cast<size_t>(rows) * cols, bytes = n * (half ? 2 : sizeof(float));
  // upload() waits for its copy, as its caller may free `host` at once; here the host copies into the pinned buffer
  // (which the DMA engine reads without waiting) and the transfer is only queued. The buffer is written again once
  // the previous transfer out of it is done (long done, by the next window).
  if (staging_free_ == nullptr) WST_CUDA_CHECK(cudaEventCreateWithFlags(&staging_free_, cudaEventDisableTiming));
  WST_CUDA_CHECK(cudaEventSynchronize(staging_free_));
  if (bytes > staging_bytes_) {
    if (staging_host_) WST_CUDA_CHECK(cudaFreeHost(staging_host_));
    staging_host_ = nullptr;
    staging_bytes_ = 0;
    WST_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&staging_host_), bytes));
    staging_bytes_ = bytes;
  }
  std::shared_ptr<void> raw = alloc_bytes(bytes);  // back to the pool after this; later work only reuses it
  // Copied into the pinned buffer in 256 KiB chunks, each chunk's transfer queued as soon as it is there, so that it
  // overlaps the copy of the next (run 59, H100: the large-v3 mel 0.182 -> 0.170 ms). The host's copy is most of
  // the upload; three helper threads copying parts were faster back to back but not between windows, where they
  // sleep (run 61; removed, docs/CUDA.md, session 22).
  auto* pinned = reinterpret_cast<char*>(staging_host_);
  auto* dev = static_cast<char*>(raw.get());
  const size_t each = half ? 2 : sizeof(float);
  for (size_t at = 0; at < n; at += kUploadChunkBytes / each) {
    const size_t m = std::min(kUploadChunkBytes / each, n - at);
    if (half)
      float_to_half_n(host + at, reinterpret_cast<uint16_t*>(pinned) + at, m);
    else
      std::memcpy(pinned + at * each, host + at, m * each);
    WST_CUDA_CHECK(cudaMemcpyAsync(dev + at * each, pinned + at * each, m * each, cudaMemcpyHostToDevice, stream_));
  }
  WST_CUDA_CHECK(cudaEventRecord(staging_free_, stream_));
  if (half)
    transpose(static_cast<const __half*>(raw.get()), rows, cols, out.data, out.ld, stream_);
  else
    transpose(static_cast<const float*>(raw.get()), rows, cols, out.data, out.ld, stream_);
  return out;
}

void CudaBackend::download(const Mat& m, float* host) {
  if (m.rows == 0 || m.cols == 0) return;
  fresh_cross_kv(m);
  WST_CUDA_CHECK(cudaMemcpy2DAsync(host, m.cols * sizeof(float), m.data, m.ld * sizeof(float), m.cols * sizeof(float),
                                   m.rows, cudaMemcpyDeviceToHost, stream_));
  WST_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy(const Mat& src, Mat& dst) {
  if (src.rows != dst.rows || src.cols != dst.cols)
    throw Error("copy: shape mismatch, expected [" + std::to_string(dst.rows) + ", " + std::to_string(dst.cols) +
                "], got [" + std::to_string(src.rows) + ", " + std::to_string(src.cols) + "]");
  if (src.rows == 0 || src.cols == 0) return;
  fresh_cross_kv(src);
  WST_CUDA_CHECK(cudaMemcpy2DAsync(dst.data, dst.ld * sizeof(float), src.data, src.ld * sizeof(float),
                                   src.cols * sizeof(float), src.rows, cudaMemcpyDeviceToDevice, stream_));
}

std::string unavailable_reason() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear it, so later calls do not report it again
    return std::string("no CUDA device: ") + cudaGetErrorString(e);
  }
  if (n == 0) return "no CUDA device: none found";
  return "";
}

std::unique_ptr<Backend> make_backend(int device, const std::string& compute_type) {
  Precision p;
  if (compute_type == "float32") p = Precision::f32;
  else if (compute_type == "float16") p = Precision::f16;
  else if (compute_type == "bfloat16") p = Precision::bf16;
  else throw Error("compute type " + compute_type + ": not supported by the cuda backend (float32, float16 or bfloat16)");
  return std::make_unique<CudaBackend>(device, /*allow_tf32=*/false, p);
}

#ifdef WST_CHAIN_PROBE
std::vector<ChainProbeReader>& chain_probe_readers() {
  static std::vector<ChainProbeReader> readers;
  return readers;
}
#endif

std::vector<ChainProbeRecord> chain_probe_take() {
  std::vector<ChainProbeRecord> kernels;
#ifdef WST_CHAIN_PROBE
  cudaDeviceSynchronize();
  std::vector<ChainProbeNote> notes;
  bool overflowed = false;
  for (ChainProbeReader read : chain_probe_readers()) {
    ChainProbeNotes r = read();
    overflowed = overflowed || r.overflowed;
    notes.insert(notes.end(), r.notes.begin(), r.notes.end());
  }
  if (overflowed) {
    std::fprintf(stderr, "chain probe: more blocks than notes (take them after fewer steps)\n");
    return {};
  }
  std::vector<ChainProbeNote> marks;
  for (const ChainProbeNote& n : notes)
    if (n.phase > 0) marks.push_back(n);
  notes.erase(std::remove_if(notes.begin(), notes.end(), [](const ChainProbeNote& n) { return n.phase > 0; }),
              notes.end());
  std::sort(notes.begin(), notes.end(), [](const ChainProbeNote& a, const ChainProbeNote& b) {
    return a.released != b.released ? a.released < b.released : a.reached < b.reached;
  });
  // A kernel's blocks all pass their wait before the next kernel starts, so in the order of release each kernel's
  // blocks come together: as many as its grid has, with its grid's and block's sizes.
  for (size_t i = 0; i < notes.size();) {
    const ChainProbeNote& first = notes[i];
    if (first.blocks == 0 || i + first.blocks > notes.size()) break;
    ChainProbeRecord k;
    k.grid = first.grid, k.block = first.block, k.blocks = first.blocks;
    k.released = first.released, k.reached = first.reached;
    for (size_t j = i; j < i + first.blocks; ++j) {
      const ChainProbeNote& b = notes[j];
      if (b.grid != first.grid || b.block != first.block || b.blocks != first.blocks) {
        std::fprintf(stderr, "chain probe: kernel %zu's blocks are mixed with another kernel's\n", kernels.size());
        return {};
      }
      if (b.index == 0) k.phase[0] = b.released;
      k.reached = std::min(k.reached, b.reached);
      k.last_reached = std::max(k.last_reached, b.reached);
      k.early += b.released - b.reached > 100 ? 1u : 0u;  // ns: more than the wait's own time
    }
    kernels.push_back(k);
    i += first.blocks;
  }
  // Block 0's marks: a mark falls between its kernel's first release and the next kernel's (the next kernel starts
  // only when this one's blocks have all passed their wait, and is released only when they have all ended).
  for (const ChainProbeNote& m : marks) {
    auto next = std::upper_bound(kernels.begin(), kernels.end(), m.reached,
                                 [](unsigned long long t, const ChainProbeRecord& k) { return t < k.released; });
    if (next == kernels.begin()) continue;
    ChainProbeRecord& k = *(next - 1);
    if (k.grid == m.grid && k.block == m.block && m.phase < static_cast<unsigned>(kChainProbePhases))
      k.phase[m.phase] = m.reached;
  }
  size_t whole = 0;
  for (const ChainProbeRecord& k : kernels) whole += k.blocks;
  if (whole != notes.size()) {
    std::fprintf(stderr, "chain probe: %zu notes left over after %zu whole kernels\n", notes.size() - whole,
                 kernels.size());
    return {};
  }
#endif
  return kernels;
}

void chain_probe_drop() {
#ifdef WST_CHAIN_PROBE
  cudaDeviceSynchronize();
  for (ChainProbeReader read : chain_probe_readers()) read();
#endif
}

}  // namespace wst::engine::cuda
