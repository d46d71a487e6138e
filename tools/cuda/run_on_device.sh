#!/usr/bin/env bash
# Builds the CUDA backend's checker + benchmark with nvcc alone (the GPU machine has the CUDA toolkit but none
# of the project's other libraries) and runs it: op checks first, then timings. Logs go to $OUT (or ./cuda_out).
#   [WST_REPEAT_BENCH='tiny large-v3'] tools/cuda/run_on_device.sh [cuda_check arguments...]
# Reads the sources from the tree this script sits in (tools/cuda/../..).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-$PWD/cuda_out}"
mkdir -p "$out"
build="$(mktemp -d)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv | tee "$out/gpu.txt" || true
flags=(-std=c++20 -O3 -arch=sm_90 -I"$root/src" -I"$root/include" -I"$root/bench" -I"$root/tools/cuda")
t0=$(date +%s)
pids=()
for f in "$root"/src/engine/cuda/*.cu "$root"/src/engine/backend.cpp "$root"/src/engine/encoder.cpp "$root"/src/engine/decoder.cpp \
         "$root"/tools/cuda/cuda_check.cpp "$root"/tools/cuda/cuda_bench.cpp "$root"/tools/cuda/cuda_linked.cpp \
         "$root"/tools/cuda/probes.cu; do
  nvcc "${flags[@]}" -c "$f" -o "$build/$(basename "$f").o" 2> "$build/$(basename "$f").log" &
  pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
cat "$build"/*.log > "$out/build.log" || true
if [ "$fail" != 0 ]; then cat "$out/build.log"; exit 1; fi
nvcc -arch=sm_90 "$build"/*.o -lcublas -o "$build/cuda_check"
echo "built in $(( $(date +%s) - t0 )) s"
set +e
"$build/cuda_check" "$@" 2>&1 | tee "$out/cuda_check.log"
rc=${PIPESTATUS[0]}
if [ -n "${WST_REPEAT_BENCH:-}" ]; then
  # The same build timed again, to see the run-to-run spread (METHOD.md: time the same version twice).
  "$build/cuda_check" --skip-checks $WST_REPEAT_BENCH 2>&1 | tee "$out/cuda_check_repeat.log"
fi
exit "$rc"
