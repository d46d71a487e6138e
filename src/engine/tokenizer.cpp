// Whisper's tokenizer: reads tokenizer.json, splits text with the GPT-2 pre-tokenizer rules, applies
// byte-level BPE, and maps Whisper's special tokens. Checked against Hugging Face `tokenizers` and
// faster-whisper by tests/engine/tokenizer_test.cpp (references: tests/reference/make_tokenizer_reference.py).
#include "engine/tokenizer.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <queue>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/errors.h"

namespace wst::engine {

namespace {

constexpr int kNumTimestamps = 1501;  // <|0.00|> .. <|30.00|> in 0.02 s steps
constexpr double kTimestampSeconds = 0.02;
constexpr size_t kMaxCachedWords = 1 << 16;  // bounds the cache's memory; cleared when full

uint64_t pair_key(int left, int right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// ---- Byte-level stand-ins -------------------------------------------------------------------------
// GPT-2's vocab spells each byte as a printable character so that tokens are readable strings: the
// bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68 bytes, in increasing
// order, take the code points 256, 257, ... The vocab and merges in tokenizer.json use this spelling;
// we turn it back into raw bytes once at load time and work on bytes from then on.
struct ByteLevelTable {
  int byte_of[512];  // code point -> byte, -1 where the code point stands for no byte

  ByteLevelTable() {
    std::fill(std::begin(byte_of), std::end(byte_of), -1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_of[self ? b : next++] = b;
    }
  }
};

const ByteLevelTable& byte_level() {
  static const ByteLevelTable table;
  return table;
}

// ---- UTF-8 ------------------------------------------------------------------------------------------
// Reads one code point at s[i]. Returns its length in bytes and sets cp; for an invalid sequence returns
// the length of its maximal invalid subpart (at least 1) and sets cp = -1. This is the Unicode
// "maximal subpart" rule that Rust's from_utf8_lossy and Python's errors='replace' follow.
size_t next_code_point(std::string_view s, size_t i, int32_t& cp) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t b0 = byte(i);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  int n;         // continuation bytes expected
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    cp = -1;  // a continuation byte, C0/C1 (always overlong) or F5..FF
    return 1;
  }
  size_t k = i + 1;
  for (int j = 0; j < n; ++j, ++k) {
    if (k >= s.size()) {
      cp = -1;
      return k - i;
    }
    uint8_t c = byte(k);
    uint8_t first_lo = j == 0 ? lo : 0x80, first_hi = j == 0 ? hi : 0xBF;
    if (c < first_lo || c > first_hi) {
      cp = -1;
      return k - i;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  return k - i;
}

void append_utf8(int32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Valid UTF-8 passes through unchanged; each maximal invalid subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    int32_t cp;
    size_t n = next_code_point(bytes, i, cp);
    if (cp < 0) {
      out += "\xEF\xBF\xBD";
    } else {
      out.append(bytes.substr(i, n));
    }
    i += n;
  }
  return out;
}

// Turns a vocab string in the byte-level spelling back into raw bytes; false if a character stands
// for no byte.
bool stand_ins_to_bytes(std::string_view spelled, std::string& bytes) {
  bytes.clear();
  const auto& table = byte_level();
  for (size_t i = 0; i < spelled.size();) {
    int32_t cp;
    i += next_code_point(spelled, i, cp);
    if (cp < 0 || cp >= 512 || table.byte_of[cp] < 0) return false;
    bytes += static_cast<char>(table.byte_of[cp]);
  }
  return true;
}

// ---- GPT-2 pre-tokenizer ---------------------------------------------------------------------------
// The GPT-2 split pattern, written out as code:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// At each position the alternatives are tried in that order and the first that matches wins. Letter
// (L*), number (N*) and white space (the Unicode White_Space property, which is what the regex engines
// of Hugging Face and tiktoken take \s to mean) come from ICU. Bytes that are not valid UTF-8 count as
// "other" (neither letter, number nor space), one piece per invalid subpart.
enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

// Letters and numbers assigned in Unicode 15.1 and 16.0 (CJK Extension I, Egyptian Hieroglyphs
// Extended-A, Garay, Gurung Khema, Kirat Rai, Ol Onal, Sunuwar, Todhri, Tulu-Tigalari, ...). ICU 72,
// which Debian 12 ships, predates them and calls them unassigned, while the Oniguruma inside Hugging Face
// `tokenizers` knows them; without this table a word in those scripts would split differently. Used only
// where ICU says unassigned, so a newer ICU changes nothing. Remake with tools/tokenizer_unicode_gaps.py.
struct CodePointRange {
  int32_t first, last;
  CharClass cls;
};
constexpr CodePointRange kNewerUnicode[] = {
    {0x1C89, 0x1C8A, CharClass::kLetter}, {0xA7CB, 0xA7CD, CharClass::kLetter},
    {0xA7DA, 0xA7DC, CharClass::kLetter}, {0x105C0, 0x105F3, CharClass::kLetter},
    {0x10D40, 0x10D49, CharClass::kNumber}, {0x10D4A, 0x10D65, CharClass::kLetter},
    {0x10D6F, 0x10D85, CharClass::kLetter}, {0x10EC2, 0x10EC4, CharClass::kLetter},
    {0x11380, 0x11389, CharClass::kLetter}, {0x1138B, 0x1138B, CharClass::kLetter},
    {0x1138E, 0x1138E, CharClass::kLetter}, {0x11390, 0x113B5, CharClass::kLetter},
    {0x113B7, 0x113B7, CharClass::kLetter}, {0x113D1, 0x113D1, CharClass::kLetter},
    {0x113D3, 0x113D3, CharClass::kLetter}, {0x116D0, 0x116E3, CharClass::kNumber},
    {0x11BC0, 0x11BE0, CharClass::kLetter}, {0x11BF0, 0x11BF9, CharClass::kNumber},
    {0x13460, 0x143FA, CharClass::kLetter}, {0x16100, 0x1611D, CharClass::kLetter},
    {0x16130, 0x16139, CharClass::kNumber}, {0x16D40, 0x16D6C, CharClass::kLetter},
    {0x16D70, 0x16D79, CharClass::kNumber}, {0x18CFF, 0x18CFF, CharClass::kLetter},
    {0x1CCF0, 0x1CCF9, CharClass::kNumber}, {0x1E5D0, 0x1E5ED, CharClass::kLetter},
    {0x1E5F0, 0x1E5F0, CharClass::kLetter}, {0x1E5F1, 0x1E5FA, CharClass::kNumber},
    {0x2EBF0, 0x2EE5D, CharClass::kLetter},
};

CharClass classify_unassigned(int32_t cp) {
  auto it = std::upper_bound(std::begin(kNewerUnicode), std::end(kNewerUnicode), cp,
                             [](int32_t c, const CodePointRange& r) { return c < r.first; });
  if (it == std::begin(kNewerUnicode)) return CharClass::kOther;
  --it;
  return cp <= it->last ? it->cls : CharClass::kOther;
}

CharClass classify(int32_t cp) {
  if (cp < 0) return CharClass::kOther;
  if (cp < 0x80) {  // fast path for ASCII
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::kLetter;
    if (cp >= '0' && cp <= '9') return CharClass::kNumber;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CharClass::kSpace;
    return CharClass::kOther;
  }
  if (u_isUWhiteSpace(cp)) return CharClass::kSpace;
  switch (u_charType(cp)) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return CharClass::kLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return CharClass::kNumber;
    case U_UNASSIGNED:
      return classify_unassigned(cp);
    default:
      return CharClass::kOther;
  }
}

struct Char {
  int32_t cp;       // -1 for an invalid byte sequence
  uint32_t offset;  // byte offset in the text
  CharClass cls;
};

// Calls emit(begin, end) with the byte range of each piece, in order.
template <typename Emit>
void pre_tokenize(std::string_view text, Emit&& emit) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    int32_t cp;
    size_t n = next_code_point(text, i, cp);
    chars.push_back({cp, static_cast<uint32_t>(i), classify(cp)});
    i += n;
  }
  const size_t n = chars.size();
  auto offset = [&](size_t k) { return k < n ? chars[k].offset : static_cast<uint32_t>(text.size()); };
  auto cp_at = [&](size_t k) { return k < n ? chars[k].cp : -1; };
  // End of the run of class `cls` starting at k.
  auto run_end = [&](size_t k, CharClass cls) {
    while (k < n && chars[k].cls == cls) ++k;
    return k;
  };
  // [^\s\p{L}\p{N}] is exactly our kOther.
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    if (cp_at(i) == '\'') {  // 's 't 're 've 'm 'll 'd (lower case only, as the pattern is)
      int32_t a = cp_at(i + 1), b = cp_at(i + 2);
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        end = i + 2;
      } else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        end = i + 3;
      }
    }
    if (end == i) {
      // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional ASCII space, then a run of one class.
      size_t start = (cp_at(i) == ' ' && i + 1 < n && chars[i + 1].cls != CharClass::kSpace) ? i + 1 : i;
      CharClass cls = chars[start].cls;
      if (cls != CharClass::kSpace) {
        end = run_end(start, cls);
      } else {
        // "\s+(?!\S)": the run of white space, minus its last character when a non-space follows (that
        // one then joins the next piece, e.g. as the leading space of a word); "\s+" when that leaves
        // nothing.
        size_t ws_end = run_end(i, CharClass::kSpace);
        end = (ws_end < n && ws_end - i > 1) ? ws_end - 1 : ws_end;
      }
    }
    emit(offset(i), offset(end));
    i = end;
  }
}

// ---- tokenizer.json ---------------------------------------------------------------------------------

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw Error(path + ": " + problem);
}

// A token's text for an error message: at most 40 bytes, quoted and escaped so the message stays one line.
std::string quoted_text(const std::string& text) {
  return nlohmann::json(text.substr(0, 40)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A token id as the file gives it: a whole number in [0, 2^31); -1 for anything else.
int token_id(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= INT32_MAX ? static_cast<int>(v.get<uint64_t>()) : -1;
  if (v.is_number_integer()) return v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX ? static_cast<int>(v.get<int64_t>()) : -1;
  return -1;
}

// "has id 1e+300, expected ..." for an id token_id refused; `what` names the token.
std::string bad_id(const std::string& what, const nlohmann::json& v) {
  return what + " has id " + (v.is_number() ? v.dump() : std::string("of type ") + v.type_name()) +
         ", expected a whole number from 0 to 2147483647";
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, "not found (a Whisper model directory carries tokenizer.json)");
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, expected tokenizer.json");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f && !f.eof()) fail(path, "read error");
  return ss.str();
}

// The symbols openai-whisper's non_speech_tokens suppresses (speaker tags, music notes, brackets),
// keeping ordinary punctuation. Each is checked as written and with a leading space.
constexpr const char* kNonSpeechSymbols[] = {
    "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_", "`",
    "{", "|", "}", "~", "\u300C", "\u300D", "\u300E", "\u300F",  // 「」『』
    "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[", "]]",
    "{{", "}}", "\u266A\u266A", "\u266A\u266A\u266A",  // ♪♪ ♪♪♪
};
// Music symbols U+2669..U+266F (♩♪♫♬♭♮♯). Where the vocab has no single token for one, its first token
// is suppressed anyway: all lie in U+2640..U+267F, whose UTF-8 forms share the first two bytes, so that
// token starts nothing but such symbols.
constexpr const char* kMusicSymbols[] = {"\u2669", "\u266A", "\u266B", "\u266C", "\u266D", "\u266E", "\u266F"};

}  // namespace

struct Tokenizer::WordCache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int>> words;
};

Tokenizer::Tokenizer() : cache_(std::make_unique<WordCache>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_model_dir(const std::string& dir, int n_vocab) {
  return from_file((std::filesystem::path(dir) / "tokenizer.json").string(), n_vocab);
}

// tokenizer.json (Hugging Face `tokenizers` format), the parts we read:
//   model.type       "BPE"
//   model.vocab      {"<token spelled in byte-level stand-ins>": id, ...}, the ordinary tokens
//   model.merges     ["left right", ...] or [["left", "right"], ...]; earlier merges apply first
//   added_tokens     [{"id": 50257, "content": "<|startoftranscript|>", ...}, ...]: Whisper's specials
//                    (newer files list the timestamps <|0.00|>.. here too)
//   pre_tokenizer    {"type": "ByteLevel", "add_prefix_space": false, ...} (checked, not configurable)
// normalizer is null in Whisper's files; post_processor (which adds sot/eot around a sequence) is not
// used: the decoder builds its own prompts.
Tokenizer Tokenizer::from_file(const std::string& path, int n_vocab) {
  std::string text = read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) fail(path, "not a tokenizer.json (top level is not an object)");

  Tokenizer t;
  t.path_ = path;
  t.n_vocab_ = n_vocab;
  try {
    // Specials first: eot bounds the ordinary tokens.
    if (!j.contains("added_tokens") || !j["added_tokens"].is_array()) fail(path, "no added_tokens list");
    std::unordered_map<std::string, int> added;
    for (const auto& a : j["added_tokens"]) {
      const auto& content = a.at("content").get_ref<const std::string&>();
      const int id = token_id(a.at("id"));
      if (id < 0) fail(path, bad_id("added token " + quoted_text(content), a.at("id")));
      added[content] = id;
    }
    auto special = [&](const char* name, bool required = true) {
      auto it = added.find(name);
      if (it == added.end()) {
        if (required) fail(path, std::string("no special token ") + name + " in added_tokens");
        return -1;
      }
      return it->second;
    };
    t.eot_ = special("<|endoftext|>");
    t.sot_ = special("<|startoftranscript|>");
    t.sot_prev_ = special("<|startofprev|>");
    t.sot_lm_ = special("<|startoflm|>");
    t.no_timestamps_ = special("<|notimestamps|>");
    t.transcribe_ = special("<|transcribe|>");
    t.translate_ = special("<|translate|>");
    // large-v3 renamed <|nocaptions|> to <|nospeech|>.
    const char* no_speech_name = "<|nospeech|>";
    t.no_speech_ = special(no_speech_name, false);
    if (t.no_speech_ < 0) t.no_speech_ = special(no_speech_name = "<|nocaptions|>", false);
    if (t.no_speech_ < 0) fail(path, "no special token <|nospeech|> or <|nocaptions|> in added_tokens");
    // openai-whisper's order (the languages go between sot and translate). eot also sizes the ordinary
    // vocabulary below, and the n_vocab check bounds no_timestamps, so this bounds every special.
    const std::pair<const char*, int> order[] = {
        {"<|endoftext|>", t.eot_},     {"<|startoftranscript|>", t.sot_}, {"<|translate|>", t.translate_},
        {"<|transcribe|>", t.transcribe_}, {"<|startoflm|>", t.sot_lm_}, {"<|startofprev|>", t.sot_prev_},
        {no_speech_name, t.no_speech_}, {"<|notimestamps|>", t.no_timestamps_}};
    for (size_t i = 1; i < std::size(order); ++i) {
      if (order[i].second <= order[i - 1].second)
        fail(path, std::string(order[i].first) + " is " + std::to_string(order[i].second) + ", expected above " +
                       order[i - 1].first + " (" + std::to_string(order[i - 1].second) + ")");
    }

    // Language tokens sit between sot and the task tokens, in openai-whisper's LANGUAGES order.
    int first_task = std::min(t.translate_, t.transcribe_);
    for (const auto& [content, id] : added) {
      if (id > t.sot_ && id < first_task && content.size() > 4 && content.starts_with("<|") &&
          content.ends_with("|>")) {
        std::string code = content.substr(2, content.size() - 4);
        if (code == "iw") code = "he";  // openai-whisper's code for Hebrew
        t.languages_.emplace_back(id, code);
      }
    }
    std::sort(t.languages_.begin(), t.languages_.end());
    for (size_t i = 1; i < t.languages_.size(); ++i) {
      if (t.languages_[i].first == t.languages_[i - 1].first)
        fail(path, "two language tokens share id " + std::to_string(t.languages_[i].first) + " (" +
                       quoted_text(t.languages_[i - 1].second) + ", " + quoted_text(t.languages_[i].second) + ")");
    }

    // openai-whisper: multilingual when n_vocab >= 51865; num_languages = n_vocab - 51765 - multilingual.
    t.multilingual_ = n_vocab >= 51865;
    int expected_languages = n_vocab - 51765 - (t.multilingual_ ? 1 : 0);
    if (t.timestamp_begin() + kNumTimestamps != n_vocab) {
      fail(path, "does not fit a model with n_vocab " + std::to_string(n_vocab) + " (its <|notimestamps|> is " +
                     std::to_string(t.no_timestamps_) + ", so n_vocab would be " +
                     std::to_string(t.timestamp_begin() + kNumTimestamps) + ")");
    }
    if (static_cast<int>(t.languages_.size()) != expected_languages) {
      fail(path, "has " + std::to_string(t.languages_.size()) + " language tokens, a model with n_vocab " +
                     std::to_string(n_vocab) + " has " + std::to_string(expected_languages));
    }
    if (auto it = added.find("<|0.00|>"); it != added.end() && it->second != t.timestamp_begin()) {
      fail(path, "<|0.00|> is " + std::to_string(it->second) + ", expected <|notimestamps|> + 1");
    }

    if (const auto& pre = j.value("pre_tokenizer", nlohmann::json()); !pre.is_null()) {
      if (pre.value("type", "") != "ByteLevel") fail(path, "pre_tokenizer is not ByteLevel (not a GPT-2/Whisper tokenizer)");
      if (pre.value("add_prefix_space", false)) fail(path, "pre_tokenizer adds a prefix space; Whisper's does not");
    }
    if (!j.contains("model") || !j["model"].is_object()) fail(path, "no model object");
    const auto& model = j["model"];
    if (model.value("type", "BPE") != "BPE") fail(path, "model.type is " + model.value("type", "") + ", expected BPE");

    // Vocab: ordinary tokens are the ids below eot, each a byte string.
    if (!model.contains("vocab") || !model["vocab"].is_object()) fail(path, "no model.vocab object");
    t.token_bytes_.assign(t.eot_, std::string());
    std::vector<bool> seen(t.eot_, false);
    std::unordered_map<std::string, int> id_of_spelling;  // only for resolving merges below
    id_of_spelling.reserve(model["vocab"].size());
    std::string bytes;
    for (const auto& [spelled, value] : model["vocab"].items()) {
      const int id = token_id(value);
      if (id < 0) fail(path, bad_id("vocab token " + quoted_text(spelled), value));
      if (id >= t.eot_) continue;  // a special listed in the vocab too (tiny.en's eot)
      if (!stand_ins_to_bytes(spelled, bytes)) fail(path, "vocab token " + std::to_string(id) + " is not byte-level");
      // Two spellings of one id would make encode produce an id whose bytes are the other spelling's.
      if (seen[id]) fail(path, "vocab gives id " + std::to_string(id) + " to two tokens");
      t.token_bytes_[id] = bytes;
      seen[id] = true;
      id_of_spelling.emplace(spelled, id);
    }
    for (int id = 0; id < t.eot_; ++id) {
      if (!seen[id]) fail(path, "vocab has no token " + std::to_string(id) + " (ids below eot must all be there)");
    }
    const auto& table = byte_level();
    for (int cp = 0; cp < 512; ++cp) {
      if (table.byte_of[cp] < 0) continue;
      std::string spelled;
      append_utf8(cp, spelled);
      auto it = id_of_spelling.find(spelled);
      if (it == id_of_spelling.end()) fail(path, "vocab lacks the token of byte " + std::to_string(table.byte_of[cp]));
      t.byte_token_[table.byte_of[cp]] = it->second;
    }

    // Merges, keyed by the pair of ids; the rank is the position in the list.
    if (!model.contains("merges") || !model["merges"].is_array()) fail(path, "no model.merges list");
    const auto& merges = model["merges"];
    t.merges_.reserve(merges.size() * 2);
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& m = merges[rank];
      std::string left, right;
      if (m.is_string()) {  // "left right": a space never occurs inside a token in this spelling
        const auto& s = m.get_ref<const std::string&>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos) fail(path, "merge " + std::to_string(rank) + " is not \"left right\"");
        left = s.substr(0, sp);
        right = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        fail(path, "merge " + std::to_string(rank) + " is neither \"left right\" nor [left, right]");
      }
      auto l = id_of_spelling.find(left), r = id_of_spelling.find(right), o = id_of_spelling.find(left + right);
      if (l == id_of_spelling.end() || r == id_of_spelling.end() || o == id_of_spelling.end()) {
        fail(path, "merge " + std::to_string(rank) + " names a token that is not in the vocab");
      }
      t.merges_.emplace(pair_key(l->second, r->second), Merge{static_cast<int>(rank), o->second});
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("unexpected structure (") + e.what() + ")");
  }
  t.non_speech_tokens_ = t.compute_non_speech_tokens();
  return t;
}

// openai-whisper's LANGUAGES in token order (tokenizer.py); large-v3 adds the 100th, yue.
constexpr const char* kLanguageCodes[] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
    "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
    "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br",
    "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
    "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt",
    "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};

Tokenizer Tokenizer::from_vocab(const std::vector<std::string>& token_bytes, int n_vocab, const std::string& source) {
  Tokenizer t;
  t.path_ = source;
  t.n_vocab_ = n_vocab;
  // The layout from n_vocab alone (openai-whisper: num_languages = n_vocab - 51765 - multilingual).
  t.multilingual_ = n_vocab >= 51865;
  const int n_languages = n_vocab - 51765 - (t.multilingual_ ? 1 : 0);
  if (n_languages < 99 || n_languages > static_cast<int>(std::size(kLanguageCodes)))
    fail(source, "n_vocab " + std::to_string(n_vocab) + " is not a Whisper vocabulary (51864, 51865 or 51866)");
  t.eot_ = n_vocab - kNumTimestamps - 8 - n_languages;  // 8: eot, sot, 2 tasks, sot_lm, sot_prev, no_speech, no_timestamps
  t.sot_ = t.eot_ + 1;
  for (int i = 0; i < n_languages; ++i) t.languages_.emplace_back(t.sot_ + 1 + i, kLanguageCodes[i]);
  t.translate_ = t.sot_ + n_languages + 1;
  t.transcribe_ = t.translate_ + 1;
  t.sot_lm_ = t.transcribe_ + 1;
  t.sot_prev_ = t.sot_lm_ + 1;
  t.no_speech_ = t.sot_prev_ + 1;
  t.no_timestamps_ = t.no_speech_ + 1;

  if (static_cast<int>(token_bytes.size()) < t.eot_)
    fail(source, "has " + std::to_string(token_bytes.size()) + " tokens, a model with n_vocab " + std::to_string(n_vocab) +
                     " has " + std::to_string(t.eot_) + " ordinary tokens");
  t.token_bytes_.assign(token_bytes.begin(), token_bytes.begin() + t.eot_);
  std::unordered_map<std::string_view, int> id_of;  // the first id of each byte string
  id_of.reserve(t.eot_);
  for (int id = 0; id < t.eot_; ++id) id_of.emplace(t.token_bytes_[id], id);
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    auto it = id_of.find(std::string_view(&c, 1));
    if (it == id_of.end()) fail(source, "lacks the token of byte " + std::to_string(b));
    t.byte_token_[b] = it->second;
  }
  // Every split of a token into two tokens is a merge into it, ranked by its id.
  for (int id = 0; id < t.eot_; ++id) {
    const std::string_view s = t.token_bytes_[id];
    if (id_of.at(s) != id) continue;  // a repeated byte string: only its first id is ever produced
    for (size_t k = 1; k < s.size(); ++k) {
      auto l = id_of.find(s.substr(0, k)), r = id_of.find(s.substr(k));
      if (l != id_of.end() && r != id_of.end()) t.merges_.emplace(pair_key(l->second, r->second), Merge{id, id});
    }
  }
  t.non_speech_tokens_ = t.compute_non_speech_tokens();
  return t;
}

// Byte-level BPE of one piece: start from one token per byte, then repeatedly merge the adjacent pair
// with the lowest rank (the leftmost among equals) until no pair has a merge. The pieces form a linked
// list and candidate pairs wait in a heap; an entry is stale once either side has changed.
void Tokenizer::bpe_uncached(std::string_view word, std::vector<int>& out) const {
  const int n = static_cast<int>(word.size());
  std::vector<int> id(n), prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    id[i] = byte_token_[static_cast<uint8_t>(word[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int rank, pos, left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = merges_.find(pair_key(id[pos], id[next[pos]]));
    if (it != merges_.end()) heap.push({it->second.rank, pos, id[pos], id[next[pos]]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    int r = next[c.pos];
    if (id[c.pos] != c.left || r < 0 || id[r] != c.right) continue;  // stale
    id[c.pos] = merges_.find(pair_key(c.left, c.right))->second.merged;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    id[r] = -1;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int i = 0; i >= 0 && n > 0; i = next[i]) out.push_back(id[i]);
}

void Tokenizer::bpe(std::string_view word, std::vector<int>& out) const {
  if (word.size() == 1) {
    out.push_back(byte_token_[static_cast<uint8_t>(word[0])]);
    return;
  }
  std::string key(word);
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(key);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  bpe_uncached(word, out);
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->words.size() >= kMaxCachedWords) cache_->words.clear();
  cache_->words.emplace(std::move(key), std::vector<int>(out.begin() + start, out.end()));
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 1);
  pre_tokenize(text, [&](size_t begin, size_t end) { bpe(text.substr(begin, end - begin), ids); });
  return ids;
}

void Tokenizer::append_bytes(const std::vector<int>& ids, size_t begin, size_t end, std::string& bytes) const {
  for (size_t i = begin; i < end; ++i) {
    if (ids[i] >= 0 && ids[i] < eot_) bytes += token_bytes_[ids[i]];
  }
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string bytes;
  append_bytes(ids, 0, ids.size(), bytes);
  return utf8_lossy(bytes);
}

std::string Tokenizer::decode_with_timestamps(const std::vector<int>& ids) const {
  std::string out;
  size_t piece = 0;
  for (size_t i = 0; i <= ids.size(); ++i) {
    bool is_timestamp = i < ids.size() && ids[i] >= timestamp_begin() && ids[i] < n_vocab_;
    if (i < ids.size() && !is_timestamp) continue;
    std::string bytes;
    append_bytes(ids, piece, i, bytes);
    out += utf8_lossy(bytes);
    if (is_timestamp) {
      // Same arithmetic and rounding as faster-whisper: f"{(token - timestamp_begin) * 0.02:.2f}".
      char buf[32];
      std::snprintf(buf, sizeof buf, "<|%.2f|>", (ids[i] - timestamp_begin()) * kTimestampSeconds);
      out += buf;
    }
    piece = i + 1;
  }
  return out;
}

std::string Tokenizer::token_bytes(int id) const {
  return id >= 0 && id < eot_ ? token_bytes_[id] : std::string();
}

int Tokenizer::language_token(std::string_view code) const {
  if (code == "iw") code = "he";
  for (const auto& [id, c] : languages_) {
    if (c == code) return id;
  }
  return -1;
}

std::string Tokenizer::language_code(int token) const {
  auto it = std::lower_bound(languages_.begin(), languages_.end(), std::make_pair(token, std::string()));
  return it != languages_.end() && it->first == token ? it->second : std::string();
}

std::vector<int> Tokenizer::language_tokens() const {
  std::vector<int> ids;
  for (const auto& l : languages_) ids.push_back(l.first);
  return ids;
}

std::vector<int> Tokenizer::sot_sequence(std::string_view language, std::string_view task) const {
  std::vector<int> seq = {sot_};
  if (!multilingual_) return seq;  // English-only models were trained without language/task tokens
  if (!language.empty()) {
    int lang = language_token(language);
    if (lang < 0) throw Error(path_ + ": no language token for '" + std::string(language) + "'");
    seq.push_back(lang);
  }
  if (task == "transcribe") {
    seq.push_back(transcribe_);
  } else if (task == "translate") {
    seq.push_back(translate_);
  } else if (!task.empty()) {
    throw Error("unknown task '" + std::string(task) + "' (expected transcribe or translate)");
  }
  return seq;
}

// openai-whisper's rule: the single token of each symbol (bare or after a space) when it is one token;
// for the music symbols the first token regardless; and the tokens of " -" and " '" so that hyphens and
// apostrophes stay allowed inside words but not at a word's start.
std::vector<int> Tokenizer::compute_non_speech_tokens() const {
  std::vector<int> result = {encode(" -").at(0), encode(" '").at(0)};
  auto bare_and_spaced = [](const char* symbol) {
    std::string spaced(1, ' ');
    spaced += symbol;
    return std::array<std::string, 2>{std::string(symbol), spaced};
  };
  for (const char* symbol : kNonSpeechSymbols) {
    for (const auto& text : bare_and_spaced(symbol)) {
      auto ids = encode(text);
      if (ids.size() == 1) result.push_back(ids[0]);
    }
  }
  for (const char* symbol : kMusicSymbols) {
    for (const auto& text : bare_and_spaced(symbol)) result.push_back(encode(text).at(0));
  }
  std::sort(result.begin(), result.end());
  result.erase(std::unique(result.begin(), result.end()), result.end());
  return result;
}

}  // namespace wst::engine
