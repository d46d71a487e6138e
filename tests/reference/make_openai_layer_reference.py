"""Makes tests/reference/openai_encoder_jfk.json: openai-whisper's log-mel, encoder output and first logits for jfk.

The openai-whisper counterpart of ct2_encoder_jfk.json, with the same probes. The first window is built as
openai-whisper's transcribe() builds it: log_mel_spectrogram(audio, padding=N_SAMPLES) (30 s of zeros
appended), the first min(3000, n_frames - 3000) frames, pad_or_trim to 3000. The encoder runs on that
[1, 80, 3000] window in float32; the decoder is run once on the prompt plus the tokens of
ct2_encoder_jfk.json, and for the first 10 steps the raw logits' top-5 are kept (openai-whisper's logit
filters are not applied here, so compare only the unsuppressed tokens). The header holds the largest
differences from ct2_encoder_jfk.json when that file is present.

Run from the repository root, with Debian's python3 (see README.md):
  /usr/bin/python3 tests/reference/make_openai_layer_reference.py
Makes /tmp/wst_tiny_en_openai.pt with ct2_to_openai_checkpoint.py when it is missing.
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
N_VALUES = 16
ENCODER_FRAMES = [0, 1, 749, 1499]
N_TOP_STEPS = 10
N_TOP = 5


def floats(a):
    return [float(x) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def stats(a):
    a64 = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "mean": float(a64.mean()), "std": float(a64.std()),
            "min": float(a.min()), "max": float(a.max())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(rc.REPO, "tests", "reference", "openai_encoder_jfk.json"))
    ap.add_argument("--checkpoint", default="/tmp/wst_tiny_en_openai.pt")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import ct2_to_openai_checkpoint as conv  # pylint: disable=import-outside-toplevel
    model_dir = conv.find_model_dir()
    if not os.path.exists(args.checkpoint):
        subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "ct2_to_openai_checkpoint.py"),
                        "--model-dir", model_dir, "--out", args.checkpoint], check=True)

    import torch  # pylint: disable=import-outside-toplevel
    import whisper  # pylint: disable=import-outside-toplevel
    from whisper.audio import N_FRAMES, N_SAMPLES  # pylint: disable=import-outside-toplevel
    torch.set_num_threads(args.threads)
    model = whisper.load_model(args.checkpoint, device="cpu")

    audio = rc.read_wav_int16(os.path.join(rc.shared_audio_dir(), "jfk.wav"))
    mel = whisper.log_mel_spectrogram(torch.from_numpy(audio), model.dims.n_mels, padding=N_SAMPLES)  # [80, n]
    content_frames = mel.shape[-1] - N_FRAMES
    window = whisper.pad_or_trim(mel[:, :min(N_FRAMES, content_frames)], N_FRAMES)[None].float()  # [1, 80, 3000]
    w = window.numpy()

    ct2_path = os.path.join(os.path.dirname(args.out), "ct2_encoder_jfk.json")
    ct2 = None
    if os.path.exists(ct2_path):
        with open(ct2_path, encoding="utf-8") as f:
            ct2 = json.load(f)
    tokenizer = whisper.tokenizer.get_tokenizer(model.is_multilingual, num_languages=model.num_languages,
                                                language="en", task="transcribe")
    prompt = list(tokenizer.sot_sequence)  # [50257] for tiny.en: no language or task tokens
    tokens = ct2["decode"]["tokens"] if ct2 else []

    with torch.no_grad():
        enc = model.encoder(window)                        # [1, 1500, 384]
        seq = torch.tensor([prompt + tokens[:N_TOP_STEPS - 1]])
        logits = model.decoder(seq, enc)[0, len(prompt) - 1:]  # [N_TOP_STEPS, n_vocab]
    e = enc.numpy()
    steps = []
    for step in range(min(N_TOP_STEPS, logits.shape[0])):
        x = logits[step].numpy().astype(np.float32)
        order = np.argsort(-x, kind="stable")[:N_TOP]
        steps.append({"step": step, "top_tokens": [int(t) for t in order], "top_logits": floats(x[order]),
                      "logits_of_ct2_top": (floats(x[ct2["decode"]["first_steps"][step]["top_tokens"]])
                                            if ct2 else None)})

    header = {
        "magic": "wst-reference",
        "format_version": FORMAT_VERSION,
        "implementation": "openai-whisper (transcribe()'s first window)",
        "command": rc.command_line(),
        "versions": {"openai_whisper": whisper.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
        "model": {"name": "tiny.en", "model_bin_sha256": rc.sha256_file(os.path.join(model_dir, "model.bin")),
                  "converted_by": "tests/reference/ct2_to_openai_checkpoint.py"},
        "device": "cpu",
        "compute_type": "float32",
        "audio": {"file": "jfk.wav", "read_as": "16-bit PCM / 32768 as float32", "n_samples": int(audio.size)},
    }
    out = {
        "header": header,
        "features": {
            **stats(w),
            "n_content_frames": int(content_frames),
            "rule": "log_mel_spectrogram(audio, padding=N_SAMPLES)[:, :min(3000, n_frames - 3000)], pad_or_trim",
            "frame0_bins_0_to_15": floats(w[0, :N_VALUES, 0]),
            "bin0_frames_0_to_15": floats(w[0, 0, :N_VALUES]),
            "bin1_frames_0_to_15": floats(w[0, 1, :N_VALUES]),
            "bin79_frames_0_to_15": floats(w[0, 79, :N_VALUES]),
            "frame_1099_bins_0_to_15": floats(w[0, :N_VALUES, content_frames - 1]),
            "frame_1100_bins_0_to_15 (first padding frame)": floats(w[0, :N_VALUES, content_frames]),
        },
        "encoder_output": {**stats(e), "frames": {str(t): floats(e[0, t, :N_VALUES]) for t in ENCODER_FRAMES},
                           "note": "frames[t] is encoder_output[0, t, :16]"},
        "decoder": {"prompt": prompt, "tokens_fed": tokens[:N_TOP_STEPS - 1],
                    "note": "raw decoder logits, no suppression; step s predicts the token after prompt + "
                            "tokens[:s]; logits_of_ct2_top are these logits at ct2_encoder_jfk.json's top tokens",
                    "first_steps": steps},
    }
    if ct2:
        def maxdiff(a, b):
            return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
        feats = ["frame0_bins_0_to_15", "bin0_frames_0_to_15", "bin1_frames_0_to_15", "bin79_frames_0_to_15",
                 "frame_1099_bins_0_to_15"]
        header["max_abs_diff_from_ct2_encoder_jfk"] = {
            "features_probed": max(maxdiff(out["features"][k], ct2["features"][k]) for k in feats),
            "features_mean": abs(out["features"]["mean"] - ct2["features"]["mean"]),
            "encoder_frames_probed": max(maxdiff(out["encoder_output"]["frames"][k], ct2["encoder_output"]["frames"][k])
                                         for k in out["encoder_output"]["frames"]),
            "encoder_mean": abs(out["encoder_output"]["mean"] - ct2["encoder_output"]["mean"]),
            "encoder_std": abs(out["encoder_output"]["std"] - ct2["encoder_output"]["std"]),
            "top5_logits": max(maxdiff(s["logits_of_ct2_top"], c["top_logits"])
                               for s, c in zip(steps, ct2["decode"]["first_steps"])),
            "same_top1_all_steps": all(s["top_tokens"][0] == c["top_tokens"][0]
                                       for s, c in zip(steps[1:], ct2["decode"]["first_steps"][1:])),
            "note": "step 0 top-1 is not compared: CTranslate2 forces a timestamp there, raw logits are unfiltered",
        }
    rc.write_json(args.out, out)
    print(f"wrote {args.out}: {header.get('max_abs_diff_from_ct2_encoder_jfk')}", file=sys.stderr)


if __name__ == "__main__":
    main()
