// libFuzzer target for the audio file reader (audio/decode: libsndfile, down-mixing, soxr resampling), the
// path every WAV/FLAC/OGG/AIFF/AU input takes. Build and run: see docs/FUZZING.md.
//
// The input is a whole file, written to a temporary file since load_audio takes a path. libsndfile itself is
// a Debian library built without coverage, so the fuzzer is guided only by our side (channel counts, sample
// rates, lengths); the seeds (fuzz/corpus/wav_fuzz, fuzz/make_wav_seeds.py) cover the containers and sample
// formats. Beyond "no crash": accepted audio is not empty and every sample is a number in [-1, 1], as
// load_audio promises.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "fuzz_common.h"
#include "util/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = wst::fuzz::write_temp("audio", data, size);
  try {
    const std::vector<float> pcm = wst::audio::load_audio(path, 16000);
    if (pcm.empty()) __builtin_trap();
    for (float x : pcm)
      if (!(x >= -1.0f && x <= 1.0f)) __builtin_trap();  // also catches NaN
  } catch (const wst::Error&) {
  }
  return 0;
}
