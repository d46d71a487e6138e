// SHA-256 / SHA-1 through OpenSSL's EVP interface.
#include "util/sha256.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "util/errors.h"

namespace wst {

struct Digest::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Digest::Digest(DigestKind kind) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  const EVP_MD* md = kind == DigestKind::kSha256 ? EVP_sha256() : EVP_sha1();  // git blob ids are SHA-1
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, md, nullptr) != 1) throw Error("OpenSSL: digest init failed");
}

Digest::~Digest() { EVP_MD_CTX_free(impl_->ctx); }

void Digest::update(const void* data, size_t n) {
  if (EVP_DigestUpdate(impl_->ctx, data, n) != 1) throw Error("OpenSSL: digest update failed");
}

std::string Digest::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, out, &n) != 1) throw Error("OpenSSL: digest final failed");
  std::string s;
  s.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) s += fmt::format("{:02x}", out[i]);
  return s;
}

std::string file_digest(const std::filesystem::path& path, DigestKind kind) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(fmt::format("{}: cannot open for checksum: {}", path.string(), std::strerror(errno)));
  Digest d(kind);
  if (kind == DigestKind::kGitBlobSha1) {
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) {
      std::fclose(f);
      throw Error(fmt::format("{}: cannot stat for checksum: {}", path.string(), ec.message()));
    }
    const std::string header = fmt::format("blob {}", size);
    d.update(header.c_str(), header.size() + 1);  // with its terminating zero byte, as git hashes it
  }
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) d.update(buf.data(), n);
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) throw Error(fmt::format("{}: read error while computing checksum", path.string()));
  return d.hex();
}

std::string sha256_hex(std::string_view bytes) {
  Digest d(DigestKind::kSha256);
  d.update(bytes.data(), bytes.size());
  return d.hex();
}

bool is_hex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

}  // namespace wst
