#include "engine/cuda/host_copy.cuh"

#include <algorithm>
#include <cstring>

namespace wst::engine::cuda {

ParallelCopy::ParallelCopy(int helpers) : copied_(new std::atomic<unsigned long long>[std::max(helpers, 1)]) {
  for (int i = 0; i < helpers; ++i) copied_[i].store(0);
  for (int i = 0; i < helpers; ++i) threads_.emplace_back([this, i] { helper(i); });
}

ParallelCopy::~ParallelCopy() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ParallelCopy::helper(int index) {
  unsigned long long seen = 0;
  for (;;) {
    char* dst;
    const char* src;
    size_t begin, end;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      dst = dst_;
      src = src_;
      begin = std::min(n_, part_ * (index + 1));
      end = std::min(n_, part_ * (index + 2));
    }
    if (end > begin) std::memcpy(dst + begin, src + begin, end - begin);
    copied_[index].store(seen, std::memory_order_release);
  }
}

void ParallelCopy::copy(void* dst, const void* src, size_t n, const std::function<void(size_t, size_t)>& part_copied) {
  const size_t parts = threads_.size() + 1;
  // Parts of whole 4 KiB pages (the last one shorter), so that no two threads write one page; parts * part >= n.
  const size_t part = ((n + parts - 1) / parts + 4095) / 4096 * 4096;
  unsigned long long gen;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dst_ = static_cast<char*>(dst);
    src_ = static_cast<const char*>(src);
    n_ = n;
    part_ = part;
    gen = ++generation_;
  }
  wake_.notify_all();
  const auto wait_for = [&](size_t helper) {
    while (copied_[helper].load(std::memory_order_acquire) != gen) std::this_thread::yield();
  };
  const size_t first = std::min(n, part);
  std::memcpy(dst, src, first);
  try {
    if (first > 0) part_copied(0, first);
    for (size_t i = 1; i < parts; ++i) {
      wait_for(i - 1);
      const size_t begin = std::min(n, part * i), end = std::min(n, part * (i + 1));
      if (end > begin) part_copied(begin, end - begin);
    }
  } catch (...) {
    for (size_t i = 0; i + 1 < parts; ++i) wait_for(i);  // no helper reads src or writes dst after this returns
    throw;
  }
}

}  // namespace wst::engine::cuda
