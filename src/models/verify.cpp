// Size, checksum and header checks for model files. Header checks read a few bytes at the start (and the
// zip end record) without loading any weights.
#include "models/verify.h"

#include "formats/ct2_model.h"
#include "formats/ggml_types.h"
#include "util/mapped_file.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "util/errors.h"
#include "util/paths.h"
#include "util/sha256.h"

namespace wst::models {

namespace fs = std::filesystem;

std::string_view status_id(Status s) {
  switch (s) {
    case Status::kComplete: return "complete";
    case Status::kMissing: return "missing";
    case Status::kIncomplete: return "incomplete";
    case Status::kCorrupt: return "corrupt";
    case Status::kNa: return "n/a";
  }
  return "?";
}

std::string_view verify_id(Verify v) {
  switch (v) {
    case Verify::kSize: return "size";
    case Verify::kChecksum: return "checksum";
    case Verify::kHeader: return "header";
    case Verify::kLoad: return "load";
  }
  return "?";
}

Verify parse_verify(std::string_view id) {
  for (Verify v : {Verify::kSize, Verify::kChecksum, Verify::kHeader, Verify::kLoad})
    if (verify_id(v) == id) return v;
  throw Error(fmt::format("unknown verification level '{}' (known: size, checksum, header, load)", id));
}

namespace {

std::string read_bytes(const fs::path& p, uint64_t offset, size_t n) {
  std::ifstream in(p, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

uint64_t le(const std::string& s, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

FileCheck corrupt(const fs::path& p, const std::string& why) {
  return {Status::kCorrupt, fmt::format("{}: {}", p.filename().string(), why)};
}

// Zip (PyTorch .pt, .npz): local header magic at 0, end-of-central-directory record within the last
// 64 KiB + 22 bytes. A truncated download loses the end record.
FileCheck check_zip(const fs::path& p, uint64_t size) {
  if (read_bytes(p, 0, 4) != std::string("PK\x03\x04", 4)) return corrupt(p, "not a zip archive (bad magic)");
  uint64_t tail_n = std::min<uint64_t>(size, 65536 + 22);
  std::string tail = read_bytes(p, size - tail_n, tail_n);
  if (tail.rfind(std::string("PK\x05\x06", 4)) == std::string::npos)
    return {Status::kIncomplete, fmt::format("{}: zip end record missing (truncated)", p.filename().string())};
  return {};
}

// safetensors: u64 little-endian header length N, then N bytes of JSON mapping tensor names to
// {dtype, shape, data_offsets:[begin,end]} relative to the byte after the header.
FileCheck check_safetensors(const fs::path& p, uint64_t size) {
  if (size < 8) return corrupt(p, "shorter than a safetensors header");
  uint64_t n = le(read_bytes(p, 0, 8), 0, 8);
  if (n > size - 8 || n > (100u << 20)) return corrupt(p, fmt::format("safetensors header length {} exceeds the file", n));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(read_bytes(p, 8, n));
  } catch (const std::exception&) {
    return corrupt(p, "safetensors header is not valid JSON");
  }
  uint64_t data_n = size - 8 - n, need = 0;
  for (const auto& [name, t] : h.items()) {
    if (name == "__metadata__") continue;
    if (!t.is_object() || !t.contains("data_offsets")) return corrupt(p, fmt::format("tensor '{}' has no data_offsets", name));
    need = std::max<uint64_t>(need, t["data_offsets"].at(1).get<uint64_t>());
  }
  if (need > data_n)
    return {Status::kIncomplete, fmt::format("{}: tensor data ends at {} but only {} bytes follow the header (truncated)",
                                             p.filename().string(), need, data_n)};
  return {};
}

// The whole variable table through the formats/ parser (names, shapes, dtypes, byte ranges; weights are
// mapped, not read). A table that runs past the end is incomplete; anything else wrong is corrupt.
FileCheck check_ct2(const fs::path& p, uint64_t size) {
  try {
    MappedFile f(p.string());
    formats::Ct2Model m = formats::parse_ct2_model(f.data(), f.size(), p.filename().string());
    if (m.spec_name != "WhisperSpec") {
      std::string name = m.spec_name.substr(0, 40);
      for (char& c : name)
        if (c < 0x20 || c > 0x7e) c = '?';  // untrusted bytes go into a one-line message
      return corrupt(p, fmt::format("CTranslate2 spec '{}' is not WhisperSpec", name));
    }
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("truncated at byte") != std::string::npos) return {Status::kIncomplete, what};
    return {Status::kCorrupt, what};
  }
  return {};
}

// whisper.cpp: uint32 magic 0x67676d6c ("ggml") little-endian; a ggml-q8_0 artifact's file type (the i32
// after the ten hyperparameters, modulo ggml's quantisation version factor 1000) is q8_0's 7, a plain one's not.
FileCheck check_ggml(const fs::path& p, uint64_t size, Format format) {
  constexpr size_t kHeader = formats::kGgmlFileTypeOffset + 4;
  std::string h = read_bytes(p, 0, kHeader);
  if (h.size() < 4 || le(h, 0, 4) != 0x67676d6c) return corrupt(p, "no ggml magic");
  if (h.size() < kHeader) return {Status::kIncomplete, fmt::format("{}: truncated in the header", p.filename().string())};
  const int32_t file_type =
      formats::ggml_file_type(static_cast<int32_t>(le(h, formats::kGgmlFileTypeOffset, 4)));
  if (format == Format::kGgmlQ8_0 && file_type != formats::kGgmlFileTypeQ8_0)
    return corrupt(p, fmt::format("ggml file type {}, not q8_0 ({})", file_type, formats::kGgmlFileTypeQ8_0));
  if (format == Format::kGgml && file_type == formats::kGgmlFileTypeQ8_0)
    return corrupt(p, "a q8_0 ggml file where the float16 one belongs");
  return {};
}

}  // namespace

FileCheck check_header(const fs::path& p, Format format) {
  std::error_code ec;
  uint64_t size = fs::file_size(p, ec);
  if (ec) return {Status::kMissing, fmt::format("{}: cannot stat", p.string())};
  if (size == 0) return {Status::kIncomplete, fmt::format("{}: empty file", p.filename().string())};
  std::string name = p.filename().string();
  auto ends = [&](std::string_view s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  if (ends(".pt") || ends(".npz")) return check_zip(p, size);
  if (ends(".safetensors")) return check_safetensors(p, size);
  if (format == Format::kCt2 && name == "model.bin") return check_ct2(p, size);
  if (format == Format::kGgml || format == Format::kGgmlQ8_0) return check_ggml(p, size, format);
  if (ends(".json")) {
    std::ifstream in(p);
    if (!nlohmann::json::accept(in)) return corrupt(p, "not valid JSON");
  }
  return {};
}

FileCheck check_file(const fs::path& p, const FileSpec& spec, Format format, Verify level,
                     const std::optional<std::string>& hub_etag) {
  std::error_code ec;
  uint64_t size = fs::file_size(p, ec);
  if (ec) return {Status::kMissing, fmt::format("{}: not found", p.string())};
  std::string fname = p.filename().string();
  if (spec.size_bytes) {
    if (size < *spec.size_bytes)
      return {Status::kIncomplete, fmt::format("{}: truncated: {} of {} bytes", fname, size, *spec.size_bytes)};
    if (size > *spec.size_bytes)
      return {Status::kCorrupt, fmt::format("{}: {} bytes, expected {}", fname, size, *spec.size_bytes)};
  } else if (size == 0) {
    return {Status::kIncomplete, fmt::format("{}: empty file", fname)};
  }
  if (level == Verify::kChecksum) {
    std::optional<std::string> want = spec.sha256;
    if (!want && hub_etag && is_hex(*hub_etag, 64)) want = hub_etag;
    if (want) {
      std::string got = file_digest(p, DigestKind::kSha256);
      if (got != *want) return {Status::kCorrupt, fmt::format("{}: SHA-256 {} does not match expected {}", fname, got, *want)};
    } else if (spec.sha1) {
      std::string got = file_digest(p, DigestKind::kSha1);
      if (got != *spec.sha1) return {Status::kCorrupt, fmt::format("{}: SHA-1 {} does not match expected {}", fname, got, *spec.sha1)};
    } else if (hub_etag && is_hex(*hub_etag, 40)) {
      std::string got = file_digest(p, DigestKind::kGitBlobSha1);
      if (got != *hub_etag)
        return {Status::kCorrupt, fmt::format("{}: git blob SHA-1 {} does not match its etag {}", fname, got, *hub_etag)};
    }
  }
  if (level == Verify::kHeader || level == Verify::kLoad) return check_header(p, format);
  return {};
}

std::optional<Format> detect_format(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    auto has = [&](const char* n) { return fs::exists(p / n, ec); };
    if (has("model.bin") && has("config.json")) return Format::kCt2;
    if (has("model.safetensors") || has("model.safetensors.index.json")) return Format::kHf;
    if (has("weights.npz") || has("weights.safetensors")) return Format::kMlx;
    return std::nullopt;
  }
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  std::string h = read_bytes(p, 0, 4);
  if (h == std::string("PK\x03\x04", 4) && p.extension() == ".pt") return Format::kOpenai;
  if (h.size() == 4 && le(h, 0, 4) == 0x67676d6c) {
    std::string t = read_bytes(p, formats::kGgmlFileTypeOffset, 4);
    const bool q8_0 = t.size() == 4 && formats::ggml_file_type(static_cast<int32_t>(le(t, 0, 4))) ==
                                           formats::kGgmlFileTypeQ8_0;
    return q8_0 ? Format::kGgmlQ8_0 : Format::kGgml;
  }
  return std::nullopt;
}

}  // namespace wst::models
