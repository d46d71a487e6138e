// The encoder's flash attention on Hopper's warpgroup products (wgmma.mma_async, sm_90a): the half-precision path of
// flash_attention.cu (q|k|v in T, q's and v's biases added here, out in T) with each product issued for a warpgroup
// of four warps and 64 queries at once, its B operand read by the tensor cores straight from shared memory, where
// mma.sync needs every fragment loaded into registers first (the mma.sync kernel runs at ~200 TFLOP/s, its issue
// rate: docs/PERFORMANCE.md, session 15).
//
// A block has kGroups warpgroups (64 queries each) of one head and walks the keys kKeys at a time, K and V copied
// asynchronously one block ahead (two stages; three in the pipelined kernel, shape 6). For each block of keys a warpgroup computes S = Q K^T (Q as A
// fragments in registers, as in flash_attention.cu; K from shared memory, K-major), the online softmax on S in
// registers (flash_softmax.cuh: wgmma's accumulator has mma.sync's C layout, a warp per 16 rows), then O += P V with
// P rounded to T as the A fragments and V from shared memory read N-major (its rows as stored: no transposition).
// K and V rows are 128 bytes (64 halves) and stored with the 128-byte swizzle that the descriptors name: 16-byte
// piece c of row r at piece c ^ (r % 8), each stage's tiles 1024-byte aligned. Products accumulate in float32.
// The values are not flash_attention.cu's bits by construction (shape 5 steps the softmax over 128 keys; the tensor
// cores' sums could round otherwise), though shapes 3 and 4 gave them in run 39: tools/cuda/cuda_check.cpp holds them
// to the same tolerance against double precision.
//
// wgmma exists only in code built for sm_90a; a build without it (sm_80, sm_90) leaves the kernel empty, and
// flash_wgmma_available() (one probe launch, when the backend starts) says whether the loaded code has it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <type_traits>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda/flash_softmax.cuh"
#include "engine/cuda/launch.cuh"
#include "util/errors.h"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WST_WGMMA 1
#else
#define WST_WGMMA 0
#endif

namespace wst::engine::cuda {

namespace {

constexpr int kDh = kFlashDh;
constexpr int kRowBytes = kDh * 2;  // a K or V row in shared memory: one 128-byte swizzle row

// Shared bytes a block needs: the stages of K and V, and room to align them to 1024 bytes.
constexpr size_t wgmma_shared_bytes(int keys, int stages) {
  return 2 * static_cast<size_t>(stages) * keys * kRowBytes + 1024;
}

#if WST_WGMMA  // (the device helpers exist only where wgmma does)
// A shared-memory matrix descriptor (PTX ISA, wgmma's "matrix descriptor"): start address, leading-dimension byte
// offset (unused by these layouts: 16), stride-dimension byte offset 1024 (from one 8-row group of 128-byte rows to
// the next: along N for K-major K, along K for N-major V), 128-byte swizzle; addresses and offsets in 16-byte units.
__device__ __forceinline__ uint64_t swizzled_desc(uint32_t addr) {
  return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (uint64_t{1} << 16) | (uint64_t{1024 >> 4} << 32) |
         (uint64_t{1} << 62);
}

// The wgmma operands of one warpgroup product: D (64 x N float32: N / 8 tiles of 4 registers a thread), A (64 x 16 in
// 4 registers), B's descriptor; scale-d 0 (D = A B, D not read) or 1 (D += A B); B K-major (0) or N-major (1).
#define WST_WG_TILE(C, x, n) C(x[n][0]), C(x[n][1]), C(x[n][2]), C(x[n][3])
#define WST_WG_TILES8(C, x, n)                                                                                      \
  WST_WG_TILE(C, x, n), WST_WG_TILE(C, x, n + 1), WST_WG_TILE(C, x, n + 2), WST_WG_TILE(C, x, n + 3),             \
      WST_WG_TILE(C, x, n + 4), WST_WG_TILE(C, x, n + 5), WST_WG_TILE(C, x, n + 6), WST_WG_TILE(C, x, n + 7)
#define WST_WG_IN "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "n"(kZero ? 0 : 1), "n"(kTransB)
#define WST_WG_N64(TYPE)                                                                                            \
  "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " "                                                  \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                                        \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "                               \
  "{%32, %33, %34, %35}, %36, %37, 1, 1, %38;\n"
#define WST_WG_N128(TYPE)                                                                                           \
  "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " "                                                 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                                        \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "                                \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "                                \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "                               \
  "{%64, %65, %66, %67}, %68, %69, 1, 1, %70;\n"

template <class T, int kN, bool kZero, int kTransB>
__device__ __forceinline__ void wgmma(float (&d)[kN / 8][4], const uint32_t (&a)[4], uint64_t desc) {
  static_assert(kN == 64 || kN == 128, "wgmma: 64 or 128 columns");
  constexpr bool kHalf = std::is_same_v<T, __half>;
  if constexpr (kN == 64 && kHalf && kZero)
    asm volatile(WST_WG_N64("f16") : WST_WG_TILES8("=f", d, 0) : WST_WG_IN);
  else if constexpr (kN == 64 && kHalf)
    asm volatile(WST_WG_N64("f16") : WST_WG_TILES8("+f", d, 0) : WST_WG_IN);
  else if constexpr (kN == 64 && kZero)
    asm volatile(WST_WG_N64("bf16") : WST_WG_TILES8("=f", d, 0) : WST_WG_IN);
  else if constexpr (kN == 64)
    asm volatile(WST_WG_N64("bf16") : WST_WG_TILES8("+f", d, 0) : WST_WG_IN);
  else if constexpr (kHalf && kZero)
    asm volatile(WST_WG_N128("f16") : WST_WG_TILES8("=f", d, 0), WST_WG_TILES8("=f", d, 8) : WST_WG_IN);
  else if constexpr (kHalf)
    asm volatile(WST_WG_N128("f16") : WST_WG_TILES8("+f", d, 0), WST_WG_TILES8("+f", d, 8) : WST_WG_IN);
  else if constexpr (kZero)
    asm volatile(WST_WG_N128("bf16") : WST_WG_TILES8("=f", d, 0), WST_WG_TILES8("=f", d, 8) : WST_WG_IN);
  else
    asm volatile(WST_WG_N128("bf16") : WST_WG_TILES8("+f", d, 0), WST_WG_TILES8("+f", d, 8) : WST_WG_IN);
}
#undef WST_WG_N128
#undef WST_WG_N64
#undef WST_WG_IN
#undef WST_WG_TILES8
#undef WST_WG_TILE

// The registers a wgmma reads or writes asynchronously: the compiler must neither move their uses across the
// fence / wait statements nor keep them elsewhere meanwhile (an empty asm that "changes" each one).
template <int kN>
__device__ __forceinline__ void pin_registers(float (&d)[kN][4]) {
#pragma unroll
  for (int n = 0; n < kN; ++n)
    asm volatile("" : "+f"(d[n][0]), "+f"(d[n][1]), "+f"(d[n][2]), "+f"(d[n][3])::"memory");
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// This thread's writes to shared memory (its finished asynchronous copies) made visible to the tensor cores' reads,
// which go through the async proxy.
__device__ __forceinline__ void fence_shared_for_tensor_cores() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

#endif  // WST_WGMMA

#if WST_WGMMA
// S = Q K^T for a block of kKeys keys (K-major K at shared address kt): four products of 16 dims, K moving 32 bytes a
// step inside its swizzled rows; issued, not committed or waited for.
template <class T, int kKeys>
__device__ __forceinline__ void issue_scores(float (&s)[kKeys / 8][4], const uint32_t (&qa)[kDh / 16][4], uint32_t kt) {
  wgmma<T, kKeys, true, 0>(s, qa[0], swizzled_desc(kt));
#pragma unroll
  for (int k = 1; k < kDh / 16; ++k) wgmma<T, kKeys, false, 0>(s, qa[k], swizzled_desc(kt + 32 * k));
}
// O += P V for the block (N-major V at shared address vt): kKeys / 16 products of 16 keys, V moving 16 rows (2048
// bytes) a step; issued, not committed or waited for.
template <class T, int kKeys>
__device__ __forceinline__ void issue_values(float (&o)[kDh / 8][4], const uint32_t (&pa)[kKeys / 16][4], uint32_t vt) {
#pragma unroll
  for (int j = 0; j < kKeys / 16; ++j) wgmma<T, kDh, false, 1>(o, pa[j], swizzled_desc(vt + j * 16 * kRowBytes));
}
#endif  // WST_WGMMA

// Keys [kb, kb + kKeys) of one head (columns col0 .. col0 + 63 of k and v in qkv, row stride ld) into the K tile at
// shared address kt and the V tile at vt: each row's eight 16-byte pieces, swizzled, zeros past tk; one commit group.
// Each of the kThreads threads copies kKeys * 8 / kThreads pieces of each, a count known here so that the loop unrolls
// into straight copies (a loop over threadIdx.x with a runtime count took ~250 instructions a block of keys in
// SASS, as many as the block's softmax).
template <int kKeys, int kThreads>
__device__ __forceinline__ void load_kv_tiles(const uint16_t* src, int ld, int d, int col0, int kb, int tk,
                                              uint32_t kt, uint32_t vt) {
  static_assert(kKeys * 8 % kThreads == 0 && kThreads % 64 == 0, "load_kv_tiles: whole pieces, one swizzle a thread");
  const int c = threadIdx.x % 8;
  // (kThreads / 8 rows apart, a multiple of 8: every piece of this thread has the same swizzle)
  const uint32_t swizzled = (c ^ (threadIdx.x / 8 % 8)) << 4;
  const uint16_t* col = src + d + col0 + c * 8;
#pragma unroll
  for (int r = 0; r < kKeys * 8 / kThreads; ++r) {
    const int key = threadIdx.x / 8 + r * (kThreads / 8);
    const bool valid = kb + key < tk;
    const uint16_t* row = col + static_cast<size_t>(valid ? kb + key : 0) * ld;
    const uint32_t at = key * kRowBytes + swizzled;
    copy16_async(kt + at, row, valid);
    copy16_async(vt + at, row + d, valid);
  }
  commit_copies();
}

// Where a block of kGroups warpgroups works: the 1024-byte aligned start of its K/V stages in shared memory (stage s:
// K at base + 2 s kTile, V right after it), this lane's row in its quad's tile (g), its warp's first query (warp w
// holds queries 16 w .. 16 w + 15 of the block: warpgroup w / 4 rows 64 (w / 4) ..), the head's first column, and
// qkv as 16-bit words.
struct BlockPlace {
  uint32_t base;
  int g, q0, col0;
  const uint16_t* src;
};
template <int kGroups>
__device__ __forceinline__ BlockPlace block_place(const void* qkv, const uint8_t* raw) {
  const int warp = threadIdx.x / 32;
  return {(static_cast<uint32_t>(__cvta_generic_to_shared(raw)) + 1023u) & ~1023u, static_cast<int>(threadIdx.x % 32 / 4),
          static_cast<int>(blockIdx.x) * 64 * kGroups + warp * 16, static_cast<int>(blockIdx.y) * kDh,
          static_cast<const uint16_t*>(qkv)};
}

// A warp's 16 queries as the attention walks the keys: Q's A fragments, the outputs, the running maxima and sums.
struct QueryRows {
  uint32_t qa[kDh / 16][4];
  float o[kDh / 8][4];
  float m[2], l[2];
};
// The rows from row (this lane's first; see query_fragments) before any key: Q scaled and rounded, nothing summed.
template <class T>
__device__ __forceinline__ void start_rows(QueryRows& r, const T* qkv, int ld, int tk, int row, int col0,
                                           const float* bias, float scale_log2) {
  query_fragments<T>(qkv, ld, tk, row, col0, bias, scale_log2, r.qa);
#pragma unroll
  for (int n = 0; n < kDh / 8; ++n) r.o[n][0] = r.o[n][1] = r.o[n][2] = r.o[n][3] = 0.f;
  r.m[0] = r.m[1] = -INFINITY;
  r.l[0] = r.l[1] = 0.f;
}

// qkv [t, 3d] (q | k | v, head h at columns h * 64 of each third, row stride ld) -> out [t, d] (row stride ldo); bias
// [3d] float32 or null (k's left out: the softmax ignores it). Grid: (query blocks of 64 kGroups, heads).
template <class T, int kGroups, int kKeys>
__global__ void __launch_bounds__(128 * kGroups)
    flash_wgmma_kernel(const T* __restrict__ qkv, int ld, int d, const float* __restrict__ bias, T* __restrict__ out,
                       int ldo, int tk, float scale_log2) {
#if WST_WGMMA
  constexpr uint32_t kTile = kKeys * kRowBytes;  // one K or V block (a multiple of 1024 bytes)
  extern __shared__ uint8_t raw[];
  const auto [base, g, q0, col0, src] = block_place<kGroups>(qkv, raw);

  // Keys [kb, kb + kKeys) into stage st.
  auto load = [&](int st, int kb) {
    const uint32_t kt = base + 2 * st * kTile;
    load_kv_tiles<kKeys, 128 * kGroups>(src, ld, d, col0, kb, tk, kt, kt + kTile);
  };
  load(0, 0);

  QueryRows r;
  start_rows<T>(r, qkv, ld, tk, q0 + g, col0, bias, scale_log2);
  auto& [qa, o, m, l] = r;
  const int lim[2] = {tk, tk};

  int st = 0;
  for (int kb = 0; kb < tk; kb += kKeys, st ^= 1) {
    next_stage_then_wait(load, st, kb, kKeys, tk);  // (every warpgroup's products on that stage have finished)
    fence_shared_for_tensor_cores();
    __syncthreads();
    const uint32_t kt = base + 2 * st * kTile, vt = kt + kTile;

    float s[kKeys / 8][4];
    wgmma_fence();
    issue_scores<T, kKeys>(s, qa, kt);
    wgmma_commit();
    wgmma_wait_all();
    pin_registers(s);

    online_softmax<true, kKeys / 8, true>(s, kb, kb + kKeys > tk, lim, o, m, l);

    uint32_t pa[kKeys / 16][4];
#pragma unroll
    for (int j = 0; j < kKeys / 16; ++j) weights_fragment<T>(s, j, pa[j]);
    pin_registers(o);
    wgmma_fence();
    issue_values<T, kKeys>(o, pa, vt);
    wgmma_commit();
    wgmma_wait_all();
    pin_registers(o);
  }
  if (q0 < tk) store_head_rows<T>(o, l, q0 + g, tk, col0, bias ? bias + 2 * d : nullptr, out, ldo);
#endif
}

// The same attention pipelined (FlashShape::wgmma128x64p): K and V in three stages, one barrier a step, and the
// next block's scores issued together with this block's values, so a warpgroup waits for the tensor cores once a
// step rather than twice and the copies have a whole step to land. Step j (keys kb = j kKeys, stage j % 3):
//   the softmax of S_j (computed in step j - 1, or before the loop), its weights rounded into A fragments;
//   wait for this thread's copies of block j + 1, then the barrier: every thread's copies of block j + 1 have
//   landed and every warpgroup is done with step j - 1's products, so the stage of block j - 1 is free;
//   the copies of block j + 2 start into it;
//   O += P_j V_j and S_{j+1} = Q K_{j+1}^T issued as one group, then waited for.
// The same arithmetic as flash_wgmma_kernel in the same order (only the issue order of products differs), so the same
// bits unless the tensor cores' sums depend on what runs beside them.
template <class T, int kGroups, int kKeys>
__global__ void __launch_bounds__(128 * kGroups, 2)  // two blocks an SM (122 registers; flash_wgmma_kernel's fit too)
    flash_wgmma_pipelined_kernel(const T* __restrict__ qkv, int ld, int d, const float* __restrict__ bias,
                                 T* __restrict__ out, int ldo, int tk, float scale_log2) {
#if WST_WGMMA
  constexpr uint32_t kTile = kKeys * kRowBytes;  // one K or V block (a multiple of 1024 bytes)
  constexpr int kStages = 3;
  extern __shared__ uint8_t raw[];
  const auto [base, g, q0, col0, src] = block_place<kGroups>(qkv, raw);
  const int n_blocks = (tk + kKeys - 1) / kKeys;

  // Block j's keys into stage j % 3 (one commit group).
  const auto k_tile = [&](int j) { return base + 2 * (j % kStages) * kTile; };
  auto load = [&](int j) {
    load_kv_tiles<kKeys, 128 * kGroups>(src, ld, d, col0, j * kKeys, tk, k_tile(j), k_tile(j) + kTile);
  };
  load(0);
  if (n_blocks > 1) load(1);

  QueryRows r;
  start_rows<T>(r, qkv, ld, tk, q0 + g, col0, bias, scale_log2);
  auto& [qa, o, m, l] = r;
  const int lim[2] = {tk, tk};

  // S_0 before the loop.
  if (n_blocks > 1)
    wait_copies<1>();
  else
    wait_copies<0>();
  fence_shared_for_tensor_cores();
  __syncthreads();
  float s[kKeys / 8][4];
  wgmma_fence();
  issue_scores<T, kKeys>(s, qa, k_tile(0));
  wgmma_commit();
  wgmma_wait_all();
  pin_registers(s);

  for (int j = 0; j < n_blocks; ++j) {
    const int kb = j * kKeys;
    const bool next = j + 1 < n_blocks;  // (the same in every thread: the barrier below is reached by all or none)
    online_softmax<true, kKeys / 8, true>(s, kb, kb + kKeys > tk, lim, o, m, l);
    uint32_t pa[kKeys / 16][4];
#pragma unroll
    for (int i = 0; i < kKeys / 16; ++i) weights_fragment<T>(s, i, pa[i]);
    if (next) {
      wait_copies<0>();  // block j + 1 (block j + 2 is not started yet)
      fence_shared_for_tensor_cores();
      __syncthreads();
      if (j + 2 < n_blocks) load(j + 2);  // into block j - 1's stage, which every warpgroup is done with
    }
    pin_registers(o);
    wgmma_fence();
    issue_values<T, kKeys>(o, pa, k_tile(j) + kTile);
    // The next block's scores; after the last block this block's again (its keys, landed; those scores are never
    // read): a product under a branch would make the compiler move its registers before the wait, which it then
    // inserts itself, so only the address is chosen.
    issue_scores<T, kKeys>(s, qa, k_tile(next ? j + 1 : j));
    wgmma_commit();
    wgmma_wait_all();
    pin_registers(o);
    pin_registers(s);
  }
  if (q0 < tk) store_head_rows<T>(o, l, q0 + g, tk, col0, bias ? bias + 2 * d : nullptr, out, ldo);
#endif
}

// Writes 1 when the code loaded for this device was built with wgmma (sm_90a), 0 otherwise.
__global__ void wgmma_probe_kernel(int* has) { *has = WST_WGMMA; }

template <class T, int kGroups, int kKeys, bool kPipelined = false>
void launch_wgmma(const T* qkv, int ld, int t, int d, const float* bias, T* out, int ldo, cudaStream_t stream) {
  constexpr auto kernel = [] {
    if constexpr (kPipelined)
      return flash_wgmma_pipelined_kernel<T, kGroups, kKeys>;
    else
      return flash_wgmma_kernel<T, kGroups, kKeys>;
  }();
  const size_t shared = wgmma_shared_bytes(kKeys, kPipelined ? 3 : 2);
  allow_dynamic_shared<kernel>(shared);
  const float scale_log2 = 1.4426950408889634f / std::sqrt(static_cast<float>(kDh));
  const dim3 grid((t + 64 * kGroups - 1) / (64 * kGroups), d / kDh);
  kernel<<<grid, 128 * kGroups, shared, stream>>>(qkv, ld, d, bias, out, ldo, t, scale_log2);
  WST_CUDA_CHECK_LAUNCH();
}

}  // namespace

namespace {

// The probe's answers by device (flash_wgmma_available).
std::mutex probe_mutex;
std::map<int, bool> probed;

// The answer for the current device if it was probed; false if not (no probe: this may run inside a capture).
bool probed_available() {
  int device = 0;
  WST_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(probe_mutex);
  const auto it = probed.find(device);
  return it != probed.end() && it->second;
}

}  // namespace

bool flash_wgmma_available() {
  // Probed once per device, when a backend on it starts (never first inside a stream capture, where the copy would
  // fail).
  int device = 0;
  WST_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(probe_mutex);
  if (auto it = probed.find(device); it != probed.end()) return it->second;
  int major = 0, minor = 0;
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  bool yes = false;
  if (major == 9 && minor == 0) {  // sm_90a code runs on compute capability 9.0 only
    int* has = nullptr;
    WST_CUDA_CHECK(cudaMalloc(&has, sizeof(int)));
    int value = 0;
    wgmma_probe_kernel<<<1, 1>>>(has);
    const cudaError_t launched = cudaGetLastError();
    if (launched == cudaSuccess) WST_CUDA_CHECK(cudaMemcpy(&value, has, sizeof(int), cudaMemcpyDeviceToHost));
    WST_CUDA_CHECK(cudaFree(has));
    yes = launched == cudaSuccess && value == 1;
  }
  probed[device] = yes;
  return yes;
}

template <class T>
void flash_wgmma_half(const T* qkv, int ld, int t, int d, const float* bias, T* out, int ldo, cudaStream_t stream,
                      FlashShape shape) {
  if (!probed_available())
    throw Error("flash attention on wgmma: this GPU or this build has no sm_90a code (or it was never probed)");
  switch (shape) {
    case FlashShape::wgmma64x64:
      return launch_wgmma<T, 1, 64>(qkv, ld, t, d, bias, out, ldo, stream);
    case FlashShape::wgmma128x64:
      return launch_wgmma<T, 2, 64>(qkv, ld, t, d, bias, out, ldo, stream);
    case FlashShape::wgmma128x128:
      return launch_wgmma<T, 2, 128>(qkv, ld, t, d, bias, out, ldo, stream);
    case FlashShape::wgmma128x64p:
      return launch_wgmma<T, 2, 64, true>(qkv, ld, t, d, bias, out, ldo, stream);
    default:
      throw Error("flash_wgmma_half: not a wgmma launch shape");
  }
}
template void flash_wgmma_half<__half>(const __half*, int, int, int, const float*, __half*, int, cudaStream_t,
                                       FlashShape);
template void flash_wgmma_half<__nv_bfloat16>(const __nv_bfloat16*, int, int, int, const float*, __nv_bfloat16*, int,
                                              cudaStream_t, FlashShape);

}  // namespace wst::engine::cuda
