// The native engine (include/wst/engine.h) as benchmark implementations: native-cpu, and native-cuda for the
// CUDA backend, which reports itself unavailable where wst::available_devices() has no "cuda".
#pragma once
#include <memory>

#include "wst/implementation.h"

namespace wst::impls {

std::unique_ptr<Implementation> make_native_cpu();
std::unique_ptr<Implementation> make_native_cpu_int8();  // int8 weights (EngineOptions::compute_type "int8")
std::unique_ptr<Implementation> make_native_cuda();
std::unique_ptr<Implementation> make_native_cuda_float16();  // float16 weights, products on the tensor cores

}  // namespace wst::impls
