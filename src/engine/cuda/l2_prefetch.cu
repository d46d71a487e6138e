// Weights asked into L2 ahead of the products that read them (CudaBackend::set_l2_prefetch, the recorded greedy step):
// a one-block kernel on a side stream, forked from the step's chain after the product before, issues bulk L2
// prefetches (cp.async.bulk.prefetch.L2, sm_90) and ends; the copy engine's trips from memory then overlap the
// product running meanwhile. A prefetch changes no value any load sees.
#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

constexpr size_t kPrefetchChunk = 64 * 1024;  // bytes a prefetch instruction asks for

struct Span {
  const char* p = nullptr;
  size_t bytes = 0;  // a multiple of 16, p 16-byte aligned
};

__global__ void l2_prefetch_kernel(Span a, Span b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  for (const Span& s : {a, b})
    for (size_t off = threadIdx.x * kPrefetchChunk; off < s.bytes; off += blockDim.x * kPrefetchChunk) {
      const size_t n = s.bytes - off < kPrefetchChunk ? s.bytes - off : kPrefetchChunk;
      asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(s.p + off), "r"(static_cast<unsigned>(n))
                   : "memory");
    }
#endif
}

Span span_of(const void* p, size_t bytes) {
  if (p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 != 0) return {};
  return {static_cast<const char*>(p), bytes / 16 * 16};
}

}  // namespace

std::pair<const void*, size_t> CudaBackend::read_bytes(const Weights& w) {
  switch (w.type) {
    case WeightType::float32:
      return {w.f32.data, static_cast<size_t>(w.f32.rows) * w.f32.ld * sizeof(float)};
    case WeightType::float16:
    case WeightType::bfloat16:
      return {w.packed.get(), static_cast<size_t>(w.rows) * w.cols * 2};
    case WeightType::int8:
      break;
  }
  return {nullptr, 0};
}

void CudaBackend::prefetch_to_l2(std::pair<const void*, size_t> a, std::pair<const void*, size_t> b) {
  if (!l2_prefetch_ || !sm90_) return;
  if (prefetch_stream_ == nullptr) {
    WST_CUDA_CHECK(cudaStreamCreateWithFlags(&prefetch_stream_, cudaStreamNonBlocking));
    WST_CUDA_CHECK(cudaEventCreateWithFlags(&prefetch_fork_, cudaEventDisableTiming));
    WST_CUDA_CHECK(cudaEventCreateWithFlags(&prefetch_join_, cudaEventDisableTiming));
  }
  // The side branch starts after the stream's last node (in a recording: a dependency edge, not a wait on the host).
  WST_CUDA_CHECK(cudaEventRecord(prefetch_fork_, stream_));
  WST_CUDA_CHECK(cudaStreamWaitEvent(prefetch_stream_, prefetch_fork_, 0));
  l2_prefetch_kernel<<<1, 64, 0, prefetch_stream_>>>(span_of(a.first, a.second), span_of(b.first, b.second));
  WST_CUDA_CHECK_LAUNCH();
  ++l2_prefetch_launches_;
  prefetch_pending_ = true;
}

void CudaBackend::join_prefetches() {
  if (!prefetch_pending_) return;
  WST_CUDA_CHECK(cudaEventRecord(prefetch_join_, prefetch_stream_));
  WST_CUDA_CHECK(cudaStreamWaitEvent(stream_, prefetch_join_, 0));
  prefetch_pending_ = false;
}

}  // namespace wst::engine::cuda
