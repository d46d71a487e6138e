// native-cpu and native-cuda: the project's own engine behind the Implementation interface. Both are the same
// class with a different device; internal_ms is the engine's own mel + encode + decode time of one call
// (Engine::timings(), summed since load, read before and after); peak_gpu_bytes is the engine's
// peak_device_bytes() (the CUDA pool's high-water mark; -1 on the CPU).
#include "impls/native.h"

#include <algorithm>
#include <filesystem>

#include "models/tokenizer_source.h"
#include "util/errors.h"
#include "wst/engine.h"

namespace wst::impls {
namespace {

double busy_ms(const Timings& t) { return t.mel_ms + t.encode_ms + t.decode_ms; }

class NativeImplementation final : public Implementation {
 public:
  NativeImplementation(std::string device, std::string compute_type)
      : device_(std::move(device)), compute_type_(std::move(compute_type)) {}

  ImplDescription describe() const override {
    const std::string type = compute_type_ == "float32" ? "" : ", " + compute_type_;
    return {id(), "whisper-speedtest engine (" + device_ + type + ")",
            {"ctranslate2", "safetensors", "openai", "ggml", "ggml-q8_0", "mlx"}, device_};
  }

  std::string unavailable_reason() const override {
    const std::string why = device_unavailable_reason(device_);
    if (why.empty()) return "";
    std::string have;
    for (const auto& d : available_devices()) have += (have.empty() ? "" : ", ") + d;
    return why + " (devices here: " + have + ")";
  }

  void load(const ImplParams& params) override {
    if (params.beam_size < 1)
      throw Error(id() + ": beam size " + std::to_string(params.beam_size) + " (must be 1 or more)");
    EngineOptions eo;
    eo.device = device_;
    eo.n_threads = params.n_threads;
    eo.compute_type = compute_type_;
    eo.tokenizer_json = models::tokenizer_json_for(params.model_path);
    engine_ = Engine::load(params.model_path, eo);
    options_ = TranscribeOptions{};
    options_.language = params.language;
    // As every peer is given (impls/python/protocol.py): beam_size from the request, best_of 1.
    options_.beam_size = params.beam_size;
    options_.best_of = 1;
  }

  ImplTranscript transcribe(const std::vector<float>& pcm) override {
    if (!engine_) throw Error(id() + ": transcribe() before load()");
    const double before = busy_ms(engine_->timings());
    Transcript t = engine_->transcribe(pcm, options_);
    ImplTranscript out;
    out.text = t.text;
    out.language = t.language;
    out.internal_ms = busy_ms(engine_->timings()) - before;
    return out;
  }

  ImplUsed used() const override {
    ImplUsed u;
    u.device = device_;
    // version stays "": the native engine is the tool itself, whose version the results carry.
    if (!engine_) return u;
    const ModelInfo& i = engine_->info();
    // The weights file proper, so the table names what was read, not only the folder.
    u.model_file = i.path;
    for (const char* file : {"model.bin", "model.safetensors", "weights.safetensors", "weights.npz"}) {
      auto weights = std::filesystem::path(i.path) / file;
      if (std::filesystem::is_regular_file(weights)) u.model_file = weights.string();
    }
    u.format = i.format;
    u.precision = i.compute_dtype + (i.stored_dtype != i.compute_dtype ? " (stored " + i.stored_dtype + ")" : "");
    u.device = i.backend;
    u.n_threads = i.n_threads;
    return u;
  }

  // Kept past cleanup(), so the runner can still report it.
  long long peak_gpu_bytes() const override { return engine_ ? engine_->peak_device_bytes() : peak_gpu_bytes_; }

  void cleanup() override {
    if (engine_) peak_gpu_bytes_ = engine_->peak_device_bytes();
    engine_.reset();
  }

 private:
  std::string id() const { return "native-" + device_ + (compute_type_ == "float32" ? "" : "-" + compute_type_); }

  std::string device_;
  std::string compute_type_;
  std::unique_ptr<Engine> engine_;
  TranscribeOptions options_;
  long long peak_gpu_bytes_ = -1;
};

}  // namespace

std::unique_ptr<Implementation> make_native_cpu() { return std::make_unique<NativeImplementation>("cpu", "float32"); }
std::unique_ptr<Implementation> make_native_cpu_int8() {
  return std::make_unique<NativeImplementation>("cpu", "int8");
}
std::unique_ptr<Implementation> make_native_cuda() { return std::make_unique<NativeImplementation>("cuda", "float32"); }
std::unique_ptr<Implementation> make_native_cuda_float16() {
  return std::make_unique<NativeImplementation>("cuda", "float16");
}

}  // namespace wst::impls
