// Path helpers shared by the model caches: home and XDG directories, and the one check every name from
// outside (catalog, HF refs files, HTTP headers, user input) passes before it becomes part of a path.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace wst {

// $HOME, else the password database entry. Throws wst::Error when neither is known.
std::filesystem::path home_dir();

// $XDG_CACHE_HOME when set and absolute, else ~/.cache.
std::filesystem::path xdg_cache_home();

// True when `name` is a safe relative path: not empty, not absolute, no "." or ".." component, no empty
// component ("a//b"), no backslash, no NUL or control character. Such a name joined under a directory
// stays lexically inside it.
bool is_safe_relative(std::string_view name);

// base / name after is_safe_relative(name); throws wst::Error naming `what` and the name otherwise.
std::filesystem::path safe_join(const std::filesystem::path& base, std::string_view name,
                                std::string_view what);

// True when `p`, with every symlink resolved (the part that exists), lies inside `root` (also resolved).
// Used where a symlink we did not make (HF snapshots) could point anywhere.
bool resolves_inside(const std::filesystem::path& p, const std::filesystem::path& root);

// Human-readable byte count: "75.5 MiB".
std::string format_bytes(unsigned long long n_bytes);

}  // namespace wst
