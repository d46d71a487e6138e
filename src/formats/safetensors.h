// Parser and writer of the safetensors file format (Hugging Face): names, shapes, dtypes and byte ranges of
// every tensor, without touching the weights. The file is untrusted: every offset is checked against the
// file's size and against every other tensor.
//
// Layout (little-endian), as the format's specification (huggingface/safetensors README) describes it:
//   u64 N                 length of the header in bytes
//   N bytes               a UTF-8 JSON object, possibly padded at the end with spaces (0x20):
//                           { "NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...,
//                             "__metadata__": {"key": "string value", ...} }        (metadata optional)
//   the data region       every tensor's bytes at [8 + N + BEGIN, 8 + N + END), row-major, little-endian
// Rules checked here: END - BEGIN == product(shape) * dtype size; the tensors, in offset order, tile the data
// region exactly (no overlap, no hole, nothing after the last one), which is what the specification demands
// and the reference implementation enforces. Only F32, F16 and BF16 are read (Whisper's float weights); any
// other dtype is refused by name. The header is limited to 100 MB, as in the reference implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "formats/whisper_weights.h"

namespace wst::formats {

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  size_t offset = 0;   // byte offset of the data in the file (header included)
  size_t n_bytes = 0;  // == product(shape) * dtype size (checked)
};

struct SafetensorsFile {
  size_t header_bytes = 0;                      // N above
  std::vector<SafetensorsTensor> tensors;       // in the order of their data
  std::map<std::string, std::string> metadata;  // "__metadata__"

  const SafetensorsTensor* find(const std::string& name) const;
};

// The longest header read (bytes), as the reference implementation's limit.
constexpr size_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Parses `bytes` (a whole .safetensors file); `path` names it in errors. Throws wst::Error with one line,
// e.g. "<path>: tensor x: data_offsets [0, 64] end past the data region (40 bytes)".
SafetensorsFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& path);

// One tensor to write: its bytes must be product(shape) * dtype size long.
struct SafetensorsEntry {
  std::string name;
  TensorRef tensor;
};

// Writes a .safetensors file at `file`: the header (keys sorted, padded with spaces to a multiple of 8
// bytes as the reference writer does, so the data region starts 8-byte aligned), then the tensors in the
// order given, each stored as `dtype` (converted one tensor at a time, rounding to nearest even) or as its
// own dtype when std::nullopt. Throws wst::Error naming the file on an I/O failure or a tensor whose size
// disagrees with its shape.
void write_safetensors(const std::string& file, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata = {},
                       std::optional<DType> dtype = std::nullopt);

// What write_safetensors writes before the data region (the u64 length and the padded JSON header), without
// reading any tensor's bytes; `*data_bytes` (when not null) is set to the length of the data region that
// follows. `file` names errors. Lets a test describe a model of any size without holding its weights.
std::string safetensors_header(const std::vector<SafetensorsEntry>& tensors, const std::map<std::string, std::string>& metadata,
                               std::optional<DType> dtype, const std::string& file, uint64_t* data_bytes);

}  // namespace wst::formats
