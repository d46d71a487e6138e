// See format.h.
#include "bench/format.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace wst::bench {

std::string strprintf(const char* fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string s(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(s.data(), s.size() + 1, fmt, ap2);
  va_end(ap2);
  return s;
}

std::string format_ms(double ms) {
  if (ms < 0) return "-";
  if (ms >= 1000.0) return strprintf("%.3f s", ms / 1000.0);
  return strprintf("%.1f ms", ms);
}

std::string format_bytes(long long bytes) {
  if (bytes < 0) return "-";
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return strprintf("%.1f GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return strprintf("%.1f MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return strprintf("%.1f KiB", b / 1024.0);
  return strprintf("%lld B", bytes);
}

std::string format_mm_ss(double seconds) {
  long long s = std::llround(std::max(0.0, seconds));
  if (s >= 3600) return strprintf("%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  return strprintf("%02lld:%02lld", s / 60, s % 60);
}

std::string transcript_preview(std::string_view text, size_t max_chars) {
  std::string folded;
  bool pending_space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      pending_space = !folded.empty();
      continue;
    }
    if (pending_space) folded += ' ';
    pending_space = false;
    folded += c;
  }
  if (folded.empty()) return "(no transcription)";
  // Count characters, not bytes: UTF-8 continuation bytes are 10xxxxxx.
  size_t n_chars = 0, cut = folded.size();
  for (size_t i = 0; i < folded.size(); ++i) {
    if ((static_cast<unsigned char>(folded[i]) & 0xC0) == 0x80) continue;
    if (n_chars == max_chars) {
      cut = i;
      break;
    }
    ++n_chars;
  }
  if (cut == folded.size()) return folded;
  std::string out = folded.substr(0, cut);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "...";
}

}  // namespace wst::bench
