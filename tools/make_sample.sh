#!/usr/bin/env bash
# Makes the bundled benchmark clip data/samples/sample.wav (16 kHz mono 16-bit) and its transcript
# data/samples/sample.txt with espeak-ng and sox (Debian packages espeak-ng and sox). Run it only to change
# the clip: the result is committed, so building and running need neither program. espeak-ng's output for a
# given text, voice and rate is deterministic for one espeak-ng version (1.51 on Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."
text="Whisper speed test compares speech recognition engines on the same audio. Each one transcribes this clip several times, and the fastest one is listed first."
tmp=$(mktemp --suffix=.wav)
trap 'rm -f "$tmp"' EXIT
espeak-ng -v en-us -s 140 -w "$tmp" "$text"
sox "$tmp" -r 16000 -c 1 -b 16 data/samples/sample.wav
printf '%s\n' "$text" > data/samples/sample.txt
