// A host-to-host copy split across a few helper threads: the mel spectrogram into upload_transposed's pinned buffer
// (one thread copied ~10 GB/s on the H100 machine: 0.17 ms of a large-v3 window's 1.5 MB, run 59).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace wst::engine::cuda {

class ParallelCopy {
 public:
  // helpers threads besides the caller's (0: the caller copies alone).
  explicit ParallelCopy(int helpers);
  ~ParallelCopy();
  ParallelCopy(const ParallelCopy&) = delete;
  ParallelCopy& operator=(const ParallelCopy&) = delete;
  // Copies n bytes from src to dst in helpers + 1 parts, the caller copying the first. part_copied(offset, bytes)
  // runs on the caller's thread for each part in order, as soon as that part is in dst (to queue its transfer).
  void copy(void* dst, const void* src, size_t n, const std::function<void(size_t, size_t)>& part_copied);
  int parts() const { return static_cast<int>(threads_.size()) + 1; }

 private:
  void helper(int index);
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  unsigned long long generation_ = 0;  // one more for every copy; helpers wait for a new one
  bool stop_ = false;
  char* dst_ = nullptr;
  const char* src_ = nullptr;
  size_t n_ = 0, part_ = 0;
  std::unique_ptr<std::atomic<unsigned long long>[]> copied_;  // per helper: the generation it last copied
};

}  // namespace wst::engine::cuda
