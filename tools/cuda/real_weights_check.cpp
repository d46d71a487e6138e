// Real weights on the GPU machine, which cannot receive tiny.en whole (75.5 MB over a call's 64 MiB): the model is
// reduced here to int8 per output row (matrices; vectors and embeddings' positions stay float32), carried, and
// expanded there to float32 values q * scale. The CPU reference is computed here from the same expanded values,
// so CPU and GPU transcribe the same model; only the backend differs.
//   real_weights_check pack MODEL PACK                 reduce MODEL (any format the engine reads) into PACK
//   real_weights_check expand PACK OUT.pt              the expanded float32 values as an OpenAI checkpoint, for the
//                                                      whole CLI (whisper-speedtest models import / benchmark)
//   real_weights_check pcm WAV... OUTDIR               16-bit mono 16 kHz WAVs -> raw int16 (name.pcm), no libsndfile
//   real_weights_check run PACK TOKENIZER DEVICE COMPUTE_TYPE OUT.json PCM...
//                                                      transcribe each (openai defaults: greedy, or beam search
//                                                      with WST_CHECK_BEAM beams), tokens and windows to OUT
//   real_weights_check compare REF.json GOT.json MODE  MODE tokens: every file's tokens equal; text: print each
//                                                      difference, pass when jfk and ted_60 agree and >= 95% do
//   real_weights_check margins PACK TOKENIZER DEVICE COMPUTE_TYPE REF.json GOT.json PCMDIR_OR_PCM...
//                                                      where a file's tokens differ: both tokens' log-probabilities
//                                                      at the first difference, REF's tokens before it forced
// PACK may also be a model (any format the engine reads), taken whole.
// Builds in CMake where the CPU backend is (target real_weights_check) and, on the GPU machine, with g++/nvcc
// from the engine's std-only sources (docs/CUDA.md gives the line).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/decoder.h"
#include "engine/decoding.h"
#include "engine/encoder.h"
#include "engine/mel.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "formats/weight_io.h"
#include "util/errors.h"
#include "wst/engine.h"

namespace {

using wst::Error;
using wst::formats::DType;
using wst::formats::WhisperWeights;

constexpr uint32_t kMagic = 0x31385257;  // "WR81"

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

struct Reader {
  const std::vector<uint8_t>& b;
  std::string path;
  size_t at = 0;
  void take(void* p, size_t n) {
    if (n > b.size() - at) throw Error(path + ": truncated at byte " + std::to_string(at));
    std::memcpy(p, b.data() + at, n);
    at += n;
  }
  uint32_t u32() {
    uint32_t v;
    take(&v, 4);
    return v;
  }
  int64_t i64() {
    int64_t v;
    take(&v, 8);
    return v;
  }
};

// PACK: magic, dims (10 x u32), tensor count, then per tensor: name, rank, shape, kind (0: float32 values,
// 1: int8 rows + float32 scale per row).
void pack(const std::string& model, const std::string& out_path) {
  WhisperWeights w = wst::formats::read_weights(model);
  w.validate();
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  auto u32 = [&](uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto i64 = [&](int64_t v) { out.write(reinterpret_cast<const char*>(&v), 8); };
  u32(kMagic);
  const auto& d = w.dims;
  for (int v : {d.n_mels, d.n_vocab, d.n_audio_ctx, d.n_audio_state, d.n_audio_head, d.n_audio_layer, d.n_text_ctx,
                d.n_text_state, d.n_text_head, d.n_text_layer})
    u32(static_cast<uint32_t>(v));
  u32(static_cast<uint32_t>(w.tensors.size()));
  size_t bytes = 0;
  for (const auto& [name, t] : w.tensors) {
    u32(static_cast<uint32_t>(name.size()));
    out.write(name.data(), static_cast<std::streamsize>(name.size()));
    u32(static_cast<uint32_t>(t.shape.size()));
    for (int64_t s : t.shape) i64(s);
    const std::vector<float> f = t.to_f32();
    // Matrices (and conv kernels) as int8 rows; positional embeddings and vectors exact.
    const bool quantise = t.shape.size() >= 2 && name.find("positional_embedding") == std::string::npos;
    u32(quantise ? 1 : 0);
    if (!quantise) {
      out.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size() * 4));
      bytes += f.size() * 4;
      continue;
    }
    const size_t rows = static_cast<size_t>(t.shape[0]), cols = f.size() / rows;
    std::vector<int8_t> q(cols);
    for (size_t r = 0; r < rows; ++r) {
      const float* src = f.data() + r * cols;
      float amax = 0;
      for (size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(src[c]));
      const float scale = amax > 0 ? amax / 127.0f : 1.0f;
      for (size_t c = 0; c < cols; ++c) q[c] = static_cast<int8_t>(std::lround(src[c] / scale));
      out.write(reinterpret_cast<const char*>(&scale), 4);
      out.write(reinterpret_cast<const char*>(q.data()), static_cast<std::streamsize>(cols));
      bytes += 4 + cols;
    }
  }
  out.flush();
  if (!out) throw Error(out_path + ": write failed");
  std::printf("packed %s: %zu tensors, %.1f MB\n", model.c_str(), w.tensors.size(), bytes / 1e6);
}

WhisperWeights unpack(const std::string& path) {
  const std::vector<uint8_t> b = read_all(path);
  Reader r{b, path};
  if (r.u32() != kMagic) throw Error(path + ": not a pack file");
  WhisperWeights w;
  w.path = path;
  w.format = "int8 pack, expanded to float32";
  auto& d = w.dims;
  for (int* v : {&d.n_mels, &d.n_vocab, &d.n_audio_ctx, &d.n_audio_state, &d.n_audio_head, &d.n_audio_layer,
                 &d.n_text_ctx, &d.n_text_state, &d.n_text_head, &d.n_text_layer})
    *v = static_cast<int>(r.u32());
  const uint32_t n = r.u32();
  for (uint32_t i = 0; i < n; ++i) {
    std::string name(r.u32(), '\0');
    r.take(name.data(), name.size());
    std::vector<int64_t> shape(r.u32());
    size_t count = 1;
    for (auto& s : shape) {
      s = r.i64();
      if (s <= 0 || s > (1 << 20)) throw Error(path + ": bad shape in " + name);
      count *= static_cast<size_t>(s);
    }
    std::vector<float> f(count);
    if (r.u32() == 0) {
      r.take(f.data(), count * 4);
    } else {
      const size_t rows = static_cast<size_t>(shape[0]), cols = count / rows;
      std::vector<int8_t> q(cols);
      for (size_t row = 0; row < rows; ++row) {
        float scale;
        r.take(&scale, 4);
        r.take(q.data(), cols);
        for (size_t c = 0; c < cols; ++c) f[row * cols + c] = static_cast<float>(q[c]) * scale;
      }
    }
    std::vector<uint8_t> bytes(count * 4);
    std::memcpy(bytes.data(), f.data(), bytes.size());
    w.add_owned(name, shape, DType::kF32, std::move(bytes));
  }
  w.validate();
  return w;
}

// A pack (by its magic number), else a model in any format the engine reads, as it is (tests use tiny.en's
// CTranslate2 directory without packing it).
WhisperWeights load_weights(const std::string& path) {
  uint32_t magic = 0;
  if (std::filesystem::is_regular_file(path)) std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(&magic), 4);
  if (magic == kMagic) return unpack(path);
  WhisperWeights w = wst::formats::read_weights(path);
  w.validate();
  return w;
}

// A canonical 44-byte-header WAV of 16-bit mono 16 kHz PCM (what ../shared/audio holds) -> raw samples.
void to_pcm(const std::string& wav, const std::string& out_dir) {
  const std::vector<uint8_t> b = read_all(wav);
  // Find the "data" chunk; check the format chunk says PCM 16-bit mono 16 kHz.
  size_t at = 12;
  uint16_t fmt_tag = 0, channels = 0, bits = 0;
  uint32_t rate = 0;
  while (at + 8 <= b.size()) {
    uint32_t size;
    std::memcpy(&size, b.data() + at + 4, 4);
    const std::string id(reinterpret_cast<const char*>(b.data() + at), 4);
    if (id == "fmt " && at + 24 <= b.size()) {
      std::memcpy(&fmt_tag, b.data() + at + 8, 2);
      std::memcpy(&channels, b.data() + at + 10, 2);
      std::memcpy(&rate, b.data() + at + 12, 4);
      std::memcpy(&bits, b.data() + at + 22, 2);
    } else if (id == "data") {
      if (fmt_tag != 1 || channels != 1 || rate != 16000 || bits != 16)
        throw Error(wav + ": not 16-bit mono 16 kHz PCM");
      const size_t n = std::min<size_t>(size, b.size() - at - 8);
      std::string base = wav.substr(wav.find_last_of('/') + 1);
      base = base.substr(0, base.rfind('.'));
      std::ofstream out(out_dir + "/" + base + ".pcm", std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(b.data() + at + 8), static_cast<std::streamsize>(n & ~size_t{1}));
      return;
    }
    at += 8 + size + (size & 1);
  }
  throw Error(wav + ": no data chunk");
}

std::unique_ptr<wst::engine::Backend> make_backend(const std::string& device, const std::string& compute_type) {
  if (device == "cuda") {
#ifdef WST_HAVE_CUDA
    return wst::engine::make_cuda_backend(0, compute_type);
#else
    throw Error("this build has no CUDA backend");
#endif
  }
#ifndef WST_NO_CPU_BACKEND
  if (device == "cpu") return wst::engine::make_cpu_backend(0);
#endif
  throw Error("device " + device + ": not in this build");
}

// Raw int16 samples (what `pcm` writes) as floats.
std::vector<float> read_pcm(const std::string& path) {
  const std::vector<uint8_t> b = read_all(path);
  std::vector<float> pcm(b.size() / 2);
  for (size_t k = 0; k < pcm.size(); ++k) {
    int16_t s;
    std::memcpy(&s, b.data() + 2 * k, 2);
    pcm[k] = static_cast<float>(s) / 32768.0f;  // libsndfile's int16 -> float scaling
  }
  return pcm;
}

// The model on the backend DEVICE COMPUTE_TYPE names, with what it was loaded from.
struct Loaded {
  WhisperWeights weights;
  std::unique_ptr<wst::engine::Backend> backend;
  wst::engine::WhisperModel model;
  wst::engine::Tokenizer tok;
};

std::unique_ptr<Loaded> load(const std::string& weights_path, const std::string& tokenizer, const std::string& device,
                             const std::string& compute_type) {
  WhisperWeights w = load_weights(weights_path);
  auto backend = make_backend(device, compute_type);
  wst::engine::WhisperModel model = wst::engine::load_whisper(w, *backend, wst::engine::weight_policy(compute_type));
  wst::engine::Tokenizer tok = wst::engine::Tokenizer::from_file(tokenizer, w.dims.n_vocab);
  return std::unique_ptr<Loaded>(new Loaded{std::move(w), std::move(backend), std::move(model), std::move(tok)});
}

int run(int argc, char** argv) {
  const std::string out = argv[6];
  const auto m = load(argv[2], argv[3], argv[4], argv[5]);
  wst::Timings timings;
  wst::engine::Transcriber tr(m->model, *m->backend, m->tok, timings, 2);
  nlohmann::json j;
  j["device"] = argv[4];
  j["compute_type"] = argv[5];
  j["beam_size"] = std::getenv("WST_CHECK_BEAM") ? std::atoi(std::getenv("WST_CHECK_BEAM")) : 1;
  for (int i = 7; i < argc; ++i) {
    const std::vector<float> pcm = read_pcm(argv[i]);
    wst::TranscribeOptions o;
    o.language = "en";
    if (const char* beam = std::getenv("WST_CHECK_BEAM")) o.beam_size = std::atoi(beam);
    // WST_CHECK_REPEAT=N (N > 1): the file transcribed once more than N times, the first not timed; "ms" is the
    // median of the N (host clock, the whole transcription: mel, encoder, decoding).
    const int repeat = std::getenv("WST_CHECK_REPEAT") ? std::max(1, std::atoi(std::getenv("WST_CHECK_REPEAT"))) : 1;
    wst::Transcript t;
    std::vector<double> ms;
    for (int r = 0; r < repeat + (repeat > 1 ? 1 : 0); ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      t = tr.run(pcm, o);
      const auto t1 = std::chrono::steady_clock::now();
      if (repeat == 1 || r > 0) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median_ms = ms[ms.size() / 2];
    // Each window that kept a segment: its seek (mel frames), its first token in `tokens` and its temperature
    // (what `margins` needs to rebuild a later window's prompt).
    std::vector<int> tokens;
    nlohmann::json windows = nlohmann::json::array();
    for (const auto& s : t.segments) {
      if (windows.empty() || windows.back()["seek"] != s.seek)
        windows.push_back({{"seek", s.seek}, {"first_token", tokens.size()}, {"temperature", s.temperature}});
      tokens.insert(tokens.end(), s.tokens.begin(), s.tokens.end());
    }
    std::string name = argv[i];
    name = name.substr(name.find_last_of('/') + 1);
    j["files"][name] = {{"text", t.text}, {"tokens", tokens}, {"windows", windows}, {"ms", median_ms}};
    std::printf("%s: %zu tokens, %.2f ms: %s\n", name.c_str(), tokens.size(), median_ms, t.text.substr(0, 80).c_str());
  }
  std::ofstream(out) << j.dump(1) << "\n";
  return 0;
}

int compare(const std::string& ref_path, const std::string& got_path, const std::string& mode) {
  const auto ref = nlohmann::json::parse(read_all(ref_path)), got = nlohmann::json::parse(read_all(got_path));
  int n = 0, same_tokens = 0, same_text = 0;
  bool key_files_ok = true;
  for (const auto& [name, r] : ref["files"].items()) {
    ++n;
    if (!got["files"].contains(name)) {
      std::printf("%s: missing from %s\n", name.c_str(), got_path.c_str());
      key_files_ok = false;
      continue;
    }
    const auto& g = got["files"][name];
    const bool tok_eq = r["tokens"] == g["tokens"], text_eq = r["text"] == g["text"];
    same_tokens += tok_eq;
    same_text += text_eq;
    if (!tok_eq) {
      const auto a = r["tokens"].get<std::vector<int>>(), b = g["tokens"].get<std::vector<int>>();
      size_t k = 0;
      while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
      std::printf("%s: tokens differ from position %zu of %zu%s\n  ref: %s\n  got: %s\n", name.c_str(), k, a.size(),
                  text_eq ? " (same text)" : "", r["text"].get<std::string>().c_str(), g["text"].get<std::string>().c_str());
    }
    if ((name.rfind("jfk", 0) == 0 || name.rfind("ted_60", 0) == 0) && !text_eq) key_files_ok = false;
  }
  std::printf("%s vs %s: %d files, tokens identical on %d, text identical on %d\n", got_path.c_str(), ref_path.c_str(),
              n, same_tokens, same_text);
  if (mode == "tokens") return same_tokens == n ? 0 : 1;
  return key_files_ok && same_text * 100 >= 95 * n ? 0 : 1;
}

// A window of a transcript (run's "windows"): its seek in mel frames, its first token, its temperature.
struct Window {
  int seek = 0;
  size_t first_token = 0;
  float temperature = 0;
  bool operator==(const Window&) const = default;
};

std::vector<Window> windows_of(const nlohmann::json& file) {
  std::vector<Window> out;
  if (!file.contains("windows")) return out;
  for (const auto& w : file["windows"])
    out.push_back({w["seek"].get<int>(), w["first_token"].get<size_t>(), w["temperature"].get<float>()});
  return out;
}

// One token for a line of output: its text as the tokenizer gives it (timestamps as <|1.08|>), quoted, and its id.
std::string token_label(const wst::engine::Tokenizer& tok, int id) {
  std::string text = id == tok.eot() ? "<|endoftext|>" : tok.decode_with_timestamps({id});
  if (text.empty()) text = "<|" + std::to_string(id) + "|>";
  return "\"" + text + "\" (" + std::to_string(id) + ")";
}

// Log-probabilities at position `k` of `tokens` (one file of REF), tokens [0, k) forced: the window holding
// position k is encoded, its prompt rebuilt as Transcriber::window_prompt builds it (the previous windows' tokens
// after <|startofprev|>, at most n_text_ctx / 2 - 1, none after a window decoded above
// prompt_reset_on_temperature; then the sot sequence, timestamps on), the prompt and the window's tokens before k
// run through the decoder one step at a time as the greedy loop runs them, and the decoder's filters
// (WindowDecoder::apply_filters: blank and token suppression, timestamp rules) applied before log_softmax.
// (A GPU's greedy loop picks on the device from a recorded step of the same ops; forward() here brings the
// logits back.)
std::vector<double> logprobs_at(Loaded& m, wst::engine::Decoder& dec, const std::vector<float>& pcm,
                                const std::vector<int>& tokens, const std::vector<Window>& windows, size_t w, size_t k) {
  const auto& h = m.model.info;
  const wst::TranscribeOptions opt;  // openai's defaults, as `run` (language "en" on an English-only model)
  const int n_window = 2 * h.n_audio_ctx;  // mel frames in 30 s
  int n_frames = 0;
  const std::vector<float> mel =
      wst::engine::log_mel_spectrogram(pcm.data(), pcm.size(), h.n_mels, 30 * wst::engine::kSampleRate, 2, &n_frames);
  const int seek = windows[w].seek, content = n_frames - n_window;
  if (seek < 0 || seek >= content) throw Error("window " + std::to_string(w + 1) + " starts past the audio");
  const std::vector<float> mw =
      wst::engine::mel_window(mel, h.n_mels, n_frames, seek, std::min(n_window, content - seek), n_window);
  dec.set_audio(wst::engine::encode(m.model, *m.backend, mw.data()));

  const size_t first = windows[w].first_token;
  size_t reset = 0;  // where the previous text starts (Transcription::prompt_reset_since)
  for (size_t j = 0; j < w; ++j)
    if (!opt.condition_on_previous_text || windows[j].temperature > opt.prompt_reset_on_temperature)
      reset = windows[j + 1].first_token;
  std::vector<int> initial;
  if (first > reset) {
    const size_t max_prompt = static_cast<size_t>(h.n_text_ctx / 2 - 1);
    initial.push_back(m.tok.sot_prev());
    initial.insert(initial.end(), tokens.begin() + std::max(reset, first > max_prompt ? first - max_prompt : 0),
                   tokens.begin() + first);
  }
  const std::vector<int> sot = m.tok.sot_sequence("en", opt.task);  // `run`'s language ([sot] on English-only models)
  initial.insert(initial.end(), sot.begin(), sot.end());
  if (initial.size() + (k - first) > static_cast<size_t>(h.n_text_ctx))
    throw Error("position " + std::to_string(k) + " is past the text context");

  std::vector<float> logits;
  dec.forward(initial, {static_cast<int>(initial.size()) - 1}, logits);
  for (size_t i = first; i < k; ++i) dec.forward({tokens[i]}, {0}, logits);
  wst::engine::WindowDecoder wd(m.model, m.tok, dec, opt);
  wd.apply_filters(logits, std::vector<int>(tokens.begin() + first, tokens.begin() + k));
  // log_softmax in double precision.
  const double mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - mx);
  std::vector<double> lp(logits.size());
  for (size_t t = 0; t < logits.size(); ++t) lp[t] = static_cast<double>(logits[t]) - mx - std::log(sum);
  return lp;
}

// Where REF's and GOT's tokens for a file differ: the first differing position, each side's token there (a side
// whose tokens end there counts as <|endoftext|>), their log-probabilities with REF's tokens before it forced on
// DEVICE COMPUTE_TYPE, the margin (REF's minus GOT's) and the two most probable tokens. Windows come from REF,
// else from GOT (a REF made before `run` recorded them); where both have them they must agree up to the position;
// where neither has them, the first window is assumed while REF's timestamps have not restarted (said so).
int margins(int argc, char** argv) {
  const std::string ref_path = argv[6], got_path = argv[7], device = argv[4], compute_type = argv[5];
  const auto ref = nlohmann::json::parse(read_all(ref_path)), got = nlohmann::json::parse(read_all(got_path));
  std::vector<std::string> pcm_args(argv + 8, argv + argc);
  std::unique_ptr<Loaded> m;  // loaded at the first difference
  std::unique_ptr<wst::engine::Decoder> dec;
  std::printf("margins: log-probabilities after the decoder's filters (suppression, timestamp rules), REF's tokens "
              "before the position forced; margin = ref - got\n");
  int n = 0, n_differ = 0, n_computed = 0, rc = 0;
  for (const auto& [name, r] : ref["files"].items()) {
    if (!got["files"].contains(name)) continue;
    ++n;
    const auto& g = got["files"][name];
    const auto a = r["tokens"].get<std::vector<int>>(), b = g["tokens"].get<std::vector<int>>();
    if (a == b) continue;
    ++n_differ;
    size_t k = 0;
    while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
    std::printf("%s: position %zu", name.c_str(), k);
    const std::vector<Window> wr = windows_of(r), wg = windows_of(g);
    std::vector<Window> windows = wr.empty() ? wg : wr;
    if (!m) {
      m = load(argv[2], argv[3], device, compute_type);
      dec = std::make_unique<wst::engine::Decoder>(m->model, *m->backend);
    }
    bool inferred = false;
    if (windows.empty()) {
      // Files made before `run` recorded windows: the position is taken to be in the first window when REF's
      // timestamps up to it, and GOT's there, never decrease (a later window restarts near <|0.00|>).
      const int ts_begin = m->tok.timestamp_begin();
      int last_ts = -1;
      bool restarts = false;
      for (size_t i = 0; i <= k && i < a.size(); ++i)
        if (a[i] >= ts_begin) {
          restarts = restarts || a[i] < last_ts;
          if (i < k) last_ts = a[i];
        }
      if (k < b.size() && b[k] >= ts_begin && b[k] < last_ts) restarts = true;
      if (restarts) {
        std::printf(": margin not computed: neither file records its windows, and REF's timestamps restart before "
                    "this position (a later window)\n");
        continue;
      }
      windows = {Window{}};
      inferred = true;
    }
    auto upto = [&](const std::vector<Window>& ws) {
      std::vector<Window> o;
      for (const Window& w : ws)
        if (w.first_token <= k) o.push_back(w);
      return o;
    };
    std::string pcm_path;
    for (const std::string& p : pcm_args) {
      if (std::filesystem::is_directory(p) && std::filesystem::exists(p + "/" + name)) pcm_path = p + "/" + name;
      else if (std::filesystem::path(p).filename() == name) pcm_path = p;
    }
    const std::vector<Window> held = upto(windows);
    if (!wr.empty() && !wg.empty() && upto(wr) != upto(wg)) {
      std::printf(": margin not computed: REF's and GOT's windows differ up to this position\n");
      continue;
    }
    if (held.empty()) {
      std::printf(": margin not computed: no window starts at or before it\n");
      continue;
    }
    const size_t w = held.size() - 1;
    std::printf(" (window %zu at %.2f s%s)", w + 1, held[w].seek * 0.01,
                inferred ? ", inferred: neither file records its windows" : "");
    if (pcm_path.empty()) {
      std::printf(": margin not computed: no PCM file %s among the arguments\n", name.c_str());
      rc = 1;
      continue;
    }
    const std::vector<double> lp = logprobs_at(*m, *dec, read_pcm(pcm_path), a, windows, w, k);
    const int eot = m->tok.eot(), n_vocab = static_cast<int>(lp.size());
    const int ta = k < a.size() ? a[k] : eot, tb = k < b.size() ? b[k] : eot;
    if (ta < 0 || ta >= n_vocab || tb < 0 || tb >= n_vocab) throw Error(name + ": token outside the vocabulary");
    int r1 = 0, r2 = -1;  // the first maximum, as the greedy choice; then the next
    for (int t = 1; t < n_vocab; ++t)
      if (lp[t] > lp[r1]) r1 = t;
    for (int t = 0; t < n_vocab; ++t)
      if (t != r1 && (r2 < 0 || lp[t] > lp[r2])) r2 = t;
    std::printf(": ref %s logprob %.5f, got %s logprob %.5f, margin %.5f; rank 1 %s %.5f, rank 2 %s %.5f",
                token_label(m->tok, ta).c_str(), lp[ta], token_label(m->tok, tb).c_str(), lp[tb], lp[ta] - lp[tb],
                token_label(m->tok, r1).c_str(), lp[r1], token_label(m->tok, r2).c_str(), lp[r2]);
    if (held[w].temperature > 0) std::printf(" (REF's window sampled at temperature %.1f)", held[w].temperature);
    std::printf(" [%s %s]\n", device.c_str(), compute_type.c_str());
    ++n_computed;
  }
  std::printf("%s vs %s: %d files, %d differ, margins computed for %d\n", got_path.c_str(), ref_path.c_str(), n,
              n_differ, n_computed);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "pack" && argc == 4) {
      pack(argv[2], argv[3]);
      return 0;
    }
    if (cmd == "expand" && argc == 4) {
      wst::formats::write_weights(unpack(argv[2]), wst::formats::WeightFormat::kOpenai, argv[3], DType::kF32);
      std::printf("expanded %s to %s\n", argv[2], argv[3]);
      return 0;
    }
    if (cmd == "pcm" && argc >= 4) {
      for (int i = 2; i < argc - 1; ++i) to_pcm(argv[i], argv[argc - 1]);
      return 0;
    }
    if (cmd == "run" && argc >= 8) return run(argc, argv);
    if (cmd == "compare" && argc == 5) return compare(argv[2], argv[3], argv[4]);
    if (cmd == "margins" && argc >= 9) return margins(argc, argv);
    std::fprintf(stderr,
                 "usage: real_weights_check pack MODEL PACK | expand PACK OUT.pt | pcm WAV... OUTDIR | run PACK TOKENIZER DEVICE "
                 "COMPUTE_TYPE OUT.json PCM... | compare REF.json GOT.json tokens|text | margins PACK TOKENIZER DEVICE "
                 "COMPUTE_TYPE REF.json GOT.json PCMDIR_OR_PCM...\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "real_weights_check: %s\n", e.what());
    return 1;
  }
}
