// engine::make_cuda_backend and engine::cuda_unavailable_reason (backend.h) for the GPU machine's nvcc-only
// builds (run_on_device.sh, run_real_weights.sh), which link the CUDA sources into the program: the module's
// entry points (src/engine/cuda/module.cu) called directly. The CMake build loads them instead
// (src/engine/cuda_loader.cpp).
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/cuda_module.h"

namespace wst::engine {

std::string cuda_unavailable_reason() { return cuda_module::unavailable_reason(&wst_cuda_unavailable_reason); }

std::unique_ptr<Backend> make_cuda_backend(int device, const std::string& compute_type) {
  return cuda_module::make_backend(&wst_cuda_make_backend, device, compute_type);
}

}  // namespace wst::engine
