"""Writes the seed corpus of fuzz/tokenizer_fuzz.cpp into fuzz/corpus/tokenizer_fuzz/ (small hand-made files).

Each seed is [model byte] [tokenizer.json]: the model byte picks n_vocab (0: 51864 English-only, 1: 51865
multilingual, 2: 51866 large-v3). A real tokenizer.json holds 50,000 ordinary tokens, too many for a fuzz
input, so these hold the 256 byte tokens and a few merges, followed at a distance by Whisper's specials at
their real ids. Usage: python3 fuzz/make_tokenizer_seeds.py
"""

import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tokenizer_fuzz")
# openai-whisper's LANGUAGES in token order; large-v3 adds yue.
LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt la "
    "mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be "
    "tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su"
).split()
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("a", "n"), ("Ġ", "a"), ("Ġa", "n"), ("o", "u"), ("'", "s"),
          ("Ġ", "y"), ("Ġy", "ou")]


def byte_stand_ins():
    """GPT-2's printable spelling of each byte: byte -> one character."""
    self_bytes = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table, extra = {}, 256
    for b in range(256):
        if b in self_bytes:
            table[b] = chr(b)
        else:
            table[b] = chr(extra)
            extra += 1
    return table


def tokenizer(n_vocab, merges_as_pairs=False, list_timestamp=False):
    stand_in = byte_stand_ins()
    vocab = {stand_in[b]: b for b in range(256)}
    for left, right in MERGES:
        vocab.setdefault(left + right, len(vocab))
    multilingual = n_vocab >= 51865
    languages = LANGUAGES + (["yue"] if n_vocab == 51866 else [])
    eot_real = 50257 if multilingual else 50256
    # The ordinary tokens end at eot = len(vocab); the other specials keep their real ids.
    names = ["<|startoftranscript|>"] + [f"<|{c}|>" for c in languages] + [
        "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
        "<|nospeech|>" if n_vocab == 51866 else "<|nocaptions|>", "<|notimestamps|>"]
    added = [{"id": len(vocab), "content": "<|endoftext|>", "special": True}]
    added += [{"id": eot_real + 1 + i, "content": name, "special": True} for i, name in enumerate(names)]
    if list_timestamp:
        added.append({"id": eot_real + 1 + len(names), "content": "<|0.00|>", "special": False})
    assert eot_real + 1 + len(names) + 1501 == n_vocab
    merges = [[l, r] for l, r in MERGES] if merges_as_pairs else [f"{l} {r}" for l, r in MERGES]
    doc = {
        "version": "1.0",
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "english_only": b"\0" + tokenizer(51864),
        "multilingual_pair_merges": b"\1" + tokenizer(51865, merges_as_pairs=True),
        "large_v3_with_timestamp": b"\2" + tokenizer(51866, list_timestamp=True),
        "not_a_tokenizer": b"\0" + b'{"version":"1.0","added_tokens":[{"id":"x"}],"model":{"type":"WordPiece"}}',
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
