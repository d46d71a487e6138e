"""Writes the seed corpus of fuzz/wav_fuzz.cpp into fuzz/corpus/wav_fuzz/: tiny audio files (at most a few
hundred frames of a synthetic tone), one per container and sample format libsndfile reads that the standard
library can write or that is simple enough to write by hand. Usage: python3 fuzz/make_wav_seeds.py
"""

import math
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wav_fuzz")


def tone(n, channels, amplitude=0.5):
    """[n, channels] samples in [-amplitude, amplitude], channel c at a different pitch."""
    return [[amplitude * math.sin(2 * math.pi * (c + 1) * i / 40) for c in range(channels)] for i in range(n)]


def riff(fmt_tag, channels, rate, bits, frames_bytes, extra_fmt=b"", extra_chunks=b""):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits) + extra_fmt
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks
    body += b"data" + struct.pack("<I", len(frames_bytes)) + frames_bytes
    if len(frames_bytes) % 2:
        body += b"\0"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pcm16(frames):
    return b"".join(struct.pack("<h", round(s * 32767)) for f in frames for s in f)


def wav_pcm16(rate, channels, n):
    return riff(1, channels, rate, 16, pcm16(tone(n, channels)))


def wav_u8(rate, n):
    return riff(1, 1, rate, 8, bytes(round(128 + s * 127) for f in tone(n, 1) for s in f))


def wav_pcm24(rate, n):
    data = b"".join(struct.pack("<i", round(s * 8388607))[:3] for f in tone(n, 1) for s in f)
    return riff(1, 1, rate, 24, data)


def wav_float32(rate, n):
    # Beyond [-1, 1], as float files may be: the reader clamps. A fact chunk, as float WAVs carry.
    data = b"".join(struct.pack("<f", s) for f in tone(n, 1, amplitude=1.5) for s in f)
    return riff(3, 1, rate, 32, data, extra_fmt=struct.pack("<H", 0),
                extra_chunks=b"fact" + struct.pack("<II", 4, n))


def wav_extensible_stereo(rate, n):
    # WAVE_FORMAT_EXTENSIBLE with the PCM sub-format GUID, front left + front right.
    guid = struct.pack("<IHH", 1, 0x0000, 0x0010) + bytes([0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])
    ext = struct.pack("<HHI", 22, 16, 0x3) + guid
    return riff(0xFFFE, 2, rate, 16, pcm16(tone(n, 2)), extra_fmt=ext)


def wav_ulaw(rate, n):
    # G.711 mu-law bytes of a tone (the reader only needs valid codes, any byte is one).
    data = bytes((i * 37) & 0xFF for i in range(n))
    return riff(7, 1, rate, 8, data, extra_fmt=struct.pack("<H", 0))


def extended80(x):
    """An IEEE 754 80-bit extended float, big-endian, as AIFF stores its sample rate."""
    exponent = int(math.floor(math.log2(x)))
    mantissa = int(x / 2 ** exponent * 2 ** 63)
    return struct.pack(">HQ", exponent + 16383, mantissa)


def aiff_pcm16(rate, channels, n):
    data = b"".join(struct.pack(">h", round(s * 32767)) for f in tone(n, channels) for s in f)
    comm = struct.pack(">hIh", channels, n, 16) + extended80(rate)
    ssnd = struct.pack(">II", 0, 0) + data
    body = b"AIFF" + b"COMM" + struct.pack(">I", len(comm)) + comm + b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    return b"FORM" + struct.pack(">I", len(body)) + body


def au_pcm16(rate, channels, n):
    data = b"".join(struct.pack(">h", round(s * 32767)) for f in tone(n, channels) for s in f)
    return b".snd" + struct.pack(">IIIII", 24, len(data), 3, rate, channels) + data


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "pcm16_mono_16k.wav": wav_pcm16(16000, 1, 200),
        "pcm16_stereo_8k.wav": wav_pcm16(8000, 2, 100),
        "u8_mono_22050.wav": wav_u8(22050, 200),
        "pcm24_mono_48k.wav": wav_pcm24(48000, 150),
        "float32_mono_16k_loud.wav": wav_float32(16000, 100),
        "extensible_stereo_44100.wav": wav_extensible_stereo(44100, 100),
        "ulaw_mono_8k.wav": wav_ulaw(8000, 200),
        "pcm16_stereo_16k.aiff": aiff_pcm16(16000, 2, 100),
        "pcm16_mono_11025.au": au_pcm16(11025, 1, 200),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
