// libFuzzer target for the tokenizer.json reader (engine/tokenizer). Build and run: see docs/FUZZING.md.
//
// Input: [model byte] [tokenizer.json]. The model byte picks n_vocab (51864 English-only, 51865 multilingual,
// 51866 large-v3); the rest is written to a temporary file, since the reader takes a path. Seeds:
// fuzz/corpus/tokenizer_fuzz (fuzz/make_tokenizer_seeds.py), small files whose vocabulary holds the 256 byte
// tokens and a few merges.
//
// Beyond "no crash", a tokenizer the reader accepts keeps its promises: the specials are in order and fit
// n_vocab, encoding any bytes gives ordinary tokens whose bytes are exactly those bytes, decoding valid UTF-8
// gives it back, and the prompt and suppression lists hold ids of the vocabulary.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer.h"
#include "fuzz_common.h"
#include "util/errors.h"

namespace {

using wst::engine::Tokenizer;

void check_round_trip(const Tokenizer& tok, std::string_view text, bool valid_utf8) {
  const std::vector<int> ids = tok.encode(text);
  std::string bytes;
  for (int id : ids) {
    if (id < 0 || id >= tok.eot()) __builtin_trap();
    bytes += tok.token_bytes(id);
  }
  if (bytes != text) __builtin_trap();
  if (valid_utf8 && tok.decode(ids) != text) __builtin_trap();
}

bool is_valid_utf8(std::string_view s) {
  // Decoding replaces invalid bytes with U+FFFD, so only inputs without them must come back unchanged; this
  // check is deliberately simple (ASCII only), the tokenizer's own UTF-8 handling is what is under test.
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int n_vocab = 51864 + data[0] % 3;
  const std::string path = wst::fuzz::write_temp("tokenizer.json", data + 1, size - 1);
  try {
    Tokenizer tok = Tokenizer::from_file(path, n_vocab);
    if (tok.n_vocab() != n_vocab || tok.timestamp_begin() + 1501 != n_vocab) __builtin_trap();
    if (tok.eot() <= 0 || tok.sot() <= tok.eot() || tok.no_timestamps() >= n_vocab) __builtin_trap();
    for (int id : {tok.sot_prev(), tok.sot_lm(), tok.no_speech(), tok.transcribe(), tok.translate()})
      if (id <= tok.eot() || id >= tok.timestamp_begin()) __builtin_trap();
    for (int id : tok.language_tokens())
      if (id <= tok.sot() || tok.language_code(id).empty()) __builtin_trap();
    for (int id : tok.non_speech_tokens())
      if (id < 0 || id >= tok.eot()) __builtin_trap();
    for (int id : tok.sot_sequence(tok.multilingual() ? "en" : "", "transcribe"))
      if (id < 0 || id >= n_vocab) __builtin_trap();

    static const std::string kText = "And so, my fellow Americans: ask not what your country can do for you 's'll";
    check_round_trip(tok, kText, true);
    // The input's own bytes as text: whatever bytes the mutator made.
    const std::string_view raw(reinterpret_cast<const char*>(data + 1), std::min<size_t>(size - 1, 512));
    check_round_trip(tok, raw, is_valid_utf8(raw));

    std::vector<int> ids = tok.encode(kText);
    ids.insert(ids.begin() + ids.size() / 2, tok.timestamp_begin() + 54);
    ids.push_back(n_vocab + 7);  // out of range: dropped
    ids.push_back(-3);
    if (tok.decode_with_timestamps(ids).find("<|1.08|>") == std::string::npos) __builtin_trap();
  } catch (const wst::Error&) {
  }
  return 0;
}
