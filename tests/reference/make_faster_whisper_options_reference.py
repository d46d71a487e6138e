"""Makes tests/reference/faster_whisper_options_tiny_en.json: faster-whisper's transcripts under non-default options.

Cases (tiny.en, CPU, float32, greedy, otherwise the options of make_faster_whisper_reference.py):
  - jfk.wav with an initial prompt;
  - jfk.wav without timestamps;
  - ted_60.wav with condition_on_previous_text off;
  - ted_60.wav with only temperature 0 (no fallback).

Run from the repository root:  python3 tests/reference/make_faster_whisper_options_reference.py
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_common as rc  # noqa: E402  pylint: disable=wrong-import-position
from make_faster_whisper_reference import OPTIONS  # noqa: E402  pylint: disable=wrong-import-position

FORMAT_VERSION = 1

CASES = [
    ("jfk_initial_prompt", "jfk.wav", {"initial_prompt": "President Kennedy's inaugural address, 1961."}),
    ("jfk_without_timestamps", "jfk.wav", {"without_timestamps": True}),
    ("ted_no_condition", "ted_60.wav", {"condition_on_previous_text": False}),
    ("ted_temperature_0", "ted_60.wav", {"temperature": [0.0]}),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(rc.REPO, "tests", "reference", "faster_whisper_options_tiny_en.json"))
    args = ap.parse_args()

    import ctranslate2  # pylint: disable=import-outside-toplevel
    import faster_whisper  # pylint: disable=import-outside-toplevel
    from faster_whisper import WhisperModel  # pylint: disable=import-outside-toplevel

    audio_dir = rc.shared_audio_dir()
    model = WhisperModel(rc.tiny_en_dir(), device="cpu", compute_type="float32", cpu_threads=2)
    results = []
    for case_id, file_name, overrides in CASES:
        segments, _ = model.transcribe(rc.read_wav_int16(os.path.join(audio_dir, file_name)), **dict(OPTIONS, **overrides))
        segments = list(segments)
        results.append({"id": case_id, "audio": file_name, "options": overrides,
                        "text": "".join(s.text for s in segments),
                        "segments": [{"seek": s.seek, "start": s.start, "end": s.end, "tokens": s.tokens,
                                      "temperature": s.temperature} for s in segments]})
    header = {"magic": "wst-reference", "format_version": FORMAT_VERSION, "implementation": "faster-whisper",
              "command": "python3 tests/reference/make_faster_whisper_options_reference.py",
              "versions": {"faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__},
              "model": {"name": "tiny.en", "model_bin_sha256": rc.sha256_file(os.path.join(rc.tiny_en_dir(), "model.bin"))},
              "compute_type": "float32", "base_options": OPTIONS}
    rc.write_json(args.out, {"header": header, "files": results})


if __name__ == "__main__":
    main()
