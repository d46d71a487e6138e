"""Writes the seed corpus of fuzz/ct2_model_fuzz.cpp into fuzz/corpus/ct2_model_fuzz/: tiny CTranslate2
model.bin files (layout in src/formats/ct2_model.h) with a few variables of each dtype, no weights.
Usage: python3 fuzz/make_ct2_seeds.py
"""

import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ct2_model_fuzz")
DTYPE_SIZE = {0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2}  # float32, int8, int16, int32, float16, bfloat16


def string(s):
    b = s.encode() + b"\0"
    return struct.pack("<H", len(b)) + b


def variable(version, name, shape, dtype):
    n = DTYPE_SIZE[dtype]
    for d in shape:
        n *= d
    out = string(name) + struct.pack("<B", len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
    if version >= 4:
        out += struct.pack("<B", dtype)
    return out + struct.pack("<I", n) + bytes(i * 7 % 256 for i in range(n))


def model(version, variables, aliases=()):
    out = struct.pack("<I", version)
    if version >= 2:
        out += string("WhisperSpec") + struct.pack("<I", 3)
    out += struct.pack("<I", len(variables))
    for v in variables:
        out += variable(version, *v)
    if version >= 3:
        out += struct.pack("<I", len(aliases))
        for alias, target in aliases:
            out += string(alias) + string(target)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    every_dtype = [("encoder/conv1/weight", [4, 2, 3], 4), ("encoder/conv1/bias", [4], 0),
                   ("decoder/embeddings/weight", [3, 4], 5), ("decoder/scale", [], 1),
                   ("decoder/ids", [2], 3), ("decoder/i16", [2, 1], 2)]
    seeds = {
        "v6_every_dtype_aliases": model(6, every_dtype, [("decoder/projection/weight", "decoder/embeddings/weight")]),
        "v3_float32": model(3, [("encoder/layer_norm/gamma", [8], 0), ("encoder/layer_norm/beta", [8], 0)]),
        "v1_no_spec": model(1, [("w", [2, 2], 0)]),
        "v6_empty_and_rank8": model(6, [("e", [0], 4), ("r8", [1] * 8, 0)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
