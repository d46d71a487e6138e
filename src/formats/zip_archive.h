// A zip reader over bytes in memory (a mapped file) and a zip writer of stored entries: the container of
// torch's checkpoints (.pt) and numpy's .npz.
//
//   ZipArchive zip(file.data(), file.size(), file.path());
//   if (const ZipEntry* e = zip.find("archive/data.pkl")) { ZipData d = zip.read(*e); ... d.data, d.size ... }
//
//   ZipWriter out("/tmp/x.npz");
//   out.add("a.npy", {{header.data(), header.size()}, {bytes, n_bytes}});
//   out.finish();
//
// Layout read (APPNOTE.TXT, little-endian), from the end of the file:
//   end of central directory (EOCD, "PK\5\6"): entry count, central directory size and offset, comment
//   [ZIP64 EOCD locator "PK\6\7" just before it -> ZIP64 EOCD "PK\6\6" with 64-bit count, size, offset]
//   central directory: one "PK\1\2" header per entry: method, CRC-32, sizes, local header offset, name,
//     extra fields (ZIP64 extra 0x0001 holds the 64-bit values of the fields stored as 0xFFFFFFFF)
//   each entry: local header "PK\3\4" (name and method repeated; CRC and sizes too unless flag bit 3 says
//     they follow the data in a descriptor, as torch writes them), extra fields, then the data.
// The archive is untrusted: every offset is checked against the file, every local header against its
// central directory record (name, method, sizes, CRC), entries may not overlap, names may not repeat.
// Stored entries are read as views into the bytes; deflated ones (np.savez_compressed) are inflated with
// zlib into a buffer the result owns.
//
// Thread-safety: a ZipArchive is immutable after construction; read() may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace wst::formats {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;              // 0 stored, 8 deflated (others are listed but not read)
  uint16_t flags = 0;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;     // bytes in the archive
  uint64_t size = 0;                // bytes once inflated (== compressed_size when stored)
  uint64_t local_header_offset = 0;
  uint64_t data_offset = 0;         // where the entry's bytes start (after its local header)
};

// An entry's bytes: a view into the archive, or into `owned` when they had to be inflated.
struct ZipData {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const std::vector<uint8_t>> owned;
};

class ZipArchive {
 public:
  // Parses and cross-checks the directory of `bytes` (which must outlive this object). `path` names the file
  // in errors: "<path>: not a zip archive (no end of central directory record)", "<path>: zip entry X: ...".
  ZipArchive(const uint8_t* bytes, size_t size, std::string path);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;
  const std::string& path() const { return path_; }

  // The bytes of `e`, CRC-checked when `check_crc`. Stored entries are views; deflated entries are inflated
  // (refused beyond a ratio deflate cannot reach); other methods and encrypted entries are refused.
  ZipData read(const ZipEntry& e, bool check_crc = true) const;

 private:
  const uint8_t* bytes_;
  size_t size_;
  std::string path_;
  std::vector<ZipEntry> entries_;
};

// Writes a zip of stored entries, streaming. Each entry's data starts at a multiple of 64 bytes in the
// file, padded with an extra field as torch's writer does, so that a mapped reader gets aligned tensors.
// ZIP64 records are written where a size, offset or count needs them (or always, with `force_zip64`).
class ZipWriter {
 public:
  struct Part {
    const void* data;
    size_t size;
  };
  // Creates (truncates) `path`; throws wst::Error naming it when it cannot.
  explicit ZipWriter(const std::string& path, bool force_zip64 = false);
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  // Adds an entry whose bytes are the concatenation of `parts`.
  void add(const std::string& name, const std::vector<Part>& parts);
  // Writes the central directory and closes the file; throws on any write error. Without it, the file is
  // closed unfinished (the caller's temporary name is removed by write_weights()).
  void finish();

 private:
  struct Written {
    std::string name;
    uint32_t crc32;
    uint64_t size, offset;
  };
  void write(const void* data, size_t n);
  std::string path_;
  std::FILE* f_ = nullptr;
  bool force_zip64_;
  uint64_t pos_ = 0;
  std::vector<Written> written_;
};

}  // namespace wst::formats
