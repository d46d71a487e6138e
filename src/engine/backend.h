// The compute backend interface: every op the encoder and decoder need, on 2-D float matrices that live
// wherever the backend keeps them (host memory for the CPU, device memory for CUDA). Encoder, decoder and
// decoding are written only against this interface, so a backend plugs in without touching them.
//
// Layout: row-major; a Mat is a view (rows x cols, row stride ld) into storage shared by its views.
// Every backend is checked against the CPU on random inputs (tests/engine/backend_ops_test.cpp).
#pragma once

#include <memory>
#include <string>

namespace wst::engine {

struct Mat {
  std::shared_ptr<float> storage;  // keeps the buffer alive; data points into it
  float* data = nullptr;
  int rows = 0;
  int cols = 0;
  int ld = 0;  // elements between the starts of two rows

  bool empty() const { return data == nullptr; }
  // Rows [r0, r0 + n) of this view.
  Mat rows_view(int r0, int n) const { return {storage, data + static_cast<size_t>(r0) * ld, n, cols, ld}; }
  // Columns [c0, c0 + n) of this view (same row stride).
  Mat cols_view(int c0, int n) const { return {storage, data + c0, rows, n, ld}; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  virtual Mat alloc(int rows, int cols) = 0;                         // uninitialised, contiguous
  virtual Mat upload(const float* host, int rows, int cols) = 0;     // host [rows, cols] contiguous
  virtual void download(const Mat& m, float* host) = 0;              // to host [rows, cols] contiguous
  virtual void copy(const Mat& src, Mat& dst) = 0;                   // same shape, any strides

  // y = x @ w^T + bias. x [M, K], w [N, K], bias [1, N] or nullptr, y [M, N].
  virtual void linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) = 0;
  // y = (x - mean) / sqrt(var + 1e-5) * gamma + beta over each row. gamma, beta [1, cols].
  virtual void layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) = 0;
  // x = gelu(x), the exact (erf) form Whisper uses.
  virtual void gelu(Mat& x) = 0;
  // y += x, same shape.
  virtual void add(Mat& y, const Mat& x) = 0;
  // Multi-head scaled dot-product attention. q [Tq, D], k and v [Tk, D], out [Tq, D], D = n_head * d_head.
  // causal_offset < 0: every query sees every key; otherwise query i sees keys 0 .. causal_offset + i.
  virtual void attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) = 0;
  // y = gelu(conv1d(x, w) + b), kernel 3, padding 1. x [T_in, C_in] (time-major), w [C_out, 3 * C_in] with
  // column index k * C_in + c, b [1, C_out], y [T_out, C_out], T_out = (T_in - 1) / stride + 1.
  virtual void conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) = 0;
  // y[i] = table[ids[i]] + pos[pos_offset + i]. table [n_vocab, D], pos [n_ctx, D], y [n, D].
  virtual void embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) = 0;

  // The most device memory this backend has held at once, in bytes (a GPU backend's pool high-water mark:
  // weights, activations, workspaces); -1 for a backend that computes in host memory.
  virtual long long peak_device_bytes() const { return -1; }
};

// The CPU backend (OpenBLAS for matrix products). n_threads 0 = all cores.
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

// The CUDA backend (engine/cuda/, cuBLAS for matrix products) on GPU `device`, float32 throughout. Defined
// only in builds with CUDA (WST_HAVE_CUDA); throws wst::Error when the device cannot be used.
std::unique_ptr<Backend> make_cuda_backend(int device);
// "" when a CUDA device can be used here, else why not: "no CUDA device: <the CUDA runtime's reason>".
// Defined only in builds with CUDA.
std::string cuda_unavailable_reason();

}  // namespace wst::engine
