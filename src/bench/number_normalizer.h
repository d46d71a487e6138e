// Spelled-out English numbers to digits, as openai-whisper's EnglishNumberNormalizer
// (whisper/normalizers/english.py); used by normalize_english() in text_normalizer.cpp.
#pragma once
#include <string>
#include <string_view>

namespace wst::bench {

// Input: lower-case text whose symbols other than . % $ ¢ € £ are already spaces.
// "twenty five dollars and fifty cents" -> "$25.50", "one oh one" -> "101", "fifty per cent" -> "50%".
std::u32string normalize_english_numbers(std::u32string_view s);

}  // namespace wst::bench
