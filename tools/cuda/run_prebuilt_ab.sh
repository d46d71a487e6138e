#!/usr/bin/env bash
# An A/B of prebuilt cuda_check binaries on the GPU machine (no build there: each tree built here with
# tools/cuda/build_on_device.sh, ~4 min a tree on this VM's 2 cores, and carried in .abtree, ~24 MB each; two fit a
# call's 64 MiB beside the working tree). Runs the float16 bench of the given models with each binary in turn, ROUNDS
# rounds (METHOD.md: same call, alternating), and prints each run's recorded-step lines and picks hashes.
#   [WST_AB_ROUNDS=2] [WST_AB_ENV='WST_CUDA_FUSED_OUT=0'] tools/cuda/run_prebuilt_ab.sh 'tiny large-v3' BIN_A BIN_B ...
# A BIN may carry its own settings, 'VAR=VALUE[;VAR=VALUE...]@PATH', to time switches of one binary against each other:
#   tools/cuda/run_prebuilt_ab.sh large-v3 WST_CUDA_FUSED_OUT=0@.abtree/new \
#     'WST_CUDA_FUSED_OUT=1;WST_CUDA_GEMV_WARP_NORM_ONE=1;WST_CUDA_GEMV_SHAPES=4,4 1,4 2,8 1,4@.abtree/new'
# Run 74 (session 28) was this, by hand: b619d18 against the session's tree, tiny and large-v3, two rounds in 144 s.
set -uo pipefail
read -r -a models <<< "$1"
shift
out="${OUT:-$PWD/cuda_out}"
mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
read -r -a extra <<< "${WST_AB_ENV:-}"
t0=$(date +%s)
for round in $(seq 1 "${WST_AB_ROUNDS:-2}"); do
  for arg in "$@"; do
    bin="${arg##*@}"
    own=()
    [ "$arg" != "$bin" ] && IFS=';' read -r -a own <<< "${arg%@*}"
    # (named by its folder too: binaries are all called cuda_check)
    name="$(basename "$(dirname "$bin")")_$(basename "$bin")${own[*]:+_$(printf '%s' "${own[*]}" | tr -c 'A-Za-z0-9_\n' '_')}"
    env "${extra[@]}" "${own[@]}" WST_BENCH_PRECISIONS=float16 WST_BENCH_PERSISTENT=0 "$bin" --skip-checks \
      "${models[@]}" > "$out/ab_${name}_$round.log" 2>&1
    echo "== $name, round $round (rc=$?, $(( $(date +%s) - t0 )) s)"
    grep -E "engine greedy step|run ahead [0-9.]* ms" "$out/ab_${name}_$round.log" | sed -E 's/;.*(picks hash [0-9a-f]+)/ ... \1/' |
      cut -c1-260
  done
done
