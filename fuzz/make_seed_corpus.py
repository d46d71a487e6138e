"""Writes the small seed corpora of fuzz/pickle_zip_fuzz.cpp and fuzz/npz_fuzz.cpp (a few KB, no weights).

Usage (a Python with torch and numpy, e.g. Debian's python3 with python3-torch):
  python3 fuzz/make_seed_corpus.py            # writes fuzz/corpus/{pickle_zip_fuzz,npz_fuzz}/*
The first byte of every seed is the target's mode (see the targets' opening comments).
"""
import collections
import io
import os
import struct
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def checkpoint():
    """A torch.save checkpoint in openai-whisper's shape, three tiny tensors of three dtypes and layouts."""
    dims = dict(n_mels=80, n_audio_ctx=6, n_audio_state=8, n_audio_head=2, n_audio_layer=1, n_vocab=12,
                n_text_ctx=5, n_text_state=8, n_text_head=2, n_text_layer=1)
    sd = collections.OrderedDict()
    sd["a"] = torch.arange(6, dtype=torch.float16).reshape(2, 3)
    sd["b"] = torch.arange(4, dtype=torch.float32).reshape(2, 2).t()  # column-major strides
    sd["c"] = torch.nn.Parameter(torch.ones(3, dtype=torch.bfloat16))
    buf = io.BytesIO()
    torch.save({"dims": dims, "model_state_dict": sd}, buf)
    return buf.getvalue()


def pickle_of(pt):
    with zipfile.ZipFile(io.BytesIO(pt)) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))


def npy(array, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version)
    return buf.getvalue()


def npz(compressed, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def main():
    pt = checkpoint()
    pkl = pickle_of(pt)
    put("pickle_zip_fuzz", "checkpoint.pt", b"\x00" + pt)
    put("pickle_zip_fuzz", "data.pkl", b"\x01" + pkl)
    # Storages 0, 1, 2 of the checkpoint above: 6 halves, 4 floats, 3 bfloat16.
    put("pickle_zip_fuzz", "wrapped.pkl", b"\x02" + bytes([3]) + struct.pack("<HHH", 12, 16, 6) + pkl)

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    put("npz_fuzz", "plain.npz", b"\x00" + npz(False, a=a, b=np.float16([1.5, 2])))
    put("npz_fuzz", "deflated.npz", b"\x00" + npz(True, a=a))
    put("npz_fuzz", "fortran.npy", b"\x01" + npy(np.asfortranarray(a.astype(np.float16))))
    put("npz_fuzz", "v2.npy", b"\x02" + npy(a, version=(2, 0)))
    # mlx's bfloat16: descr '<V2' (numpy writes the same bytes for a 2-byte void array as '|V2').
    bf16 = npy(np.frombuffer(b"\x80\x3f\x00\x40", dtype="V2")).replace(b"'|V2'", b"'<V2'")
    put("npz_fuzz", "bf16.npy", b"\x01" + bf16)


if __name__ == "__main__":
    main()
