#!/usr/bin/env bash
# The real-weights check on the GPU machine (issue #8): builds tools/cuda/real_weights_check.cpp with the engine's
# sources and the CUDA backend (no CPU backend: the machine has no OpenBLAS or oneDNN), then transcribes the
# carried PCM files with the CUDA backend in float32, float16 and bfloat16 and compares with the CPU reference made
# here from the same weights; where float16's or bfloat16's tokens differ, it prints the logit margin at the first
# difference under cuda float32 and the run's own compute type (margins_<type>.log). Everything it reads is in DIR
# (made by the steps in docs/CUDA.md):
#   DIR/tiny_en.pack  DIR/tokenizer.json  DIR/pcm/*.pcm  DIR/ref_cpu_float32.json
#   DIR/deps/icu_headers.tar.xz (ICU's C headers; the machine has ICU's libraries only)
#   DIR/deps/include/kissfft, DIR/deps/lib/libkissfft-float.so* (Debian's kissfft, absent there)
# Logs and JSON go to $OUT. WST_REAL_QUICK=1: float32 and float16, the folded output products, the expanding shape,
# the norms folded into the products and the timed transcriptions only (a short call), none of the other switches' runs.
#   [WST_REAL_QUICK=1] tools/cuda/run_real_weights.sh DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$(cd "$1" && pwd)"
out="${OUT:-$PWD/real_out}"
mkdir -p "$out"
build="$(mktemp -d)"
# ICU's headers name versioned entry points (u_charType_72); use the suffix of the library that is there.
mkdir -p "$build/include"
tar -C "$build/include" -xJf "$dir/deps/icu_headers.tar.xz"
icu_lib="$(ls /usr/lib/x86_64-linux-gnu/libicuuc.so.[0-9]* | grep -E 'so\.[0-9]+$' | head -1)"
icu_ver="${icu_lib##*.so.}"
sed -i -E "s/^#define U_ICU_VERSION_SUFFIX _[0-9]+/#define U_ICU_VERSION_SUFFIX _${icu_ver}/" "$build/include/unicode/uvernum.h"
flags=(-std=c++20 -O2 -DWST_HAVE_CUDA -DWST_NO_CPU_BACKEND -I"$root/src" -I"$root/include" -I"$build/include"
       -I"$dir/deps/include/kissfft")
t0=$(date +%s)
srcs=("$root"/src/engine/{backend,decoding,beam_search,tokenizer,mel,model_load,encoder,decoder}.cpp
      "$root"/src/formats/*.cpp "$root"/src/util/mapped_file.cpp "$root"/tools/cuda/real_weights_check.cpp
      "$root"/tools/cuda/cuda_linked.cpp)  # make_cuda_backend without the CMake build's loader
pids=()
for f in "${srcs[@]}"; do
  g++ "${flags[@]}" -c "$f" -o "$build/$(basename "$f").o" 2> "$build/$(basename "$f").log" &
  pids+=($!)
done
for f in "$root"/src/engine/cuda/*.cu; do
  arch=(-arch=sm_90)
  [ "$(basename "$f")" = flash_wgmma.cu ] && arch=(-gencode arch=compute_90a,code=sm_90a)  # wgmma: sm_90a code only
  nvcc "${flags[@]}" "${arch[@]}" -c "$f" -o "$build/$(basename "$f").o" 2> "$build/$(basename "$f").log" &
  pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
cat "$build"/*.log > "$out/real_build.log" || true
if [ "$fail" != 0 ]; then cat "$out/real_build.log"; exit 1; fi
nvcc -arch=sm_90 "$build"/*.o -o "$build/real_weights_check" -lcublas -lcublasLt -lz -Xlinker "$icu_lib" \
  -L"$dir/deps/lib" -lkissfft-float -Xlinker -rpath -Xlinker "$dir/deps/lib"
echo "built in $(( $(date +%s) - t0 )) s (ICU ${icu_ver})"
pcm=("$dir"/pcm/jfk.pcm "$dir"/pcm/ted_60.pcm $(ls "$dir"/pcm/*.pcm | grep -v -e /jfk.pcm -e /ted_60.pcm))
rc=0
types=(float32 float16 bfloat16)
[ "${WST_REAL_QUICK:-0}" = 1 ] && types=(float32 float16)
for ct in "${types[@]}"; do
  "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda "$ct" "$out/gpu_$ct.json" "${pcm[@]}" \
    > "$out/gpu_$ct.log" 2>&1 || { echo "run $ct failed"; tail -5 "$out/gpu_$ct.log"; rc=1; continue; }
done
echo "== float32 on the GPU against the CPU (tokens must be identical)"
"$build/real_weights_check" compare "$dir/ref_cpu_float32.json" "$out/gpu_float32.json" tokens || rc=1
echo "== float16 on the GPU against the CPU's float32 (same text on jfk, ted_60 and >= 95% of the files)"
"$build/real_weights_check" compare "$dir/ref_cpu_float32.json" "$out/gpu_float16.json" text || rc=1
# The output products folded into the attention kernels (WST_CUDA_FUSED_OUT=1; session 28), float16, every file.
WST_CUDA_FUSED_OUT=1 "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda float16 \
  "$out/gpu_float16_fold.json" "${pcm[@]}" > "$out/gpu_float16_fold.log" 2>&1 || { echo "run float16 folded failed"; rc=1; }
echo "== float16 with the output products folded (WST_CUDA_FUSED_OUT=1) against the CPU's float32"
"$build/real_weights_check" compare "$dir/ref_cpu_float32.json" "$out/gpu_float16_fold.json" text || rc=1
# fc1 and the logits' product in a shape of their own with a warp's norm (WST_CUDA_GEMV_EXPANDING_SHAPE, by
# default from 1280 wide since session 30), from every width so that tiny.en's 384 takes it: float16, every file.
WST_CUDA_GEMV_EXPANDING_SHAPE=4,4 WST_CUDA_GEMV_EXPANDING_MIN=0 "$build/real_weights_check" run "$dir/tiny_en.pack" \
  "$dir/tokenizer.json" cuda float16 "$out/gpu_float16_expanding.json" "${pcm[@]}" > "$out/gpu_float16_expanding.log" 2>&1 ||
  { echo "run float16 expanding failed"; rc=1; }
echo "== float16 with fc1 and the logits 4 x 4 and a warp's norm (WST_CUDA_GEMV_EXPANDING_SHAPE=4,4) against the CPU's float32"
"$build/real_weights_check" compare "$dir/ref_cpu_float32.json" "$out/gpu_float16_expanding.json" text || rc=1
# The layer norms folded into fc1, q|k|v and the cross query (WST_CUDA_NORM_FOLD=1 WST_CUDA_NORM_FOLD_ATTENTION=1;
# session 32), float16, every file.
WST_CUDA_NORM_FOLD=1 WST_CUDA_NORM_FOLD_ATTENTION=1 "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda float16 \
  "$out/gpu_float16_normfold.json" "${pcm[@]}" > "$out/gpu_float16_normfold.log" 2>&1 ||
  { echo "run float16 norm folded failed"; rc=1; }
echo "== float16 with the layer norms folded into the products (WST_CUDA_NORM_FOLD=1 WST_CUDA_NORM_FOLD_ATTENTION=1) against the CPU's float32"
"$build/real_weights_check" compare "$dir/ref_cpu_float32.json" "$out/gpu_float16_normfold.json" text || rc=1
# Whole transcriptions timed (float16, jfk and ted_60, median of 5 after one untimed): the defaults, then the step run
# ahead off, then fc1's layer norm folded; two rounds in turn (same machine, same call).
echo "== whole transcriptions, float16, ms a file: defaults / WST_CUDA_STEP_AHEAD=0 / WST_CUDA_NORM_FOLD=1"
for round in 1 2; do
  for cfg in WST_CHECK_DEFAULTS=1 WST_CUDA_STEP_AHEAD=0 WST_CUDA_NORM_FOLD=1; do
    env "$cfg" WST_CHECK_REPEAT=5 "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda \
      float16 "$out/timed_${cfg%%=*}_$round.json" "$dir/pcm/jfk.pcm" "$dir/pcm/ted_60.pcm" \
      > "$out/timed_${cfg%%=*}_$round.log" 2>&1 || { echo "timed run $cfg failed"; rc=1; continue; }
    echo "round $round $cfg: $(grep -o '^[a-z_0-9.]*: [0-9]* tokens, [0-9.]* ms' "$out/timed_${cfg%%=*}_$round.log" | tr '\n' ' ')"
  done
done
[ "${WST_REAL_QUICK:-0}" = 1 ] && exit "$rc"
if [ -f "$dir/ref_cpu_float32_beam5.json" ]; then
  # Beam search (5 beams: the decoder's batched step) on the files the reference has.
  # beam_pair SUFFIX WHAT [VAR=VALUE ...]: 5 beams in float32 (held to the CPU's tokens) and float16 (to its gate)
  # with the environment given, into gpu_<type>_beam5SUFFIX.json.
  beam_pair() {
    local suffix="$1" what="$2"
    shift 2
    for ct in float32 float16; do
      env "$@" WST_CHECK_BEAM=5 "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda "$ct" \
        "$out/gpu_${ct}_beam5$suffix.json" "${beam_pcm[@]}" > "$out/gpu_${ct}_beam5$suffix.log" 2>&1 ||
        { echo "beam run $ct$what failed"; rc=1; }
    done
    echo "== beam 5, float32$what, against the CPU (tokens must be identical)"
    "$build/real_weights_check" compare "$dir/ref_cpu_float32_beam5.json" "$out/gpu_float32_beam5$suffix.json" tokens || rc=1
    echo "== beam 5, float16$what, against the CPU's float32"
    "$build/real_weights_check" compare "$dir/ref_cpu_float32_beam5.json" "$out/gpu_float16_beam5$suffix.json" text || rc=1
  }
  beam_pcm=($(python3 -c "import json,sys; print(' '.join(sys.argv[2] + '/pcm/' + f for f in json.load(open(sys.argv[1]))['files']))" \
              "$dir/ref_cpu_float32_beam5.json" "$dir"))
  beam_pair "" " on the GPU"
fi
# The decoder layers in one persistent kernel (WST_CUDA_PERSISTENT_DECODER=1, an experiment): float16 greedy and 5
# beams, held to float16's gate (same text on jfk, ted_60 and >= 95% of the files).
WST_CUDA_PERSISTENT_DECODER=1 "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda float16 \
  "$out/gpu_float16_persistent.json" "${pcm[@]}" > "$out/gpu_float16_persistent.log" 2>&1 || { echo "persistent run failed"; rc=1; }
echo "== float16, decoder layers in one persistent kernel, against the CPU's float32"
"$build/real_weights_check" compare "$dir/ref_cpu_float32.json" "$out/gpu_float16_persistent.json" text || rc=1
if [ -f "$dir/ref_cpu_float32_beam5.json" ]; then
  WST_CUDA_PERSISTENT_DECODER=1 WST_CHECK_BEAM=5 "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" \
    cuda float16 "$out/gpu_float16_beam5_persistent.json" "${beam_pcm[@]}" > "$out/gpu_float16_beam5_persistent.log" 2>&1 ||
    { echo "persistent beam run failed"; rc=1; }
  echo "== beam 5, float16, decoder layers in one persistent kernel, against the CPU's float32"
  "$build/real_weights_check" compare "$dir/ref_cpu_float32_beam5.json" "$out/gpu_float16_beam5_persistent.json" text || rc=1
fi
# Session 11's beam-step switches (on by default since run 34; docs/CUDA.md "Beam steps"): 5 beams with all four
# off, as the step ran through run 33, float32 held to the CPU's tokens, float16 to its gate.
if [ -f "$dir/ref_cpu_float32_beam5.json" ]; then
  beam_pair _switches_off ", session 11's switches off" \
    WST_CUDA_GEMV_WARP_NORM=0 WST_CUDA_GEMV_CHUNKS=0 WST_CUDA_SHARED_KV=0 WST_CUDA_SMALL_SELF=0
fi
# Beam steps eagerly (WST_CUDA_RECORD_BEAMS=0; recorded as CUDA graphs by default since session 20): float32 held to
# the CPU's tokens, float16 to its gate, and float16's tokens to the recorded run's exactly (the same kernels).
if [ -f "$dir/ref_cpu_float32_beam5.json" ]; then
  beam_pair _eager_steps ", beam steps eager (not recorded)" WST_CUDA_RECORD_BEAMS=0
  echo "== beam 5, float16, beam steps eager against recorded (tokens must be identical)"
  "$build/real_weights_check" compare "$out/gpu_float16_beam5.json" "$out/gpu_float16_beam5_eager_steps.json" tokens || rc=1
fi
# The logits' rows normalised in every block, not once (WST_CUDA_NORM_ONCE=0; once is the default since run 36: the
# same bits, so float16's tokens must be the default run's exactly); then 5 beams without the shared K/V kernel at
# tiny.en's 6 heads (its default from 16 heads until session 18): float32 held to the CPU's tokens, float16 to its
# gate.
WST_CUDA_NORM_ONCE=0 "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda float16 \
  "$out/gpu_float16_norm_every_block.json" "${pcm[@]}" > "$out/gpu_float16_norm_every_block.log" 2>&1 ||
  { echo "norm-in-every-block run failed"; rc=1; }
echo "== float16, the logits' rows normalised in every block, against float16's default run (tokens must be identical)"
"$build/real_weights_check" compare "$out/gpu_float16.json" "$out/gpu_float16_norm_every_block.json" tokens || rc=1
if [ -f "$dir/ref_cpu_float32_beam5.json" ]; then
  beam_pair _session17_attention ", the cross-attention's kernels as in session 17 (shared K/V from 16 heads, one row through the cluster kernel)" \
    WST_CUDA_SHARED_KV_MIN_HEADS=16 WST_CUDA_ONE_ROW_SCORES_FIRST=0
  # Without the tensor-core row kernel (on by default since run 37; float16 weights only: float32's run is the
  # default path): the matrix-vector kernel's rows, as through run 35.
  beam_pair _no_tensor_rows ", without the tensor-core row kernel" WST_CUDA_TENSOR_ROWS=0
fi
# The encoder's attention in its other launch shapes (the default since run 39: on wgmma, shape 3 for tiny.en's 6
# heads; 1: the mma.sync kernel, the default before; 4 and 5: the other wgmma shapes) and fc1 without its bias and
# GELU in cuBLASLt's epilogue (the default since run 40; WST_CUDA_FC1_EPILOGUE=0: the product, then a bias + exact
# GELU pass), one row's cross-attention through the cluster kernel (WST_CUDA_ONE_ROW_SCORES_FIRST=0 with the cross
# query unfused, since the fused kernel always scores first; scored first by default since session 18), the cross
# query unfused (WST_CUDA_FUSED_CROSS=0; fused by default since run 46) and the float32 cross K/V without their
# float16 shadow (WST_CUDA_HALF_CROSS_KV=0; the shadow is the default since run 45): float16 greedy, held to
# float16's gate. A variant of several switches joins them with commas.
for v in WST_CUDA_FLASH_SHAPE=1 WST_CUDA_FLASH_SHAPE=4 WST_CUDA_FLASH_SHAPE=5 WST_CUDA_FLASH_SHAPE=6 WST_CUDA_FC1_EPILOGUE=0 \
         WST_CUDA_ONE_ROW_SCORES_FIRST=0,WST_CUDA_FUSED_CROSS=0 WST_CUDA_FUSED_CROSS=0 WST_CUDA_HALF_CROSS_KV=0; do
  tag="$(echo "$v" | sed 's/WST_CUDA_//g' | tr 'A-Z=,' 'a-z__')"
  IFS=, read -ra switches <<< "$v"
  env "${switches[@]}" "$build/real_weights_check" run "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda float16 \
    "$out/gpu_float16_$tag.json" "${pcm[@]}" > "$out/gpu_float16_$tag.log" 2>&1 || { echo "$v run failed"; rc=1; }
  echo "== float16, $v, against the CPU's float32"
  "$build/real_weights_check" compare "$dir/ref_cpu_float32.json" "$out/gpu_float16_$tag.json" text || rc=1
done
echo "== bfloat16 on the GPU against the CPU's float32 (reported, not a gate)"
"$build/real_weights_check" compare "$dir/ref_cpu_float32.json" "$out/gpu_bfloat16.json" text || true
# Issue #8: differences only at near-ties. At each file's first differing token, both tokens' log-probabilities
# (the reference's tokens before it forced), under float32 and under the run's own compute type (reported).
for ct in float16 bfloat16; do
  [ -f "$out/gpu_$ct.json" ] || continue
  echo "== margins where $ct's tokens differ from the CPU's (cuda float32, then cuda $ct)"
  for mct in float32 "$ct"; do
    "$build/real_weights_check" margins "$dir/tiny_en.pack" "$dir/tokenizer.json" cuda "$mct" \
      "$dir/ref_cpu_float32.json" "$out/gpu_$ct.json" "$dir/pcm" || echo "margins $ct under $mct failed"
  done 2>&1 | tee "$out/margins_$ct.log"
done
exit "$rc"
