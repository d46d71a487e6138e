"""Writes an mlx-whisper model directory from a CTranslate2 Whisper model, for the mlx-whisper bridge test only
(until `models convert`, issue 6, does it in C++). The output holds weights: write it under /tmp, never into
the repository. numpy only.

Usage:
  /usr/bin/python3 tests/reference/ct2_to_mlx_whisper.py [--model-dir DIR] --out /tmp/whisper-tiny.en-mlx

What it writes, as mlx_whisper.load_models.load_model() reads it:
  config.json    openai-whisper's ModelDimensions (n_mels ... n_text_layer) and "model_type": "whisper"
  weights.npz    float32 arrays under openai-whisper's names (ct2_to_openai_checkpoint.convert()), except
                 - mlp.0 / mlp.2 are mlp1 / mlp2 (mlx-whisper names the two MLP layers apart),
                 - conv weights are [out, kernel, in] (MLX's Conv1d layout) instead of [out, in, kernel],
                 - encoder.positional_embedding is left out: mlx-whisper computes the sinusoids itself and
                   its update() refuses names the model does not have.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct2_to_openai_checkpoint as ct2  # noqa: E402


def main():
    args, model_dir, dims, sd, ct2_config = ct2.load_for_conversion(__doc__.split("\n")[0])
    weights = {}
    for name, arr in sd.items():
        if name == "encoder.positional_embedding":
            continue
        arr = np.asarray(arr, dtype=np.float32)
        if name in ("encoder.conv1.weight", "encoder.conv2.weight"):
            arr = arr.transpose(0, 2, 1)  # [out, in, k] -> [out, k, in]
        weights[name.replace(".mlp.0.", ".mlp1.").replace(".mlp.2.", ".mlp2.")] = np.ascontiguousarray(arr)
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "weights.npz"), **weights)
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"model_type": "whisper", **dims}, f, indent=2)
    print(f"wrote {args.out}: {len(weights)} tensors, {dims}", file=sys.stderr)


if __name__ == "__main__":
    main()
