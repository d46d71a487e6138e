// Checks one model file or directory against the catalog: size, checksum, or the format's header.
// Knows no inference: "load" verification runs a child process (see load_check.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "models/catalog.h"

namespace wst::models {

enum class Status { kComplete, kMissing, kIncomplete, kCorrupt, kNa };
std::string_view status_id(Status s);  // "complete", "missing", "incomplete", "corrupt", "n/a"

// How hard to look. Each level includes the cheaper checks before it, except that checksum and header
// are independent of each other (both include size).
enum class Verify { kSize, kChecksum, kHeader, kLoad };
std::string_view verify_id(Verify v);
Verify parse_verify(std::string_view id);  // throws wst::Error on an unknown level

struct FileCheck {
  Status status = Status::kComplete;
  std::string detail;  // one line, empty when complete
};

// Checks a present file against its catalog entry. `hub_etag` is the name of the HF cache blob the file is,
// used by `checksum` where the catalog has no SHA-256: the hub's ETag, which is the contents' SHA-256 for an LFS
// file (64 hex digits) and git's blob SHA-1 for a file stored in git (40 hex digits), as huggingface_hub's
// documentation of hf_hub_download states.
FileCheck check_file(const std::filesystem::path& path, const FileSpec& spec, Format format, Verify level,
                     const std::optional<std::string>& hub_etag = std::nullopt);

// The header check alone: ct2 model.bin, .pt zip, safetensors, ggml magic, npz. Files with no known header
// (json, txt) pass when they are not empty; .json files must parse.
FileCheck check_header(const std::filesystem::path& path, Format format);

// Which format a user's file or directory holds, from names and magic bytes; nullopt when unknown.
std::optional<Format> detect_format(const std::filesystem::path& path);

}  // namespace wst::models
