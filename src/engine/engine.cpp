// The native engine behind include/wst/engine.h: picks a backend, loads the model and tokenizer,
// and runs the transcription loop.
#include <chrono>
#include <filesystem>
#include <thread>

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

class NativeEngine final : public Engine {
 public:
  NativeEngine(const std::string& path, const EngineOptions& options) {
    auto t0 = std::chrono::steady_clock::now();
    if (options.device == "cpu") {
      backend_ = engine::make_cpu_backend(options.n_threads);
    } else if (options.device == "cuda") {
      throw Error("device cuda: this build has no CUDA backend yet (TODO(#8)); use --device cpu");
    } else {
      throw Error("device \"" + options.device + "\": unknown (expected cpu or cuda)");
    }
    n_threads_ = options.n_threads > 0 ? options.n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    formats::WhisperWeights weights = formats::read_weights(path);
    model_ = std::make_unique<engine::WhisperModel>(engine::load_whisper(weights, *backend_));
    model_->info.n_threads = n_threads_;
    tokenizer_ = std::make_unique<engine::Tokenizer>(load_tokenizer(weights, options, model_->info));
    transcriber_ = std::make_unique<engine::Transcriber>(*model_, *backend_, *tokenizer_, timings_, n_threads_);
    timings_.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  Transcript transcribe(const std::vector<float>& pcm, const TranscribeOptions& options) override {
    return transcriber_->run(pcm, options);
  }
  const ModelInfo& info() const override { return model_->info; }
  Timings timings() const override { return timings_; }

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

std::vector<std::string> available_devices() { return {"cpu"}; }

}  // namespace wst
