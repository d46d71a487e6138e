// The registry entries of the peers reached through Python runners: which runner, which formats, which
// fixed options, and the command that installs each peer (shown when it is missing).
#include "impls/bridges.h"

#include "impls/python_bridge.h"

namespace wst {

namespace {

std::unique_ptr<Implementation> bridge(impls::BridgeSpec spec) {
  return std::make_unique<impls::PythonBridge>(std::move(spec));
}

std::unique_ptr<Implementation> faster_whisper(const std::string& id, const std::string& compute_type) {
  impls::BridgeSpec s;
  s.id = id;
  s.name = "faster-whisper (CTranslate2, " + compute_type + ")";
  s.formats = {"ctranslate2"};
  s.runner = "runner_faster_whisper.py";
  s.install = "pip install faster-whisper";
  s.options = {{"compute_type", compute_type}};
  return bridge(std::move(s));
}

}  // namespace

std::unique_ptr<Implementation> make_faster_whisper() { return faster_whisper("faster-whisper", "float32"); }
std::unique_ptr<Implementation> make_faster_whisper_int8() { return faster_whisper("faster-whisper-int8", "int8"); }
std::unique_ptr<Implementation> make_faster_whisper_float16() {
  return faster_whisper("faster-whisper-float16", "float16");
}

std::unique_ptr<Implementation> make_openai_whisper() {
  impls::BridgeSpec s;
  s.id = "openai-whisper";
  s.name = "openai-whisper (PyTorch reference)";
  s.formats = {"openai"};
  s.runner = "runner_openai_whisper.py";
  s.install = "pip install openai-whisper torch (CPU torch: --extra-index-url https://download.pytorch.org/whl/cpu; "
              "or Debian's apt install python3-torch)";
  return bridge(std::move(s));
}

std::unique_ptr<Implementation> make_whisper_cpp() {
  impls::BridgeSpec s;
  s.id = "whisper.cpp";
  s.name = "whisper.cpp (pywhispercpp)";
  s.formats = {"ggml"};
  s.runner = "runner_whisper_cpp.py";
  s.install = "pip install pywhispercpp";
  return bridge(std::move(s));
}

std::unique_ptr<Implementation> make_transformers() {
  impls::BridgeSpec s;
  s.id = "transformers";
  s.name = "Hugging Face transformers (PyTorch, SDPA)";
  s.formats = {"safetensors"};
  s.runner = "runner_transformers.py";
  s.install = "pip install transformers torch";
  return bridge(std::move(s));
}

std::unique_ptr<Implementation> make_mlx_whisper() {
  impls::BridgeSpec s;
  s.id = "mlx-whisper";
  s.name = "mlx-whisper (MLX)";
  s.formats = {"mlx"};
  s.runner = "runner_mlx_whisper.py";
  s.install = "pip install 'mlx[cpu]' mlx-whisper   (on a CUDA machine: 'mlx[cuda13]')";
  return bridge(std::move(s));
}

std::unique_ptr<Implementation> make_whisper_mps() {
  impls::BridgeSpec s;
  s.id = "whisper-mps";
  s.name = "whisper-mps (MLX)";
  s.formats = {"openai"};
  s.runner = "runner_whisper_mps.py";
  s.install = "pip install 'mlx[cpu]' whisper-mps";
  return bridge(std::move(s));
}

}  // namespace wst
