#!/usr/bin/env bash
# One GPU call's worth (issue #8): the op checks and the real-weights check built and run side by side, then the
# float16 bench with the checks' build (the op path for every model, then the persistent kernel for the first).
# Logs go to $OUT/checks, $OUT/real.tar.gz (the real-weights run; its stdout.log also in $OUT/real), $OUT/bench.log
# and $OUT/bench_persistent.log; a summary to stdout.
#   [WST_BENCH_PERSISTENT=0] tools/cuda/run_all_on_device.sh GPUCHECK_DIR [model ...]
# GPUCHECK_DIR as run_real_weights.sh reads it (docs/CUDA.md "Checks on the GPU machine"); models default to
# large-v3 tiny large-v3-turbo small.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$(cd "$1" && pwd)"
shift
out="${OUT:-$PWD/cuda_out}"
mkdir -p "$out/checks" "$out/real"
checks_tmp="$(mktemp -d)"
real_tmp="$(mktemp -d)"
date
(OUT="$out/real" TMPDIR="$real_tmp" bash "$root/tools/cuda/run_real_weights.sh" "$dir" > "$out/real/stdout.log" 2>&1
 echo "real-weights rc=$?" >> "$out/real/stdout.log") &
real_pid=$!
OUT="$out/checks" TMPDIR="$checks_tmp" bash "$root/tools/cuda/run_on_device.sh" --skip-bench > "$out/checks/stdout.log" 2>&1
echo "checks rc=$?"
grep -E "FAIL|op checks:|error" "$out/checks/stdout.log" | head -40
wait "$real_pid"
# The gates' verdicts (the margins follow in stdout.log), then the run's files in one archive (fewer files to
# bring back).
grep -E "^==|files,|failed|rc=" "$out/real/stdout.log" | cut -c1-300
tar czf "$out/real.tar.gz" -C "$out" real && find "$out/real" -type f ! -name stdout.log -delete
models=("$@")
[ "${#models[@]}" -gt 0 ] || models=(large-v3 tiny large-v3-turbo small)
bin="$(ls -d "$checks_tmp"/tmp.*)/cuda_check"
# The op path first, every model, without the persistent kernel (a fault in it ends the process, and its timings are
# slow); then the persistent kernel's timings and phases for the first model alone, unless WST_BENCH_PERSISTENT=0.
WST_BENCH_PRECISIONS=float16 WST_BENCH_PERSISTENT=0 "$bin" --skip-checks "${models[@]}" > "$out/bench.log" 2>&1
echo "bench rc=$?"
grep -E "^probe| KB: | MB a kernel|step variants|gemv shapes|window|recorded|prefetch|batch-16|beam5[gt]" "$out/bench.log" |
  cut -c1-700 | head -70
if [ "${WST_BENCH_PERSISTENT:-1}" != 0 ]; then
  WST_BENCH_PRECISIONS=float16 "$bin" --skip-checks "${models[0]}" > "$out/bench_persistent.log" 2>&1
  echo "bench with the persistent kernel rc=$?"
  grep -E "persistent|compact" "$out/bench_persistent.log" | cut -c1-900
fi
date
