// Hugging Face hub cache layout; see hf_cache.h for the drawing.
#include "models/hf_cache.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/errors.h"
#include "util/paths.h"
#include "util/sha256.h"

namespace wst::models::hf {

namespace fs = std::filesystem;

std::string repo_folder(std::string_view repo_id) {
  auto slash = repo_id.find('/');
  if (slash == std::string_view::npos || repo_id.find('/', slash + 1) != std::string_view::npos ||
      !is_safe_relative(repo_id))
    throw Error(fmt::format("unsafe or malformed repo id '{}' (expected org/name)", repo_id));
  return fmt::format("models--{}--{}", repo_id.substr(0, slash), repo_id.substr(slash + 1));
}

fs::path repo_dir(const fs::path& hub, std::string_view repo_id) { return hub / repo_folder(repo_id); }

bool is_commit(std::string_view s) { return is_hex(s, 40); }
bool is_safe_etag(std::string_view s) { return is_hex(s, 40) || is_hex(s, 64); }

std::optional<std::string> read_ref(const fs::path& repo, std::string_view revision) {
  if (is_commit(revision)) return std::string(revision);
  fs::path ref = safe_join(repo / "refs", revision, "refs");
  std::ifstream in(ref);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (!is_commit(s))
    throw Error(fmt::format("{}: not a commit hash ('{}')", ref.string(), s.substr(0, 80)));
  return s;
}

void write_ref(const fs::path& repo, std::string_view revision, std::string_view commit) {
  if (!is_commit(commit)) throw Error(fmt::format("refusing to write ref: '{}' is not a commit hash", commit));
  fs::path ref = safe_join(repo / "refs", revision, "refs");
  fs::create_directories(ref.parent_path());
  fs::path tmp = ref;
  tmp += ".tmp";
  std::ofstream out(tmp, std::ios::binary);
  out << commit;  // no newline, as huggingface_hub writes it
  out.close();
  if (!out) {
    // A full disk must not leave an empty ref behind (it would read as a hostile one): nothing is renamed.
    const int err = errno;
    std::error_code ec;
    fs::remove(tmp, ec);
    throw Error(fmt::format("{}: cannot write: {}", ref.string(), err ? std::strerror(err) : "write failed"));
  }
  fs::rename(tmp, ref);
}

fs::path snapshot_dir(const fs::path& repo, std::string_view commit) {
  if (!is_commit(commit)) throw Error(fmt::format("'{}' is not a commit hash", commit));
  return repo / "snapshots" / std::string(commit);
}

fs::path blob_path(const fs::path& repo, std::string_view etag) {
  if (!is_safe_etag(etag)) throw Error(fmt::format("unsafe etag '{}' from the server", etag.substr(0, 80)));
  return repo / "blobs" / std::string(etag);
}

fs::path lock_path(const fs::path& hub, std::string_view repo_id, std::string_view etag) {
  if (!is_safe_etag(etag)) throw Error(fmt::format("unsafe etag '{}' from the server", etag.substr(0, 80)));
  return hub / ".locks" / repo_folder(repo_id) / (std::string(etag) + ".lock");
}

void link_snapshot(const fs::path& repo, std::string_view commit, std::string_view filename, std::string_view etag) {
  fs::path link = safe_join(snapshot_dir(repo, commit), filename, "snapshot file");
  fs::create_directories(link.parent_path());
  // ../../blobs/<etag> from snapshots/<commit>/, one more ../ per folder inside the file name.
  fs::path target = "..";
  target /= "..";
  const fs::path rel{std::string(filename)};
  for (auto it = rel.begin(); std::next(it) != rel.end(); ++it) target /= "..";
  target /= "blobs";
  target /= std::string(etag);
  std::error_code ec;
  fs::remove(link, ec);
  fs::create_symlink(target, link);
}

bool has_incomplete_blobs(const fs::path& repo) {
  std::error_code ec;
  for (fs::directory_iterator it(repo / "blobs", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".incomplete") return true;
  return false;
}

}  // namespace wst::models::hf
