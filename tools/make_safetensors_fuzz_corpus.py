"""Writes the seed corpus of fuzz/safetensors_fuzz.cpp into fuzz/corpus/safetensors_fuzz/: a few tiny
safetensors files, valid and nearly valid, made by hand (no weights). Standard library only.

Usage: python3 tools/make_safetensors_fuzz_corpus.py
"""

import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz", "corpus", "safetensors_fuzz")


def st(header, data, pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        "two_tensors": st({"__metadata__": {"format": "pt"},
                           "model.encoder.conv1.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "model.decoder.layer_norm.weight": {"dtype": "F16", "shape": [1, 2], "data_offsets": [8, 12]}},
                          bytes(range(12))),
        "bf16_scalar_and_empty": st({"x": {"dtype": "BF16", "shape": [], "data_offsets": [0, 2]},
                                     "e": {"dtype": "F32", "shape": [0, 4], "data_offsets": [2, 2]}}, b"\x80\x3f"),
        "overlap": st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
        "unsupported_dtype": st({"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)),
        "unpadded": st({"w": {"dtype": "F32", "shape": [1, 1, 1], "data_offsets": [0, 4]}}, bytes(4), pad=False),
    }
    for name, b in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(b)
    print(f"wrote {len(files)} files to {OUT}")


if __name__ == "__main__":
    main()
