// Home/XDG lookup, safe relative names, symlink containment and byte formatting.
#include "util/paths.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "util/errors.h"

namespace wst {

namespace fs = std::filesystem;

fs::path home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  throw Error("HOME is not set and the user has no home directory");
}

fs::path xdg_cache_home() {
  // The XDG base directory spec says relative values are invalid and must be ignored.
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x && x[0] == '/') return x;
  return home_dir() / ".cache";
}

bool is_safe_relative(std::string_view name) {
  if (name.empty() || name.front() == '/') return false;
  size_t start = 0;
  while (true) {
    size_t end = name.find('/', start);
    std::string_view part = name.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (unsigned char c : part)
      if (c < 0x20 || c == 0x7f || c == '\\') return false;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

fs::path safe_join(const fs::path& base, std::string_view name, std::string_view what) {
  if (!is_safe_relative(name))
    throw Error(fmt::format("{}: unsafe name '{}' (must be a relative path without '..')", what, name));
  return base / fs::path(std::string(name));
}

bool resolves_inside(const fs::path& p, const fs::path& root) {
  std::error_code ec;
  fs::path rp = fs::weakly_canonical(p, ec);
  if (ec) return false;
  fs::path rr = fs::weakly_canonical(root, ec);
  if (ec) return false;
  auto [ri, pi] = std::mismatch(rr.begin(), rr.end(), rp.begin(), rp.end());
  return ri == rr.end();
}

std::string format_bytes(unsigned long long n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) { v /= 1024.0; ++u; }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace wst
