#!/usr/bin/env python3
"""Prints the kNewerUnicode table of src/engine/tokenizer.cpp: code points that the Oniguruma inside
Hugging Face `tokenizers` counts as letters (\\p{L}) or numbers (\\p{N}) while the system ICU calls
them unassigned. Our pre-tokenizer takes its classes from ICU and falls back to this table.

    python3 tools/tokenizer_unicode_gaps.py       # needs g++, pkg-config icu-uc, pip tokenizers

It also reports any other disagreement (ICU and Oniguruma classifying an assigned code point
differently); the table cannot fix those, so there should be none.
"""
import os
import subprocess
import sys
import tempfile

from tokenizers import Regex, pre_tokenizers

# Dumps one character per code point: S space, L letter, N number, U unassigned, O other, - surrogate.
ICU_DUMPER = r"""
#include <unicode/uchar.h>
#include <cstdio>
int main() {
  for (UChar32 cp = 0; cp <= 0x10FFFF; ++cp) {
    char c = 'O';
    int t = u_charType(cp);
    if (cp >= 0xD800 && cp <= 0xDFFF) c = '-';
    else if (u_isUWhiteSpace(cp)) c = 'S';
    else if (t == U_UPPERCASE_LETTER || t == U_LOWERCASE_LETTER || t == U_TITLECASE_LETTER ||
             t == U_MODIFIER_LETTER || t == U_OTHER_LETTER) c = 'L';
    else if (t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER) c = 'N';
    else if (t == U_UNASSIGNED) c = 'U';
    std::putchar(c);
  }
}
"""


def icu_classes():
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "dump.cpp"), os.path.join(d, "dump")
        with open(src, "w") as f:
            f.write(ICU_DUMPER)
        flags = subprocess.check_output(["pkg-config", "--cflags", "--libs", "icu-uc"], text=True).split()
        subprocess.check_call(["g++", "-O1", src, "-o", exe] + flags)
        return subprocess.check_output([exe]).decode("ascii")


def onig_members(everything, pattern):
    """The characters of `everything` that Oniguruma's `pattern` class matches."""
    split = pre_tokenizers.Split(Regex("[^%s]+" % pattern), behavior="removed")
    found = set()
    for piece, _ in split.pre_tokenize_str(everything):
        found.update(piece)
    return found


def main():
    icu = icu_classes()
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    everything = "".join(map(chr, cps))
    letters = onig_members(everything, r"\p{L}")
    numbers = onig_members(everything, r"\p{N}")
    spaces = onig_members(everything, r"\s")

    ranges, other = [], []
    for c in cps:
        ch = chr(c)
        onig = "S" if ch in spaces else "L" if ch in letters else "N" if ch in numbers else "O"
        ours = icu[c]
        if onig == ("O" if ours == "U" else ours):
            continue
        if ours != "U" or onig not in "LN":
            other.append("U+%04X: Oniguruma %s, ICU %s" % (c, onig, ours))
        elif ranges and ranges[-1][1] == c - 1 and ranges[-1][2] == onig:
            ranges[-1][1] = c
        else:
            ranges.append([c, c, onig])

    for first, last, cls in ranges:
        print("    {0x%X, 0x%X, CharClass::%s}," % (first, last, "kLetter" if cls == "L" else "kNumber"))
    if other:
        print("\n%d assigned code points classified differently (not fixable by the table):" % len(other),
              file=sys.stderr)
        print("\n".join(other[:50]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
