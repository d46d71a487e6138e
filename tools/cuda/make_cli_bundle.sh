#!/usr/bin/env bash
# Packs what tools/cuda/run_cli_on_device.sh needs to run the whole CLI (`list`, `transcribe --device cuda`,
# `benchmark` with the GPU rows) on the GPU machine, which has the CUDA toolkit, Python with torch and
# transformers, but none of the project's C/C++ libraries and only 64 MiB per call:
#   DEST/bin.tar.xz      whisper-speedtest, libwst_cuda.so and real_weights_check from BUILD (configure it with
#                        -DWST_NATIVE=OFF -DWST_BUILD_BENCH=ON: the GPU machine's processor is not this one)
#   DEST/libs.tar.xz     the shared libraries they need that the GPU machine lacks (OpenBLAS, oneDNN, ICU 72,
#                        libsndfile and its codecs, soxr, KissFFT, PortAudio and ALSA/JACK, fmt)
#   DEST/tiny_en.pack.xz tiny.en reduced to int8 per row (docs/CUDA.md, "Real weights"), expanded there
#   DEST/audio/          jfk.wav and ted_60.wav
#   DEST/ref/            the CPU engine's transcripts of both (float32, greedy and 5 beams) from the same
#                        expanded weights, made here with CPU_CLI (a build with the CPU backend for this machine)
# Usage: tools/cuda/make_cli_bundle.sh BUILD CPU_CLI PACK TOKENIZER_JSON SHARED_AUDIO DEST
set -euo pipefail
build="$(cd "$1" && pwd)"; cpu_cli="$(realpath "$2")"; pack="$(realpath "$3")"; tokenizer="$(realpath "$4")"
audio="$(cd "$5" && pwd)"; dest="$6"
rm -rf "$dest"
mkdir -p "$dest/audio" "$dest/ref"
tar -C "$build" -cf - whisper-speedtest libwst_cuda.so real_weights_check | xz -T2 -6 > "$dest/bin.tar.xz"
xz -T2 -6 -c "$pack" > "$dest/tiny_en.pack.xz"  # everything compressed: a call carries 64 MiB
cp "$tokenizer" "$dest/tokenizer.json"
cp "$audio/jfk.wav" "$audio/ted_60.wav" "$dest/audio/"

libs="$(mktemp -d)"
trap 'rm -rf "$libs" "$work"' EXIT
ldd "$build/whisper-speedtest" "$build/real_weights_check" |
  awk '$2 == "=>" && $3 ~ /\// {print $3}' |
  grep -E 'lib(openblas|gfortran|quadmath|sndfile|FLAC|vorbis|vorbisenc|opus|ogg|mpg123|mp3lame|soxr|icuuc|icudata|kissfft|portaudio|asound|jack|dnnl|fmt|gomp)[-.]' |
  sort -u | while read -r l; do cp -L "$l" "$libs/"; done
tar -C "$libs" -cf - . | xz -T2 -6 > "$dest/libs.tar.xz"

# The CPU reference from the same expanded weights (the GPU side expands the same pack the same way).
work="$(mktemp -d)"
"$build/real_weights_check" expand "$pack" "$work/tiny.en.pt" > /dev/null
cp "$tokenizer" "$work/tokenizer.json"
"$cpu_cli" models convert "$work/tiny.en.pt" --to ct2 -o "$work/tiny.en-ct2" > /dev/null
for f in jfk ted_60; do
  "$cpu_cli" transcribe "$audio/$f.wav" -m "$work/tiny.en-ct2" --device cpu --json > "$dest/ref/${f}_float32.json"
  "$cpu_cli" transcribe "$audio/$f.wav" -m "$work/tiny.en-ct2" --device cpu --beam-size 5 --json \
    > "$dest/ref/${f}_float32_beam5.json"
done
du -sh "$dest"/* "$dest"
