// Text normalisation before WER, as openai-whisper does it (whisper/normalizers), so our WER numbers can be
// compared with those published for Whisper and computed by its peers.
//
//   std::string ref = wst::bench::normalize_english("Mr. Smith paid twenty-five dollars.");
//   // ref == "mister smith paid $25"
//
// normalize_english() reproduces EnglishTextNormalizer: lower-casing; removal of [bracketed] / <angled> and
// (parenthesised) text and of the fillers hmm/mm/mhm/mmm/uh/um; expansion of contractions and titles; removal
// of symbols and diacritics; spelled-out numbers, ordinals, currencies and percentages to digits
// (EnglishNumberNormalizer); British to American spelling (EnglishSpellingNormalizer); whitespace collapsed.
// Quirks are kept on purpose ("1.5" becomes "one.5", "$1" becomes " one") because matching the reference
// matters more than tidiness: tests/bench/text_normalizer_test.cpp pins the output against the Python package.
// Like the reference, the result is not trimmed: it may start or end with one space.
//
// normalize_basic() reproduces BasicTextNormalizer, meant for languages other than English.
//
// Input is UTF-8 (invalid bytes read as U+FFFD); output is UTF-8. Thread-safe: no mutable shared state.
#pragma once
#include <string>
#include <string_view>

namespace wst::bench {

std::string normalize_english(std::string_view text);

// remove_diacritics: NFKD and drop combining marks (é -> e, ß -> ss) instead of NFKC;
// split_letters: put a space between extended grapheme clusters (for languages without spaces).
std::string normalize_basic(std::string_view text, bool remove_diacritics = false, bool split_letters = false);

// The American spelling of a lower-case British word, or the word itself (EnglishSpellingNormalizer's table).
std::string_view american_spelling(std::string_view word);

}  // namespace wst::bench
