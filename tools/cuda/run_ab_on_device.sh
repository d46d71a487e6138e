#!/usr/bin/env bash
# One change timed against what it replaces, in the same call on the same GPU (issue #8; METHOD.md): the bench built
# from this tree and from an older commit's sources, run in turn (old, new, old, new) on float16 random weights. Prints
# each run's step and window lines; logs in $OUT/ab.
#   tools/cuda/run_ab_on_device.sh OLD_TARBALL [model ...]            (models default to large-v3)
# OLD_TARBALL, made beside the checkout and carried with the call (/.abtree/ is in .git/info/exclude):
#   mkdir -p .abtree && git archive <commit> src include bench tools/cuda | gzip > .abtree/<commit>.tar.gz
# The persistent kernel is left out of both (WST_BENCH_PERSISTENT=0): its timings are the slow part of the bench.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-$PWD/cuda_out}/ab"
mkdir -p "$out"
old_tree="$(mktemp -d)"
tar -xzf "$1" -C "$old_tree" || exit 1
shift
models=("$@")
[ "${#models[@]}" -gt 0 ] || models=(large-v3)
declare -A bin_dir=([old]="$(mktemp -d)" [new]="$(mktemp -d)")  # outside $OUT: the binaries do not come back
t0=$(date +%s)
bash "$root/tools/cuda/build_on_device.sh" "$old_tree" "${bin_dir[old]}" > "$out/build_old.out" 2>&1 &
old_pid=$!
bash "$root/tools/cuda/build_on_device.sh" "$root" "${bin_dir[new]}" > "$out/build_new.out" 2>&1
new_rc=$?
wait "$old_pid"
old_rc=$?
echo "built in $(( $(date +%s) - t0 )) s (old rc=$old_rc, new rc=$new_rc)"
[ "$old_rc" = 0 ] && [ "$new_rc" = 0 ] || { tail -n 20 "$out"/build_*.out; exit 1; }
for round in 1 2; do
  for v in old new; do
    WST_BENCH_PRECISIONS=float16 WST_BENCH_PERSISTENT=0 "${bin_dir[$v]}/cuda_check" --skip-checks "${models[@]}" \
      > "$out/$v.$round.log" 2>&1
    echo "== $v, round $round (rc=$?)"
    grep -E "float16: encoder|engine greedy step|5-beam step variants|batch-16" "$out/$v.$round.log" | cut -c1-400
  done
done
# The same picks bit for bit? (the greedy line's hash, where both builds print one: session 12's and later)
for v in old new; do echo "$v: $(grep -o "[a-z0-9.-]* float16: engine greedy step.*picks hash [0-9a-f]*" "$out/$v.1.log" |
  sed 's/ float16: engine greedy step.*picks hash / /' | tr '\n' ' ')"; done
