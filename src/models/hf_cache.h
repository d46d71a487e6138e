// The Hugging Face hub cache, read and written exactly as huggingface_hub lays it out, so that files
// downloaded by either tool are shared:
//
//   <hub cache>/                                  HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
//   ├── .locks/models--<org>--<name>/<etag>.lock  flock'ed while a blob is written
//   └── models--<org>--<name>/
//       ├── blobs/<etag>                          file contents; <etag>.incomplete while downloading
//       ├── refs/main                             the commit hash "main" points to (40 hex, no newline)
//       └── snapshots/<commit>/<filename>         symlink -> ../../blobs/<etag>
//
// The etag is the server's X-Linked-Etag (LFS files: the SHA-256 of the contents) or ETag (small files:
// the git blob SHA-1). Every name read from refs files or HTTP headers is validated before use.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace wst::models::hf {

// "openai/whisper-tiny" -> "models--openai--whisper-tiny". Throws wst::Error for an unsafe repo id.
std::string repo_folder(std::string_view repo_id);
std::filesystem::path repo_dir(const std::filesystem::path& hub, std::string_view repo_id);

// A commit hash as the hub writes it: 40 hex digits.
bool is_commit(std::string_view s);
// An etag usable as a blob name: 40 or 64 hex digits.
bool is_safe_etag(std::string_view s);

// The commit refs/<revision> points to; nullopt when the ref file does not exist. A revision that is a
// commit hash itself is returned as is. Throws wst::Error when the ref file holds anything but a commit.
std::optional<std::string> read_ref(const std::filesystem::path& repo_dir, std::string_view revision);
void write_ref(const std::filesystem::path& repo_dir, std::string_view revision, std::string_view commit);

std::filesystem::path snapshot_dir(const std::filesystem::path& repo_dir, std::string_view commit);
std::filesystem::path blob_path(const std::filesystem::path& repo_dir, std::string_view etag);
std::filesystem::path lock_path(const std::filesystem::path& hub, std::string_view repo_id, std::string_view etag);

// Makes snapshots/<commit>/<filename> a relative symlink to blobs/<etag> (replacing an older link).
void link_snapshot(const std::filesystem::path& repo_dir, std::string_view commit, std::string_view filename,
                   std::string_view etag);

// True when blobs/ holds an unfinished download (*.incomplete).
bool has_incomplete_blobs(const std::filesystem::path& repo_dir);

}  // namespace wst::models::hf
