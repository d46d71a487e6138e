// The registry: every implementation the benchmark knows, one row each, in the order `list` shows them.
// A bridge adds one row here (and its file in src/impls/).
#include <memory>
#include <string>
#include <vector>

#include "impls/bridges.h"
#include "impls/native.h"
#include "util/errors.h"
#include "wst/implementation.h"

namespace wst {
namespace {

struct RegistryEntry {
  const char* id;
  std::unique_ptr<Implementation> (*make)();
};

constexpr RegistryEntry kRegistry[] = {
    {"native-cpu", &impls::make_native_cpu},
    {"native-cpu-int8", &impls::make_native_cpu_int8},
    {"native-cuda", &impls::make_native_cuda},
    {"native-cuda-float16", &impls::make_native_cuda_float16},
    {"faster-whisper", &make_faster_whisper},
    {"faster-whisper-int8", &make_faster_whisper_int8},
    {"faster-whisper-batched", &make_faster_whisper_batched},
    {"faster-whisper-cuda", &make_faster_whisper_cuda},
    {"openai-whisper", &make_openai_whisper},
    {"whisper.cpp", &make_whisper_cpp},
    {"whisper.cpp-q8_0", &make_whisper_cpp_q8_0},
    {"transformers", &make_transformers},
    {"transformers-cuda", &make_transformers_cuda},
    {"mlx-whisper", &make_mlx_whisper},
    {"whisper-mps", &make_whisper_mps},
    {"lightning-whisper-mlx", &make_lightning_whisper_mlx},
};

}  // namespace

std::vector<std::string> implementation_ids() {
  std::vector<std::string> ids;
  for (const auto& e : kRegistry) ids.emplace_back(e.id);
  return ids;
}

std::unique_ptr<Implementation> make_implementation(const std::string& id) {
  for (const auto& e : kRegistry)
    if (id == e.id) return e.make();
  std::string known;
  for (const auto& e : kRegistry) known += (known.empty() ? "" : ", ") + std::string(e.id);
  throw Error("implementation \"" + id + "\": unknown (known: " + known + ")");
}

}  // namespace wst
