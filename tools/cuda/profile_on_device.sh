#!/usr/bin/env bash
# Nsight Compute on chosen ops of cuda_bench's per-op breakdown, on the GPU machine (its Firecracker runtime lets
# ncu read the counters; /work/.library/device/KINDS.md). Builds cuda_check with build_on_device.sh, then runs only
# the breakdown of MODEL (WST_BENCH_OPS_ONLY=1) with every op whose label contains one of the FILTERs run once more
# inside a profiler window (WST_BENCH_PROFILE; cuda_bench.cpp), so ncu profiles exactly those launches.
#   tools/cuda/profile_on_device.sh MODEL FILTER [FILTER ...]
# e.g. tools/cuda/profile_on_device.sh large-v3 "f16 beam5 " "f16 greedy1 " "half-enc flash"
# The FILTER "recorded greedy step" profiles instead one replay of the defaults' recorded greedy step (every kernel
# node of its graph, as the step runs them), with the model's whole float16 bench around it.
# Output in $OUT: ncu_<n>.log (ncu's messages), details_<n>.txt (every section of every kernel, labelled by the op's
# NVTX range), summary.txt (a few lines a kernel: duration, memory and compute throughput, occupancy, top stalls).
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: tools/cuda/profile_on_device.sh MODEL FILTER [FILTER ...]" >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="$1"
shift
out="${OUT:-$PWD/cuda_out}"
mkdir -p "$out"
# WST_PREBUILT=DIR: a cuda_check already built there by build_on_device.sh in the same call (saves the build).
build="${WST_PREBUILT:-}"
if [ -z "$build" ] || [ ! -x "$build/cuda_check" ]; then
  build="$(mktemp -d)"
  if ! bash "$root/tools/cuda/build_on_device.sh" "$root" "$build" > "$out/build.log" 2>&1; then
    echo "build failed"
    tail -20 "$out/build.log"
    exit 1
  fi
fi
ncu="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
[ -n "$ncu" ] || { echo "ncu not found"; exit 1; }
sections=(SpeedOfLight MemoryWorkloadAnalysis ComputeWorkloadAnalysis InstructionStats Occupancy LaunchStats WarpStateStats
          SchedulerStats)
args=()
for s in "${sections[@]}"; do args+=(--section "$s"); done
rc=0
n=0
for filter in "$@"; do
  n=$((n + 1))
  # --clock-control none: the card's clocks as the benchmarks see them (METHOD.md: leave them alone).
  ops_only=1
  [ "$filter" = "recorded greedy step" ] && ops_only=0
  WST_BENCH_OPS_ONLY=$ops_only WST_BENCH_PERSISTENT=0 WST_BENCH_PROFILE="$filter" WST_BENCH_PRECISIONS=float16 \
    "$ncu" --clock-control none --profile-from-start off --nvtx "${args[@]}" -f -o "$out/profile_$n" \
    "$build/cuda_check" --skip-checks --reps 3 "$model" > "$out/ncu_$n.log" 2>&1 || { echo "ncu ($filter) rc=$?"; rc=1; }
  [ -f "$out/profile_$n.ncu-rep" ] || continue
  # --print-details all: the sections' tables too (the warps' stall reasons, each pipe's utilisation), where this ncu
  # has the option; otherwise the headers alone, as before.
  "$ncu" --import "$out/profile_$n.ncu-rep" --page details --print-details all --print-nvtx-rename kernel \
    > "$out/details_$n.txt" 2>&1 ||
    "$ncu" --import "$out/profile_$n.ncu-rep" --page details --print-nvtx-rename kernel > "$out/details_$n.txt" 2>&1 ||
    "$ncu" --import "$out/profile_$n.ncu-rep" --page details > "$out/details_$n.txt" 2>&1
  {
    echo "== $filter"
    grep -E "^  [A-Za-z_].*\(|NVTX|Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per Thread|Block Size|Grid Size|Stall|Warp Cycles Per Issued|stalled|Pipe|Issue Slots|Executed Ipc" \
      "$out/details_$n.txt" | cut -c1-160
  } >> "$out/summary.txt"
done
cat "$out/summary.txt" 2>/dev/null | head -300
exit "$rc"
