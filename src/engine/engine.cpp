// The native engine behind include/wst/engine.h: picks a backend, loads the model and tokenizer,
// and runs the transcription loop.
#include <malloc.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "engine/backend.h"
#include "engine/batch_size.h"
#include "engine/chunking.h"
#include "engine/decoding.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "formats/weight_io.h"
#include "util/errors.h"
#include "wst/engine.h"

namespace wst {
namespace {

// The tokenizer named in the options, else the one the model files carry.
engine::Tokenizer load_tokenizer(const formats::WhisperWeights& w, const EngineOptions& options, ModelInfo& info) {
  if (!options.tokenizer_json.empty()) {
    info.tokenizer = options.tokenizer_json;
    return engine::Tokenizer::from_file(options.tokenizer_json, w.dims.n_vocab);
  }
  if (!w.tokenizer_json.empty()) {
    info.tokenizer = w.tokenizer_json;
    return engine::Tokenizer::from_file(w.tokenizer_json, w.dims.n_vocab);
  }
  if (!w.vocab.empty()) {
    info.tokenizer = w.path + " (its own vocabulary)";
    return engine::Tokenizer::from_vocab(w.vocab, w.dims.n_vocab, w.path);
  }
  throw Error(w.path + ": the " + w.format + " format carries no tokenizer; give one (EngineOptions::tokenizer_json)");
}

bool is_cuda_device(const std::string& device) { return device == "cuda" || device.rfind("cuda:", 0) == 0; }

// "cuda" is GPU 0; "cuda:N" is GPU N.
std::unique_ptr<engine::Backend> make_cuda(const std::string& device, const std::string& compute_type) {
  const std::string why = device_unavailable_reason(device);
  if (!why.empty()) throw Error("device " + device + ": " + why + "; use --device cpu");
#ifdef WST_HAVE_CUDA
  int index = 0;
  if (device.size() > 5) {
    const std::string n = device.substr(5);
    if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos)
      throw Error("device \"" + device + "\": expected cuda or cuda:N with N a GPU index");
    index = std::stoi(n);
  }
  return engine::make_cuda_backend(index, compute_type);
#else
  return nullptr;  // not reached: device_unavailable_reason says this build has no CUDA backend
#endif
}

class NativeEngine final : public Engine {
 public:
  NativeEngine(const std::string& path, const EngineOptions& options) {
    auto t0 = std::chrono::steady_clock::now();
    if (options.device == "cpu") {
      backend_ = engine::make_cpu_backend(options.n_threads, /*tiled_attention=*/options.compute_type != "int8");
    } else if (options.device == "cuda" || options.device.rfind("cuda:", 0) == 0) {
      backend_ = make_cuda(options.device, options.compute_type);
    } else {
      throw Error("device \"" + options.device + "\": unknown (expected cpu or cuda)");
    }
    n_threads_ = options.n_threads > 0 ? options.n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const engine::WeightPolicy policy = engine::weight_policy(options.compute_type);
    {
      formats::WhisperWeights weights = formats::read_weights(path);
      model_ = std::make_unique<engine::WhisperModel>(engine::load_whisper(weights, *backend_, policy));
      model_->info.n_threads = n_threads_;
      tokenizer_ = std::make_unique<engine::Tokenizer>(load_tokenizer(weights, options, model_->info));
    }
    transcriber_ = std::make_unique<engine::Transcriber>(*model_, *backend_, *tokenizer_, timings_, n_threads_);
    // The file's bytes and the load's temporaries are freed by now; give their pages back (glibc keeps freed
    // heap memory, which otherwise stays in the resident set for the whole run).
    malloc_trim(0);
    timings_.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  Transcript transcribe(const std::vector<float>& pcm, const TranscribeOptions& options) override {
    return transcriber_->run(pcm, options);
  }
  std::vector<Transcript> transcribe_batch(const std::vector<std::vector<float>>& pcms,
                                           const TranscribeOptions& options) override {
    return transcriber_->run_batch(pcms, options, options.batch_size.value_or(default_batch_size()));
  }
  Transcript transcribe_chunked(const std::vector<float>& pcm, const TranscribeOptions& options) override {
    if (pcm.empty()) throw Error("audio: empty (0 samples)");
    const std::vector<engine::Chunk> chunks = engine::cut_at_silences(pcm);
    std::vector<std::vector<float>> pieces;
    for (const auto& c : chunks)
      pieces.emplace_back(pcm.begin() + static_cast<long>(c.start), pcm.begin() + static_cast<long>(c.end));
    TranscribeOptions independent = options;
    independent.condition_on_previous_text = false;
    return engine::join_chunks(chunks, transcribe_batch(pieces, independent));
  }
  int default_batch_size() const override {
    return engine::auto_batch_size(model_->info, backend_->free_device_bytes());
  }
  const ModelInfo& info() const override { return model_->info; }
  Timings timings() const override { return timings_; }
  long long peak_device_bytes() const override { return backend_->peak_device_bytes(); }

 private:
  std::unique_ptr<engine::Backend> backend_;
  std::unique_ptr<engine::WhisperModel> model_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  std::unique_ptr<engine::Transcriber> transcriber_;
  Timings timings_;
  int n_threads_ = 1;
};

}  // namespace

std::unique_ptr<Engine> Engine::load(const std::string& model_path, const EngineOptions& options) {
  return std::make_unique<NativeEngine>(model_path, options);
}

std::string device_unavailable_reason(const std::string& device) {
  if (device == "cpu") return "";
  if (!is_cuda_device(device)) return "device \"" + device + "\": unknown (expected cpu or cuda)";
#ifdef WST_HAVE_CUDA
  return engine::cuda_unavailable_reason();
#else
  return "this build has no cuda backend (built without the CUDA toolkit)";
#endif
}

std::vector<std::string> available_devices() {
  std::vector<std::string> devices{"cpu"};
  if (device_unavailable_reason("cuda").empty()) devices.push_back("cuda");
  return devices;
}

}  // namespace wst
