// .npy and .npz reader and writer; the layout is described in npz.h.
#include "formats/npz.h"

#include <cstring>

#include "formats/strided_copy.h"
#include "formats/zip_archive.h"
#include "util/errors.h"
#include "util/mapped_file.h"

namespace wst::formats {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMaxHeader = 65536;  // numpy's own default limit is 10000
constexpr size_t kMaxRank = 8;

// A strict reader of the header dict: only the literal forms numpy and mlx write.
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const std::string& where) : s_(s), where_(where) {}

  void parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape) {
    bool has_descr = false, has_fortran = false, has_shape = false;
    expect('{');
    for (;;) {
      skip_spaces();
      if (peek() == '}') break;
      const std::string key = quoted();
      skip_spaces();
      expect(':');
      skip_spaces();
      if (key == "descr" && !has_descr) {
        descr = quoted(), has_descr = true;
      } else if (key == "fortran_order" && !has_fortran) {
        fortran = boolean(), has_fortran = true;
      } else if (key == "shape" && !has_shape) {
        shape = tuple(), has_shape = true;
      } else {
        fail("unexpected or repeated key '" + key + "'");
      }
      skip_spaces();
      if (peek() == ',') ++pos_;
      else if (peek() != '}') fail("expected , or }");
    }
    ++pos_;
    if (!has_descr || !has_fortran || !has_shape) fail("header lacks descr, fortran_order or shape");
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
    if (pos_ + 1 != s_.size() || s_[pos_] != '\n') fail("header does not end in spaces and a newline");
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw Error(where_ + ": bad .npy header at character " + std::to_string(pos_) + ": " + why);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected ") + c);
    ++pos_;
  }
  void skip_spaces() {
    while (peek() == ' ') ++pos_;
  }
  std::string quoted() {
    expect('\'');
    const size_t end = s_.find('\'', pos_);
    if (end == std::string_view::npos || end - pos_ > 64) fail("unterminated or long string");
    std::string v(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return v;
  }
  bool boolean() {
    if (s_.substr(pos_, 4) == "True") return pos_ += 4, true;
    if (s_.substr(pos_, 5) == "False") return pos_ += 5, false;
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> v;
    bool trailing_comma = false;
    expect('(');
    for (;;) {
      skip_spaces();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("expected a dimension");
      int64_t d = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (d > (int64_t{1} << 48)) fail("dimension too large");
        d = d * 10 + (s_[pos_++] - '0');
      }
      if (v.size() == kMaxRank) fail("more than 8 dimensions");
      v.push_back(d);
      skip_spaces();
      trailing_comma = peek() == ',';
      if (trailing_comma) ++pos_;
      else if (peek() != ')') fail("expected , or )");
    }
    ++pos_;
    if (v.size() == 1 && !trailing_comma) fail("a one-element shape needs a trailing comma");
    return v;
  }

  std::string_view s_;
  std::string where_;
  size_t pos_ = 0;
};

const char* descr_of(DType t) {
  switch (t) {
    case DType::kF32: return "<f4";
    case DType::kF16: return "<f2";
    case DType::kBF16: return "<V2";
  }
  return "?";
}

}  // namespace

TensorRef parse_npy(const uint8_t* data, size_t size, const std::string& where, std::vector<uint8_t>* copy) {
  if (size < 10 || std::memcmp(data, kMagic, 6) != 0) throw Error(where + ": not a .npy array (no \\x93NUMPY magic)");
  const uint8_t major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0)
    throw Error(where + ": .npy format version " + std::to_string(major) + "." + std::to_string(minor) + " is not supported");
  size_t header_len, start;
  if (major == 1) {
    header_len = data[8] | (data[9] << 8), start = 10;
  } else {
    if (size < 12) throw Error(where + ": truncated .npy header");
    header_len = data[8] | (data[9] << 8) | (data[10] << 16) | (static_cast<size_t>(data[11]) << 24), start = 12;
  }
  if (header_len > kMaxHeader || header_len > size - start)
    throw Error(where + ": .npy header of " + std::to_string(header_len) + " bytes runs past the array's " +
                std::to_string(size) + " bytes");
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  HeaderParser(std::string_view(reinterpret_cast<const char*>(data + start), header_len), where).parse(descr, fortran, shape);

  TensorRef t;
  if (descr == "<f4") t.dtype = DType::kF32;
  else if (descr == "<f2") t.dtype = DType::kF16;
  else if (descr == "<V2" || descr == "|V2") t.dtype = DType::kBF16;
  else throw Error(where + ": dtype '" + descr + "' is not supported (float32 '<f4', float16 '<f2', bfloat16 '<V2')");
  t.shape = shape;
  // Dimensions are at most 2^48 each (the parser's limit); the product is checked against the data left.
  const size_t left = size - start - header_len, elem = dtype_size(t.dtype);
  unsigned __int128 n_bytes = elem;
  for (int64_t d : shape) {
    n_bytes *= static_cast<uint64_t>(d);
    if (n_bytes > left) n_bytes = static_cast<unsigned __int128>(left) + 1;  // stays > left without wrapping
  }
  if (n_bytes != left)
    throw Error(where + ": shape " + shape_string(shape) + " of " + dtype_name(t.dtype) + " needs " +
                (n_bytes > left ? "more than " + std::to_string(left) : std::to_string(static_cast<size_t>(n_bytes))) +
                " bytes, the array holds " + std::to_string(left));
  t.n_bytes = left;
  t.data = data + start + header_len;
  size_t n_big = 0;
  for (int64_t d : shape) n_big += d > 1;
  if (fortran && n_big > 1) {
    // Column-major: the first dimension runs fastest.
    if (!copy) throw Error(where + ": Fortran-order array where no copy can be made");
    std::vector<int64_t> strides(shape.size());
    int64_t s = 1;
    for (size_t k = 0; k < shape.size(); ++k) strides[k] = s, s *= shape[k];
    *copy = strided_copy(t.data, shape, strides, elem);
    t.data = copy->data();
  }
  return t;
}

NpzFile parse_npz(const uint8_t* data, size_t size, const std::string& path) {
  struct Holder {
    std::vector<std::shared_ptr<const std::vector<uint8_t>>> buffers;
  };
  auto holder = std::make_shared<Holder>();
  ZipArchive zip(data, size, path);
  NpzFile out;
  for (const ZipEntry& e : zip.entries()) {
    const std::string where = path + ": " + e.name;
    if (e.name.size() <= 4 || e.name.compare(e.name.size() - 4, 4, ".npy") != 0)
      throw Error(where + ": not a .npy entry");
    ZipData d = zip.read(e);
    if (d.owned) holder->buffers.push_back(d.owned);
    auto copy = std::make_shared<std::vector<uint8_t>>();
    TensorRef t = parse_npy(d.data, d.size, where, copy.get());
    if (!copy->empty()) holder->buffers.push_back(copy);
    out.arrays[e.name.substr(0, e.name.size() - 4)] = std::move(t);
  }
  out.keep_alive = holder;
  return out;
}

NpzFile read_npz(const std::string& path) {
  auto mapped = std::make_shared<MappedFile>(path);
  NpzFile npz = parse_npz(mapped->data(), mapped->size(), path);
  // One owner for both the map and the buffers.
  auto both = std::make_shared<std::pair<std::shared_ptr<const void>, std::shared_ptr<const void>>>(mapped, npz.keep_alive);
  npz.keep_alive = both;
  return npz;
}

std::string npy_header(const std::vector<int64_t>& shape, DType dtype, size_t offset) {
  std::string dict = std::string("{'descr': '") + descr_of(dtype) + "', 'fortran_order': False, 'shape': (";
  for (size_t k = 0; k < shape.size(); ++k) dict += (k ? ", " : "") + std::to_string(shape[k]);
  dict += shape.size() == 1 ? ",), }" : "), }";
  // Version 1.0 holds headers up to 65535 bytes; ours are far shorter.
  size_t total = 10 + dict.size() + 1;
  const size_t pad = (64 - (offset + total) % 64) % 64;
  dict.append(pad, ' ');
  dict += '\n';
  std::string h(kMagic, 6);
  h += '\x01';
  h += '\x00';
  h += static_cast<char>(dict.size() & 0xff);
  h += static_cast<char>(dict.size() >> 8);
  return h + dict;
}

void write_npz(const std::string& path, const std::vector<std::pair<std::string, TensorRef>>& arrays) {
  ZipWriter zip(path);
  for (const auto& [name, t] : arrays) {
    if (t.n_bytes != t.n_elements() * dtype_size(t.dtype))
      throw Error(path + ": array " + name + " holds " + std::to_string(t.n_bytes) + " bytes, its shape " +
                  shape_string(t.shape) + " needs " + std::to_string(t.n_elements() * dtype_size(t.dtype)));
    // The zip writer starts each entry at a multiple of 64; a header of a multiple of 64 keeps the data there.
    const std::string header = npy_header(t.shape, t.dtype);
    zip.add(name + ".npy", {{header.data(), header.size()}, {t.data, t.n_bytes}});
  }
  zip.finish();
}

}  // namespace wst::formats
