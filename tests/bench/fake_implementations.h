// Test doubles of the Implementation interface, registered only in the test binary (through the factory
// passed to the runner), never in the product registry:
//   fake-ok        answers "hello world" at once, reports internal_ms 1.5
//   fake-crash     abort()s in its second timed transcription (SIGABRT)
//   fake-hang      sleeps for an hour in load()
//   fake-throw     throws wst::Error("fake-throw: weights are corrupt") in load()
//   fake-big       touches 96 MiB in load(), so its peak RSS must show it
//   fake-absent    unavailable: "fake library not installed"
//   fake-orphan    starts a grandchild (its pid written to <model_path>/grandchild.pid) that sleeps, then hangs
//   fake-closer    closes every descriptor above stderr (the report pipe too), then hangs
//   fake-gpu       reports peak GPU memory: 1 GiB after load, 1 MiB more per transcription
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "util/errors.h"
#include "wst/implementation.h"

namespace wst::test {

class FakeImplementation final : public Implementation {
 public:
  explicit FakeImplementation(std::string id) : id_(std::move(id)) {}
  ImplDescription describe() const override { return {id_, "fake " + id_, {"ctranslate2"}}; }
  std::string unavailable_reason() const override { return id_ == "fake-absent" ? "fake library not installed" : ""; }
  void load(const ImplParams& params) override {
    params_ = params;
    if (id_ == "fake-hang") ::sleep(3600);
    if (id_ == "fake-orphan") {
      pid_t grandchild = ::fork();
      if (grandchild == 0) {
        for (;;) ::pause();
      }
      std::ofstream(params.model_path + "/grandchild.pid") << grandchild;
      ::sleep(3600);
    }
    if (id_ == "fake-closer") {
      for (int fd = 3; fd < 1024; ++fd) ::close(fd);
      ::sleep(3600);
    }
    if (id_ == "fake-throw") throw Error("fake-throw: weights are corrupt");
    if (id_ == "fake-big") {
      big_.assign(96u << 20, 0);
      for (size_t i = 0; i < big_.size(); i += 4096) big_[i] = static_cast<char>(i);
    }
  }
  ImplTranscript transcribe(const std::vector<float>& pcm) override {
    ++n_calls_;
    if (id_ == "fake-crash" && n_calls_ == 3) std::abort();  // warm-up, run 1, then run 2 crashes
    return {"hello world", "en", 1.5};
  }
  ImplUsed used() const override { return {params_.model_path, "ctranslate2", "float32", "cpu", 1, "0.0-fake"}; }
  long long peak_gpu_bytes() const override { return id_ == "fake-gpu" ? (1ll << 30) + n_calls_ * (1ll << 20) : -1; }
  void cleanup() override {}

 private:
  std::string id_;
  ImplParams params_;
  int n_calls_ = 0;
  std::vector<char> big_;
};

inline std::vector<std::string> fake_ids() {
  return {"fake-ok",     "fake-crash",  "fake-hang", "fake-throw", "fake-big",
          "fake-absent", "fake-orphan", "fake-closer", "fake-gpu"};
}

inline std::unique_ptr<Implementation> make_fake(const std::string& id) {
  for (const auto& known : fake_ids())
    if (id == known) return std::make_unique<FakeImplementation>(id);
  throw Error("implementation \"" + id + "\": unknown (known: fake-ok, ...)");
}

}  // namespace wst::test
