// One interface for every Whisper implementation the benchmark compares: the native engine (CPU, CUDA) and
// the bridges to peers (faster-whisper, openai-whisper, whisper.cpp, transformers, MLX). Implementations are
// kept in a registry (src/impls/registry.cpp) and created by id.
//
//   auto impl = wst::make_implementation("native-cpu");
//   if (auto why = impl->unavailable_reason(); !why.empty()) { /* say why and skip */ }
//   impl->load(params);                       // timed apart from transcription
//   wst::ImplTranscript t = impl->transcribe(pcm16k);
//   impl->cleanup();
//
// The benchmark runs each implementation in its own child process (crash, hang and memory isolation);
// an Implementation object itself is not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace wst {

// What the caller asks for. The model is resolved before load(): model_path is the file or directory of
// the format this implementation uses (see ImplDescription::formats).
struct ImplParams {
  std::string model_name;   // catalog name as asked ("tiny.en"), or "" when the user gave a path
  std::string model_path;   // file or directory to load
  std::string model_format; // "ctranslate2", "openai", "safetensors", "ggml", "mlx"
  std::string language;     // "" = the implementation's default (detect, or "en" on .en models)
  int n_threads = 0;        // 0 = all cores
  std::string device = "cpu";
  int beam_size = 1;        // greedy unless asked
};

// What the implementation really used, for the results table.
struct ImplUsed {
  std::string model_file;   // the file or directory actually loaded
  std::string format;
  std::string precision;    // "float32", "float16", "int8", ...
  std::string device;
  int n_threads = 0;
  std::string version;      // the implementation's own version (peer library version for bridges)
};

struct ImplTranscript {
  std::string text;
  std::string language;
  double internal_ms = -1;  // the implementation's own timing of this transcription, when it reports one
};

struct ImplDescription {
  std::string id;                    // "native-cpu", "faster-whisper", ...
  std::string name;                  // human name
  std::vector<std::string> formats;  // model formats it can load, preferred first
  std::string device = "cpu";        // where it runs: "cpu", or "cuda" for the rows that need a GPU
};

class Implementation {
 public:
  virtual ~Implementation() = default;
  virtual ImplDescription describe() const = 0;
  // "" when it can run here; otherwise exactly why not ("faster_whisper is not installed for python3 ...").
  virtual std::string unavailable_reason() const = 0;
  virtual void load(const ImplParams& params) = 0;
  virtual ImplTranscript transcribe(const std::vector<float>& pcm) = 0;
  virtual ImplUsed used() const = 0;
  // Peak GPU memory since load(), in bytes, as the implementation's own allocator counts it (the native CUDA
  // backend's pool high-water mark, torch's max_memory_reserved); -1 when it runs on the CPU or cannot tell.
  virtual long long peak_gpu_bytes() const { return -1; }
  virtual void cleanup() = 0;
};

// Every registered implementation id, in the order `list` shows them.
std::vector<std::string> implementation_ids();
// Creates one by id; throws wst::Error naming the id and the known ones when it is unknown.
std::unique_ptr<Implementation> make_implementation(const std::string& id);

}  // namespace wst
