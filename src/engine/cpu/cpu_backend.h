// The CPU half of every op in engine/backend.h. One file per op in this folder; matrix products go
// through OpenBLAS, the rest are plain loops split over threads where the work is large.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/backend.h"

namespace wst::engine::cpu {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads, bool tiled_attention = true);
  std::string name() const override { return "cpu"; }
  int n_threads() const { return n_threads_; }

  Mat alloc(int rows, int cols) override;
  Mat upload(const float* host, int rows, int cols) override;
  void download(const Mat& m, float* host) override;
  void copy(const Mat& src, Mat& dst) override;

  void linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) override;
  void linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) override;
  Weights upload_weights(const float* host, int rows, int cols, WeightType type) override;
  Weights upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type) override;
  bool supports(WeightType t) const override { return t != WeightType::bfloat16; }
  void layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) override;
  void gelu(Mat& x) override;
  void add(Mat& y, const Mat& x) override;
  void attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) override;
  void conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) override;
  void embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) override;
  void embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) override;

 private:
  int n_threads_;
  bool tiled_attention_ = true;  // the encoder's attention through attention_tiled.cpp (make_cpu_backend)
  // The int8 products' working buffers (packed_linear.cpp), grown to the largest call and reused.
  std::vector<uint8_t> i8_xq_;
  std::vector<float> i8_xs_;
  std::vector<int32_t> i8_c_;
};

// Runs fn(begin, end) over [0, n) split into up to n_threads contiguous chunks, on a pool of threads kept
// for the process (thread_pool.cpp); inline when one chunk.
void parallel_for(int n, int n_threads, const std::function<void(int, int)>& fn);

}  // namespace wst::engine::cpu
