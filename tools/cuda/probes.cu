// Two probes of the card itself, printed with cuda_bench's ceilings (issue #8, docs/cuda_notes.md entry 14): what
// running code for the first time costs an SM, and what the shortest chain of kernels that each stream a product's
// weights takes. They bound the decoder step's two designs: the persistent kernel walks ~176 KB of instructions a
// layer (every phase's code is cold when it runs), and the op-by-op step is ~6 chained kernels a layer.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cuda_tool.h"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/row_products.cuh"
#include "util/errors.h"

namespace wst::cuda_tool {

namespace {

using engine::cuda::block_sum;
using engine::cuda::let_next_kernel_start;
using engine::cuda::wait_for_previous_kernel;

constexpr int kPasses = 3;

// kFma fused multiply-adds in straight-line code (each one 16-byte instruction; 8 independent chains so the warp
// issues one a cycle once the code is fetched), run kPasses times by every block's 4 warps (one a sub-partition), a
// block an SM (sm: the SM each ran on).
// Lane 0 of warp 0 records each pass's cycles: the first pass fetches the code from L2 (or memory), later ones
// find it in the SM's instruction caches where it fits. The empty asm statements pin the arithmetic between the
// clock reads.
template <int kFma>
__global__ void __launch_bounds__(128) straight_line_kernel(float x, float y, float* out, long long* cycles,
                                                            int* sm) {
  if (threadIdx.x == 0) {
    unsigned id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    sm[blockIdx.x] = static_cast<int>(id);
  }
  float a[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) a[j] = static_cast<float>(threadIdx.x + j);
#pragma unroll 1
  for (int pass = 0; pass < kPasses; ++pass) {
    __syncthreads();
#pragma unroll
    for (int j = 0; j < 8; ++j) asm volatile("" : "+f"(a[j]));
    const long long t0 = clock64();
#pragma unroll
    for (int j = 0; j < 8; ++j) asm volatile("" : "+f"(a[j]));
#pragma unroll
    for (int i = 0; i < kFma / 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) a[j] = fmaf(a[j], x, y);
#pragma unroll
    for (int j = 0; j < 8; ++j) asm volatile("" : "+f"(a[j]));
    const long long t1 = clock64();
    if (threadIdx.x == 0) cycles[blockIdx.x * kPasses + pass] = t1 - t0;
  }
  float s = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) s += a[j];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

// Median over the blocks of each pass's cycles, for two launches of straight_line_kernel<kFma> one after the other.
// Each block asks for more than half an SM's shared memory, so that no two share an SM (a second block would find the
// code warm); *distinct_sms: how many SMs the last launch ran on (n_sm when that held).
template <int kFma>
std::vector<double> straight_line_cycles(int n_sm, float* out, long long* cycles, int* sm, cudaStream_t stream,
                                         int* distinct_sms) {
  constexpr int kShared = 120 * 1024;
  WST_CUDA_CHECK(cudaFuncSetAttribute(straight_line_kernel<kFma>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      kShared));
  std::vector<double> med;
  for (int launch = 0; launch < 2; ++launch) {
    straight_line_kernel<kFma><<<n_sm, 128, kShared, stream>>>(1.0f, 0.0f, out, cycles, sm);
    WST_CUDA_CHECK_LAUNCH();
    std::vector<long long> c(static_cast<size_t>(n_sm) * kPasses);
    std::vector<int> ids(n_sm);
    WST_CUDA_CHECK(cudaMemcpyAsync(c.data(), cycles, c.size() * sizeof(long long), cudaMemcpyDeviceToHost, stream));
    WST_CUDA_CHECK(cudaMemcpyAsync(ids.data(), sm, ids.size() * sizeof(int), cudaMemcpyDeviceToHost, stream));
    WST_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::sort(ids.begin(), ids.end());
    *distinct_sms = static_cast<int>(std::unique(ids.begin(), ids.end()) - ids.begin());
    for (int p = 0; p < kPasses; ++p) {
      std::vector<long long> v(n_sm);
      for (int b = 0; b < n_sm; ++b) v[b] = c[static_cast<size_t>(b) * kPasses + p];
      std::nth_element(v.begin(), v.begin() + n_sm / 2, v.end());
      med.push_back(static_cast<double>(v[n_sm / 2]));
    }
  }
  return med;
}

// One link of a chain: every thread loads its share of `w` (n16 16-byte words; weights no kernel writes, so before
// waiting for the kernel before it, as the step's products do), kBatch loads in flight before any is used, waits, reads
// what the previous link wrote, and writes one value a block. Nothing is computed beyond a sum that keeps the loads
// alive. Launched at full occupancy (two blocks of 1024 threads an SM), so that the bytes in flight (~17 MB) exceed
// what the memory's latency needs: the floor of a kernel streaming its weights, not of this kernel's shape. With
// `norm`, each block first reads a 1280-wide row the previous link wrote and takes its mean and variance with two
// block-wide sums, as the step's products normalise their input row.
constexpr int kLinkThreads = 1024, kBatch = 4, kRow = 1280;
// The grid's share of w [0, n16) loaded by this thread, kBatch 16-byte loads in flight before any is used; their
// xor, which keeps the loads alive.
__device__ __forceinline__ unsigned load_share(const uint4* w, size_t n16) {
  unsigned acc = 0;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i0 = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i0 < n16; i0 += kBatch * stride) {
    uint4 v[kBatch];
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const size_t i = i0 + u * stride;
      v[u] = i < n16 ? __ldg(w + i) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  return acc;
}
__global__ void __launch_bounds__(kLinkThreads, 2) chain_link_kernel(const uint4* w, size_t n16, const float* in,
                                                                     float* out, int norm) {
  __shared__ float red[32];  // block_sum's (row_products.cuh): a value a warp
  unsigned acc = load_share(w, n16);
  wait_for_previous_kernel();
  let_next_kernel_start();
  float x = __ldcg(in);
  if (norm) {
    constexpr int kPer = (kRow + kLinkThreads - 1) / kLinkThreads;
    float v[kPer], s = 0;
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      const int i = threadIdx.x + kLinkThreads * u;
      v[u] = i < kRow ? __ldcg(in + i) : 0.0f;
      s += v[u];
    }
    const float mean = block_sum(s, red) / kRow;
    float q = 0;
#pragma unroll
    for (int u = 0; u < kPer; ++u)
      if (threadIdx.x + kLinkThreads * u < kRow) q += (v[u] - mean) * (v[u] - mean);
    x += mean + block_sum(q, red);
  }
  acc = __reduce_xor_sync(0xffffffffu, acc);
  if (threadIdx.x % 32 == 0) atomicXor(reinterpret_cast<unsigned*>(out) + blockIdx.x, acc ^ __float_as_uint(x));
}

// The same link for the release question (docs/cuda_notes.md entry 28): how long after the kernel before it is done
// a link may go on, waited for the usual way (griddepcontrol.wait: the previous grid complete and its memory
// flushed) or by flags that the kernel before it sets, one a block, as its blocks finish. Blocks of kFlagThreads
// threads, small enough that a link's blocks are resident beside the running one's (as the step's kernels mostly
// are), so that what is timed is the release itself and not the wait for room on the SMs.
//   mode 0: griddepcontrol.wait, as every chained kernel of the step;
//   mode 1: warp 0 spins until each block of the link before it has stored this replay's epoch in its flag
//           (st.release.gpu after the block's writes and a barrier; ld.acquire.gpu here), then a barrier;
//   mode 2: as 1, but one counter a link, incremented by each block (atomics on one word, red.release.gpu), and
//           thread 0 spins until it reaches epoch * blocks.
// A link never waits for the kernel before it in modes 1 and 2; let_next_kernel_start() follows the wait as in the
// step, so at most two links are in flight. With `trigger_first` it comes first instead (before the weights'
// loads, as session 26's trigger-first build did in the step's kernels): a link may then be resident, its weights
// loaded, while several links before it still run or wait. Still no deadlock: a link is scheduled only once every
// block of the link before it has begun, so the blocks that any link waits for are all resident. The first link of
// a replay follows epoch_kernel, launched unchained.
constexpr int kFlagThreads = 256;
__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__global__ void epoch_kernel(unsigned* epoch) { ++*epoch; }
__global__ void __launch_bounds__(kFlagThreads) flag_link_kernel(const uint4* w, size_t n16, const float* in,
                                                                 float* out, const unsigned* epoch,
                                                                 const unsigned* prev_flags, unsigned* flags,
                                                                 int prev_blocks, int mode, int trigger_first) {
  if (trigger_first) let_next_kernel_start();
  unsigned acc = load_share(w, n16);
  const unsigned e = __ldcg(epoch);  // written by epoch_kernel, which ended before any link began
  if (mode == 0) {
    // Not wait_for_previous_kernel(): in a -DWST_CHAIN_PROBE build it records after the wait (an atomic's round trip
    // in block 0, which the next link's wait would then wait for).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  } else if (prev_flags != nullptr) {
    if (mode == 1 && threadIdx.x < 32) {
      bool done = false;
      while (!done) {
        bool mine = true;
        for (int b = threadIdx.x; b < prev_blocks; b += 32) mine = mine && load_acquire(prev_flags + b) == e;
        done = __all_sync(0xffffffffu, mine);
      }
    } else if (mode == 2 && threadIdx.x == 0) {
      const unsigned target = e * static_cast<unsigned>(prev_blocks);
      while (load_acquire(prev_flags) < target) {
      }
    }
    __syncthreads();
  }
  let_next_kernel_start();
  const float x = __ldcg(in + blockIdx.x % 32);
  acc = __reduce_xor_sync(0xffffffffu, acc);
  if (threadIdx.x % 32 == 0) atomicXor(reinterpret_cast<unsigned*>(out) + blockIdx.x, acc ^ __float_as_uint(x));
  if (mode == 0) return;
  __syncthreads();
  if (threadIdx.x == 0) {  // (the barrier, then a release by one thread: CUTLASS's semaphore does the same)
    if (mode == 1)
      asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(flags + blockIdx.x), "r"(e) : "memory");
    else
      asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(flags) : "memory");
  }
}

// A chain's launches (launch_links, kLinks of them) captured as a graph and replayed 23 times: us a link, the median
// of the last 20 replays' times over kLinks.
template <class Launch>
double us_per_link(cudaStream_t stream, cudaEvent_t e0, cudaEvent_t e1, int links, Launch&& launch_links) {
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  WST_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  launch_links();
  WST_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  WST_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  std::vector<double> t;
  for (int r = 0; r < 23; ++r) {
    WST_CUDA_CHECK(cudaEventRecord(e0, stream));
    WST_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    WST_CUDA_CHECK(cudaEventRecord(e1, stream));
    WST_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    WST_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    if (r >= 3) t.push_back(ms * 1e3 / links);
  }
  std::sort(t.begin(), t.end());
  WST_CUDA_CHECK(cudaGraphExecDestroy(exec));
  WST_CUDA_CHECK(cudaGraphDestroy(graph));
  return t[t.size() / 2];
}

// A chain's buffers: every link's weights (w_bytes, bytes of 1), rows for the links' outputs (zeroed), sync_words
// words for the release probe's epoch and flags (zeroed; none for print_probes), two events.
struct ChainBuffers {
  uint4* w = nullptr;
  float* buf = nullptr;
  unsigned* sync = nullptr;
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  ChainBuffers(size_t w_bytes, size_t buf_floats, size_t sync_words, cudaStream_t stream) {
    WST_CUDA_CHECK(cudaMalloc(&w, w_bytes));
    WST_CUDA_CHECK(cudaMemsetAsync(w, 1, w_bytes, stream));
    WST_CUDA_CHECK(cudaMalloc(&buf, sizeof(float) * buf_floats));
    WST_CUDA_CHECK(cudaMemsetAsync(buf, 0, sizeof(float) * buf_floats, stream));
    if (sync_words > 0) WST_CUDA_CHECK(cudaMalloc(&sync, sizeof(unsigned) * sync_words));
    WST_CUDA_CHECK(cudaEventCreate(&e0));
    WST_CUDA_CHECK(cudaEventCreate(&e1));
  }
  ~ChainBuffers() {  // (no throw from a destructor: a failed free is not worth a probe's lines)
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(sync);
    cudaFree(buf);
    cudaFree(w);
  }
  ChainBuffers(const ChainBuffers&) = delete;
  ChainBuffers& operator=(const ChainBuffers&) = delete;
};
}  // namespace

void print_probes(int device, cudaStream_t stream, double read_gbs) {
  int n_sm = 0, khz = 0;
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, device));
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
  float* out = nullptr;
  long long* cycles = nullptr;
  int* sm = nullptr;
  WST_CUDA_CHECK(cudaMalloc(&out, sizeof(float) * n_sm * 256));
  WST_CUDA_CHECK(cudaMalloc(&cycles, sizeof(long long) * n_sm * kPasses));
  WST_CUDA_CHECK(cudaMalloc(&sm, sizeof(int) * n_sm));

  // Instruction fetch: cycles per KB of code, first pass against later passes (a block an SM, 4 warps).
  std::printf("probe, code run for the first time (straight-line code, a block of 4 warps an SM, median over SMs; "
              "cycles for launch 1 pass 1/2/3, launch 2 pass 1/2/3):\n");
  int distinct = 0;
  auto show = [&](int kb, const std::vector<double>& c) {
    std::printf("  %3d KB: %6.0f %6.0f %6.0f | %6.0f %6.0f %6.0f cycles; first pass costs %.0f cycles (%.2f us) a KB "
                "more than the third (%d of %d SMs)\n",
                kb, c[0], c[1], c[2], c[3], c[4], c[5], (c[0] - c[2]) / kb, (c[0] - c[2]) / kb / (khz * 1e-3),
                distinct, n_sm);
  };
  show(4, straight_line_cycles<256>(n_sm, out, cycles, sm, stream, &distinct));
  show(16, straight_line_cycles<1024>(n_sm, out, cycles, sm, stream, &distinct));
  show(32, straight_line_cycles<2048>(n_sm, out, cycles, sm, stream, &distinct));
  show(64, straight_line_cycles<4096>(n_sm, out, cycles, sm, stream, &distinct));
  show(128, straight_line_cycles<8192>(n_sm, out, cycles, sm, stream, &distinct));

  // Chains of kernels, recorded as a graph: the time a link for 0 bytes, a 1280 x 1280 float16 product's 3.3 MB and
  // fc1's 13.1 MB, each link its own weights (beyond L2 together, as a step's layers are), chained or not.
  constexpr int kLinks = 64;
  const size_t sizes[] = {0, size_t{1280} * 1280 * 2, size_t{5120} * 1280 * 2};
  const size_t max16 = sizes[2] / 16;
  // Each link's output (a value a block, at least the 1280-wide row the next one normalises).
  const int n_link_blocks = 2 * n_sm;
  const int kRowBuf = std::max(n_link_blocks, kRow);
  const ChainBuffers cb(max16 * 16 * kLinks, static_cast<size_t>(kRowBuf) * (kLinks + 1), 0, stream);
  uint4* const w = cb.w;
  float* const buf = cb.buf;
  cudaEvent_t e0 = cb.e0, e1 = cb.e1;
  std::printf("probe, chains of %d kernels in a graph (%d blocks of %d threads, each kernel loading its own weights "
              "before waiting for the one before), us a kernel, median of 20 replays:\n", kLinks, n_link_blocks,
              kLinkThreads);
  // us a kernel, plain and chained, for links of `bytes` (normalising a row first with `norm`), launched in clusters
  // of `cluster` blocks (0: none; the step's attention kernels run in clusters of 8).
  auto time_chain = [&](size_t bytes, int norm, unsigned cluster, double (&us)[2]) {
    const int blocks = cluster > 0 ? n_link_blocks / static_cast<int>(cluster) * static_cast<int>(cluster)
                                   : n_link_blocks;
    for (int chained = 0; chained < 2; ++chained)
      us[chained] = us_per_link(stream, e0, e1, kLinks, [&] {
        for (int k = 0; k < kLinks; ++k)
          engine::cuda::launch_cluster_kernel(chained == 1, cluster, chain_link_kernel, dim3(blocks),
                                              dim3(kLinkThreads), 0, stream, w + max16 * k, bytes / 16,
                                              buf + static_cast<size_t>(kRowBuf) * k,
                                              buf + static_cast<size_t>(kRowBuf) * (k + 1), norm);
      });
  };
  for (int norm = 0; norm < 2; ++norm)
    for (size_t bytes : sizes) {
      double us[2] = {};
      time_chain(bytes, norm, 0, us);
      std::printf("  %5.1f MB a kernel%s: %.2f us plain, %.2f us chained (%.0f / %.0f GB/s; the bytes alone at the "
                  "copy's %.0f GB/s: %.2f us)\n", bytes / 1e6, norm ? ", a 1280-wide row normalised first" : "", us[0],
                  us[1], bytes / (us[0] * 1e3), bytes / (us[1] * 1e3), read_gbs, bytes / (read_gbs * 1e3));
    }
  for (size_t bytes : {sizes[0], sizes[1]}) {
    double us[2] = {};
    time_chain(bytes, 0, 8, us);
    std::printf("  %5.1f MB a kernel, in clusters of 8 blocks: %.2f us plain, %.2f us chained\n", bytes / 1e6, us[0],
                us[1]);
  }
  WST_CUDA_CHECK(cudaFree(sm));
  WST_CUDA_CHECK(cudaFree(cycles));
  WST_CUDA_CHECK(cudaFree(out));
}

// The release probe (flag_link_kernel), alone: chains of kLinks links of kFlagThreads threads, 2 or 4 blocks an SM,
// each mode in its own graph (the epoch node, then the links), us a link, median of 20 replays. Apart from
// print_probes because its modes 1 and 2 wait by spinning: a fault there must not cost a bench's other lines
// (cuda_bench runs it only with WST_BENCH_RELEASE=1, and then nothing else).
void print_release_probe(int device, cudaStream_t stream) {
  int n_sm = 0;
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, device));
  constexpr int kLinks = 64;
  const size_t sizes[] = {0, size_t{1280} * 1280 * 2};
  const size_t max16 = sizes[1] / 16;
  const int kRowBuf = std::max(4 * n_sm, kRow);
  // The sync words: the epoch, then each link's flags (a word a block; mode 2 uses the first as its counter).
  const int max_blocks = 4 * n_sm;
  const size_t words = 1 + static_cast<size_t>(max_blocks) * (kLinks + 1);
  const ChainBuffers cb(max16 * 16 * kLinks, static_cast<size_t>(kRowBuf) * (kLinks + 1), words, stream);
  uint4* const w = cb.w;
  float* const buf = cb.buf;
  unsigned* const sync = cb.sync;
  cudaEvent_t e0 = cb.e0, e1 = cb.e1;
  auto time_release = [&](size_t bytes, int blocks, int mode, int trigger_first) {
    // Fresh flags for every mode: mode 2's counters grow with the epoch, mode 1's flags hold it.
    WST_CUDA_CHECK(cudaMemsetAsync(sync, 0, words * sizeof(unsigned), stream));
    return us_per_link(stream, e0, e1, kLinks, [&] {
      epoch_kernel<<<1, 1, 0, stream>>>(sync);
      for (int k = 0; k < kLinks; ++k) {
        unsigned* mine = sync + 1 + static_cast<size_t>(max_blocks) * (k + 1);
        const unsigned* prev = k == 0 ? nullptr : sync + 1 + static_cast<size_t>(max_blocks) * k;
        engine::cuda::launch_kernel(k > 0, flag_link_kernel, dim3(blocks), dim3(kFlagThreads), 0, stream,
                                    w + max16 * k, bytes / 16, buf + static_cast<size_t>(kRowBuf) * k,
                                    buf + static_cast<size_t>(kRowBuf) * (k + 1), static_cast<const unsigned*>(sync),
                                    prev, mine, blocks, mode, trigger_first);
      }
    });
  };
  std::printf("probe, the release: chains of %d links of %d threads, each link waiting for the one before by "
              "griddepcontrol.wait / by a flag a block / by one counter; the next link scheduled after the wait, "
              "then (|) before the link's loads (us a link: a replay's time over its links, the epoch node and the "
              "graph's start included, the same in every mode; median of 20 replays):\n", kLinks, kFlagThreads);
  for (int per_sm : {2, 4})
    for (size_t bytes : {sizes[0], sizes[1]}) {
      const int blocks = per_sm * n_sm;
      double t[2][3];
      for (int first = 0; first < 2; ++first)
        for (int mode = 0; mode < 3; ++mode) t[first][mode] = time_release(bytes, blocks, mode, first);
      std::printf("  %5.1f MB a link, %d blocks: %.2f / %.2f / %.2f us | %.2f / %.2f / %.2f us\n", bytes / 1e6,
                  blocks, t[0][0], t[0][1], t[0][2], t[1][0], t[1][1], t[1][2]);
    }
}

}  // namespace wst::cuda_tool
