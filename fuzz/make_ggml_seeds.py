"""Writes the seed corpus of fuzz/ggml_fuzz.cpp into fuzz/corpus/ggml_fuzz/ (small synthetic files, no weights).

Each seed starts with the target's mode byte: 0 = the rest follows the target's fixed header (the vocabulary
and tensor records), 1 = the rest is a whole file. Usage: python3 fuzz/make_ggml_seeds.py
"""

import os
import random
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ggml_fuzz")
BLOCK_BYTES = {2: 18, 3: 20, 6: 22, 7: 24, 8: 34}  # q4_0, q4_1, q5_0, q5_1, q8_0


def vocab(tokens):
    out = struct.pack("<i", len(tokens))
    for t in tokens:
        out += struct.pack("<I", len(t)) + t
    return out


def tensor(name, ne, ttype, rng):
    n = 1
    for d in ne:
        n *= d
    size = n * 4 if ttype == 0 else n * 2 if ttype == 1 else n // 32 * BLOCK_BYTES[ttype]
    data = bytes(rng.randrange(256) for _ in range(size))
    if ttype == 0:  # finite floats
        data = struct.pack(f"<{n}f", *(rng.uniform(-1, 1) for _ in range(n)))
    enc = name.encode()
    return struct.pack("<iii", len(ne), len(enc), ttype) + struct.pack(f"<{len(ne)}i", *ne) + enc + data


def main():
    rng = random.Random(6)
    os.makedirs(OUT, exist_ok=True)
    words = [b"!", b"a", b" the", b"", b"\xe5\xb9"]
    seeds = {
        "f32_f16_bias": b"\0" + vocab(words) + tensor("decoder.ln.weight", [32], 0, rng)
        + tensor("encoder.conv1.bias", [1, 32], 0, rng) + tensor("encoder.conv1.weight", [3, 80, 1], 1, rng),
        "q4": b"\0" + vocab(words[:2]) + tensor("encoder.ln_post.weight", [32], 2, rng)
        + tensor("encoder.ln_post.bias", [32], 3, rng),
        "q5_q8": b"\0" + vocab([]) + tensor("decoder.ln.bias", [32], 6, rng)
        + tensor("encoder.blocks.0.mlp.0.bias", [32, 4], 7, rng) + tensor("decoder.ln.weight", [32], 8, rng),
        "scalar_and_4d": b"\0" + vocab(words[2:]) + tensor("x", [], 0, rng) + tensor("y", [1, 2, 1, 2], 1, rng),
        "whole_header": b"\1" + struct.pack("<I", 0x67676D6C)
        + struct.pack("<11i", 51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1) + struct.pack("<ii", 80, 201)
        + bytes(64),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
