// The chain probe (a measuring build only: nvcc -DWST_CHAIN_PROBE, e.g. WST_NVCC_FLAGS=-DWST_CHAIN_PROBE with
// tools/cuda/build_on_device.sh). Every block of every chained kernel notes, on the GPU's global clock, when it reached
// wait_for_previous_kernel (launch.cuh) and when the wait let it go, which for a block that arrived early is when the
// kernel before it had finished. A recorded step's kernels can then be read as the step runs them, overlaps included;
// Nsight Compute runs each kernel alone, its caches flushed, without the early start.
#pragma once

#include <vector>

namespace wst::engine::cuda {

// Phases a kernel may mark (launch.cuh's chain_probe_mark), 0 being block 0's release from its wait.
constexpr int kChainProbePhases = 5;

// One kernel of the chain, from its blocks' notes.
struct ChainProbeRecord {
  unsigned long long reached = 0;       // ns, %globaltimer: the first of its blocks reached the wait
  unsigned long long released = 0;      // ns: the first wait returned (the kernel before it had finished)
  unsigned long long last_reached = 0;  // ns: the last of its blocks reached the wait (became resident and got there)
  unsigned grid = 0, block = 0;         // the kernel's grid and block sizes (x), to tell the kernels apart
  unsigned blocks = 0;                  // its blocks (grid x, y and z)
  unsigned early = 0;  // how many of them waited there over 0.1 us: resident before the kernel before it ended
  // ns: when block 0 was released (phase 0) and got to each phase its kernel marks; 0 where it marks none.
  unsigned long long phase[kChainProbePhases] = {};
};

// Every kernel since the last call, from every translation unit with chained kernels, in the order of `released`
// (waits for the device first). A kernel's blocks are told from the next kernel's by their releases: every block of a
// kernel passes its wait before the next kernel can start. Empty unless built with WST_CHAIN_PROBE, and empty (with
// a line on stderr) when the notes overflowed or could not be split into whole kernels.
std::vector<ChainProbeRecord> chain_probe_take();

// Drops every note so far (after a recording and warm-up, which leave more than the notes hold), saying nothing.
void chain_probe_drop();

}  // namespace wst::engine::cuda
