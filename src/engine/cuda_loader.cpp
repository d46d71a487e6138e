// engine::make_cuda_backend and engine::cuda_unavailable_reason (backend.h) in the CMake build: the CUDA backend
// is a module of its own (libwst_cuda.so, linked to cudart and cuBLAS), dlopen()ed here on first use, so that a
// process computing on the CPU never maps cuBLAS's libraries (~84 MiB of peak RSS at start). Where it looks:
// $WST_CUDA_MODULE if set (that path only), else next to the running executable (the build directory), else
// <executable's directory>/../lib/whisper-speedtest (where `cmake --install` puts it). When it cannot be
// loaded, cuda_unavailable_reason() says so in one line, naming the paths tried and dlerror()'s reason.
#ifdef WST_HAVE_CUDA

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda_module.h"
#include "util/errors.h"

namespace wst::engine {
namespace {

constexpr const char* kModuleName = "libwst_cuda.so";

std::string executable_dir() {
  std::vector<char> buf(4096);
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return ".";
  const std::string path(buf.data(), static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

struct Module {
  cuda_module::MakeFn make = nullptr;
  cuda_module::ReasonFn reason = nullptr;
  std::string error;  // why it could not be loaded; "" once loaded
};

Module load() {
  std::vector<std::string> paths;
  const char* env = std::getenv("WST_CUDA_MODULE");
  if (env != nullptr && *env != '\0') {
    paths.push_back(env);
  } else {
    const std::string dir = executable_dir();
    paths.push_back(dir + "/" + kModuleName);
    paths.push_back(dir + "/../lib/whisper-speedtest/" + kModuleName);
  }
  Module m;
  std::string errors;
  for (const std::string& path : paths) {
    if (!errors.empty()) errors += "; ";
    // RTLD_LOCAL: nothing else binds to the module's symbols; it binds to the executable's (Backend's base).
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* e = dlerror();
      errors += e != nullptr ? std::string(e) : path + ": dlopen failed";
      continue;
    }
    auto abi = reinterpret_cast<cuda_module::AbiFn>(dlsym(handle, "wst_cuda_module_abi"));
    auto make = reinterpret_cast<cuda_module::MakeFn>(dlsym(handle, "wst_cuda_make_backend"));
    auto reason = reinterpret_cast<cuda_module::ReasonFn>(dlsym(handle, "wst_cuda_unavailable_reason"));
    if (abi == nullptr || make == nullptr || reason == nullptr) {
      errors += path + ": not a whisper-speedtest CUDA module (no wst_cuda_* entry points)";
      dlclose(handle);
      continue;
    }
    if (const int v = abi(); v != WST_CUDA_MODULE_ABI) {
      errors += path + ": module interface " + std::to_string(v) + ", this program needs " +
                std::to_string(WST_CUDA_MODULE_ABI) + " (a module from another build)";
      dlclose(handle);
      continue;
    }
    m.make = make;  // the handle stays open for the life of the process
    m.reason = reason;
    return m;
  }
  m.error = "cannot load the CUDA backend: " + errors + " (WST_CUDA_MODULE names the module)";
  return m;
}

const Module& module() {
  static const Module m = load();  // once per process, thread-safe
  return m;
}

// The module's answer, asked in a child process. A process that has initialised CUDA cannot use it in the
// children it forks afterwards (cudaErrorInitializationError there), and the benchmark forks one child per
// implementation after asking which can run; so the asking process itself never initialises CUDA.
std::string reason_from_a_child(cuda_module::ReasonFn reason) {
  int fds[2];
  if (pipe(fds) != 0) return cuda_module::unavailable_reason(reason);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return cuda_module::unavailable_reason(reason);
  }
  if (pid == 0) {
    close(fds[0]);
    const std::string why = cuda_module::unavailable_reason(reason);
    size_t off = 0;
    while (off < why.size()) {
      const ssize_t n = write(fds[1], why.data() + off, why.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string why;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    why.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return "no CUDA device: the process asking the CUDA runtime ended with status " + std::to_string(status);
  return why;
}

}  // namespace

std::string cuda_unavailable_reason() {
  const Module& m = module();
  if (!m.error.empty()) return m.error;
  static const std::string why = reason_from_a_child(m.reason);  // once per process
  return why;
}

std::unique_ptr<Backend> make_cuda_backend(int device, const std::string& compute_type) {
  const Module& m = module();
  if (!m.error.empty()) throw Error(m.error);
  return cuda_module::make_backend(m.make, device, compute_type);
}

}  // namespace wst::engine

#endif  // WST_HAVE_CUDA
