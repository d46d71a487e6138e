// libFuzzer target for the openai-whisper checkpoint reader (zip + restricted pickle + tensor checks).
// The first byte picks what the rest is:
//   0: a whole .pt file (parse_openai_pt)
//   1: a pickle alone (parse_pickle with torch's globals)
//   2: [n_storages (0-4)] [n_storages x u16 size] [data.pkl]: wrapped into a checkpoint zip with valid CRCs
//      and storages a/data/0.. of those sizes, so that mutated pickles reach the tensor checks
// Build and run: see docs/FUZZING.md. Seeds: fuzz/corpus/pickle_zip_fuzz (fuzz/make_seed_corpus.py).
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/openai_pt.h"
#include "formats/pickle.h"
#include "fuzz_common.h"
#include "util/errors.h"

namespace {

void check_weights(const wst::formats::WhisperWeights& w) {
  for (const auto& [name, t] : w.tensors) wst::fuzz::check_tensor(t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  const uint8_t* rest = data + 1;
  size_t n = size - 1;
  try {
    if (mode == 0) {
      check_weights(wst::formats::parse_openai_pt(rest, n, "fuzz"));
    } else if (mode == 1) {
      wst::formats::Pickle p = wst::formats::parse_pickle(rest, n, "fuzz", wst::formats::kTorchGlobals);
      if (p.root_index >= p.objects.size()) __builtin_trap();
      for (const auto& o : p.objects)
        for (uint32_t i : o.items)
          if (i >= p.objects.size()) __builtin_trap();
    } else {
      if (n < 1) return 0;
      const size_t k = rest[0] % 5;
      if (n < 1 + 2 * k) return 0;
      std::vector<std::pair<std::string, std::string>> entries;
      const uint8_t* pkl = rest + 1 + 2 * k;
      entries.push_back({"a/data.pkl", std::string(reinterpret_cast<const char*>(pkl), n - 1 - 2 * k)});
      for (size_t i = 0; i < k; ++i) {
        const size_t len = rest[1 + 2 * i] | (rest[2 + 2 * i] << 8);
        std::string bytes(len, '\0');
        for (size_t j = 0; j < len; ++j) bytes[j] = static_cast<char>(j * 31 + i);
        entries.push_back({"a/data/" + std::to_string(i), bytes});
      }
      const std::string zip = wst::fuzz::zip_of(entries);
      check_weights(wst::formats::parse_openai_pt(reinterpret_cast<const uint8_t*>(zip.data()), zip.size(), "fuzz"));
    }
  } catch (const wst::Error&) {
  }
  return 0;
}
