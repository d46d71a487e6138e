#!/usr/bin/env bash
# A cuda_check built here (tools/cuda/build_on_device.sh) run on the GPU machine without building there (~190 s
# saved): the float16 bench for the given models first, so that a call cut short still brings its timings back, then
# the op checks. The binary travels in an ignored folder named in the device tool's `carry` (24 MB; .gpucheck does
# not fit beside it).
#   tools/cuda/run_prebuilt_on_device.sh BINARY [model ...]      (models default to large-v3 tiny)
# $OUT gets gpu.txt, bench.log and checks.log; a summary goes to stdout.
set -uo pipefail
bin="$1"
shift
models=("$@")
[ "${#models[@]}" -gt 0 ] || models=(large-v3 tiny)
out="${OUT:-$PWD/cuda_out}"
mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
date
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
WST_BENCH_PRECISIONS=float16 WST_BENCH_PERSISTENT=0 "$bin" --skip-checks "${models[@]}" > "$out/bench.log" 2>&1
echo "bench rc=$?"
grep -E "float16: encoder [0-9]|encoder blocks recorded|engine greedy step|half-enc (layer_norm|conv|fc1|bias)" \
  "$out/bench.log" | cut -c1-600
"$bin" --skip-bench > "$out/checks.log" 2>&1
echo "checks rc=$?"
grep -E "FAIL|op checks" "$out/checks.log" | cut -c1-200 | head -40
date
