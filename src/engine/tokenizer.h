// Whisper's tokenizer: GPT-2 byte-level BPE plus Whisper's special tokens, read from the Hugging Face
// tokenizer.json that CTranslate2 / faster-whisper model directories carry.
//
//   auto tok = wst::engine::Tokenizer::from_model_dir("/path/to/ct2-dir", info.n_vocab);
//   std::vector<int> prompt = tok.sot_sequence("de", "transcribe");   // [sot] on English-only models
//   std::vector<int> ids = tok.encode(" Hello world");
//   std::string text = tok.decode(ids);                              // drops specials and timestamps
//
// Id layout (all read from the file, never assumed): ordinary tokens [0, eot); then eot, sot, the
// language tokens, translate, transcribe, sot_lm, sot_prev, no_speech, no_timestamps; then 1501
// timestamp tokens from timestamp_begin = no_timestamps + 1 (<|0.00|> .. <|30.00|>, 0.02 s apart).
// English-only models (n_vocab 51864) start the specials at 50256, multilingual ones (51865) at 50257,
// and large-v3 (51866) has one more language (yue), which shifts everything after the languages.
//
// Thread safety: after construction every method is const and safe to call from several threads
// (the per-word BPE cache is behind a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wst::engine {

class Tokenizer {
 public:
  // Reads dir/tokenizer.json. n_vocab comes from the model (51864 English-only, 51865 multilingual,
  // 51866 large-v3); it must agree with the file's specials (no_timestamps + 1 + 1501 == n_vocab).
  // Throws wst::Error naming the file when it is missing, not JSON, or not a Whisper tokenizer.
  static Tokenizer from_model_dir(const std::string& dir, int n_vocab);
  // Same, from the path of the tokenizer.json itself.
  static Tokenizer from_file(const std::string& tokenizer_json_path, int n_vocab);
  // From the ordinary tokens' bytes by id alone (a whisper.cpp ggml file's vocabulary): merges follow from
  // rank = id, as in tiktoken's BPE (the pair whose concatenation has the lowest id merges first), and the
  // specials take the layout above, derived from n_vocab. `token_bytes` may hold more than the ordinary
  // tokens (the rest is ignored), not fewer. `source` names the vocabulary in errors.
  static Tokenizer from_vocab(const std::vector<std::string>& token_bytes, int n_vocab,
                              const std::string& source = "ggml vocabulary");

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Ordinary text to ids. Text that looks like a special token ("<|en|>") is encoded as plain text,
  // never as the special id (as tiktoken's encode_ordinary), so a prompt cannot inject control tokens.
  std::vector<int> encode(std::string_view text) const;
  // Text of the ids below eot (specials, timestamps and out-of-range ids are dropped). Bytes that do
  // not form valid UTF-8 become U+FFFD, one per maximal invalid subpart (as Hugging Face's ByteLevel
  // decoder and Python's errors='replace').
  std::string decode(const std::vector<int>& ids) const;
  // As decode, with "<|1.08|>" for each timestamp token (as faster-whisper's decode_with_timestamps);
  // text between timestamps is decoded piece by piece.
  std::string decode_with_timestamps(const std::vector<int>& ids) const;
  // Raw bytes of one ordinary token; "" for specials, timestamps and ids out of range.
  std::string token_bytes(int id) const;

  bool multilingual() const { return multilingual_; }
  int n_vocab() const { return n_vocab_; }

  int eot() const { return eot_; }
  int sot() const { return sot_; }
  int sot_prev() const { return sot_prev_; }
  int sot_lm() const { return sot_lm_; }
  int no_speech() const { return no_speech_; }  // <|nospeech|> (large-v3) or <|nocaptions|>
  int no_timestamps() const { return no_timestamps_; }
  int timestamp_begin() const { return no_timestamps_ + 1; }
  int transcribe() const { return transcribe_; }
  int translate() const { return translate_; }

  // "en" -> its token; -1 when the file has no such language. "he" and "iw" name the same token
  // (Hugging Face's English-only files spell Hebrew "iw").
  int language_token(std::string_view code) const;
  // Token -> "en"; "" when the id is not a language token.
  std::string language_code(int token) const;
  // All language tokens, in id order.
  std::vector<int> language_tokens() const;
  // [sot] on English-only models (they take no language or task token). On multilingual models
  // [sot, language, task]; an empty language or task leaves that token out (language detection uses
  // [sot]). Throws wst::Error for an unknown language code or task.
  std::vector<int> sot_sequence(std::string_view language, std::string_view task) const;
  // openai-whisper's Tokenizer.non_speech_tokens (what suppress_tokens=-1 expands to), sorted.
  const std::vector<int>& non_speech_tokens() const { return non_speech_tokens_; }

 private:
  Tokenizer();
  struct Merge {
    int rank;    // position in the merges list: lower merges first
    int merged;  // id of the token the pair becomes
  };
  struct WordCache;

  void bpe(std::string_view word, std::vector<int>& out) const;
  void bpe_uncached(std::string_view word, std::vector<int>& out) const;
  void append_bytes(const std::vector<int>& ids, size_t begin, size_t end, std::string& bytes) const;
  std::vector<int> compute_non_speech_tokens() const;

  std::string path_;                       // tokenizer.json, for error messages
  int n_vocab_ = 0;
  bool multilingual_ = false;
  std::vector<std::string> token_bytes_;   // [eot] raw bytes of each ordinary token
  int byte_token_[256] = {};               // the single-byte token of each byte value
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
  int eot_ = -1, sot_ = -1, sot_prev_ = -1, sot_lm_ = -1, no_speech_ = -1, no_timestamps_ = -1;
  int transcribe_ = -1, translate_ = -1;
  std::vector<std::pair<int, std::string>> languages_;  // (id, code) in id order
  std::vector<int> non_speech_tokens_;
  std::unique_ptr<WordCache> cache_;
};

}  // namespace wst::engine
