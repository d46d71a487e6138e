"""Writes a whisper.cpp ggml model file from a CTranslate2 Whisper model, for the whisper.cpp bridge test only.

Test-only until `models convert` (issue 6) does this in C++. The weights are renamed to openai-whisper's names by
ct2_to_openai_checkpoint.convert() (beside this script); everything here is numpy, no torch. The output is a
weight file: write it under /tmp, never into the repository.

Usage:
  python3 tests/reference/ct2_to_ggml.py [--model-dir DIR] --out /tmp/ggml-tiny.en.bin

ggml layout (little-endian), as whisper.cpp's whisper_model_load() reads it:
  uint32 magic 0x67676d6c ("ggml")
  int32  n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
         n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype     (ftype 1: float16 matrices)
  int32  n_mel, n_fft; float32 filters[n_mel * n_fft]    mel filterbank, [n_mels, 1 + 400 / 2] row-major
  int32  n_tokens; n_tokens x { uint32 len; bytes[len] } the byte strings of the text tokens 0..n_tokens-1;
         whisper.cpp names the special tokens above them itself (<|endoftext|> = n_tokens on English-only models)
  tensors until end of file: { int32 n_dims; int32 name_len; int32 ttype (0 f32, 1 f16);
         int32 ne[n_dims] (innermost first, i.e. numpy's shape reversed); bytes name; data }
  With ftype 1 whisper.cpp expects float16 for the matrices and the conv kernels, float32 for vectors, the conv
  biases and the positional embeddings; its CPU conv (im2col) accepts only float16 kernels, so ftype 0 models
  cannot run (tried with pywhispercpp 1.5.1). The tiny.en source weights are float16 already: nothing is lost.
  The conv biases are [n_state, 1] (whisper.cpp adds them as 2-D tensors).
"""

import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct2_to_openai_checkpoint as ct2  # noqa: E402

GGML_MAGIC = 0x67676D6C
# Tensors of two or more dimensions that whisper.cpp keeps in float32.
F32_TENSORS = ("encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding",
               "decoder.positional_embedding")


def gpt2_byte_decoder():
    """GPT-2's printable stand-in character for each byte, reversed: the tokens in vocabulary.txt are byte
    strings spelled with these characters (printable Latin-1 bytes stand for themselves, the other 68 bytes
    for the code points 256, 257, ... in byte order)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = {b: b for b in printable}
    n = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + n
            n += 1
    return {chr(c): b for b, c in chars.items()}


def slaney_mel_filters(sr=16000, n_fft=400, n_mels=80):
    """The Slaney-style mel filterbank openai-whisper uses (librosa.filters.mel defaults): [n_mels, 1 + n_fft/2]."""
    f_sp = 200.0 / 3  # linear part: 3 mels per 200 Hz below 1 kHz
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]  # area normalisation
    return weights.astype(np.float32)


def text_tokens(model_dir, n_vocab):
    """Byte strings of the ordinary tokens (those before <|endoftext|>) from vocabulary.txt."""
    with open(os.path.join(model_dir, "vocabulary.txt"), encoding="utf-8") as f:
        words = f.read().split("\n")
    if words and words[-1] == "":
        words.pop()
    eot = words.index("<|endoftext|>")
    dec = gpt2_byte_decoder()
    return [bytes(dec[c] for c in w) for w in words[:eot]]


def main():
    args, model_dir, dims, sd, _ = ct2.load_for_conversion(__doc__.split("\n")[0])
    filters = slaney_mel_filters(n_mels=dims["n_mels"])
    tokens = text_tokens(model_dir, dims["n_vocab"])

    tmp = args.out + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<I", GGML_MAGIC))
        for k in ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                  "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels"):
            f.write(struct.pack("<i", dims[k]))
        f.write(struct.pack("<i", 1))  # ftype: float16 matrices
        f.write(struct.pack("<ii", *filters.shape))
        f.write(filters.astype("<f4").tobytes())
        f.write(struct.pack("<i", len(tokens)))
        for t in tokens:
            f.write(struct.pack("<I", len(t)) + t)
        for name, arr in sd.items():
            arr = np.asarray(arr, dtype=np.float32)
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                arr = arr.reshape(arr.shape[0], 1)
            f32 = arr.ndim < 2 or name in F32_TENSORS
            arr = np.ascontiguousarray(arr, dtype="<f4" if f32 else "<f2")
            encoded = name.encode("utf-8")
            f.write(struct.pack("<iii", arr.ndim, len(encoded), 0 if f32 else 1))
            f.write(struct.pack(f"<{arr.ndim}i", *reversed(arr.shape)))
            f.write(encoded)
            f.write(arr.tobytes())
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {dims}, {len(tokens)} text tokens, {len(sd)} tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
