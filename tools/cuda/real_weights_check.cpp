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
//                                                      with WST_CHECK_BEAM beams), tokens to OUT
//   real_weights_check compare REF.json GOT.json MODE  MODE tokens: every file's tokens equal; text: print each
//                                                      difference, pass when jfk and ted_60 agree and >= 95% do
// Builds in CMake where the CPU backend is (target real_weights_check) and, on the GPU machine, with g++/nvcc
// from the engine's std-only sources (docs/CUDA.md gives the line).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/decoding.h"
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

int run(int argc, char** argv) {
  const std::string pack_path = argv[2], tokenizer = argv[3], device = argv[4], compute_type = argv[5], out = argv[6];
  WhisperWeights w = unpack(pack_path);
  auto backend = make_backend(device, compute_type);
  const wst::engine::WeightPolicy policy = wst::engine::weight_policy(compute_type);
  wst::engine::WhisperModel model = wst::engine::load_whisper(w, *backend, policy);
  wst::engine::Tokenizer tok = wst::engine::Tokenizer::from_file(tokenizer, w.dims.n_vocab);
  wst::Timings timings;
  wst::engine::Transcriber tr(model, *backend, tok, timings, 2);
  nlohmann::json j;
  j["device"] = device;
  j["compute_type"] = compute_type;
  j["beam_size"] = std::getenv("WST_CHECK_BEAM") ? std::atoi(std::getenv("WST_CHECK_BEAM")) : 1;
  for (int i = 7; i < argc; ++i) {
    const std::vector<uint8_t> b = read_all(argv[i]);
    std::vector<float> pcm(b.size() / 2);
    for (size_t k = 0; k < pcm.size(); ++k) {
      int16_t s;
      std::memcpy(&s, b.data() + 2 * k, 2);
      pcm[k] = static_cast<float>(s) / 32768.0f;  // libsndfile's int16 -> float scaling
    }
    wst::TranscribeOptions o;
    o.language = "en";
    if (const char* beam = std::getenv("WST_CHECK_BEAM")) o.beam_size = std::atoi(beam);
    const wst::Transcript t = tr.run(pcm, o);
    std::vector<int> tokens;
    for (const auto& s : t.segments) tokens.insert(tokens.end(), s.tokens.begin(), s.tokens.end());
    std::string name = argv[i];
    name = name.substr(name.find_last_of('/') + 1);
    j["files"][name] = {{"text", t.text}, {"tokens", tokens}};
    std::printf("%s: %zu tokens: %s\n", name.c_str(), tokens.size(), t.text.substr(0, 80).c_str());
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
    std::fprintf(stderr,
                 "usage: real_weights_check pack MODEL PACK | expand PACK OUT.pt | pcm WAV... OUTDIR | run PACK TOKENIZER DEVICE "
                 "COMPUTE_TYPE OUT.json PCM... | compare REF.json GOT.json tokens|text\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "real_weights_check: %s\n", e.what());
    return 1;
  }
}
