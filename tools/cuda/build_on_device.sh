#!/usr/bin/env bash
# Builds the CUDA backend's checker + benchmark (cuda_check) from the sources of TREE with nvcc alone, every file in
# parallel, for sm_90 (flash_wgmma.cu for sm_90a; the GPU machine has the CUDA toolkit but none of the project's
# other libraries).
#   [WST_NVCC_FLAGS=-DWST_CHAIN_PROBE] tools/cuda/build_on_device.sh TREE BUILD_DIR
#     -> BUILD_DIR/cuda_check, compiler messages in BUILD_DIR/build.log (extra nvcc flags from WST_NVCC_FLAGS)
# TREE is this checkout or an older commit's sources (run_ab_on_device.sh): its src/, include/, bench/ and tools/cuda/.
set -uo pipefail
tree="$(cd "$1" && pwd)"
build="$2"
mkdir -p "$build"
flags=(-std=c++20 -O3 -I"$tree/src" -I"$tree/include" -I"$tree/bench" -I"$tree/tools/cuda" ${WST_NVCC_FLAGS:-})
pids=()
for f in "$tree"/src/engine/cuda/*.cu "$tree"/src/engine/backend.cpp "$tree"/src/engine/encoder.cpp \
         "$tree"/src/engine/decoder.cpp "$tree"/tools/cuda/cuda_check.cpp "$tree"/tools/cuda/cuda_bench.cpp \
         "$tree"/tools/cuda/cuda_linked.cpp "$tree"/tools/cuda/*.cu; do
  [ -e "$f" ] || continue  # (an older tree without tools/cuda/*.cu)
  arch=(-arch=sm_90)
  [ "$(basename "$f")" = flash_wgmma.cu ] && arch=(-gencode arch=compute_90a,code=sm_90a)  # wgmma: sm_90a code only
  nvcc "${flags[@]}" "${arch[@]}" -c "$f" -o "$build/$(basename "$f").o" 2> "$build/$(basename "$f").log" &
  pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
cat "$build"/*.log > "$build/build.log" 2>/dev/null || true
if [ "$fail" != 0 ]; then cat "$build/build.log"; exit 1; fi
nvcc -arch=sm_90 "$build"/*.o -lcublas -lcublasLt -o "$build/cuda_check"
