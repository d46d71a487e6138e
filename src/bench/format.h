// Small text formatting shared by the summary table, the reports and progress lines.
#pragma once
#include <string>
#include <string_view>

namespace wst::bench {

// "1.234 s" above a second, "812.3 ms" below.
std::string format_ms(double ms);
// "312.4 MiB", "23.4 GiB"; "-" for negative (unknown).
std::string format_bytes(long long bytes);
// "mm:ss" of a duration, rounded to the second ("00:11"); hours add "h:" in front.
std::string format_mm_ss(double seconds);
// Whitespace runs folded to one space, ends trimmed, then cut to `max_chars` characters (UTF-8 aware)
// with "..." added; "(no transcription)" when nothing is left.
std::string transcript_preview(std::string_view text, size_t max_chars = 100);
// printf into a std::string.
std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace wst::bench
