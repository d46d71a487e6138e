// openai-whisper's EnglishNumberNormalizer (whisper/normalizers/english.py), step for step:
// preprocess ("and a half", letter/digit spacing), a word-by-word state machine (process_words), and
// postprocess (cents, "1" -> "one").
//
// The reference keeps the number being built in a variable that is None, a Python int or a str, and the
// three behave differently (an int adds "twenty" + "one" = 21, a str concatenates "1" "0" "1" = "101"), so
// Value below records which one it is. Python ints are unbounded ("one decillion decillion" has 67 digits),
// so ints are kept as decimal digit strings with the few operations the rules need.
#include "bench/number_normalizer.h"

#include <algorithm>
#include <array>
#include <optional>
#include <unordered_map>
#include <vector>

#include "bench/unicode_text.h"

namespace wst::bench {

namespace {

// The word classes of EnglishNumberNormalizer.__init__, in the order process_words tests them.
enum class Kind {
  kZero,                // o, oh, zero
  kOne,                 // one .. nineteen
  kOneSuffixed,         // ones, twos, sixes, .. / first, second, .., nineteenth
  kTen,                 // twenty .. ninety
  kTenSuffixed,         // twenties .. / twentieth ..
  kMultiplier,          // hundred .. decillion
  kMultiplierSuffixed,  // hundreds .. / hundredth ..
  kPrecedingPrefixer,   // minus, negative, plus, positive
  kFollowingPrefixer,   // pound(s), euro(s), dollar(s), cent(s)
  kSuffixer,            // per (cent), percent
  kSpecial,             // and, double, triple, point
};

struct NumberWord {
  Kind kind;
  int value = 0;          // ones and tens
  int exponent = 0;       // multipliers are 10^exponent
  std::u32string suffix;  // "s", "st", "nd", "rd", "th"
  char32_t symbol = 0;    // prefixers
};

NumberWord word(Kind kind, int value = 0, int exponent = 0, std::u32string suffix = {}, char32_t symbol = 0) {
  return NumberWord{kind, value, exponent, std::move(suffix), symbol};
}

using WordTable = std::unordered_map<std::u32string, NumberWord>;

// The vocabulary, built by the reference's own rules, including its quirks: the ordinal of "nine" is
// "nineth" (name + "th"), so "ninth" is not a number word; "eight" + "h" gives "eighth".
const WordTable& number_words() {
  static const WordTable table = [] {
    WordTable t;
    static const std::array<std::u32string_view, 19> kOnes = {
        U"one", U"two", U"three", U"four", U"five", U"six", U"seven", U"eight", U"nine", U"ten",
        U"eleven", U"twelve", U"thirteen", U"fourteen", U"fifteen", U"sixteen", U"seventeen", U"eighteen",
        U"nineteen"};
    for (auto z : {U"o", U"oh", U"zero"}) t[z] = word(Kind::kZero);
    for (int v = 1; v <= 19; ++v) {
      std::u32string name(kOnes[v - 1]);
      t[name] = word(Kind::kOne, v);
      t[name == U"six" ? U"sixes" : name + U"s"] = word(Kind::kOneSuffixed, v, 0, U"s");
      if (v > 3 && v != 5 && v != 12) {
        t[name + (name.back() == U't' ? U"h" : U"th")] = word(Kind::kOneSuffixed, v, 0, U"th");
      }
    }
    t[U"zeroth"] = word(Kind::kOneSuffixed, 0, 0, U"th");
    t[U"first"] = word(Kind::kOneSuffixed, 1, 0, U"st");
    t[U"second"] = word(Kind::kOneSuffixed, 2, 0, U"nd");
    t[U"third"] = word(Kind::kOneSuffixed, 3, 0, U"rd");
    t[U"fifth"] = word(Kind::kOneSuffixed, 5, 0, U"th");
    t[U"twelfth"] = word(Kind::kOneSuffixed, 12, 0, U"th");

    static const std::array<std::u32string_view, 8> kTens = {U"twenty", U"thirty", U"forty", U"fifty",
                                                              U"sixty",  U"seventy", U"eighty", U"ninety"};
    for (int i = 0; i < 8; ++i) {
      std::u32string name(kTens[i]);
      std::u32string stem = name.substr(0, name.size() - 1);  // every name ends in its only "y"
      t[name] = word(Kind::kTen, 20 + 10 * i);
      t[stem + U"ies"] = word(Kind::kTenSuffixed, 20 + 10 * i, 0, U"s");
      t[stem + U"ieth"] = word(Kind::kTenSuffixed, 20 + 10 * i, 0, U"th");
    }

    static const std::array<std::pair<std::u32string_view, int>, 12> kMultipliers = {{
        {U"hundred", 2}, {U"thousand", 3}, {U"million", 6}, {U"billion", 9}, {U"trillion", 12},
        {U"quadrillion", 15}, {U"quintillion", 18}, {U"sextillion", 21}, {U"septillion", 24},
        {U"octillion", 27}, {U"nonillion", 30}, {U"decillion", 33}}};
    for (auto [name_view, exponent] : kMultipliers) {
      std::u32string name(name_view);
      t[name] = word(Kind::kMultiplier, 0, exponent);
      t[name + U"s"] = word(Kind::kMultiplierSuffixed, 0, exponent, U"s");
      t[name + U"th"] = word(Kind::kMultiplierSuffixed, 0, exponent, U"th");
    }

    t[U"minus"] = word(Kind::kPrecedingPrefixer, 0, 0, U"", U'-');
    t[U"negative"] = word(Kind::kPrecedingPrefixer, 0, 0, U"", U'-');
    t[U"plus"] = word(Kind::kPrecedingPrefixer, 0, 0, U"", U'+');
    t[U"positive"] = word(Kind::kPrecedingPrefixer, 0, 0, U"", U'+');
    for (auto [name, symbol] : {std::pair{U"pound", U'£'}, {U"euro", U'€'}, {U"dollar", U'$'}, {U"cent", U'¢'}}) {
      t[name] = word(Kind::kFollowingPrefixer, 0, 0, U"", symbol);
      t[std::u32string(name) + U"s"] = word(Kind::kFollowingPrefixer, 0, 0, U"", symbol);
    }
    t[U"per"] = word(Kind::kSuffixer);
    t[U"percent"] = word(Kind::kSuffixer);
    for (auto s : {U"and", U"double", U"triple", U"point"}) t[s] = word(Kind::kSpecial);
    return t;
  }();
  return table;
}

const NumberWord* find_word(const std::u32string* w) {
  if (!w) return nullptr;
  const auto& t = number_words();
  auto it = t.find(*w);
  return it == t.end() ? nullptr : &it->second;
}

bool is_kind(const std::u32string* w, Kind k) {
  const NumberWord* n = find_word(w);
  return n && n->kind == k;
}

// The symbols that may lead a number token (`self.prefixes`).
bool is_prefix_symbol(char32_t c) {
  return c == U'-' || c == U'+' || c == U'£' || c == U'€' || c == U'$' || c == U'¢';
}

// re.match(r"^\d+(\.\d+)?$", s) with Python's Unicode \d.
bool is_plain_number(std::u32string_view s) {
  size_t i = 0;
  while (i < s.size() && is_decimal_char(s[i])) ++i;
  if (i == 0) return false;
  if (i == s.size()) return true;
  if (s[i] != U'.') return false;
  size_t j = i + 1;
  while (j < s.size() && is_decimal_char(s[j])) ++j;
  return j > i + 1 && j == s.size();
}

// ---- unbounded non-negative integers as ASCII decimal strings (what str(int) prints) ----

std::u32string strip_leading_zeros(std::u32string digits) {
  size_t nz = digits.find_first_not_of(U'0');
  return nz == std::u32string::npos ? U"0" : digits.substr(nz);
}

std::u32string int_text(long long v) {
  std::u32string out;
  for (char c : std::to_string(v)) out.push_back(static_cast<char32_t>(c));
  return out;
}

std::u32string add(const std::u32string& a, const std::u32string& b) {
  std::u32string out;
  int carry = 0;
  for (size_t i = 0; i < a.size() || i < b.size() || carry; ++i) {
    int d = carry;
    if (i < a.size()) d += static_cast<int>(a[a.size() - 1 - i] - U'0');
    if (i < b.size()) d += static_cast<int>(b[b.size() - 1 - i] - U'0');
    out.insert(out.begin(), static_cast<char32_t>(U'0' + d % 10));
    carry = d / 10;
  }
  return strip_leading_zeros(out);
}

// value % 10^k for k <= 3.
int low_digits(const std::u32string& v, size_t k) {
  int r = 0;
  for (size_t i = v.size() > k ? v.size() - k : 0; i < v.size(); ++i) r = r * 10 + static_cast<int>(v[i] - U'0');
  return r;
}

std::u32string power_of_ten(int exponent) {
  std::u32string digits(static_cast<size_t>(exponent) + 1, U'0');
  digits[0] = U'1';
  return digits;
}

// `before = value // 1000 * 1000; residual = value % 1000; before + residual * multiplier`:
// "two thousand three hundred" keeps the 2000 and multiplies only the 3.
std::u32string apply_multiplier(const std::u32string& v, int exponent) {
  int residual = low_digits(v, 3);
  std::u32string before = v.size() > 3 ? v.substr(0, v.size() - 3) + U"000" : U"0";
  if (residual == 0) return strip_leading_zeros(before);
  return add(before, int_text(residual) + std::u32string(static_cast<size_t>(exponent), U'0'));
}

// The number being built: Python's `value`, an int (digits, canonical) or a str (kept as written).
struct Value {
  bool is_int;
  std::u32string text;
};

Value int_value(std::u32string digits) { return {true, std::move(digits)}; }
Value str_value(std::u32string text) { return {false, std::move(text)}; }

// Fraction(value) * 10^exponent when that is a whole number (its numerator), else nullopt. nullopt also
// where Fraction() would raise: the str may be "1.2.3" or "1.$5" after concatenation.
std::optional<std::u32string> whole_times_power_of_ten(const Value& v, int exponent) {
  if (v.is_int) return v.text == U"0" ? v.text : v.text + std::u32string(static_cast<size_t>(exponent), U'0');
  // fractions.Fraction accepts \d*(\.\d*)? with a digit first or right after the point (signs, slashes,
  // exponents and underscores cannot occur in these strings).
  const std::u32string& s = v.text;
  std::u32string integer, fraction;
  size_t i = 0;
  for (; i < s.size() && is_decimal_char(s[i]); ++i) integer.push_back(U'0' + decimal_value(s[i]));
  if (i < s.size() && s[i] == U'.') {
    for (++i; i < s.size() && is_decimal_char(s[i]); ++i) fraction.push_back(U'0' + decimal_value(s[i]));
  }
  if (i != s.size() || (integer.empty() && fraction.empty())) return std::nullopt;
  while (!fraction.empty() && fraction.back() == U'0') fraction.pop_back();
  if (fraction.size() > static_cast<size_t>(exponent)) return std::nullopt;
  return strip_leading_zeros(integer + fraction + std::u32string(exponent - fraction.size(), U'0'));
}

// process_words of the reference: one pass over the words with the state (value, prefix, skip).
class WordProcessor {
 public:
  std::vector<std::u32string> run(const std::vector<std::u32string>& words);

 private:
  // `output()`: the pending prefix goes in front; value and prefix are cleared.
  void output(std::u32string result) {
    if (prefix_) result.insert(result.begin(), *prefix_);
    out_.push_back(std::move(result));
    value_.reset();
    prefix_.reset();
  }
  void output_value_if_any() {
    if (value_) output(value_->text);
  }
  // `str(value or "")`: None and int 0 are both falsy.
  std::u32string text_or_empty() const {
    if (!value_ || (value_->is_int && value_->text == U"0")) return U"";
    return value_->text;
  }
  void step(const std::u32string* prev, const std::u32string& current, const std::u32string* next);

  std::optional<Value> value_;
  std::optional<char32_t> prefix_;
  bool skip_ = false;
  std::vector<std::u32string> out_;
};

std::vector<std::u32string> WordProcessor::run(const std::vector<std::u32string>& words) {
  for (size_t i = 0; i < words.size(); ++i) {
    if (skip_) {
      skip_ = false;
      continue;
    }
    step(i > 0 ? &words[i - 1] : nullptr, words[i], i + 1 < words.size() ? &words[i + 1] : nullptr);
  }
  output_value_if_any();
  return std::move(out_);
}

void WordProcessor::step(const std::u32string* prev, const std::u32string& current, const std::u32string* next) {
  const bool next_is_numeric = next && is_plain_number(*next);
  const bool next_is_word = find_word(next) != nullptr;
  const bool has_prefix = is_prefix_symbol(current[0]);
  const std::u32string_view unprefixed = std::u32string_view(current).substr(has_prefix ? 1 : 0);

  if (is_plain_number(unprefixed)) {  // digits, maybe with a sign or currency and a decimal part
    if (value_) {
      if (!value_->is_int && value_->text.back() == U'.') {  // "one point" then "5": decimals, IP addresses
        value_->text += current;
        return;
      }
      output(value_->text);
    }
    if (has_prefix) prefix_ = current[0];
    // Fraction(s).denominator == 1 when the decimal part is all zeros (in any script's digits).
    size_t point = std::min(unprefixed.find(U'.'), unprefixed.size());
    bool whole = true;
    for (size_t i = point + 1; i < unprefixed.size(); ++i) whole = whole && decimal_value(unprefixed[i]) == 0;
    if (whole) {  // Fraction("5.0") has denominator 1: the value becomes the int 5
      std::u32string digits;
      for (size_t i = 0; i < unprefixed.size() && unprefixed[i] != U'.'; ++i) {
        digits.push_back(U'0' + decimal_value(unprefixed[i]));
      }
      value_ = int_value(strip_leading_zeros(digits));
    } else {
      value_ = str_value(std::u32string(unprefixed));
    }
    return;
  }

  const NumberWord* word = find_word(&current);
  if (!word) {  // not a number word
    output_value_if_any();
    output(current);
    return;
  }

  switch (word->kind) {
    case Kind::kZero:
      value_ = str_value(text_or_empty() + U"0");
      return;

    case Kind::kOne:
    case Kind::kOneSuffixed: {
      const int ones = word->value;
      std::u32string result;
      if (!value_) {
        result = int_text(ones);
        if (word->kind == Kind::kOne) {
          value_ = int_value(result);
          return;
        }
      } else if (!value_->is_int || is_kind(prev, Kind::kOne)) {
        if (is_kind(prev, Kind::kTen) && ones < 10) {  // "twenty" then "one": replace the last zero
          result = value_->text.substr(0, value_->text.size() - 1) + int_text(ones);
        } else {
          result = value_->text + int_text(ones);
        }
        if (word->kind == Kind::kOne) {
          value_ = str_value(result);
          return;
        }
      } else {
        // ones < 10 add when the last digit is free; eleven to nineteen need the last two
        bool fits = ones < 10 ? low_digits(value_->text, 1) == 0 : low_digits(value_->text, 2) == 0;
        result = fits ? add(value_->text, int_text(ones)) : value_->text + int_text(ones);
        if (word->kind == Kind::kOne) {
          value_ = fits ? int_value(result) : str_value(result);
          return;
        }
      }
      output(result + word->suffix);  // ordinal or plural: the number ends here
      return;
    }

    case Kind::kTen:
    case Kind::kTenSuffixed: {
      const int tens = word->value;
      std::u32string result;
      bool as_int = true;
      if (!value_) {
        result = int_text(tens);
      } else if (!value_->is_int) {
        result = value_->text + int_text(tens);
        as_int = false;
      } else if (low_digits(value_->text, 2) == 0) {
        result = add(value_->text, int_text(tens));
      } else {
        result = value_->text + int_text(tens);
        as_int = false;
      }
      if (word->kind == Kind::kTen) value_ = as_int ? int_value(result) : str_value(result);
      else output(result + word->suffix);
      return;
    }

    case Kind::kMultiplier: {
      if (!value_) {
        value_ = int_value(power_of_ten(word->exponent));
      } else if (!value_->is_int || value_->text == U"0") {  // "1.5 million", "oh oh hundred"
        if (auto whole = whole_times_power_of_ten(*value_, word->exponent)) {
          value_ = int_value(*whole);
        } else {
          output(value_->text);
          value_ = int_value(power_of_ten(word->exponent));
        }
      } else {
        value_ = int_value(apply_multiplier(value_->text, word->exponent));
      }
      return;
    }

    case Kind::kMultiplierSuffixed: {
      if (!value_) {
        output(power_of_ten(word->exponent) + word->suffix);
      } else if (!value_->is_int) {
        if (auto whole = whole_times_power_of_ten(*value_, word->exponent)) {
          output(*whole + word->suffix);
        } else {
          output(value_->text);
          output(power_of_ten(word->exponent) + word->suffix);
        }
      } else {
        output(apply_multiplier(value_->text, word->exponent) + word->suffix);
      }
      value_.reset();
      return;
    }

    case Kind::kPrecedingPrefixer:  // "minus", "plus": a sign, only if a number may follow
      output_value_if_any();
      if (next_is_word || next_is_numeric) prefix_ = word->symbol;
      else output(current);
      return;

    case Kind::kFollowingPrefixer:  // "dollars", "cents": a currency, only after a number
      if (value_) {
        prefix_ = word->symbol;
        output(value_->text);
      } else {
        output(current);
      }
      return;

    case Kind::kSuffixer:  // "percent", "per cent"
      if (!value_) {
        output(current);
      } else if (current == U"percent") {
        output(value_->text + U"%");
      } else if (next && *next == U"cent") {
        output(value_->text + U"%");
        skip_ = true;
      } else {
        output(value_->text);
        output(current);
      }
      return;

    case Kind::kSpecial:
      if (!next_is_word && !next_is_numeric) {  // only special when a number may follow
        output_value_if_any();
        output(current);
      } else if (current == U"and") {
        if (!is_kind(prev, Kind::kMultiplier)) {  // "and" after hundred, thousand, .. is dropped
          output_value_if_any();
          output(current);
        }
      } else if (current == U"double" || current == U"triple") {
        const NumberWord* n = find_word(next);
        if (n && (n->kind == Kind::kOne || n->kind == Kind::kZero)) {
          std::u32string digits = int_text(n->kind == Kind::kOne ? n->value : 0);
          std::u32string repeated = current == U"double" ? digits + digits : digits + digits + digits;
          value_ = str_value(text_or_empty() + repeated);
          skip_ = true;
        } else {
          output_value_if_any();
          output(current);
        }
      } else {  // "point": dropped unless a digit or a digit word follows
        const NumberWord* n = find_word(next);
        bool decimal = n && (n->kind == Kind::kOne || n->kind == Kind::kTen || n->kind == Kind::kZero);
        if (decimal || next_is_numeric) value_ = str_value(text_or_empty() + U".");
      }
      return;
  }
}

// `\band\s+a\s+half\b` at i; returns the end of the match or 0.
size_t match_and_a_half(std::u32string_view s, size_t i) {
  if (!is_word_boundary(s, i)) return 0;
  auto literal = [&](size_t at, std::u32string_view lit) { return s.substr(at, lit.size()) == lit; };
  auto spaces = [&](size_t at) {
    size_t j = at;
    while (j < s.size() && is_space_char(s[j])) ++j;
    return j;
  };
  if (!literal(i, U"and")) return 0;
  size_t j = spaces(i + 3);
  if (j == i + 3 || !literal(j, U"a")) return 0;
  size_t k = spaces(j + 1);
  if (k == j + 1 || !literal(k, U"half") || !is_word_boundary(s, k + 4)) return 0;
  return k + 4;
}

bool all_space(std::u32string_view s) {
  for (char32_t c : s)
    if (!is_space_char(c)) return false;
  return true;
}

// preprocess() of the reference.
std::u32string preprocess(std::u32string_view s) {
  // "<number> and a half" -> "<number> point five". As in the reference, a blank segment is dropped
  // together with its "and a half", so "and a half" alone disappears.
  std::vector<std::u32string_view> segments;
  size_t start = 0;
  for (size_t i = 0; i < s.size();) {
    if (size_t end = match_and_a_half(s, i)) {
      segments.push_back(s.substr(start, i - start));
      start = i = end;
    } else {
      ++i;
    }
  }
  segments.push_back(s.substr(start));

  std::u32string joined;
  bool first = true;
  auto add_part = [&](std::u32string_view part) {  // " ".join(results)
    if (!first) joined.push_back(U' ');
    joined.append(part);
    first = false;
  };
  for (size_t i = 0; i < segments.size(); ++i) {
    if (all_space(segments[i])) continue;
    add_part(segments[i]);
    if (i + 1 == segments.size()) continue;
    std::u32string last_word = split_whitespace(segments[i]).back();
    const NumberWord* w = find_word(&last_word);
    bool numeric = w && (w->kind == Kind::kOne || w->kind == Kind::kTen || w->kind == Kind::kZero ||
                         w->kind == Kind::kMultiplier);
    add_part(numeric ? U"point five" : U"and a half");
  }

  // A space at each ASCII letter/digit boundary ("covid19" -> "covid 19", "4k" -> "4 k")...
  std::u32string spaced;
  auto lower = [](char32_t c) { return c >= U'a' && c <= U'z'; };
  for (size_t i = 0; i < joined.size(); ++i) {
    spaced.push_back(joined[i]);
    if (i + 1 < joined.size() && ((lower(joined[i]) && is_ascii_digit(joined[i + 1])) ||
                                  (is_ascii_digit(joined[i]) && lower(joined[i + 1])))) {
      spaced.push_back(U' ');
    }
  }

  // ...but none before a suffix: re.sub(r"([0-9])\s+(st|nd|rd|th|s)\b", r"\1\2", s).
  static const std::array<std::u32string_view, 5> kSuffixes = {U"st", U"nd", U"rd", U"th", U"s"};
  std::u32string out;
  for (size_t i = 0; i < spaced.size();) {
    if (is_ascii_digit(spaced[i])) {
      size_t j = i + 1;
      while (j < spaced.size() && is_space_char(spaced[j])) ++j;
      if (j > i + 1) {
        bool matched = false;
        for (auto suffix : kSuffixes) {
          if (std::u32string_view(spaced).substr(j, suffix.size()) == suffix &&
              is_word_boundary(spaced, j + suffix.size())) {
            out.push_back(spaced[i]);
            out.append(suffix);
            i = j + suffix.size();
            matched = true;
            break;
          }
        }
        if (matched) continue;
      }
    }
    out.push_back(spaced[i++]);
  }
  return out;
}

bool is_currency(char32_t c) { return c == U'€' || c == U'£' || c == U'$'; }

// `[0-9]{1,2}\b` at i: the number of digits matched (2, else 1), or 0.
size_t one_or_two_digits(std::u32string_view s, size_t i) {
  if (i + 1 < s.size() && is_ascii_digit(s[i]) && is_ascii_digit(s[i + 1]) && is_word_boundary(s, i + 2)) return 2;
  if (i < s.size() && is_ascii_digit(s[i]) && is_word_boundary(s, i + 1)) return 1;
  return 0;
}

std::u32string two_digit_cents(std::u32string_view digits) {
  int cents = low_digits(std::u32string(digits), 2);
  return int_text(cents / 10) + int_text(cents % 10);
}

// postprocess() of the reference.
std::u32string postprocess(std::u32string_view s) {
  // "$2 and ¢7" -> "$2.07": re.sub(r"([€£$])([0-9]+) (?:and )?¢([0-9]{1,2})\b", ...)
  std::u32string a;
  for (size_t i = 0; i < s.size();) {
    if (is_currency(s[i])) {
      size_t j = i + 1;
      while (j < s.size() && is_ascii_digit(s[j])) ++j;
      if (j > i + 1 && j < s.size() && s[j] == U' ') {
        size_t cent_at = 0, n_digits = 0;
        for (size_t at : {j + 1 + 4, j + 1}) {  // with "and " first, as the greedy group tries
          if (at == j + 5 && s.substr(j + 1, 4) != U"and ") continue;
          if (at < s.size() && s[at] == U'¢' && (n_digits = one_or_two_digits(s, at + 1))) {
            cent_at = at;
            break;
          }
        }
        if (cent_at) {
          a.push_back(s[i]);
          a.append(s.substr(i + 1, j - i - 1));
          a.push_back(U'.');
          a.append(two_digit_cents(s.substr(cent_at + 1, n_digits)));
          i = cent_at + 1 + n_digits;
          continue;
        }
      }
    }
    a.push_back(s[i++]);
  }

  // "$0.5" -> "¢5": re.sub(r"[€£$]0.([0-9]{1,2})\b", ...), where "." is any character but a newline.
  std::u32string b;
  for (size_t i = 0; i < a.size();) {
    if (is_currency(a[i]) && i + 2 < a.size() && a[i + 1] == U'0' && a[i + 2] != U'\n') {
      if (size_t n = one_or_two_digits(a, i + 3)) {
        b.push_back(U'¢');
        b.append(int_text(low_digits(a.substr(i + 3, n), 2)));
        i += 3 + n;
        continue;
      }
    }
    b.push_back(a[i++]);
  }

  // "1" -> "one", "1s" -> "ones", for readability: re.sub(r"\b1(s?)\b", r"one\1", s).
  std::u32string c;
  for (size_t i = 0; i < b.size();) {
    if (b[i] == U'1' && is_word_boundary(b, i)) {
      if (i + 1 < b.size() && b[i + 1] == U's' && is_word_boundary(b, i + 2)) {
        c.append(U"ones");
        i += 2;
        continue;
      }
      if (is_word_boundary(b, i + 1)) {
        c.append(U"one");
        i += 1;
        continue;
      }
    }
    c.push_back(b[i++]);
  }
  return c;
}

}  // namespace

std::u32string normalize_english_numbers(std::u32string_view s) {
  std::u32string pre = preprocess(s);
  std::vector<std::u32string> words = WordProcessor().run(split_whitespace(pre));
  std::u32string joined;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) joined.push_back(U' ');
    joined.append(words[i]);
  }
  return postprocess(joined);
}

}  // namespace wst::bench
