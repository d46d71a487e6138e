// libFuzzer target for the CTranslate2 model.bin parser. Build and run: see docs/FUZZING.md.
#include <cstddef>
#include <cstdint>

#include "formats/ct2_model.h"
#include "util/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    wst::formats::Ct2Model m = wst::formats::parse_ct2_model(data, size, "fuzz");
    // Every variable the parser accepts lies inside the input.
    for (const auto& v : m.variables)
      if (v.offset > size || v.n_bytes > size - v.offset) __builtin_trap();
  } catch (const wst::Error&) {
  }
  return 0;
}
