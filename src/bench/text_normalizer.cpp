// openai-whisper's EnglishTextNormalizer and BasicTextNormalizer (whisper/normalizers/english.py, basic.py),
// rule for rule. Each Python `re.sub` becomes one left-to-right scan that, like `re.sub`, tests its pattern on
// the input only and never re-reads its own output; the order of the steps is the reference's order.
// The number rules are in number_normalizer.cpp.
#include "bench/text_normalizer.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "bench/english_spelling_table.h"
#include "bench/number_normalizer.h"
#include "bench/unicode_text.h"

namespace wst::bench {

namespace {

// re.sub(r"[<\[][^>\]]*[>\]]", "", s): from '<' or '[' to the first '>' or ']' (either kind closes either).
std::u32string remove_bracketed(std::u32string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == U'<' || s[i] == U'[') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != U'>' && s[j] != U']') ++j;
      if (j == s.size()) {  // unclosed: no later opener can find a closer either
        out.append(s.substr(i));
        break;
      }
      i = j + 1;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

// re.sub(r"\(([^)]+?)\)", "", s): '(' then at least one character, up to the first ')'. "()" is kept.
std::u32string remove_parenthesised(std::u32string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == U'(' && i + 1 < s.size() && s[i + 1] != U')') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != U')') ++j;
      if (j == s.size()) {
        out.append(s.substr(i));
        break;
      }
      i = j + 1;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

// re.sub(r"\b(hmm|mm|mhm|mmm|uh|um)\b", "", s): whole words only, with Python's Unicode word characters.
std::u32string remove_fillers(std::u32string_view s) {
  static const std::array<std::u32string_view, 6> kFillers = {U"hmm", U"mm", U"mhm", U"mmm", U"uh", U"um"};
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (!is_word_char(s[i])) {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_word_char(s[j])) ++j;
    auto word = s.substr(i, j - i);
    if (std::find(kFillers.begin(), kFillers.end(), word) == kFillers.end()) out.append(word);
    i = j;
  }
  return out;
}

// re.sub(r"\s+'", "'", s)
std::u32string remove_space_before_apostrophe(std::u32string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (!is_space_char(s[i])) {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_space_char(s[j])) ++j;
    if (j == s.size() || s[j] != U'\'') out.append(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// One of EnglishTextNormalizer's `replacers`: `pattern` literally, with `\b` after it and, when
// `leading_boundary`, before it (the patterns that start with an apostrophe have none).
struct Replacer {
  std::u32string_view pattern;
  bool leading_boundary;
  std::u32string_view replacement;
};

// The contraction and title rules in the reference's order (a Python dict keeps insertion order), which
// matters: "won't" must become "will not" before the general "n't" rule sees it.
constexpr Replacer kReplacers[] = {
    // common contractions
    {U"won't", true, U"will not"}, {U"can't", true, U"can not"}, {U"let's", true, U"let us"},
    {U"ain't", true, U"aint"}, {U"y'all", true, U"you all"}, {U"wanna", true, U"want to"},
    {U"kinda", true, U"kind of"}, {U"sorta", true, U"sort of"}, {U"dunno", true, U"do not know"},
    {U"gotta", true, U"got to"}, {U"gonna", true, U"going to"}, {U"i'ma", true, U"i am going to"},
    {U"imma", true, U"i am going to"}, {U"woulda", true, U"would have"}, {U"coulda", true, U"could have"},
    {U"shoulda", true, U"should have"}, {U"cause", true, U"because"}, {U"ma'am", true, U"madam"},
    // titles and other abbreviations; the trailing space is the reference's
    {U"mr", true, U"mister "}, {U"mrs", true, U"missus "}, {U"st", true, U"saint "}, {U"dr", true, U"doctor "},
    {U"prof", true, U"professor "}, {U"capt", true, U"captain "}, {U"gov", true, U"governor "},
    {U"ald", true, U"alderman "}, {U"gen", true, U"general "}, {U"sen", true, U"senator "},
    {U"rep", true, U"representative "}, {U"pres", true, U"president "}, {U"rev", true, U"reverend "},
    {U"hon", true, U"honorable "}, {U"asst", true, U"assistant "}, {U"assoc", true, U"associate "},
    {U"lt", true, U"lieutenant "}, {U"col", true, U"colonel "}, {U"jr", true, U"junior "},
    {U"sr", true, U"senior "}, {U"esq", true, U"esquire "},
    // perfect tenses ("'s done" is ambiguous, so it is left to the general rules)
    {U"'d been", false, U" had been"}, {U"'s been", false, U" has been"}, {U"'d gone", false, U" had gone"},
    {U"'s gone", false, U" has gone"}, {U"'d done", false, U" had done"}, {U"'s got", false, U" has got"},
    // general contractions
    {U"n't", false, U" not"}, {U"'re", false, U" are"}, {U"'s", false, U" is"}, {U"'d", false, U" would"},
    {U"'ll", false, U" will"}, {U"'t", false, U" not"}, {U"'ve", false, U" have"}, {U"'m", false, U" am"},
};

std::u32string apply_replacer(std::u32string_view s, const Replacer& r) {
  std::u32string out;
  const size_t n = r.pattern.size();
  for (size_t i = 0; i < s.size();) {
    if (s.substr(i, n) == r.pattern && (!r.leading_boundary || is_word_boundary(s, i)) &&
        is_word_boundary(s, i + n)) {
      out.append(r.replacement);
      i += n;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// re.sub(r"(\d),(\d)", r"\1\2", s). Matches do not overlap, so "1,2,3" becomes "12,3" as in the reference.
std::u32string remove_digit_commas(std::u32string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (i + 2 < s.size() && is_decimal_char(s[i]) && s[i + 1] == U',' && is_decimal_char(s[i + 2])) {
      out.push_back(s[i]);
      out.push_back(s[i + 2]);
      i += 3;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// re.sub(r"\.([^0-9]|$)", r" \1", s): a period not followed by an ASCII digit becomes a space. The character
// after it is consumed, so in "a..b" only the first period goes here.
std::u32string remove_periods(std::u32string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] != U'.') {
      out.push_back(s[i++]);
    } else if (i + 1 == s.size()) {
      out.push_back(U' ');
      ++i;
    } else if (!is_ascii_digit(s[i + 1])) {
      out.push_back(U' ');
      out.push_back(s[i + 1]);
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// ADDITIONAL_DIACRITICS of basic.py: letters that NFKD does not decompose.
std::u32string_view additional_diacritic(char32_t c) {
  switch (c) {
    case U'œ': return U"oe";
    case U'Œ': return U"OE";
    case U'ø': return U"o";
    case U'Ø': return U"O";
    case U'æ': return U"ae";
    case U'Æ': return U"AE";
    case U'ß': return U"ss";
    case U'ẞ': return U"SS";
    case U'đ': return U"d";
    case U'Đ': return U"D";
    case U'ð': return U"d";
    case U'Ð': return U"D";
    case U'þ': return U"th";
    case U'Þ': return U"th";
    case U'ł': return U"l";
    case U'Ł': return U"L";
    default: return {};
  }
}

// remove_symbols_and_diacritics of basic.py: NFKD, then keep `keep`, spell out the additional diacritics,
// drop non-spacing marks (Mn) and turn other marks, symbols and punctuation (M*, S*, P*) into spaces.
std::u32string remove_symbols_and_diacritics(std::u32string_view s, std::u32string_view keep) {
  std::u32string out;
  for (char32_t c : nfkd(s)) {
    if (keep.find(c) != std::u32string_view::npos) {
      out.push_back(c);
    } else if (auto d = additional_diacritic(c); !d.empty()) {
      out.append(d);
    } else if (is_nonspacing_mark(c)) {
      continue;
    } else if (char major = category_major(c); major == 'M' || major == 'S' || major == 'P') {
      out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// remove_symbols of basic.py: NFKC, then marks, symbols and punctuation become spaces.
std::u32string remove_symbols(std::u32string_view s) {
  std::u32string out = nfkc(s);
  for (char32_t& c : out) {
    char major = category_major(c);
    if (major == 'M' || major == 'S' || major == 'P') c = U' ';
  }
  return out;
}

// EnglishSpellingNormalizer: word by word through the table, joined with single spaces.
std::u32string normalize_spellings(std::u32string_view s) {
  std::u32string out;
  for (const auto& word : split_whitespace(s)) {
    if (!out.empty()) out.push_back(U' ');
    std::string utf8 = u32_to_utf8(word);
    std::string_view american = american_spelling(utf8);
    if (american.data() == utf8.data()) out.append(word);
    else out.append(utf8_to_u32(american));
  }
  return out;
}

bool is_currency_or_period(char32_t c) {
  return c == U'.' || c == U'$' || c == U'¢' || c == U'€' || c == U'£';
}

// re.sub(r"[.$¢€£]([^0-9])", r" \1", s): such symbols left without a number after them become spaces.
std::u32string remove_loose_currency(std::u32string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (is_currency_or_period(s[i]) && i + 1 < s.size() && !is_ascii_digit(s[i + 1])) {
      out.push_back(U' ');
      out.push_back(s[i + 1]);
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// re.sub(r"([^0-9])%", r"\1 ", s): a percent sign not after a digit becomes a space.
std::u32string remove_loose_percent(std::u32string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (!is_ascii_digit(s[i]) && i + 1 < s.size() && s[i + 1] == U'%') {
      out.push_back(s[i]);
      out.push_back(U' ');
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

}  // namespace

std::string_view american_spelling(std::string_view word) {
  const SpellingPair* begin = kEnglishSpellings;
  const SpellingPair* end = kEnglishSpellings + kNumEnglishSpellings;
  auto it = std::lower_bound(begin, end, word,
                             [](const SpellingPair& p, std::string_view w) { return std::string_view(p.british) < w; });
  if (it != end && std::string_view(it->british) == word) return it->american;
  return word;
}

std::string normalize_english(std::string_view text) {
  std::u32string s = to_lower(utf8_to_u32(text));
  s = remove_bracketed(s);
  s = remove_parenthesised(s);
  s = remove_fillers(s);
  s = remove_space_before_apostrophe(s);
  for (const auto& r : kReplacers) s = apply_replacer(s, r);
  s = remove_digit_commas(s);
  s = remove_periods(s);
  s = remove_symbols_and_diacritics(s, U".%$¢€£");  // keep the symbols the number rules read
  s = normalize_english_numbers(s);
  s = normalize_spellings(s);
  s = remove_loose_currency(s);
  s = remove_loose_percent(s);
  return u32_to_utf8(collapse_whitespace(s));
}

std::string normalize_basic(std::string_view text, bool remove_diacritics, bool split_letters) {
  std::u32string s = to_lower(utf8_to_u32(text));
  s = remove_bracketed(s);
  s = remove_parenthesised(s);
  s = remove_diacritics ? remove_symbols_and_diacritics(s, U"") : remove_symbols(s);
  s = to_lower(s);  // again: NFKD/NFKC can produce capitals ("™" -> "TM")
  if (split_letters) {
    std::u32string joined;
    for (const auto& g : grapheme_clusters(s)) {
      if (!joined.empty()) joined.push_back(U' ');
      joined.append(g);
    }
    s = std::move(joined);
  }
  return u32_to_utf8(collapse_whitespace(s));
}

}  // namespace wst::bench
