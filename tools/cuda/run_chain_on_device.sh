#!/usr/bin/env bash
# The chain's questions in one call (docs/cuda_notes.md entries 27-28), from two cuda_check binaries built here with
# tools/cuda/build_on_device.sh and carried in an ignored folder (`carry: [".abtree"]`, 46 MB together):
#   BASE  built with WST_NVCC_FLAGS=-DWST_CHAIN_PROBE
#   TF    built with WST_NVCC_FLAGS="-DWST_CHAIN_PROBE -DWST_TRIGGER_FIRST"
#   tools/cuda/run_chain_on_device.sh BASE TF [model ...]      (models default to large-v3 tiny large-v3-turbo small)
# In turn: the release probe (BASE); the float16 bench with the chain probe and the L2 window's A/B (BASE); the same
# bench with TF, so that both recorded steps are timed on one card in one call; the op checks with TF (trigger-first
# changes no value: they must pass as with BASE). $OUT gets gpu.txt, release.log, chain.log, chain_tf.log and
# checks_tf.log; a summary goes to stdout. At most ~8 minutes: each part has its own time limit, so a part that hangs
# (the release probe's flags spin) costs only its own lines.
set -uo pipefail
base="$1"
tf="$2"
shift 2
models=("$@")
[ "${#models[@]}" -gt 0 ] || models=(large-v3 tiny large-v3-turbo small)
out="${OUT:-$PWD/cuda_out}"
mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# bench BINARY LOG: the float16 bench of the models with the chain probe, its timings' lines to stdout.
bench() {
  WST_BENCH_CHAIN=1 WST_BENCH_PRECISIONS=float16 WST_BENCH_PERSISTENT=0 timeout 150 stdbuf -oL "$1" --skip-checks \
    "${models[@]}" > "$2" 2>&1
  local rc=$?
  echo "$(basename "$2") rc=$rc"
  grep -E "chain probe,|chain, place|L2|a cluster of blocks a row|5-beam step recorded|float16: encoder [0-9]" "$2" |
    cut -c1-300
}

date
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
WST_BENCH_RELEASE=1 timeout 45 "$base" --skip-checks tiny > "$out/release.log" 2>&1
echo "release probe rc=$?"
grep -A5 "probe, the release" "$out/release.log"
bench "$base" "$out/chain.log"
bench "$tf" "$out/chain_tf.log"
timeout 120 "$tf" --skip-bench > "$out/checks_tf.log" 2>&1
echo "checks_tf rc=$?"
grep -E "FAIL|op checks" "$out/checks_tf.log" | cut -c1-200 | head -20
date
