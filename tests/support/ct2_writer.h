// Writes CTranslate2 model.bin bytes (layout in src/formats/ct2_model.h) for tests of the parser and loader.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wst::test {

class Ct2Writer {
 public:
  Ct2Writer& u8(uint8_t v) { return raw(&v, 1); }
  Ct2Writer& u16(uint16_t v) { return raw(&v, 2); }
  Ct2Writer& u32(uint32_t v) { return raw(&v, 4); }
  Ct2Writer& str(const std::string& s) {
    u16(static_cast<uint16_t>(s.size() + 1));
    raw(s.data(), s.size());
    return u8(0);
  }
  // Data bytes are 0, 1, 2, ... (to find offsets), or all zero (valid floats) when `zeros`.
  Ct2Writer& var(const std::string& name, std::vector<uint32_t> shape, uint8_t dtype, size_t elem_size,
                 bool zeros = false) {
    str(name).u8(static_cast<uint8_t>(shape.size()));
    size_t n = elem_size;
    for (auto d : shape) {
      u32(d);
      n *= d;
    }
    u8(dtype).u32(static_cast<uint32_t>(n));
    for (size_t i = 0; i < n; ++i) u8(zeros ? 0 : static_cast<uint8_t>(i));
    return *this;
  }
  Ct2Writer& raw(const void* p, size_t n) {
    bytes_.append(static_cast<const char*>(p), n);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace wst::test
