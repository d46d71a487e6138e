#include "formats/ct2_model.h"

#include <cstring>

#include "util/errors.h"

namespace wst::formats {

const char* ct2_dtype_name(Ct2DType t) {
  switch (t) {
    case Ct2DType::kFloat32: return "float32";
    case Ct2DType::kInt8: return "int8";
    case Ct2DType::kInt16: return "int16";
    case Ct2DType::kInt32: return "int32";
    case Ct2DType::kFloat16: return "float16";
    case Ct2DType::kBFloat16: return "bfloat16";
  }
  return "unknown";
}

size_t ct2_dtype_size(Ct2DType t) {
  switch (t) {
    case Ct2DType::kFloat32: case Ct2DType::kInt32: return 4;
    case Ct2DType::kInt8: return 1;
    case Ct2DType::kInt16: case Ct2DType::kFloat16: case Ct2DType::kBFloat16: return 2;
  }
  return 0;
}

size_t Ct2Variable::n_elements() const {
  size_t n = 1;
  for (uint32_t d : shape) n *= d;
  return n;
}

const Ct2Variable* Ct2Model::find(const std::string& name) const {
  std::string target = name;
  if (auto a = aliases.find(name); a != aliases.end()) target = a->second;
  for (const auto& v : variables)
    if (v.name == target) return &v;
  return nullptr;
}

namespace {

// A cursor over the file that refuses to step past its end.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  void need(size_t n, const char* what) {
    if (n > size_ - pos_)
      throw Error(path_ + ": truncated at byte " + std::to_string(pos_) + " while reading " + what + " (file is " +
                  std::to_string(size_) + " bytes)");
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    auto n = read<uint16_t>(what);
    if (n == 0) throw Error(path_ + ": corrupt string length 0 at byte " + std::to_string(pos_ - 2));
    need(n, what);
    // Stored with a trailing NUL that is not part of the string.
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n - 1);
    if (data_[pos_ + n - 1] != 0) throw Error(path_ + ": corrupt string at byte " + std::to_string(pos_));
    pos_ += n;
    return s;
  }
  void skip(size_t n, const char* what) {
    need(n, what);
    pos_ += n;
  }
  size_t pos() const { return pos_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string path_;
};

}  // namespace

Ct2Model parse_ct2_model(const uint8_t* bytes, size_t size, const std::string& path) {
  Reader r(bytes, size, path);
  Ct2Model m;
  m.binary_version = r.read<uint32_t>("the binary version");
  if (m.binary_version < 1 || m.binary_version > 6)
    throw Error(path + ": not a CTranslate2 model.bin (binary version " + std::to_string(m.binary_version) +
                ", expected 1 to 6)");
  if (m.binary_version >= 2) {
    m.spec_name = r.read_string("the spec name");
    m.spec_revision = r.read<uint32_t>("the spec revision");
  }
  uint32_t n_vars = r.read<uint32_t>("the variable count");
  // Each variable takes at least 8 bytes; a count beyond that is corrupt, not a reason to allocate.
  if (n_vars > size / 8) throw Error(path + ": corrupt variable count " + std::to_string(n_vars));
  m.variables.reserve(n_vars);
  for (uint32_t i = 0; i < n_vars; ++i) {
    Ct2Variable v;
    v.name = r.read_string("a variable name");
    uint8_t rank = r.read<uint8_t>("a variable rank");
    if (rank > 8) throw Error(path + ": variable " + v.name + " has rank " + std::to_string(rank));
    for (uint8_t d = 0; d < rank; ++d) v.shape.push_back(r.read<uint32_t>("a variable shape"));
    uint8_t dtype = 0;  // float32 before version 4
    if (m.binary_version >= 4) dtype = r.read<uint8_t>("a variable dtype");
    if (dtype > 5) throw Error(path + ": variable " + v.name + " has unknown dtype id " + std::to_string(dtype));
    v.dtype = static_cast<Ct2DType>(dtype);
    uint64_t n_bytes = r.read<uint32_t>("a variable size");
    // The element count must agree with the byte count; computed in 128 bits so huge shapes cannot wrap.
    unsigned __int128 expect = ct2_dtype_size(v.dtype);
    for (uint32_t d : v.shape) expect *= d;
    if (expect != n_bytes)
      throw Error(path + ": variable " + v.name + " holds " + std::to_string(n_bytes) + " bytes, its shape needs " +
                  std::to_string(static_cast<uint64_t>(expect)));
    v.offset = r.pos();
    v.n_bytes = n_bytes;
    r.skip(n_bytes, ("the data of " + v.name).c_str());
    m.variables.push_back(std::move(v));
  }
  if (m.binary_version >= 3) {
    uint32_t n_aliases = r.read<uint32_t>("the alias count");
    if (n_aliases > size / 4) throw Error(path + ": corrupt alias count " + std::to_string(n_aliases));
    for (uint32_t i = 0; i < n_aliases; ++i) {
      std::string alias = r.read_string("an alias");
      std::string target = r.read_string("an alias target");
      m.aliases[alias] = target;
    }
  }
  return m;
}

}  // namespace wst::formats
