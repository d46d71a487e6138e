// Zip reader and writer; the layout is described in zip_archive.h.
#include "formats/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "util/errors.h"

namespace wst::formats {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr size_t kLocalSize = 30, kCentralSize = 46, kEocdSize = 22, kZip64EocdSize = 56, kZip64LocatorSize = 20;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kPadExtraId = 0x4246;  // "FB": the padding field torch's writer uses
constexpr uint32_t k32Max = 0xffffffffu;
constexpr uint16_t k16Max = 0xffff;
// Deflate cannot shrink data by more than about 1032:1; a larger claimed ratio is a lie, not a reason to
// allocate the claimed size.
constexpr uint64_t kMaxDeflateRatio = 1032;

uint16_t u16_at(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32_at(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint64_t u64_at(const uint8_t* p) { return u32_at(p) | (static_cast<uint64_t>(u32_at(p + 4)) << 32); }

uint32_t crc_of(const uint8_t* data, size_t n, uint32_t crc = 0) {
  // zlib's crc32_z takes a size_t length; chunked anyway so that any zlib build works.
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(::crc32(crc, data, chunk));
    data += chunk;
    n -= chunk;
  }
  return crc;
}

// The ZIP64 extra field of a central header: the 64-bit values, in APPNOTE's order, of exactly the fields
// stored there as 0xFFFFFFFF.
void apply_zip64_extra(const uint8_t* extra, size_t n, ZipEntry& e, bool size_max, bool csize_max, bool offset_max,
                       const std::string& where) {
  size_t pos = 0;
  bool seen = false;
  while (pos + 4 <= n) {
    const uint16_t id = u16_at(extra + pos), len = u16_at(extra + pos + 2);
    if (len > n - pos - 4) throw Error(where + ": extra field runs past its header");
    if (id == kZip64ExtraId && !seen) {
      seen = true;
      const uint8_t* f = extra + pos + 4;
      size_t need = 8 * (size_max + csize_max + offset_max);
      if (len < need) throw Error(where + ": ZIP64 extra field too short");
      if (size_max) e.size = u64_at(f), f += 8;
      if (csize_max) e.compressed_size = u64_at(f), f += 8;
      if (offset_max) e.local_header_offset = u64_at(f);
    }
    pos += 4 + len;
  }
  if ((size_max || csize_max || offset_max) && !seen) throw Error(where + ": a size or offset is 0xFFFFFFFF without a ZIP64 extra field");
}

}  // namespace

ZipArchive::ZipArchive(const uint8_t* bytes, size_t size, std::string path)
    : bytes_(bytes), size_(size), path_(std::move(path)) {
  // The EOCD: the last "PK\5\6" whose comment reaches exactly to the end of the file.
  if (size_ < kEocdSize) throw Error(path_ + ": not a zip archive (" + std::to_string(size_) + " bytes)");
  size_t eocd = std::string::npos;
  const size_t lowest = size_ - kEocdSize > 0xffff ? size_ - kEocdSize - 0xffff : 0;
  for (size_t p = size_ - kEocdSize + 1; p-- > lowest;) {
    if (u32_at(bytes_ + p) == kEocdSig && u16_at(bytes_ + p + 20) == size_ - p - kEocdSize) {
      eocd = p;
      break;
    }
  }
  if (eocd == std::string::npos) throw Error(path_ + ": not a zip archive (no end of central directory record)");
  const uint8_t* q = bytes_ + eocd;
  if (u16_at(q + 4) != 0 || u16_at(q + 6) != 0 || u16_at(q + 8) != u16_at(q + 10))
    throw Error(path_ + ": multi-volume zip archives are not supported");
  uint64_t n_entries = u16_at(q + 10), cd_size = u32_at(q + 12), cd_offset = u32_at(q + 16);
  size_t cd_end_limit = eocd;  // the central directory ends before the (ZIP64) EOCD

  if (eocd >= kZip64LocatorSize && u32_at(bytes_ + eocd - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint8_t* loc = bytes_ + eocd - kZip64LocatorSize;
    const uint64_t z_off = u64_at(loc + 8);
    if (u32_at(loc + 4) != 0 || u32_at(loc + 16) > 1) throw Error(path_ + ": multi-volume zip archives are not supported");
    if (z_off > eocd - kZip64LocatorSize || eocd - kZip64LocatorSize - z_off < kZip64EocdSize)
      throw Error(path_ + ": corrupt zip (ZIP64 end of central directory offset " + std::to_string(z_off) + ")");
    const uint8_t* z = bytes_ + z_off;
    if (u32_at(z) != kZip64EocdSig) throw Error(path_ + ": corrupt zip (no ZIP64 end of central directory record)");
    if (u32_at(z + 16) != 0 || u32_at(z + 20) != 0 || u64_at(z + 24) != u64_at(z + 32))
      throw Error(path_ + ": multi-volume zip archives are not supported");
    const uint64_t z_n = u64_at(z + 32), z_size = u64_at(z + 40), z_offset = u64_at(z + 48);
    // Where the 32-bit record holds a real value, it must agree with the 64-bit one.
    if ((n_entries != k16Max && n_entries != z_n) || (cd_size != k32Max && cd_size != z_size) ||
        (cd_offset != k32Max && cd_offset != z_offset))
      throw Error(path_ + ": corrupt zip (the ZIP64 and classic end records disagree)");
    n_entries = z_n, cd_size = z_size, cd_offset = z_offset;
    cd_end_limit = z_off;
  }
  if (cd_offset > cd_end_limit || cd_size > cd_end_limit - cd_offset)
    throw Error(path_ + ": corrupt zip (central directory at " + std::to_string(cd_offset) + ", " +
                std::to_string(cd_size) + " bytes, past the end records at " + std::to_string(cd_end_limit) + ")");
  if (n_entries > cd_size / kCentralSize)
    throw Error(path_ + ": corrupt zip (" + std::to_string(n_entries) + " entries cannot fit in a " +
                std::to_string(cd_size) + "-byte central directory)");

  entries_.reserve(static_cast<size_t>(n_entries));
  std::set<std::string> names;
  size_t pos = static_cast<size_t>(cd_offset);
  const size_t cd_end = static_cast<size_t>(cd_offset + cd_size);
  for (uint64_t i = 0; i < n_entries; ++i) {
    const std::string at = path_ + ": corrupt zip (central directory entry " + std::to_string(i);
    if (cd_end - pos < kCentralSize) throw Error(at + " runs past the directory)");
    const uint8_t* c = bytes_ + pos;
    if (u32_at(c) != kCentralSig) throw Error(at + " has no signature at byte " + std::to_string(pos) + ")");
    const size_t name_len = u16_at(c + 28), extra_len = u16_at(c + 30), comment_len = u16_at(c + 32);
    if (cd_end - pos - kCentralSize < name_len + extra_len + comment_len) throw Error(at + " runs past the directory)");
    ZipEntry e;
    e.flags = u16_at(c + 8);
    e.method = u16_at(c + 10);
    e.crc32 = u32_at(c + 16);
    e.compressed_size = u32_at(c + 20);
    e.size = u32_at(c + 24);
    e.local_header_offset = u32_at(c + 42);
    e.name.assign(reinterpret_cast<const char*>(c + kCentralSize), name_len);
    if (e.name.empty() || e.name.find('\0') != std::string::npos) throw Error(at + " has an empty or invalid name)");
    const std::string where = path_ + ": zip entry " + e.name;
    apply_zip64_extra(c + kCentralSize + name_len, extra_len, e, e.size == k32Max, e.compressed_size == k32Max,
                      e.local_header_offset == k32Max, where);
    if (u16_at(c + 34) != 0 && u16_at(c + 34) != k16Max) throw Error(where + ": on another volume");
    if (!names.insert(e.name).second) throw Error(where + ": appears twice in the central directory");
    if (e.method == 0 && e.compressed_size != e.size)
      throw Error(where + ": stored, yet its sizes differ (" + std::to_string(e.compressed_size) + " and " +
                  std::to_string(e.size) + ")");

    // The local header must agree with the central record, and the data must lie before the directory.
    if (e.local_header_offset > cd_offset || cd_offset - e.local_header_offset < kLocalSize)
      throw Error(where + ": local header offset " + std::to_string(e.local_header_offset) +
                  " is outside the archive's data");
    const uint8_t* l = bytes_ + e.local_header_offset;
    if (u32_at(l) != kLocalSig) throw Error(where + ": no local header at byte " + std::to_string(e.local_header_offset));
    const size_t l_name = u16_at(l + 26), l_extra = u16_at(l + 28);
    const uint64_t data_offset = e.local_header_offset + kLocalSize + l_name + l_extra;
    if (data_offset > cd_offset) throw Error(where + ": local header runs into the central directory");
    if (l_name != name_len || std::memcmp(l + kLocalSize, e.name.data(), name_len) != 0)
      throw Error(where + ": its local header names another entry");
    if (u16_at(l + 8) != e.method) throw Error(where + ": local and central headers disagree on the method");
    if (!(u16_at(l + 6) & 8)) {  // sizes in the local header (not in a data descriptor after the data)
      const uint32_t l_crc = u32_at(l + 14), l_csize = u32_at(l + 18), l_size = u32_at(l + 22);
      if (l_crc != e.crc32 || (l_csize != k32Max && l_csize != e.compressed_size) || (l_size != k32Max && l_size != e.size))
        throw Error(where + ": local and central headers disagree on its size or CRC");
    }
    if (e.compressed_size > cd_offset - data_offset)
      throw Error(where + ": " + std::to_string(e.compressed_size) + " bytes at offset " + std::to_string(data_offset) +
                  " run past the archive's data (" + std::to_string(cd_offset) + " bytes)");
    e.data_offset = data_offset;
    entries_.push_back(std::move(e));
    pos += kCentralSize + name_len + extra_len + comment_len;
  }

  // No two entries may share bytes (a directory that lies about offsets).
  std::vector<const ZipEntry*> by_offset;
  for (const auto& e : entries_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const ZipEntry* a, const ZipEntry* b) { return a->local_header_offset < b->local_header_offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->data_offset + by_offset[i - 1]->compressed_size > by_offset[i]->local_header_offset)
      throw Error(path_ + ": zip entries " + by_offset[i - 1]->name + " and " + by_offset[i]->name + " overlap");
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

ZipData ZipArchive::read(const ZipEntry& e, bool check_crc) const {
  const std::string where = path_ + ": zip entry " + e.name;
  if (e.flags & 1) throw Error(where + ": encrypted entries are not supported");
  ZipData out;
  const uint8_t* src = bytes_ + e.data_offset;
  if (e.method == 0) {
    out.data = src;
    out.size = static_cast<size_t>(e.size);
  } else if (e.method == 8) {
    if (e.size > e.compressed_size * kMaxDeflateRatio + 1024)
      throw Error(where + ": claims " + std::to_string(e.size) + " bytes from " + std::to_string(e.compressed_size) +
                  " deflated, more than deflate can hold");
    auto buf = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(e.size));
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw Error(where + ": cannot start zlib");
    uint64_t in_left = e.compressed_size, out_left = e.size;
    const uint8_t* in = src;
    uint8_t* dst = buf->data();
    int rc = Z_OK;
    while (rc == Z_OK) {
      const uInt in_chunk = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
      const uInt out_chunk = static_cast<uInt>(std::min<uint64_t>(out_left, 1u << 30));
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = in_chunk;
      zs.next_out = dst;
      zs.avail_out = out_chunk;
      rc = inflate(&zs, Z_NO_FLUSH);
      in += in_chunk - zs.avail_in, in_left -= in_chunk - zs.avail_in;
      dst += out_chunk - zs.avail_out, out_left -= out_chunk - zs.avail_out;
      if (rc == Z_OK && in_chunk == zs.avail_in && out_chunk == zs.avail_out) rc = Z_BUF_ERROR;  // no progress
    }
    const std::string zlib_msg = zs.msg ? zs.msg : "the stream ends early";
    inflateEnd(&zs);
    if (rc != Z_STREAM_END && out_left == 0)
      throw Error(where + ": corrupt deflate data (it inflates to more than the " + std::to_string(e.size) + " bytes the directory says)");
    if (rc != Z_STREAM_END) throw Error(where + ": corrupt deflate data (zlib: " + zlib_msg + ")");
    if (out_left != 0 || in_left != 0)
      throw Error(where + ": corrupt deflate data (its sizes differ from the directory's)");
    out.data = buf->data();
    out.size = buf->size();
    out.owned = std::move(buf);
  } else {
    throw Error(where + ": compression method " + std::to_string(e.method) + " is not supported (only stored and deflated)");
  }
  if (check_crc && crc_of(out.data, out.size) != e.crc32) throw Error(where + ": CRC-32 mismatch (corrupt data)");
  return out;
}

// ---- writer ----

ZipWriter::ZipWriter(const std::string& path, bool force_zip64) : path_(path), force_zip64_(force_zip64) {
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) throw Error(path + ": cannot create (" + std::strerror(errno) + ")");
}

ZipWriter::~ZipWriter() {
  if (f_) std::fclose(f_);
}

void ZipWriter::write(const void* data, size_t n) {
  if (n && std::fwrite(data, 1, n, f_) != n) throw Error(path_ + ": write failed (" + std::strerror(errno) + ")");
  pos_ += n;
}

namespace {

struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u16(uint16_t v) { return put(v, 2); }
  Bytes& u32(uint32_t v) { return put(v, 4); }
  Bytes& u64(uint64_t v) { return put(v, 8); }
  Bytes& put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& str(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
};

constexpr uint16_t kUtf8Flag = 1 << 11;
constexpr uint16_t kDosDate1980 = 0x21;  // 1980-01-01, the earliest DOS date: reproducible output

}  // namespace

void ZipWriter::add(const std::string& name, const std::vector<Part>& parts) {
  if (!f_) throw Error(path_ + ": zip already finished");
  if (name.empty() || name.size() > 0xffff) throw Error(path_ + ": bad zip entry name \"" + name + "\"");
  uint64_t size = 0;
  uint32_t crc = 0;
  for (const auto& p : parts) {
    size += p.size;
    crc = crc_of(static_cast<const uint8_t*>(p.data), p.size, crc);
  }
  const bool zip64 = force_zip64_ || size >= k32Max || pos_ >= k32Max;
  Bytes extra;
  if (zip64) extra.u16(kZip64ExtraId).u16(16).u64(size).u64(size);
  // Pad with an extra field so that the data starts at a multiple of 64.
  const uint64_t header_end = pos_ + kLocalSize + name.size() + extra.b.size();
  if (header_end % 64 != 0) {
    uint64_t pad = 64 - header_end % 64;
    if (pad < 4) pad += 64;
    extra.u16(kPadExtraId).u16(static_cast<uint16_t>(pad - 4));
    extra.b.resize(extra.b.size() + pad - 4, 'Z');
  }
  Bytes h;
  h.u32(kLocalSig).u16(zip64 ? 45 : 20).u16(kUtf8Flag).u16(0).u16(0).u16(kDosDate1980).u32(crc);
  h.u32(zip64 ? k32Max : static_cast<uint32_t>(size)).u32(zip64 ? k32Max : static_cast<uint32_t>(size));
  h.u16(static_cast<uint16_t>(name.size())).u16(static_cast<uint16_t>(extra.b.size())).str(name);
  h.b.insert(h.b.end(), extra.b.begin(), extra.b.end());
  written_.push_back({name, crc, size, pos_});
  write(h.b.data(), h.b.size());
  for (const auto& p : parts) write(p.data, p.size);
}

void ZipWriter::finish() {
  if (!f_) throw Error(path_ + ": zip already finished");
  const uint64_t cd_offset = pos_;
  for (const auto& w : written_) {
    const bool size64 = force_zip64_ || w.size >= k32Max, offset64 = force_zip64_ || w.offset >= k32Max;
    Bytes extra;
    if (size64 || offset64) {
      extra.u16(kZip64ExtraId).u16(static_cast<uint16_t>(8 * (2 * size64 + offset64)));
      if (size64) extra.u64(w.size).u64(w.size);
      if (offset64) extra.u64(w.offset);
    }
    Bytes c;
    const uint16_t version = (size64 || offset64) ? 45 : 20;
    c.u32(kCentralSig).u16(version).u16(version).u16(kUtf8Flag).u16(0).u16(0).u16(kDosDate1980).u32(w.crc32);
    c.u32(size64 ? k32Max : static_cast<uint32_t>(w.size)).u32(size64 ? k32Max : static_cast<uint32_t>(w.size));
    c.u16(static_cast<uint16_t>(w.name.size())).u16(static_cast<uint16_t>(extra.b.size())).u16(0).u16(0).u16(0).u32(0);
    c.u32(offset64 ? k32Max : static_cast<uint32_t>(w.offset)).str(w.name);
    c.b.insert(c.b.end(), extra.b.begin(), extra.b.end());
    write(c.b.data(), c.b.size());
  }
  const uint64_t cd_size = pos_ - cd_offset, n = written_.size();
  const bool zip64 = force_zip64_ || n >= k16Max || cd_size >= k32Max || cd_offset >= k32Max;
  Bytes end;
  if (zip64) {
    const uint64_t z_off = pos_;
    end.u32(kZip64EocdSig).u64(kZip64EocdSize - 12).u16(45).u16(45).u32(0).u32(0).u64(n).u64(n).u64(cd_size).u64(cd_offset);
    end.u32(kZip64LocatorSig).u32(0).u64(z_off).u32(1);
  }
  const uint16_t n16 = n >= k16Max ? k16Max : static_cast<uint16_t>(n);
  end.u32(kEocdSig).u16(0).u16(0).u16(n16).u16(n16);
  end.u32(cd_size >= k32Max ? k32Max : static_cast<uint32_t>(cd_size));
  end.u32(cd_offset >= k32Max ? k32Max : static_cast<uint32_t>(cd_offset)).u16(0);
  write(end.b.data(), end.b.size());
  std::FILE* f = f_;
  f_ = nullptr;
  if (std::fclose(f) != 0) throw Error(path_ + ": write failed on close (" + std::strerror(errno) + ")");
}

}  // namespace wst::formats
