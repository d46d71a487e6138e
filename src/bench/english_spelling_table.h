// The British -> American spelling table, compiled in (src/bench/english_spelling_table.cpp is generated from
// data/english_spelling.json by tools/gen_spelling_table.py). Sorted by key, byte order.
#pragma once
#include <cstddef>

namespace wst::bench {

struct SpellingPair {
  const char* british;
  const char* american;
};

extern const SpellingPair kEnglishSpellings[];
extern const size_t kNumEnglishSpellings;

}  // namespace wst::bench
