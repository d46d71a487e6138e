#!/usr/bin/env python3
"""Makes tests/reference/mel_reference.bin (+ .json) for tests/engine/mel_test.cpp.

Reference implementation: openai-whisper's own whisper.audio.log_mel_spectrogram and mel_filters
(torch CPU). Remake with:

    apt-get install python3-torch python3-numpy        # Debian's CPU torch, for /usr/bin/python3
    /usr/bin/python3 -m pip install --break-system-packages --no-deps openai-whisper tiktoken more-itertools regex
    /usr/bin/python3 tests/reference/make_mel_reference.py ../shared/audio/jfk.wav tests/reference

numba (imported by whisper/timing.py, used only for word timestamps) is replaced by a stub when absent.
The WAV is read here as s16 / 32768, which is what whisper.audio.load_audio yields for a 16 kHz mono s16 file
(ffmpeg would pass it through unchanged), so ffmpeg is not needed.

File format (little-endian), version 1:
    char[4] magic 'WSTR'; u32 version; u32 n_tensors;
    per tensor: u32 name_len; char name[name_len]; u32 n_dims; u32 dims[n_dims]; f32 data[prod(dims)]
Tensors:
    mel_filters_80   [80, 201]   whisper/assets/mel_filters.npz (librosa.filters.mel, Slaney)
    mel_filters_128  [128, 201]
    jfk_mel_80       [80, 1100]  log_mel_spectrogram(audio, 80, padding=0)
    jfk_mel_128      [128, 1100] log_mel_spectrogram(audio, 128, padding=0)
    jfk_mel_80_pad   [80, 1200]  log_mel_spectrogram(audio, 80, padding=480000)[:, :3000], first 1200
                                 frames kept (audio ends at frame 1100; the rest is the padding floor)
    edge_pcm         [3217]      a chirp with noise, stored so both sides see the same floats
    edge_mel_80_pad77 [80, 20]   log_mel_spectrogram(edge_pcm, 80, padding=77): the reflection at the end
                                 runs over appended zeros; 3217 + 77 is not a multiple of the hop
    short_pcm        [250]       the first 250 samples of edge_pcm
    short_mel_80     [80, 1]     log_mel_spectrogram(short_pcm, 80): both reflections in one frame
"""
import json
import platform
import struct
import sys
import types
import wave
from pathlib import Path

import numpy as np

try:
    import numba  # noqa: F401
except ImportError:
    stub = types.ModuleType("numba")
    stub.jit = lambda *args, **kwargs: (lambda f: f)
    sys.modules["numba"] = stub

import torch  # noqa: E402
import whisper  # noqa: E402
import whisper.audio as wa  # noqa: E402

FORMAT_VERSION = 1
PAD_FRAMES_KEPT = 1200


def read_s16_mono_16k(path):
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == 16000, path
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0


def main():
    wav, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    audio = torch.from_numpy(read_s16_mono_16k(wav))
    rng = np.random.default_rng(20251125)
    t = np.arange(3217) / 16000.0
    edge = (0.4 * np.sin(2 * np.pi * (300 * t + 20000 * t * t)) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    tensors = {
        "mel_filters_80": wa.mel_filters("cpu", 80).numpy(),
        "mel_filters_128": wa.mel_filters("cpu", 128).numpy(),
        "jfk_mel_80": wa.log_mel_spectrogram(audio, 80).numpy(),
        "jfk_mel_128": wa.log_mel_spectrogram(audio, 128).numpy(),
        "jfk_mel_80_pad": wa.log_mel_spectrogram(audio, 80, padding=wa.N_SAMPLES)[:, : wa.N_FRAMES]
        .numpy()[:, :PAD_FRAMES_KEPT],
        "edge_pcm": edge,
        "edge_mel_80_pad77": wa.log_mel_spectrogram(torch.from_numpy(edge), 80, padding=77).numpy(),
        "short_pcm": edge[:250],
        "short_mel_80": wa.log_mel_spectrogram(torch.from_numpy(edge[:250].copy()), 80).numpy(),
    }
    blob = bytearray(b"WSTR" + struct.pack("<II", FORMAT_VERSION, len(tensors)))
    for name, t in tensors.items():
        t = np.ascontiguousarray(t, dtype="<f4")
        blob += struct.pack("<I", len(name)) + name.encode()
        blob += struct.pack("<I", t.ndim) + struct.pack(f"<{t.ndim}I", *t.shape)
        blob += t.tobytes()
    (out_dir / "mel_reference.bin").write_bytes(bytes(blob))
    meta = {
        "format_version": FORMAT_VERSION,
        "command": "/usr/bin/python3 tests/reference/make_mel_reference.py ../shared/audio/jfk.wav tests/reference",
        "reference": "openai-whisper whisper.audio.log_mel_spectrogram / mel_filters",
        "input": wav.name,
        "n_samples": int(audio.shape[0]),
        "versions": {
            "python": platform.python_version(),
            "openai-whisper": whisper.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "numba": "stub" if getattr(sys.modules["numba"], "__file__", None) is None else sys.modules["numba"].__version__,
        },
        "tensors": {name: list(t.shape) for name, t in tensors.items()},
        "notes": f"jfk_mel_80_pad keeps the first {PAD_FRAMES_KEPT} of the 3000 frames openai's transcribe() uses",
    }
    (out_dir / "mel_reference.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
