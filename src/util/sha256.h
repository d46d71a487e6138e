// File and buffer digests through OpenSSL EVP: SHA-256 (OpenAI checkpoints, HF LFS blobs), SHA-1
// (whisper.cpp publishes SHA-1 for its ggml files) and git's blob SHA-1 (the Hugging Face hub's ETag of a file
// stored in git rather than LFS). Lower-case hex out.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace wst {

// kGitBlobSha1: SHA-1 over "blob <size in decimal>\0" followed by the contents, git's object id of a file.
enum class DigestKind { kSha256, kSha1, kGitBlobSha1 };

// Incremental digest.
class Digest {
 public:
  explicit Digest(DigestKind kind);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(const void* data, size_t n_bytes);
  std::string hex();  // finishes; call once

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Digest of a whole file, read in chunks. Throws wst::Error naming the file when it cannot be read.
std::string file_digest(const std::filesystem::path& path, DigestKind kind);
inline std::string sha256_file(const std::filesystem::path& path) { return file_digest(path, DigestKind::kSha256); }
std::string sha256_hex(std::string_view bytes);

// True for exactly n lower- or upper-case hex digits.
bool is_hex(std::string_view s, size_t n);

}  // namespace wst
