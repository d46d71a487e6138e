// libFuzzer target for the .npy/.npz reader. The first byte picks what the rest is:
//   0: a whole .npz (parse_npz)     1: one .npy (parse_npy)
//   2: one .npy wrapped into an .npz with a valid CRC (so that mutated headers reach the npy parser via the zip)
// Build and run: see docs/FUZZING.md. Seeds: fuzz/corpus/npz_fuzz (fuzz/make_seed_corpus.py).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/npz.h"
#include "fuzz_common.h"
#include "util/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  const uint8_t* rest = data + 1;
  const size_t n = size - 1;
  try {
    if (mode == 0) {
      for (const auto& [name, t] : wst::formats::parse_npz(rest, n, "fuzz").arrays) wst::fuzz::check_tensor(t);
    } else if (mode == 1) {
      std::vector<uint8_t> copy;
      wst::fuzz::check_tensor(wst::formats::parse_npy(rest, n, "fuzz", &copy));
    } else {
      const std::string zip = wst::fuzz::zip_of({{"a.npy", std::string(reinterpret_cast<const char*>(rest), n)}});
      for (const auto& [name, t] : wst::formats::parse_npz(reinterpret_cast<const uint8_t*>(zip.data()), zip.size(), "fuzz").arrays)
        wst::fuzz::check_tensor(t);
    }
  } catch (const wst::Error&) {
  }
  return 0;
}
