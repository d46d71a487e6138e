// Python-compatible Unicode character classes and transforms on top of ICU; see unicode_text.h.
#include "bench/unicode_text.h"

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <memory>

#include "util/errors.h"

namespace wst::bench {

namespace {

icu::UnicodeString to_icu(std::u32string_view s) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()), static_cast<int32_t>(s.size()));
}

std::u32string from_icu(const icu::UnicodeString& u) {
  std::u32string out;
  out.reserve(static_cast<size_t>(u.length()));
  for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) out.push_back(static_cast<char32_t>(u.char32At(i)));
  return out;
}

void check(UErrorCode status, const char* what) {
  if (U_FAILURE(status)) throw Error(std::string("ICU ") + what + ": " + u_errorName(status));
}

}  // namespace

std::u32string utf8_to_u32(std::string_view s) {
  return from_icu(icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size()))));
}

std::string u32_to_utf8(std::u32string_view s) {
  std::string out;
  to_icu(s).toUTF8String(out);
  return out;
}

bool is_word_char(char32_t c) {
  // CPython's Py_UNICODE_ISALNUM: isalpha (categories Lu Ll Lt Lm Lo) or a numeric type
  // (decimal, digit or numeric, which covers Nd, Nl, No and the CJK numerals).
  if (c == U'_') return true;
  if (u_isalpha(static_cast<UChar32>(c))) return true;
  return u_getIntPropertyValue(static_cast<UChar32>(c), UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

bool is_space_char(char32_t c) {
  // CPython's _PyUnicode_IsWhitespace table (bidirectional types WS, B, S and category Zs).
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
    case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_decimal_char(char32_t c) { return u_charType(static_cast<UChar32>(c)) == U_DECIMAL_DIGIT_NUMBER; }

int decimal_value(char32_t c) { return u_charDigitValue(static_cast<UChar32>(c)); }

bool is_word_boundary(std::u32string_view s, size_t i) {
  bool before = i > 0 && i - 1 < s.size() && is_word_char(s[i - 1]);
  bool after = i < s.size() && is_word_char(s[i]);
  return before != after;
}

std::u32string to_lower(std::u32string_view s) {
  auto u = to_icu(s);
  u.toLower(icu::Locale::getRoot());
  return from_icu(u);
}

std::u32string nfkd(std::u32string_view s) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFKDInstance(status);
  check(status, "NFKD");
  auto out = n->normalize(to_icu(s), status);
  check(status, "NFKD");
  return from_icu(out);
}

std::u32string nfkc(std::u32string_view s) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFKCInstance(status);
  check(status, "NFKC");
  auto out = n->normalize(to_icu(s), status);
  check(status, "NFKC");
  return from_icu(out);
}

char category_major(char32_t c) {
  uint32_t mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  if (mask & U_GC_L_MASK) return 'L';
  if (mask & U_GC_M_MASK) return 'M';
  if (mask & U_GC_N_MASK) return 'N';
  if (mask & U_GC_P_MASK) return 'P';
  if (mask & U_GC_S_MASK) return 'S';
  if (mask & U_GC_Z_MASK) return 'Z';
  return 'C';  // Cc, Cf, Cs, Co and unassigned (Cn)
}

bool is_nonspacing_mark(char32_t c) { return u_charType(static_cast<UChar32>(c)) == U_NON_SPACING_MARK; }

std::vector<std::u32string> split_whitespace(std::u32string_view s) {
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space_char(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !is_space_char(s[i])) ++i;
    if (i > start) words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

std::u32string collapse_whitespace(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (is_space_char(s[i])) {
      out.push_back(U' ');
      while (i < s.size() && is_space_char(s[i])) ++i;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

std::vector<std::u32string> grapheme_clusters(std::u32string_view s) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::BreakIterator> it(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), status));
  check(status, "character break iterator");
  auto u = to_icu(s);
  it->setText(u);
  std::vector<std::u32string> out;
  int32_t start = it->first();
  for (int32_t end = it->next(); end != icu::BreakIterator::DONE; start = end, end = it->next()) {
    out.push_back(from_icu(icu::UnicodeString(u, start, end - start)));
  }
  return out;
}

}  // namespace wst::bench
