// The C entry points of the CUDA module (libwst_cuda.so; src/engine/cuda_module.h): every exception stops here
// and becomes a message in the caller's buffer.
#include <algorithm>
#include <cstring>
#include <exception>
#include <string>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/cuda_module.h"

namespace {

void copy_out(const char* s, char* buf, size_t size) {
  if (buf == nullptr || size == 0) return;
  const size_t n = std::min(std::strlen(s), size - 1);
  std::memcpy(buf, s, n);
  buf[n] = '\0';
}

}  // namespace

extern "C" int wst_cuda_module_abi(void) { return WST_CUDA_MODULE_ABI; }

extern "C" wst::engine::Backend* wst_cuda_make_backend(int device, const char* compute_type, char* error,
                                                       size_t error_size) {
  copy_out("", error, error_size);
  try {
    return wst::engine::cuda::make_backend(device, compute_type ? compute_type : "float32").release();
  } catch (const std::exception& e) {
    copy_out(e.what(), error, error_size);
  } catch (...) {
    copy_out("cuda: the backend could not be made (unknown exception)", error, error_size);
  }
  return nullptr;
}

extern "C" size_t wst_cuda_unavailable_reason(char* buf, size_t size) {
  try {
    const std::string why = wst::engine::cuda::unavailable_reason();
    copy_out(why.c_str(), buf, size);
    return why.size();
  } catch (const std::exception& e) {
    const std::string why = std::string("no CUDA device: ") + e.what();
    copy_out(why.c_str(), buf, size);
    return why.size();
  } catch (...) {
    const char* why = "no CUDA device: unknown exception while probing";
    copy_out(why, buf, size);
    return std::strlen(why);
  }
}
