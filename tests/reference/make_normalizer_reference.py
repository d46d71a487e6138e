#!/usr/bin/env python3
"""Makes the reference outputs that pin our text normaliser and WER to the Python implementations.

    python3 tests/reference/make_normalizer_reference.py [--shared-audio DIR]

Writes, next to this script:
  normalizer_english.json  input -> whisper_normalizer's EnglishTextNormalizer output (LibriSpeech transcripts,
                           hand-made hard cases, seeded random number phrases, text and Unicode strings) and
                           input -> BasicTextNormalizer output (multilingual transcripts, hard cases and seeded
                           random strings, for each option combination).
  wer_jiwer.json           (reference, hypothesis) -> jiwer.process_words counts, per pair and over the corpus.

whisper_normalizer 0.1.15 is a copy of openai-whisper's whisper/normalizers (same rules, same spelling table);
jiwer 4.0 counts S/D/I from rapidfuzz's Levenshtein opcodes. Each file's header holds the command, the versions
and a format version; tests/bench/*_test.cpp refuse a different format version.
"""
import argparse
import importlib.metadata
import json
import pathlib
import platform
import random
import sys
import unicodedata

import jiwer
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

FORMAT_VERSION = 1
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# Hard cases for the English normaliser, grouped by the rule they exercise.
ENGLISH_CASES = [
    # empty and whitespace
    "", " ", "   ", "hello   world", "  leading and trailing  ", "tabs\tand\nnewlines\r\nhere", "\u00a0nbsp\u2003em space",
    # spelled-out numbers
    "twenty five", "one hundred and one", "one hundred one", "two thousand and twenty", "nineteen ninety nine",
    "one oh one", "double o seven", "triple five", "zero", "oh", "one", "ones", "one two three four",
    "three hundred thousand", "a million", "seven billion people", "twelve dozen", "ninety nine bottles",
    "twenty twenty four", "two thousand twenty four", "eleven hundred", "a hundred and fifty", "sixty six",
    "one million two hundred thousand", "nine hundred ninety nine thousand nine hundred ninety nine",
    "one decillion decillion", "ten point five", "three point one four one five nine", "point five", "zero point five",
    "oh point oh five", "five and a half", "a million and a half", "two and a half hours", "and a half",
    "one and a half and a half", "one half", "three quarters", "minus five", "negative twenty", "plus seven",
    "positive one", "minus", "plus and", "the nineteen sixties", "the twenties", "sixes and sevens",
    # ordinals
    "first", "second", "third", "fourth", "fifth", "ninth", "nineth", "twelfth", "twentieth", "twenty first",
    "one hundred and first", "the millionth time", "hundredth", "21st", "2nd", "33rd", "100th", "4 th", "3 rd place",
    # digits, separators, decimals
    "2,500", "1,2,3", "2,500,000", "1.5 million", "1.5", "3.14", "5.0", "1.50", "0.5", "10.0.0.1", "192.168.1.1",
    "1960s", "the 1990s", "it was 1999.", "call 555-1234", "version 2.0.1", "1/2", "3 1/2", "½", "x²", "a1b2c3",
    "mp3 player", "4k video", "covid19", "24/7", "007", "0", "00", "1 000 000", "100 000",
    # currencies and percentages
    "$3.50", "$20 million", "£20", "€5", "¥100", "5%", "50 percent", "fifty per cent", "per cent", "5 per",
    "ten dollars", "twenty pounds", "three euros", "fifty cents", "two dollars and fifty cents", "a dollar",
    "one dollar and one cent", "$2 and ¢7", "$0.05", "$0.5", "$0 5", "$1", "$1s", "costs $", "the $ sign",
    "100%", "%5", "a%%", "five percent of ten dollars", "$5.99 each", "£1,000,000", "€2.5 billion",
    # British spellings
    "colour", "the colours of the organisation", "centre", "theatre", "organise", "realised", "travelling",
    "grey", "programme", "analyse", "defence", "aluminium", "mould",
    # contractions
    "won't", "can't", "I'd", "it's", "let's", "ain't", "y'all", "wanna", "gonna", "gotta", "kinda", "sorta",
    "dunno", "i'ma", "imma", "woulda", "coulda", "shoulda", "'cause", "because", "ma'am", "don't", "isn't",
    "they're", "we'll", "I've", "I'm", "he'd been", "she's been", "it's gone", "I'd done", "she's got", "it'd",
    "rock 'n' roll", "John 's book", "the dogs' bowls", "o'clock", "it\u2019s", "don\u2019t",
    # titles and abbreviations
    "Mr. Smith", "Mrs. Jones", "Dr. Who", "St. Paul", "Prof. X", "Capt. Hook", "Gov. Brown", "Gen. Lee",
    "Sen. Kerry", "Rep. Pelosi", "Pres. Lincoln", "Rev. King", "Hon. member", "Asst. manager", "Assoc. dean",
    "Lt. Dan", "Col. Sanders", "Sammy Davis Jr.", "John Smith Sr.", "Esq.", "Ald. Jones", "mister", "U.S.A.",
    "e.g. this", "i.e.", "etc.", "a.m. and p.m.", "Mt. Everest",
    # hyphens, dashes
    "twenty-five", "forty-two", "well-known", "self-driving car", "state-of-the-art", "one-on-one",
    "nine-eleven", "a \u2014 b", "a \u2013 b", "x - y", "--",
    # brackets and parentheses
    "[laughs]", "(applause)", "hello [music] world", "hi (laughs) there", "<unk>", "a <b> c", "[unclosed",
    "(unclosed", "()", "(())", "((a) b)", "[a] [b]", "[a (b] c)", "a ] b", "a ) b", "<a]", "[a>",
    # fillers
    "um", "uh", "hmm", "mm", "mhm", "mmm", "um, so, uh, yes", "hmmm", "umm", "uhh", "Um.", "yummy", "hum",
    "um's", "drum",
    # accents and other scripts
    "café", "naïve", "résumé", "Zoë", "jalapeño", "façade", "Ångström", "straße", "Œuvre", "Ærø", "Łódź",
    "þorn", "ĐÐ", "ﬁnancial", "™ and ©", "Ⅻ", "①", "İstanbul", "ΟΔΥΣΣΕΥΣ", "Москва", "日本語", "한국어",
    "e\u0301", "\u0301a", "hello\u200bworld",
    # assigned in Unicode 15.0, after this Python's unicodedata (14.0): a known difference with ICU 72
    "x\U0001e030y",
    # punctuation and symbols
    "Hello, world!", "What?!", "a..b", "end.", "...", "wait... what", "\"quoted\"", "\u201cquoted\u201d",
    "a/b", "a\\b", "a_b", "a+b=c", "#hashtag", "@user", "a & b", "50 * 3", "snake_case_name", "tilde~",
    "x.y", ".5", "5.", "$.", ".$", "¢", "£.", "a.%", "hello.world", "www.example.com",
    # mixed sentences
    "Hello, Mr. Smith! It's twenty-five past nine, and I've paid $3.50 (plus tax).",
    "The U.K. organisation's colour scheme cost £1,250.75 in 2019 [citation needed].",
    "Um, I think it's about fifty per cent, uh, maybe sixty.",
    "He won't go; she can't stay -- they're both sixty-five years old.",
    "On the 3rd of May, 1.5 million people, i.e. 10% of the population, travelled 200 km.",
]

# Extra cases for the basic normaliser (non-English text as well as some of the English cases above).
BASIC_CASES = [
    "", "  ", "Hello, World!", "[music] bonjour (rires) le monde", "für die Straße", "ça va? oui, très bien.",
    "¿Dónde está la biblioteca?", "Ærøskøbing", "ﬁn", "①②", "日本語のテキスト、です。", "广州市房地产中介协会分析",
    "नमस्ते दुनिया", "ሰላም", "Привет, мир!", "Ελληνικά: ΟΔΥΣΣΕΥΣ", "İstanbul", "e\u0301", "ǅ", "a\u200db",
    "👍🏽 emoji", "한국어 텍스트", "عربي، نص", "שָׁלוֹם", "Łódź þorn ĐÐ", "x² ½", "tab\there", "(a) (b",
    "b\u1acf",  # a combining mark new in Unicode 15.0: a known difference (see the test)
]

LIBRI_HEADER = ["id", "duration_s", "transcript"]
MULTI_HEADER = ["id", "lang", "duration_s", "transcript"]


def random_number_phrases(n: int, seed: int) -> list:
    """Seeded random word sequences over the number normaliser's vocabulary, mixed with digits and plain words."""
    vocab = (
        "zero oh o one two three four five six seven eight nine ten eleven twelve thirteen fifteen nineteen "
        "twenty thirty forty fifty ninety hundred thousand million billion trillion first second third fifth "
        "ninth twelfth twentieth thirtieth hundredth thousandth millionth ones twos sixes tens twenties fifties "
        "hundreds thousands millions and double triple point minus negative plus positive dollar dollars pound "
        "pounds euro euros cent cents per percent a half the of 0 1 5 10 12 20 25 100 1.5 2.50 0.5 007 1,000 "
        "$5 £3 €2 $0.5 ¢7 5% 1st 2nd 3rd 4th 1960s $ £ . , -"
    ).split()
    rng = random.Random(seed)
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 8))) for _ in range(n)]


def random_texts(n: int, seed: int) -> list:
    """Seeded random text mixing number words, contractions, digits, punctuation, symbols and letters with
    diacritics, for the interplay of the rules."""
    words = (
        "zero oh one two five twelve nineteen twenty ninety hundred thousand million first third ninth twelfth "
        "twentieth hundredth ones sixes twenties hundreds and double triple point minus plus dollars pounds euro "
        "cents per percent a half the mr mrs dr st won't can't it's i'd he'd been um uh hmm colour organise centre "
        "cause y'all gonna"
    ).split()
    numbers = ["0", "1", "5", "10", "12", "100", "1000", "1.5", "2.50", "0.05", "3.14", "1999", "2,500,000"]
    chars = list("0123456789.,$£€¢%-+/()[]<>'\"!?;: \t\n_~&@#*=\\^`{}|aébxAÉßæøŁþðİΣﬁ½²①Ⅻ™©—–“”’…")
    chars += ["\u0301", "\u200b", "\u00a0", "\u3000", "日", "한", "٣", "۵"]
    glue = [" ", " ", " ", "", ", ", ". ", "-", "  ", "$", "'"]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 10)):
            r = rng.random()
            if r < 0.5:
                parts.append(rng.choice(words))
            elif r < 0.75:
                parts.append(rng.choice(numbers))
            else:
                parts.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 4))))
            parts.append(rng.choice(glue))
        out.append("".join(parts))
    return out


def random_unicode(n: int, seed: int) -> list:
    """Seeded random strings over much of Unicode. Only characters assigned in this Python's unicodedata are
    drawn: newer ones are a known, pinned difference (see text_normalizer_test.cpp)."""
    rng = random.Random(seed)
    ranges = [(0x20, 0x2FF, 0.3), (0x300, 0x33FF, 0.3), (0xA000, 0xFFFD, 0.1), (0x10000, 0x1FAFF, 0.1)]
    out = []
    while len(out) < n:
        s = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            for lo, hi, p in ranges:
                if r < p:
                    s.append(chr(rng.randint(lo, hi)))
                    break
                r -= p
            else:
                s.append(rng.choice(" ab1.$%()[]'"))
        if all(unicodedata.category(c) not in ("Cn", "Cs") for c in s):
            out.append("".join(s))
    return out


WER_PAIRS = [
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("the cat sat on the mat", "the cat sat on mat"),
    ("the cat sat on the mat", "the cat sat on a mat"),
    ("the cat sat on the mat", "the big cat sat on the mat"),
    ("the cat sat on the mat", ""),
    ("", "something was said"),
    ("", ""),
    ("a b c", "c b a"),
    ("a b c d e", "b c d e f"),
    ("a a a a", "a a"),
    ("a b", "b a b a"),
    ("one two three four five", "one too three for five six"),
    ("x y z", "p q"),
    ("p q", "x y z"),
    ("  spaced   words here ", "spaced words  here"),
    ("a\tb c", "a b c"),
    ("hello world", "hello\u00a0world"),
    ("he began a confused complaint against the wizard", "he began a confused complaint against wizard who"),
    ("a b a b a b", "b a b a b a"),
    ("the quick brown fox jumps over the lazy dog", "a quick brown dog jumps over the lazy fox"),
    ("to be or not to be that is the question", "to be or not to be is the question that"),
    ("one 2 three", "1 two 3"),
]


def versions() -> dict:
    def v(name):
        return importlib.metadata.version(name)

    return {
        "python": platform.python_version(),
        "unicodedata": unicodedata.unidata_version,
        "whisper_normalizer": v("whisper_normalizer"),
        "jiwer": v("jiwer"),
        "rapidfuzz": v("rapidfuzz"),
    }


def read_tsv(path: pathlib.Path, header: list) -> list:
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines[0].split("\t") != header:
        raise SystemExit(f"{path}: expected header {header}, got {lines[0]!r}")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:] if line]


def find_shared_audio(arg) -> pathlib.Path:
    candidates = [pathlib.Path(arg)] if arg else [ROOT.parent / "shared" / "audio", pathlib.Path("/work/shared/audio")]
    for c in candidates:
        if (c / "librispeech" / "transcripts.tsv").exists():
            return c
    raise SystemExit(f"shared audio not found in {candidates}; pass --shared-audio")


def write_json(path: pathlib.Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared-audio", help="folder with librispeech/ and multilingual/ transcripts.tsv")
    args = ap.parse_args()
    audio = find_shared_audio(args.shared_audio)

    english = EnglishTextNormalizer()
    header = {
        "format_version": FORMAT_VERSION,
        "command": "python3 tests/reference/make_normalizer_reference.py",
        "versions": versions(),
    }

    english_cases = []
    for row in read_tsv(audio / "librispeech" / "transcripts.tsv", LIBRI_HEADER):
        english_cases.append({"set": "librispeech", "id": row["id"], "input": row["transcript"]})
    english_cases += [{"set": "hard", "input": s} for s in ENGLISH_CASES]
    english_cases += [{"set": "random_numbers", "input": s} for s in random_number_phrases(300, seed=1234)]
    english_cases += [{"set": "random_text", "input": s} for s in random_texts(400, seed=2024)]
    english_cases += [{"set": "random_unicode", "input": s} for s in random_unicode(300, seed=77)]
    for c in english_cases:
        c["output"] = english(c["input"])

    basic_inputs = [
        {"set": "multilingual", "id": row["id"], "input": row["transcript"]}
        for row in read_tsv(audio / "multilingual" / "transcripts.tsv", MULTI_HEADER)
    ]
    basic_inputs += [{"set": "hard", "input": s} for s in BASIC_CASES + ENGLISH_CASES]
    basic_inputs += [{"set": "random_text", "input": s} for s in random_texts(100, seed=2025)]
    basic_inputs += [{"set": "random_unicode", "input": s} for s in random_unicode(150, seed=78)]
    basic_cases = []
    for c in basic_inputs:
        for remove_diacritics in (False, True):
            for split_letters in (False, True):
                out = BasicTextNormalizer(remove_diacritics=remove_diacritics, split_letters=split_letters)(c["input"])
                basic_cases.append({**c, "remove_diacritics": remove_diacritics, "split_letters": split_letters,
                                    "output": out})

    write_json(HERE / "normalizer_english.json", {**header, "english": english_cases, "basic": basic_cases})

    # Seeded random pairs over a five-word vocabulary: many equally short alignments, so the choice among
    # them (and so S/D/I) is exercised, on lengths past 64 words (several bit-vector blocks in rapidfuzz).
    rng = random.Random(99)
    vocab = "a b c d e".split()
    random_pairs = [
        tuple(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, rng.choice([8, 40, 200])))) for _ in "rh")
        for _ in range(40)
    ]
    pairs = []
    for ref, hyp in WER_PAIRS + random_pairs:
        o = jiwer.process_words(ref, hyp)
        pairs.append({"reference": ref, "hypothesis": hyp, "substitutions": o.substitutions,
                      "deletions": o.deletions, "insertions": o.insertions, "hits": o.hits, "wer": o.wer})
    refs = [r for r, _ in WER_PAIRS + random_pairs]
    hyps = [h for _, h in WER_PAIRS + random_pairs]
    o = jiwer.process_words(refs, hyps)
    corpus = {"substitutions": o.substitutions, "deletions": o.deletions, "insertions": o.insertions,
              "hits": o.hits, "wer": o.wer, "jiwer_wer": jiwer.wer(refs, hyps)}
    write_json(HERE / "wer_jiwer.json", {**header, "pairs": pairs, "corpus": corpus})


if __name__ == "__main__":
    sys.exit(main())
