#!/usr/bin/env bash
# Copies what tools/cuda/run_on_device.sh needs (the engine's std-only sources, the CUDA backend, this folder)
# into DEST, keeping the repository layout, so the GPU machine can build it with nvcc alone.
#   tools/cuda/make_carry.sh DEST
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$1"
rm -rf "$dest"
mkdir -p "$dest"
cd "$root"
files=(src/engine/backend.h src/engine/backend.cpp src/engine/encoder.h src/engine/encoder.cpp src/engine/decoder.h src/engine/decoder.cpp
       src/engine/model.h src/util/errors.h src/formats/whisper_weights.h include/wst/engine.h bench/random_model.h)
files+=(src/engine/cuda/* tools/cuda/*)
cp --parents -r "${files[@]}" "$dest/"
