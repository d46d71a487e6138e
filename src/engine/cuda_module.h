// The CUDA backend's module interface: the C entry points of libwst_cuda.so (src/engine/cuda/module.cu), which
// src/engine/cuda_loader.cpp dlopen()s on first use, and the C++ side of calling them. Exceptions never cross
// these functions: a failure comes back as a message in the caller's buffer. A plain C++ header (no CUDA).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "util/errors.h"

// Raised whenever the entry points or the Backend class they hand out change (the vtable layout the engine
// calls through): a module from another build is then refused with a one-line reason instead of crashing.
#define WST_CUDA_MODULE_ABI 9

extern "C" {
// WST_CUDA_MODULE_ABI as the module was built.
int wst_cuda_module_abi(void);
// A new CUDA backend on GPU `device` (engine::make_cuda_backend; the caller owns it), or nullptr with the
// one-line reason written to error (NUL-terminated, truncated to error_size).
wst::engine::Backend* wst_cuda_make_backend(int device, const char* compute_type, char* error, size_t error_size);
// Writes engine::cuda_unavailable_reason() ("" when a GPU can be used) to buf like snprintf and returns its
// full length, so that a caller whose buffer was too small can ask again.
size_t wst_cuda_unavailable_reason(char* buf, size_t size);
}

namespace wst::engine::cuda_module {

using AbiFn = int (*)();
using MakeFn = Backend* (*)(int, const char*, char*, size_t);
using ReasonFn = size_t (*)(char*, size_t);

inline std::string unavailable_reason(ReasonFn fn) {
  std::vector<char> buf(256);
  size_t n = fn(buf.data(), buf.size());
  if (n >= buf.size()) {
    buf.resize(n + 1);
    fn(buf.data(), buf.size());
  }
  return std::string(buf.data(), strnlen(buf.data(), buf.size()));
}

inline std::unique_ptr<Backend> make_backend(MakeFn fn, int device, const std::string& compute_type) {
  char error[2048] = "";
  Backend* be = fn(device, compute_type.c_str(), error, sizeof error);
  if (be == nullptr) throw Error(error[0] ? error : "cuda: the backend could not be made (no reason given)");
  return std::unique_ptr<Backend>(be);
}

}  // namespace wst::engine::cuda_module
