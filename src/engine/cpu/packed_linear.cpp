// Linear layers with float16 or int8 weights on the CPU (the WeightType of backend.h).
//   Up to kMaxGroupedRows rows of x (decoding: one row per sequence): packed_kernels.h's matrix-vector
//   kernels, the weights read once per group of kMaxRows rows, split over threads by output rows.
//   More rows (the prompt, the cross-attention keys of a window, the encoder): float16 weights are widened to
//   float32 and go through sgemm; int8 go through oneDNN's u8 x s8 -> s32 product with the same quantisation.
#include <dnnl.h>
#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/packed_kernels.h"
#include "util/errors.h"

namespace wst::engine::cpu {
namespace {

constexpr int kMaxGroupedRows = 16;

void check_shapes(const Mat& x, const Weights& w, const Mat& y) {
  if (x.cols != w.cols || y.rows != x.rows || y.cols != w.rows)
    throw Error("linear: shapes x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "], w [" +
                std::to_string(w.rows) + ", " + std::to_string(w.cols) + "], y [" + std::to_string(y.rows) + ", " +
                std::to_string(y.cols) + "] do not agree");
}

// Output rows per thread chunk: whole cache lines of y, at least 16 rows.
int chunks_for(int n, int n_threads) { return std::max(1, std::min(n_threads, n / 16)); }

}  // namespace

Weights CpuBackend::upload_weights(const float* host, int rows, int cols, WeightType type) {
  const size_t n = static_cast<size_t>(rows) * cols;
  switch (type) {
    case WeightType::float32:
      return Weights(upload(host, rows, cols));
    case WeightType::float16: {
      std::shared_ptr<uint16_t> h(new uint16_t[n], std::default_delete<uint16_t[]>());
      f32_to_f16(host, h.get(), static_cast<int64_t>(n));
      return Weights(type, rows, cols, h);
    }
    case WeightType::int8: {
      std::shared_ptr<int8_t> q(new int8_t[n], std::default_delete<int8_t[]>());
      std::shared_ptr<float> scales(new float[rows], std::default_delete<float[]>());
      std::shared_ptr<int32_t> sums(new int32_t[rows], std::default_delete<int32_t[]>());
      for (int r = 0; r < rows; ++r) {
        const float* src = host + static_cast<size_t>(r) * cols;
        float amax = 0.0f;
        for (int c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(src[c]));
        const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;  // value = q * scale
        int32_t sum = 0;
        int8_t* dst = q.get() + static_cast<size_t>(r) * cols;
        for (int c = 0; c < cols; ++c) {
          const int v = static_cast<int>(std::nearbyint(src[c] / scale));
          dst[c] = static_cast<int8_t>(std::max(-127, std::min(127, v)));
          sum += dst[c];
        }
        scales.get()[r] = scale;
        sums.get()[r] = sum;
      }
      Weights w(type, rows, cols, q);
      w.scales = scales;
      w.row_sums = sums;
      return w;
    }
    case WeightType::bfloat16:
      break;  // supports() says no; load_whisper refuses it before uploading
  }
  throw Error(std::string("cpu backend: ") + weight_type_name(type) + " weights are not supported");
}

Weights CpuBackend::upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type) {
  if (type != WeightType::float16) return Backend::upload_weights_f16(host, rows, cols, type);
  const size_t n = static_cast<size_t>(rows) * cols;
  std::shared_ptr<uint16_t> h(new uint16_t[n], std::default_delete<uint16_t[]>());
  std::memcpy(h.get(), host, n * sizeof(uint16_t));
  return Weights(type, rows, cols, h);
}

void CpuBackend::linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) {
  if (w.type == WeightType::float32) return linear(x, w.f32, bias, y);
  check_shapes(x, w, y);
  const int m = x.rows, n = w.rows, k = w.cols;
  const float* b = bias && !bias->empty() ? bias->data : nullptr;

  if (w.type == WeightType::float16) {
    const auto* wh = static_cast<const uint16_t*>(w.packed.get());
    if (m <= kMaxGroupedRows) {
      parallel_for(n, chunks_for(n, n_threads_), [&](int j0, int j1) {
        for (int r = 0; r < m; r += kMaxRows)
          gemv_f16(x.data + static_cast<size_t>(r) * x.ld, std::min(kMaxRows, m - r), x.ld, wh, k, b,
                   y.data + static_cast<size_t>(r) * y.ld, y.ld, j0, j1);
      });
      return;
    }
    Mat wf = alloc(n, k);
    parallel_for(n, n_threads_, [&](int r0, int r1) {
      f16_to_f32(wh + static_cast<size_t>(r0) * k, wf.data + static_cast<size_t>(r0) * k,
                 static_cast<int64_t>(r1 - r0) * k);
    });
    return linear(x, wf, bias, y);
  }

  // int8: quantise the activations per row, then int32 products.
  const auto* wq = static_cast<const int8_t*>(w.packed.get());
  // Working buffers kept by the backend and grown as needed: a fresh 9 MiB int32 product per encoder
  // product was page-faulted in (and zeroed) on every call.
  if (i8_xq_.size() < static_cast<size_t>(m) * k) i8_xq_.resize(static_cast<size_t>(m) * k);
  if (i8_xs_.size() < static_cast<size_t>(m)) i8_xs_.resize(m);
  uint8_t* const xq = i8_xq_.data();
  float* const xs = i8_xs_.data();
  parallel_for(m, m >= 64 ? n_threads_ : 1, [&](int r0, int r1) {
    quantize_rows_u8(x.data + static_cast<size_t>(r0) * x.ld, r1 - r0, x.ld, k, xq + static_cast<size_t>(r0) * k,
                     xs + r0);
  });
  if (m <= kMaxGroupedRows) {
    parallel_for(n, chunks_for(n, n_threads_), [&](int j0, int j1) {
      for (int r = 0; r < m; r += kMaxRows)
        gemv_i8(xq + static_cast<size_t>(r) * k, xs + r, std::min(kMaxRows, m - r), wq, w.scales.get(),
                w.row_sums.get(), k, b, y.data + static_cast<size_t>(r) * y.ld, y.ld, j0, j1);
    });
    return;
  }
  // C = (xq - 128) @ wq^T through oneDNN (single-threaded in each of our chunks of rows): A unsigned with zero
  // point 128, B signed, int32 out; then scaled back to float per row and column.
  if (i8_c_.size() < static_cast<size_t>(m) * n) i8_c_.resize(static_cast<size_t>(m) * n);
  int32_t* const c = i8_c_.data();
  const float* ws = w.scales.get();
  std::atomic<int> failed{0};
  parallel_for(m, std::max(1, std::min(n_threads_, m / 32)), [&](int r0, int r1) {
    omp_set_num_threads(1);  // this thread's OpenMP setting: oneDNN must not start threads of its own
    const int32_t co = 0;
    const dnnl_status_t st = dnnl_gemm_u8s8s32('N', 'T', 'F', r1 - r0, n, k, 1.0f, xq + static_cast<size_t>(r0) * k,
                                               k, 128, wq, k, 0, 0.0f, c + static_cast<size_t>(r0) * n, n, &co);
    if (st != dnnl_success) {
      failed = st;
      return;
    }
    for (int r = r0; r < r1; ++r) {
      const int32_t* cr = c + static_cast<size_t>(r) * n;
      float* yr = y.data + static_cast<size_t>(r) * y.ld;
      const float inv = 1.0f / xs[r];
      for (int j = 0; j < n; ++j) yr[j] = static_cast<float>(cr[j]) * (ws[j] * inv) + (b ? b[j] : 0.0f);
    }
  });
  if (failed) throw Error("linear: oneDNN int8 product failed (status " + std::to_string(failed.load()) + ")");
}

void CpuBackend::embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) {
  if (table.type == WeightType::float32) return embed(table.f32, ids, n, pos, pos_offset, y);
  if (pos_offset + n > pos.rows)
    throw Error("embed: positions " + std::to_string(pos_offset) + ".." + std::to_string(pos_offset + n) +
                " exceed the text context of " + std::to_string(pos.rows));
  const int d = table.cols;
  std::vector<float> row(d);
  for (int i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= table.rows) throw Error("embed: token id " + std::to_string(ids[i]) + " out of range");
    const size_t off = static_cast<size_t>(ids[i]) * d;
    if (table.type == WeightType::float16) {
      f16_to_f32(static_cast<const uint16_t*>(table.packed.get()) + off, row.data(), d);
    } else {
      const int8_t* q = static_cast<const int8_t*>(table.packed.get()) + off;
      const float s = table.scales.get()[ids[i]];
      for (int c = 0; c < d; ++c) row[c] = q[c] * s;
    }
    const float* p = pos.data + static_cast<size_t>(pos_offset + i) * pos.ld;
    float* yr = y.data + static_cast<size_t>(i) * y.ld;
    for (int c = 0; c < d; ++c) yr[c] = row[c] + p[c];
  }
}

}  // namespace wst::engine::cpu
