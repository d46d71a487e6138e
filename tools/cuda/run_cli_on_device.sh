#!/usr/bin/env bash
# The whole CLI on the GPU machine (issue #8), from the bundle tools/cuda/make_cli_bundle.sh made:
#   1. installs it as `cmake --install` would (bin/ + share/whisper-speedtest/ with the catalog and the Python
#      runners) under /tmp/wst, the carried libraries beside it;
#   2. expands tiny.en from the pack, converts it to CTranslate2 and imports it as tiny.en into an empty models
#      directory (HOME and every cache redirected under /tmp/wst);
#   3. `list`; `transcribe --device cuda` on jfk and ted_60 in float32 (tokens must equal the CPU's), float16 and
#      bfloat16 (text compared), and float32 / float16 with 5 beams;
#   4. `benchmark` on ted_60.wav with the GPU rows (native-cuda, native-cuda-float16, transformers-cuda,
#      faster-whisper-cuda where it can run) and native-cpu for scale; JSON and Markdown to $OUT;
#   5. with BEAM_RUNS > 0, the GPU rows again with 5 beams (benchmark_beam5.*);
#   6. with BATCH=1, several files in one `transcribe` (the bundle's jfk, ted_60 and audio/more/*.wav) decoded
#      one at a time (--batch-size 1) and together, float32 and float16: the transcripts compared file by file
#      and the wall times (batch.txt).
# Usage (on the GPU machine, carrying DIR): [BATCH=1] tools/cuda/run_cli_on_device.sh DIR [RUNS] [BEAM_RUNS]
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$(cd "$1" && pwd)"
runs="${2:-5}"
beam_runs="${3:-0}"
out="${OUT:-$PWD/cli_out}"
mkdir -p "$out"
w=/tmp/wst
rm -rf "$w"
mkdir -p "$w/bin" "$w/lib" "$w/share/whisper-speedtest/python" "$w/home"
tar -C "$w/bin" -xJf "$dir/bin.tar.xz"
cp -r "$root"/data/* "$w/share/whisper-speedtest/"
cp "$root"/src/impls/python/*.py "$w/share/whisper-speedtest/python/"
tar -C "$w/lib" -xJf "$dir/libs.tar.xz"
export LD_LIBRARY_PATH="$w/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export HOME="$w/home" XDG_CACHE_HOME="$w/home/.cache" HF_HOME="$w/home/.cache/hf" HF_HUB_CACHE="$w/hub"
export TORCH_HOME="$w/home/.cache/torch" WHISPER_SPEEDTEST_MODELS="$w/models" WHISPER_CPP_MODELS=""
export WST_PYTHON="${WST_PYTHON:-python3}" PYTHONUNBUFFERED=1
cli="$w/bin/whisper-speedtest"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  lscpu | grep -E '^Model name|^CPU\(s\)'
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  echo "libraries not found:"; ldd "$cli" "$w/bin/real_weights_check" | grep "not found" || echo "  none"
} 2>&1 | tee "$out/machine.txt"

xz -dc "$dir/tiny_en.pack.xz" > "$w/tiny_en.pack"
"$w/bin/real_weights_check" expand "$w/tiny_en.pack" "$w/tiny.en.pt" || exit 1
cp "$dir/tokenizer.json" "$w/"
"$cli" models convert "$w/tiny.en.pt" --to ct2 -o "$w/tiny.en-ct2" || exit 1
"$cli" models import "$w/tiny.en-ct2" --name tiny.en || exit 1

"$cli" list 2>&1 | tee -a "$out/machine.txt"  # the call brings back 8 files at most

# transcribe: every compute type, greedy and 5 beams, against the CPU's transcripts of the same weights.
rc=0
compare() {  # compare REF GOT MODE: MODE tokens = every segment's tokens equal; text = the text equal
  python3 - "$@" <<'EOF'
import json, sys
ref, got, mode = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
key = (lambda j: [s["tokens"] for s in j["segments"]]) if mode == "tokens" else (lambda j: j["text"])
same = key(ref) == key(got)
print(f"{'same' if same else 'DIFFERENT'} {mode}: {sys.argv[2].rsplit('/', 1)[-1]}")
if not same:
    print("  ref:", ref["text"]); print("  got:", got["text"])
sys.exit(0 if same or mode == "text" else 1)
EOF
}
for f in jfk ted_60; do
  for ct in float32 float16 bfloat16; do
    "$cli" transcribe "$dir/audio/$f.wav" -m tiny.en --device cuda --compute-type "$ct" --json -v \
      > "$w/${f}_$ct.json" 2> "$w/${f}_$ct.err" || { echo "transcribe $f $ct failed:"; tail -3 "$w/${f}_$ct.err"; rc=1; continue; }
    compare "$dir/ref/${f}_float32.json" "$w/${f}_$ct.json" "$([ "$ct" = float32 ] && echo tokens || echo text)" || rc=1
  done
  for ct in float32 float16; do
    "$cli" transcribe "$dir/audio/$f.wav" -m tiny.en --device cuda --compute-type "$ct" --beam-size 5 --json \
      > "$w/${f}_${ct}_beam5.json" 2> "$w/${f}_${ct}_beam5.err" || { echo "beam $f $ct failed"; tail -3 "$w/${f}_${ct}_beam5.err"; rc=1; continue; }
    compare "$dir/ref/${f}_float32_beam5.json" "$w/${f}_${ct}_beam5.json" "$([ "$ct" = float32 ] && echo tokens || echo text)" || rc=1
  done
done > "$out/transcribe.txt" 2>&1
cat "$w"/ted_60_float16.err >> "$out/transcribe.txt" 2>/dev/null  # -v: where the time went
cat "$out/transcribe.txt"
# One file with every transcript and its stderr, for the record (the device returns at most 8 files).
python3 - "$w" "$out/transcripts.json" <<'EOF'
import glob, json, os, sys
w, dst = sys.argv[1], sys.argv[2]
out = {}
for p in sorted(glob.glob(os.path.join(w, "*.json"))):
    name = os.path.basename(p)[:-5]
    try:
        out[name] = json.load(open(p))
    except Exception as e:
        out[name] = {"error": str(e)}
json.dump(out, open(dst, "w"), indent=1)
EOF

# benchmark: ted_60.wav, the GPU rows and native-cpu for scale; the CPU float32 transcript as the reference.
ref_text="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' "$dir/ref/ted_60_float32.json")"
"$cli" benchmark -a "$dir/audio/ted_60.wav" -m tiny.en -n "$runs" \
  -i native-cuda,native-cuda-float16,transformers-cuda,faster-whisper-cuda,native-cpu \
  --reference "$ref_text" --json "$out/benchmark.json" --markdown "$out/benchmark.md" --timeout 900 2>&1 | tail -12
if [ "$beam_runs" -gt 0 ]; then
  ref5="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' "$dir/ref/ted_60_float32_beam5.json")"
  "$cli" benchmark -a "$dir/audio/ted_60.wav" -m tiny.en -n "$beam_runs" --beam-size 5 \
    -i native-cuda,native-cuda-float16,transformers-cuda --reference "$ref5" \
    --json "$out/benchmark_beam5.json" --markdown "$out/benchmark_beam5.md" --timeout 900 2>&1 | tail -8
fi
if [ "${BATCH:-0}" = 1 ]; then
  files=("$dir/audio/jfk.wav" "$dir/audio/ted_60.wav" "$dir"/audio/more/*.wav)
  {
    echo "${#files[@]} files; wall time of one transcribe process each (the model's load included), twice"
    for ct in float32 float16; do
      for bs in 1 "${#files[@]}"; do
        for rep in 1 2; do
          t0=$(date +%s%N)
          "$cli" transcribe "${files[@]}" -m tiny.en --device cuda --compute-type "$ct" --batch-size "$bs" --json \
            > "$w/batch_${ct}_$bs.json" 2> "$w/batch_${ct}_$bs.err" || { echo "batch $ct $bs failed"; tail -3 "$w/batch_${ct}_$bs.err"; rc=1; }
          echo "$ct --batch-size $bs run $rep: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
        done
      done
      python3 - "$w/batch_${ct}_1.json" "$w/batch_${ct}_${#files[@]}.json" "$ct" <<'EOF'
import json, sys
one, many, ct = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
same = sum(1 for a, b in zip(one, many) if [s["tokens"] for s in a["segments"]] == [s["tokens"] for s in b["segments"]])
text = sum(1 for a, b in zip(one, many) if a["text"] == b["text"])
print(f"{ct}: batched vs one at a time: tokens identical on {same} of {len(one)} files, text on {text}")
for a, b in zip(one, many):
    if a["text"] != b["text"]:
        print("  " + a["file"].rsplit("/", 1)[-1] + "\n    one:   " + a["text"] + "\n    batch: " + b["text"])
EOF
    done
  } 2>&1 | tee "$out/batch.txt"
fi
exit "$rc"
