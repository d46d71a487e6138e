// libFuzzer target for the whisper.cpp ggml file reader (formats/ggml_file). Build and run: docs/FUZZING.md.
//
// The first input byte picks the mode. Odd: the rest is a whole file. Even: the rest follows a fixed valid
// header (small dims, an 80 x 201 filterbank of zeros), because a file must carry 64 kB of mel filters
// before its vocabulary and tensors, more than the fuzzer's inputs usually hold. Besides "no crash", every
// tensor the reader hands out must be a view inside the input or memory of its own, of exactly its size.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/ggml_file.h"
#include "util/errors.h"

namespace {

void put(std::vector<uint8_t>& b, int32_t v) {
  uint8_t p[4];
  std::memcpy(p, &v, 4);
  b.insert(b.end(), p, p + 4);
}

std::vector<uint8_t> header() {
  std::vector<uint8_t> b;
  put(b, 0x67676d6c);
  // n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state,
  // n_text_head, n_text_layer, n_mels, ftype (quantisation version 2, q5_1)
  for (int32_t v : {40, 6, 32, 2, 1, 5, 32, 2, 1, 80, 2009}) put(b, v);
  put(b, 80);
  put(b, 201);
  b.resize(b.size() + 80 * 201 * 4, 0);
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::vector<uint8_t> prefix = header();
  std::vector<uint8_t> file;
  if ((data[0] & 1) == 0) file = prefix;
  file.insert(file.end(), data + 1, data + size);
  const uint8_t* begin = file.data();
  const uint8_t* end = begin + file.size();
  try {
    wst::formats::WhisperWeights w = wst::formats::parse_ggml(begin, file.size(), "fuzz", /*check_complete=*/false);
    for (const auto& [name, t] : w.tensors) {
      if (t.n_bytes != t.n_elements() * wst::formats::dtype_size(t.dtype)) __builtin_trap();
      const bool view = t.data >= begin && t.data < end;
      if (view && t.n_bytes > static_cast<size_t>(end - t.data)) __builtin_trap();
      volatile float sink = 0;
      for (float v : t.to_f32()) sink = sink + v;  // reads every byte: ASan checks owned buffers too
    }
    w.validate();  // what parse_ggml with check_complete does last
  } catch (const wst::Error&) {
  }
  return 0;
}
