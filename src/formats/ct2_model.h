// Parser of CTranslate2's model.bin: names, shapes, dtypes and byte ranges of every variable, without
// touching the weights. The file is untrusted: every read is bounds-checked against the file's size.
//
// Layout (little-endian), binary version 6 as written by ctranslate2.specs.ModelSpec:
//   u32 binary_version (1..6)
//   str spec_name            (version >= 2; "WhisperSpec")       str = u16 length incl. NUL, bytes, NUL
//   u32 spec_revision        (version >= 2)
//   u32 n_variables
//   n_variables x { str name; u8 rank; u32 dims[rank]; u8 dtype (version >= 4); u32 n_bytes; bytes }
//   u32 n_aliases            (version >= 3)
//   n_aliases x { str alias; str variable_name }
// dtype ids: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace wst::formats {

enum class Ct2DType : uint8_t { kFloat32 = 0, kInt8 = 1, kInt16 = 2, kInt32 = 3, kFloat16 = 4, kBFloat16 = 5 };

const char* ct2_dtype_name(Ct2DType t);
size_t ct2_dtype_size(Ct2DType t);

struct Ct2Variable {
  std::string name;
  std::vector<uint32_t> shape;
  Ct2DType dtype = Ct2DType::kFloat32;
  size_t offset = 0;   // byte offset of the data in the file
  size_t n_bytes = 0;  // == product(shape) * dtype size (checked)
  size_t n_elements() const;
};

struct Ct2Model {
  uint32_t binary_version = 0;
  std::string spec_name;
  uint32_t spec_revision = 0;
  std::vector<Ct2Variable> variables;
  std::map<std::string, std::string> aliases;  // alias -> variable name

  // The variable called `name`, following an alias; nullptr when absent.
  const Ct2Variable* find(const std::string& name) const;
};

// Parses the header and variable table of `bytes` (the whole model.bin). `path` names the file in errors.
// Throws wst::Error ("<path>: truncated at byte N while reading ...", "<path>: unsupported binary version 7").
Ct2Model parse_ct2_model(const uint8_t* bytes, size_t size, const std::string& path);

}  // namespace wst::formats
