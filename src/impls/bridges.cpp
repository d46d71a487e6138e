// The registry entries of the peers reached through Python runners: which runner, which formats, which
// fixed options, and the command that installs each peer (shown when it is missing).
#include "impls/bridges.h"

#include <fmt/format.h>

#include "impls/python_bridge.h"

namespace wst {

namespace {

std::unique_ptr<Implementation> bridge(std::string id, std::string name, std::string format, std::string runner,
                                       std::string install, std::map<std::string, std::string> options = {},
                                       std::string device = {}) {
  impls::BridgeSpec s;
  s.id = std::move(id);
  s.name = std::move(name);
  s.formats = {std::move(format)};
  s.runner = std::move(runner);
  s.install = std::move(install);
  s.options = std::move(options);
  s.device = std::move(device);
  return std::make_unique<impls::PythonBridge>(std::move(s));
}

std::unique_ptr<Implementation> faster_whisper(const std::string& id, const std::string& compute_type,
                                               bool batched = false, std::string device = {}) {
  std::map<std::string, std::string> options = {{"compute_type", compute_type}};
  if (batched) options.insert({{"batched", "1"}, {"batch_size", "8"}});
  return bridge(id,
                fmt::format("faster-whisper (CTranslate2, {}{}{})", compute_type,
                            batched ? ", BatchedInferencePipeline" : "", device.empty() ? "" : ", " + device),
                "ctranslate2", "runner_faster_whisper.py",
                device.empty() ? "pip install faster-whisper"
                               : "pip install faster-whisper nvidia-cublas-cu12 'nvidia-cudnn-cu12==9.*'",
                options, device);
}

}  // namespace

std::unique_ptr<Implementation> make_faster_whisper() { return faster_whisper("faster-whisper", "float32"); }
std::unique_ptr<Implementation> make_faster_whisper_int8() { return faster_whisper("faster-whisper-int8", "int8"); }
std::unique_ptr<Implementation> make_faster_whisper_cuda() {
  return faster_whisper("faster-whisper-cuda", "float16", /*batched=*/false, "cuda");
}
std::unique_ptr<Implementation> make_faster_whisper_batched() {
  return faster_whisper("faster-whisper-batched", "float32", /*batched=*/true);
}

std::unique_ptr<Implementation> make_openai_whisper() {
  return bridge("openai-whisper", "openai-whisper (PyTorch reference)", "openai", "runner_openai_whisper.py",
                "pip install openai-whisper torch (CPU torch: --extra-index-url https://download.pytorch.org/whl/cpu;"
                 " or Debian's apt install python3-torch)");
}

std::unique_ptr<Implementation> make_whisper_cpp() {
  return bridge("whisper.cpp", "whisper.cpp (pywhispercpp)", "ggml", "runner_whisper_cpp.py",
                "pip install pywhispercpp");
}

// The same peer on whisper.cpp's q8_0 file (ggml-<model>-q8_0.bin, or `models convert --to ggml-q8_0`): the
// row to set beside native-cpu-int8, as faster-whisper-int8 is.
std::unique_ptr<Implementation> make_whisper_cpp_q8_0() {
  return bridge("whisper.cpp-q8_0", "whisper.cpp (pywhispercpp, q8_0)", "ggml-q8_0", "runner_whisper_cpp.py",
                "pip install pywhispercpp");
}

std::unique_ptr<Implementation> make_transformers() {
  return bridge("transformers", "Hugging Face transformers (PyTorch)", "safetensors", "runner_transformers.py",
                "pip install transformers torch (with Debian's python3-torch 1.13: "
                "pip install 'transformers==4.49.0')");
}

// On the GPU in float16 with SDPA attention, as transformers' Whisper is usually run there.
std::unique_ptr<Implementation> make_transformers_cuda() {
  return bridge("transformers-cuda", "Hugging Face transformers (PyTorch, float16, cuda)", "safetensors",
                "runner_transformers.py", "pip install transformers torch (a CUDA build of torch)", {}, "cuda");
}

std::unique_ptr<Implementation> make_mlx_whisper() {
  return bridge("mlx-whisper", "mlx-whisper (MLX)", "mlx", "runner_mlx_whisper.py",
                "pip install 'mlx[cpu]' mlx-whisper (on a CUDA machine: 'mlx[cuda13]')");
}

std::unique_ptr<Implementation> make_whisper_mps() {
  return bridge("whisper-mps", "whisper-mps (MLX)", "openai", "runner_whisper_mps.py",
                "pip install 'mlx[cpu]' whisper-mps");
}

// Its wheel pins tiktoken==0.3.3 and asks for PyPI's torch, neither of which transcription needs: installed with
// --no-deps beside mlx-whisper (requirements-torch-nodeps.txt), whose dependencies it shares.
std::unique_ptr<Implementation> make_lightning_whisper_mlx() {
  return bridge("lightning-whisper-mlx", "lightning-whisper-mlx (MLX, batched)", "mlx",
                "runner_lightning_whisper_mlx.py",
                "pip install 'mlx[cpu]' mlx-whisper && pip install --no-deps lightning-whisper-mlx");
}

}  // namespace wst
