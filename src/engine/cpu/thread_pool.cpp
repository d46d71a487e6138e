// parallel_for on a pool of worker threads kept for the process. Starting threads for every op cost tens of
// microseconds each, which the decoder (dozens of small ops per token) paid on every token. Workers spin
// briefly after each job (the next op follows within microseconds while decoding), then sleep.
#include <immintrin.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/cpu/cpu_backend.h"

namespace wst::engine::cpu {
namespace {

class Pool {
 public:
  static Pool& instance() {
    static Pool pool;
    return pool;
  }

  // Runs fn over n_chunks chunks of [0, n) on the caller plus n_chunks - 1 workers.
  void run(int n, int n_chunks, const std::function<void(int, int)>& fn) {
    std::lock_guard<std::mutex> one_job(job_mutex_);  // one job at a time (engines on several threads)
    grow(n_chunks - 1);
    fn_ = &fn;
    n_ = n;
    chunk_ = (n + n_chunks - 1) / n_chunks;
    n_chunks_ = n_chunks;
    // Every worker acknowledges every job (those beyond n_chunks with nothing to do), so none can still be
    // reading this job's fields when the next one is set up.
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(m_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    fn(0, std::min(n, chunk_));
    // Spin briefly for the workers, then give the core away: on a busy machine a worker may be waiting for it.
    for (int i = 0; pending_.load(std::memory_order_acquire) > 0; ++i) {
      if (i < 2000)
        _mm_pause();
      else
        std::this_thread::yield();
    }
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void grow(int n_workers) {
    while (static_cast<int>(workers_.size()) < n_workers) {
      const int index = static_cast<int>(workers_.size()) + 1;  // chunk 0 is the caller's
      // The generation it has seen is the current one, read now: a thread that starts late must not take
      // the job about to be posted for one it has already seen.
      const uint64_t seen = generation_.load(std::memory_order_acquire);
      workers_.emplace_back([this, index, seen] { work(index, seen); });
    }
  }

  void work(int index, uint64_t seen) {
    for (;;) {
      // Spin for a while (some tens of microseconds), then sleep until the next job.
      uint64_t g = seen;
      for (int i = 0; i < 2000 && (g = generation_.load(std::memory_order_acquire)) == seen; ++i) _mm_pause();
      if (g == seen) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_) return;
      if (index < n_chunks_) {
        const int b = index * chunk_, e = std::min(n_, b + chunk_);
        if (b < e) (*fn_)(b, e);
      }
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::mutex job_mutex_;
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int, int)>* fn_ = nullptr;
  int n_ = 0, chunk_ = 0, n_chunks_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

void parallel_for(int n, int n_threads, const std::function<void(int, int)>& fn) {
  const int t = std::max(1, std::min(n_threads, n));
  if (t == 1) {
    fn(0, n);
    return;
  }
  Pool::instance().run(n, t, fn);
}

}  // namespace wst::engine::cpu
