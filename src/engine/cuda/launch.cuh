// Chained launches (programmatic dependent launch, Hopper and later): a decoder step is ~10 small kernels a
// layer, each mostly latency. A kernel launched chained may start while the kernel before it is still running;
// it reads what does not depend on that kernel (its weights, the cross-attention K/V) first, then waits for it
// (wait_for_previous_kernel) before reading anything the earlier kernels wrote or writing anything, so the
// weights' trip from memory overlaps the previous kernel's tail and the launch gap instead of following them.
//
// The rules every chained kernel keeps:
// - before wait_for_previous_kernel(): only reads of memory no kernel of the step writes (weights, the
//   window's cross-attention K/V, the recorded step's StepState, which only the graph's first node writes); no
//   writes at all. Asking L2 for a line (prefetch) is fine for any memory: it changes no value a later load sees;
// - it calls wait_for_previous_kernel() on every path (a kernel that returns without waiting could finish before
//   its predecessor, and the kernel after it would then read unfinished results);
// - let_next_kernel_start() right after the wait: the next kernel may then be scheduled, so at most the
//   previous kernel is still running while one prefetches.
// Before sm_90 both calls compile to nothing and launches are plain (CudaBackend::chained_ is false there).
#pragma once

#include <cuda_runtime.h>

#include "engine/cuda/cuda_backend.cuh"
#ifdef WST_CHAIN_PROBE
#include <algorithm>
#include <vector>

#include "engine/cuda/chain_probe.h"
#endif

namespace wst::engine::cuda {

#ifdef WST_CHAIN_PROBE
// chain_probe.h. Without relocatable device code each translation unit has its own notes; each registers its
// reader with chain_probe_readers() (cuda_backend.cu) when the program starts.
struct ChainProbeNote {
  unsigned long long reached, released;  // a mark (phase > 0): both the time block 0 reached it
  unsigned grid, block, blocks;          // gridDim.x, blockDim.x, the grid's blocks
  unsigned phase;                        // 0: a block's wait; 1 to kChainProbePhases - 1: chain_probe_mark's
  unsigned index;                        // the block's (x + gridDim.x (y + gridDim.y z))
};
struct ChainProbeNotes {
  std::vector<ChainProbeNote> notes;
  bool overflowed = false;
};
using ChainProbeReader = ChainProbeNotes (*)();
std::vector<ChainProbeReader>& chain_probe_readers();
namespace {
constexpr unsigned kChainProbeNotes = 1u << 17;  // a block each: a large-v3 step is ~50K blocks over all units
__device__ ChainProbeNote g_chain_probe[kChainProbeNotes];
__device__ unsigned g_chain_probe_n;
__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  return t;
}
ChainProbeNotes chain_probe_take_here() {
  ChainProbeNotes r;
  unsigned n = 0;
  if (cudaMemcpyFromSymbol(&n, g_chain_probe_n, sizeof n) != cudaSuccess) {
    cudaGetLastError();
    return r;
  }
  r.overflowed = n > kChainProbeNotes;
  r.notes.resize(std::min(n, kChainProbeNotes));
  if (!r.notes.empty() &&
      cudaMemcpyFromSymbol(r.notes.data(), g_chain_probe, r.notes.size() * sizeof(ChainProbeNote)) != cudaSuccess)
    r.notes.clear();
  const unsigned zero = 0;
  cudaMemcpyToSymbol(g_chain_probe_n, &zero, sizeof zero);
  cudaGetLastError();  // (a failed read is no later launch's error)
  return r;
}
[[maybe_unused]] const bool g_chain_probe_registered =
    (chain_probe_readers().push_back(&chain_probe_take_here), true);
}  // namespace
#endif

__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#ifdef WST_CHAIN_PROBE
  const unsigned long long reached = global_ns();
#endif
  asm volatile("griddepcontrol.wait;" ::: "memory");
#ifdef WST_CHAIN_PROBE
  const unsigned long long released = global_ns();  // before the atomic's round trip
  if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) {
    const unsigned i = atomicAdd(&g_chain_probe_n, 1u);
    if (i < kChainProbeNotes)
      g_chain_probe[i] = ChainProbeNote{reached, released, gridDim.x, blockDim.x, gridDim.x * gridDim.y * gridDim.z, 0u,
                                        blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z)};
  }
#endif
#endif
}

// In a -DWST_CHAIN_PROBE build, block 0's first thread notes when it got to `phase` (1 to kChainProbePhases - 1) of
// its kernel, which says what the phase is where it calls this; nothing in other builds.
__device__ __forceinline__ void chain_probe_mark([[maybe_unused]] unsigned phase) {
#if defined(WST_CHAIN_PROBE) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0 && threadIdx.x == 0 && threadIdx.y == 0 &&
      threadIdx.z == 0) {
    const unsigned long long at = global_ns();
    const unsigned i = atomicAdd(&g_chain_probe_n, 1u);
    if (i < kChainProbeNotes)
      g_chain_probe[i] = ChainProbeNote{at, at, gridDim.x, blockDim.x, gridDim.x * gridDim.y * gridDim.z, phase, 0u};
  }
#endif
}

__device__ __forceinline__ void let_next_kernel_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// kernel<<<grid, block, shared, stream>>>(args...) in thread-block clusters of `cluster` blocks along x (0: none),
// chained to the kernel before it when `chained`.
template <class... Params, class... Args>
void launch_cluster_kernel(bool chained, unsigned cluster, void (*kernel)(Params...), dim3 grid, dim3 block,
                           size_t shared, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.stream = stream;
  cudaLaunchAttribute attribute[2] = {};
  unsigned n = 0;
  if (chained) {
    attribute[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (cluster > 0) {
    attribute[n].id = cudaLaunchAttributeClusterDimension;
    attribute[n].val.clusterDim.x = cluster;
    attribute[n].val.clusterDim.y = 1;
    attribute[n++].val.clusterDim.z = 1;
  }
  config.attrs = attribute;
  config.numAttrs = n;
  WST_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

// kernel<<<grid, block, shared, stream>>>(args...), chained to the kernel before it when `chained`.
template <class... Params, class... Args>
void launch_kernel(bool chained, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, cudaStream_t stream,
                   Args&&... args) {
  launch_cluster_kernel(chained, 0, kernel, grid, block, shared, stream, std::forward<Args>(args)...);
}

// Per kernel: the dynamic shared memory allowed so far (48 KiB by default), raised when a launch needs more (the
// caller keeps that within the device's maximum).
template <auto kKernel>
void allow_dynamic_shared(size_t bytes) {
  static size_t allowed = 48 * 1024;
  if (bytes > allowed) {
    WST_CUDA_CHECK(cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
    allowed = bytes;
  }
}

}  // namespace wst::engine::cuda
