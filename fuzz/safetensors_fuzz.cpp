// libFuzzer target for the safetensors parser. Build and run: see docs/FUZZING.md.
// Beyond "no crash": every accepted tensor lies inside the input, holds exactly shape x dtype bytes, and the
// tensors tile the data region after the header.
#include <cstddef>
#include <cstdint>

#include "formats/safetensors.h"
#include "util/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    wst::formats::SafetensorsFile f = wst::formats::parse_safetensors(data, size, "fuzz");
    size_t at = 8 + f.header_bytes;
    if (at > size) __builtin_trap();
    for (const auto& t : f.tensors) {
      if (t.offset != at || t.offset > size || t.n_bytes > size - t.offset) __builtin_trap();
      size_t n = wst::formats::dtype_size(t.dtype);
      for (int64_t d : t.shape) n *= static_cast<size_t>(d);
      if (n != t.n_bytes) __builtin_trap();
      volatile uint8_t touch = t.n_bytes ? data[t.offset + t.n_bytes - 1] : 0;  // ASan checks the range's end
      (void)touch;
      at += t.n_bytes;
    }
    if (at != size) __builtin_trap();
  } catch (const wst::Error&) {
  }
  return 0;
}
