#!/usr/bin/env bash
# Builds the CUDA backend's checker + benchmark with nvcc alone (the GPU machine has the CUDA toolkit but none
# of the project's other libraries) and runs it: op checks first, then timings. Logs go to $OUT (or ./cuda_out).
#   [WST_REPEAT_BENCH='tiny large-v3'] [WST_PICKS_FIRST=1] tools/cuda/run_on_device.sh [cuda_check arguments...]
# Reads the sources from the tree this script sits in (tools/cuda/../..).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-$PWD/cuda_out}"
mkdir -p "$out"
build="$(mktemp -d)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv | tee "$out/gpu.txt" || true
t0=$(date +%s)
if ! bash "$root/tools/cuda/build_on_device.sh" "$root" "$build"; then
  cp "$build/build.log" "$out/build.log" 2>/dev/null
  exit 1
fi
cp "$build/build.log" "$out/build.log"
echo "built in $(( $(date +%s) - t0 )) s"
set +e
if [ -n "${WST_PICKS_FIRST:-}" ]; then
  # The picks' checks alone first, under a time limit (a cluster that never meets its barrier would hang the call).
  timeout 120 "$build/cuda_check" --picks 2>&1 | tee "$out/picks.log"
  echo "picks rc=${PIPESTATUS[0]}"
fi
"$build/cuda_check" "$@" 2>&1 | tee "$out/cuda_check.log"
rc=${PIPESTATUS[0]}
if [ -n "${WST_REPEAT_BENCH:-}" ]; then
  # The same build timed again, to see the run-to-run spread (METHOD.md: time the same version twice).
  "$build/cuda_check" --skip-checks $WST_REPEAT_BENCH 2>&1 | tee "$out/cuda_check_repeat.log"
fi
exit "$rc"
