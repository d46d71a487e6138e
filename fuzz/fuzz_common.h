// Shared by the fuzz targets: checks that an accepted tensor's bytes are all readable and add up to its
// shape, wraps fuzz bytes into a zip with valid CRCs (so that the parsers behind the CRC check are
// reached), and writes fuzz bytes to a file for readers that take a path; each through a per-process
// temporary file removed at exit.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "formats/whisper_weights.h"
#include "formats/zip_archive.h"

namespace wst::fuzz {

inline void check_tensor(const formats::TensorRef& t) {
  size_t n = formats::dtype_size(t.dtype);
  for (int64_t d : t.shape) {
    if (d < 0) __builtin_trap();
    n *= static_cast<size_t>(d);
  }
  if (n != t.n_bytes) __builtin_trap();
  // Reading every byte lets AddressSanitizer catch a view that reaches past its buffer.
  uint8_t sum = 0;
  for (size_t i = 0; i < t.n_bytes; ++i) sum = static_cast<uint8_t>(sum + t.data[i]);
  __asm__ volatile("" : : "r"(sum));  // keep the reads
}

// /tmp/wst_fuzz_<pid>_<name>, removed when the process exits normally (a crash leaves it behind).
inline std::string temp_path(const std::string& name) {
  static std::vector<std::string> paths;
  static const bool registered = std::atexit([] {
    for (const auto& p : paths) ::unlink(p.c_str());
  }) == 0;
  (void)registered;
  std::string path = "/tmp/wst_fuzz_" + std::to_string(::getpid()) + "_" + name;
  for (const auto& p : paths)
    if (p == path) return path;
  paths.push_back(path);
  return path;
}

// Writes the input to temp_path(name) and returns that path: for readers that take a path, not bytes.
inline std::string write_temp(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = temp_path(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) __builtin_trap();  // /tmp full or gone: no input would be tested
  return path;
}

// The bytes of a stored zip holding `entries`.
inline std::string zip_of(const std::vector<std::pair<std::string, std::string>>& entries) {
  static const std::string path = temp_path("zip_of.zip");
  {
    formats::ZipWriter z(path);
    for (const auto& [name, bytes] : entries) z.add(name, {{bytes.data(), bytes.size()}});
    z.finish();
  }
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace wst::fuzz
