// Unicode helpers with Python's semantics, for porting openai-whisper's normalisers exactly.
//
// The normalisers are written with Python `str` methods and `re` patterns on `str`, where
// `\w`, `\d`, `\s`, `\b`, `str.lower()` and `str.split()` are Unicode-aware. These helpers reproduce those
// definitions (CPython 3.11, Objects/unicodectype.c and Modules/_sre) on top of ICU, so the ported rules can
// be written as plain loops over code points. Text is handled as UTF-32 (one element per code point, like a
// Python `str`); invalid UTF-8 input becomes U+FFFD.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace wst::bench {

std::u32string utf8_to_u32(std::string_view s);
std::string u32_to_utf8(std::u32string_view s);

// Python `\w` on str: str.isalnum() (letters, and characters with a numeric value) or '_'.
bool is_word_char(char32_t c);
// Python `\s` on str and the separators of str.split(): str.isspace().
bool is_space_char(char32_t c);
// Python `\d` on str: a decimal digit (general category Nd), any script.
bool is_decimal_char(char32_t c);
// `[0-9]`, which the normalisers use where they mean ASCII digits only.
inline bool is_ascii_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
// The value 0..9 of a decimal digit (is_decimal_char must hold).
int decimal_value(char32_t c);

// Python `\b` at index i of s: exactly one of s[i-1], s[i] is a word character (outside s counts as non-word).
bool is_word_boundary(std::u32string_view s, size_t i);

// Python str.lower(): full Unicode lower-casing, locale independent (final sigma included).
std::u32string to_lower(std::u32string_view s);
// unicodedata.normalize("NFKD" / "NFKC", s).
std::u32string nfkd(std::u32string_view s);
std::u32string nfkc(std::u32string_view s);

// First letter of unicodedata.category(c): 'L', 'M', 'N', 'P', 'S', 'Z' or 'C'.
char category_major(char32_t c);
// unicodedata.category(c) == "Mn".
bool is_nonspacing_mark(char32_t c);

// Python str.split() without arguments: runs of whitespace separate words; no empty words.
std::vector<std::u32string> split_whitespace(std::u32string_view s);
// Python re.sub(r"\s+", " ", s).
std::u32string collapse_whitespace(std::u32string_view s);
// The extended grapheme clusters of s, as the `regex` module's \X finds them.
std::vector<std::u32string> grapheme_clusters(std::u32string_view s);

}  // namespace wst::bench
