// The chain probe (a measuring build only: nvcc -DWST_CHAIN_PROBE, e.g. WST_NVCC_FLAGS=-DWST_CHAIN_PROBE with
// tools/cuda/build_on_device.sh). Every chained kernel's first block notes, on the GPU's global clock, when it reached
// wait_for_previous_kernel (launch.cuh) and when the wait let it go, which is when the kernel before it had finished.
// A recorded step's kernels can then be read as the step runs them, overlaps included; Nsight Compute runs each
// kernel alone, its caches flushed, without the early start.
#pragma once

#include <vector>

namespace wst::engine::cuda {

struct ChainProbeRecord {
  unsigned long long reached = 0;   // ns, %globaltimer: block 0 reached the wait
  unsigned long long released = 0;  // ns: the wait returned (the kernel before it had finished)
  unsigned grid = 0, block = 0;     // the kernel's grid and block sizes (x), to tell the kernels apart
};

// Every record since the last call, from every translation unit with chained kernels, in the order of `released`
// (waits for the device first). Empty unless built with WST_CHAIN_PROBE.
std::vector<ChainProbeRecord> chain_probe_take();

}  // namespace wst::engine::cuda
