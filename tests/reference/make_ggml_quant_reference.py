"""Makes ggml_quant_reference.json: random ggml quantised blocks (q4_0, q4_1, q5_0, q5_1, q8_0) and their
float32 values as ggml's own Python package `gguf` dequantises them, and float32 rows with the q8_0 blocks
`gguf` quantises them to (bit-exact with ggml's quantize_row_q8_0, as gguf states), for
tests/formats/ggml_types_test.cpp.

The blocks are random bytes from a fixed seed, except the scales d (and minimums m), which are drawn from
float16 values that cover normal, subnormal, zero and negative scales (never inf or NaN).

Usage (gguf is not among the project's packages; install it beside them, e.g. into /tmp):
  pip install --no-deps --target /tmp/gguf-pkg gguf==0.19.0
  PYTHONPATH=/tmp/gguf-pkg .venv/bin/python tests/reference/make_ggml_quant_reference.py
"""

import os
import platform
import sys

import numpy as np
from gguf.constants import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_common as common  # noqa: E402

FORMAT_VERSION = 2
N_BLOCKS = 6
# (name, ggml type, leading float16 fields, bytes of packed weights after them)
TYPES = [("q4_0", Q.Q4_0, 1, 16), ("q4_1", Q.Q4_1, 2, 16), ("q5_0", Q.Q5_0, 1, 20), ("q5_1", Q.Q5_1, 2, 20),
         ("q8_0", Q.Q8_0, 1, 32)]


def random_halves(rng, n):
    """n float16 values: mostly normal scales of either sign, with a subnormal and a zero mixed in."""
    v = (rng.uniform(-0.05, 0.05, n)).astype(np.float16)
    v[rng.integers(0, n)] = np.float16(3e-6)  # subnormal in float16
    v[rng.integers(0, n)] = np.float16(0.0)
    return v


def q8_0_rows(rng):
    """Rows to quantise: Whisper-like weights, a row of exact halves (x * (1/d) lands on .5: the rounding
    rule shows), an all-zero block, one tiny value among zeros, and large values of both signs."""
    weights = rng.normal(0.0, 0.05, 32 * 8).astype(np.float32)
    halves = np.arange(-16, 16, dtype=np.float32) + np.float32(0.5)
    halves[0] = -127.0  # d = 1 exactly, so every other x * (1/d) is a tie
    zero = np.zeros(32, np.float32)
    tiny = np.zeros(32, np.float32)
    tiny[5] = np.float32(1e-7)
    large = rng.uniform(-6e4, 6e4, 32).astype(np.float32)
    return [("normal", weights), ("halves", halves), ("zero", zero), ("tiny", tiny), ("large", large)]


def main():
    from importlib.metadata import version  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(20261126)
    cases = []
    for name, qtype, n_halves, n_packed in TYPES:
        halves = random_halves(rng, N_BLOCKS * n_halves).reshape(N_BLOCKS, n_halves)
        packed = rng.integers(0, 256, size=(N_BLOCKS, n_packed), dtype=np.uint8)
        blocks = np.concatenate([halves.astype("<f2").view(np.uint8), packed], axis=1)
        values = dequantize(blocks.reshape(-1), qtype)
        assert values.dtype == np.float32 and values.size == N_BLOCKS * 32, (name, values.shape)
        cases.append({"type": name, "type_id": int(qtype), "n_blocks": N_BLOCKS,
                      "blocks_hex": blocks.tobytes().hex(), "values": [float(x) for x in values.reshape(-1)]})
    quantize_cases = []
    for name, row in q8_0_rows(rng):
        blocks = quantize(row.reshape(1, -1), Q.Q8_0)
        quantize_cases.append({"name": name, "type": "q8_0", "values": [float(x) for x in row],
                               "blocks_hex": blocks.tobytes().hex()})
    common.write_json(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ggml_quant_reference.json"), {
        "format": "wst-ggml-quant-reference",
        "format_version": FORMAT_VERSION,
        "command": "PYTHONPATH=/tmp/gguf-pkg " + common.command_line(),
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "gguf": version("gguf")},
        "cases": cases,
        "quantize_cases": quantize_cases,
    })


if __name__ == "__main__":
    main()
