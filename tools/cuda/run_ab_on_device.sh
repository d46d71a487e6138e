#!/usr/bin/env bash
# Changes timed against what they replace, in the same call on the same GPU (issue #8; METHOD.md): the bench built
# from this tree and from older commits' sources, run in turn (each old, then new; twice) on float16 random weights.
# Prints each run's window and step lines and the recorded picks' hashes; logs in $OUT/ab.
#   [WST_AB_MODELS='large-v3 tiny'] [WST_AB_ROUNDS=1] tools/cuda/run_ab_on_device.sh OLD_TARBALL [OLD_TARBALL ...]
# (One tree built in 82 s on the GPU machine's 16 cores (run 32), so three in parallel take ~4 min; a bench run of
# large-v3 has not been timed whole, estimated at one to two minutes: two old trees and two rounds may pass a call's
# 10 minutes, so WST_AB_ROUNDS=1 or one old tree, then.)
# Each OLD_TARBALL, made beside the checkout and carried with the call (/.abtree/ is in .git/info/exclude):
#   mkdir -p .abtree && git archive <commit> src include bench tools/cuda | gzip > .abtree/<commit>.tar.gz
# The persistent kernel is left out (WST_BENCH_PERSISTENT=0): its timings are the slow part of the bench.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-$PWD/cuda_out}/ab"
mkdir -p "$out"
read -r -a models <<< "${WST_AB_MODELS:-large-v3}"
# Builds outside $OUT (the binaries do not come back): one per old tree, then this one ("new").
declare -A tree bin_dir
names=()
for tarball in "$@"; do
  name="$(basename "$tarball" .tar.gz)"
  tree[$name]="$(mktemp -d)"
  tar -xzf "$tarball" -C "${tree[$name]}" || exit 1
  names+=("$name")
done
tree[new]="$root"
names+=(new)
t0=$(date +%s)
pids=()
for name in "${names[@]}"; do
  bin_dir[$name]="$(mktemp -d)"
  bash "$root/tools/cuda/build_on_device.sh" "${tree[$name]}" "${bin_dir[$name]}" > "$out/build_$name.out" 2>&1 &
  pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
echo "built ${names[*]} in $(( $(date +%s) - t0 )) s"
[ "$fail" = 0 ] || { tail -n 20 "$out"/build_*.out; exit 1; }
for round in $(seq 1 "${WST_AB_ROUNDS:-2}"); do
  for name in "${names[@]}"; do
    WST_BENCH_PRECISIONS=float16 WST_BENCH_PERSISTENT=0 "${bin_dir[$name]}/cuda_check" --skip-checks "${models[@]}" \
      > "$out/$name.$round.log" 2>&1
    echo "== $name, round $round (rc=$?)"
    grep -E "float16: encoder|engine greedy step|row prefetches|5-beam step variants" "$out/$name.$round.log" | cut -c1-400
  done
done
# The same picks bit for bit? (the greedy line's hash, where a build prints one: session 12's and later)
for name in "${names[@]}"; do
  echo "$name picks: $(grep -o "[a-z0-9.-]* float16: engine greedy step.*picks hash [0-9a-f]*" "$out/$name.1.log" |
    sed 's/ float16: engine greedy step.*picks hash / /' | tr '\n' ' ')"
done
