// The CUDA backend on the GPU machine: every op against a double-precision host reference at the shapes the
// models use (tiny: 384 wide, 6 heads; large-v3: 1280 wide, 20 heads, 128 mels; 1500 audio frames), then the
// timings of cuda_bench.cpp. Outputs are poisoned (NaN) before each op and must come back fully written.
// Error: ||out - ref|| / ||ref|| over all rows (up to 64 sampled rows for large outputs), float32 without TF32
// must stay under 1e-5.
// Build and run: tools/cuda/run_on_device.sh (one nvcc line; no library of ours beyond the engine sources).
//   cuda_check [--skip-bench] [--skip-checks] [--reps N] [arch ...]
//   cuda_check --picks      (only the greedy pick's and beam candidates' checks and timings, both ways)
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <type_traits>
#include <vector>

#include "cuda_tool.h"
#include "random_model.h"
#include "util/half.h"

namespace wst::cuda_tool {

using engine::Mat;
using engine::cuda::CudaBackend;

std::vector<float> random_vec(size_t n, uint64_t seed, float scale) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(scale);
  return v;
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return NAN;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// How many of a's values differ from b's bit for bit (a size mismatch counts every value of the longer).
size_t bits_differing(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::max(a.size(), b.size());
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

engine::WhisperModel random_model(const std::string& arch, engine::Backend& be, uint64_t seed, engine::WeightType type) {
  engine::WhisperModel m;
  m.info = bench_support::architecture(arch);
  const ModelInfo& h = m.info;
  // One pool of random values, the largest tensor's size; each tensor takes a window at a moving offset.
  const size_t pool_n = static_cast<size_t>(h.n_vocab) * h.n_text_state + 4096;
  const float kScale = 0.02f * 1.7320508f;  // uniform on [-a, a] has std a / sqrt(3)
  std::vector<float> pool = random_vec(pool_n, seed, kScale);
  Rng pick(seed + 7);
  auto mat = [&](int rows, int cols) {
    const size_t n = static_cast<size_t>(rows) * cols;
    const size_t off = pool_n > n ? pick.next() % (pool_n - n) : 0;
    return be.upload(pool.data() + off, rows, cols);
  };
  auto weights = [&](int rows, int cols) {
    const size_t n = static_cast<size_t>(rows) * cols;
    const size_t off = pool_n > n ? pick.next() % (pool_n - n) : 0;
    return be.upload_weights(pool.data() + off, rows, cols, type);
  };
  auto gain = [&](int n) {
    std::vector<float> v(n);
    for (int i = 0; i < n; ++i) v[i] = 1.0f + pool[i];
    return be.upload(v.data(), 1, n);
  };
  auto ln = [&](int n) { return engine::LayerNormWeights{gain(n), mat(1, n)}; };
  auto lin = [&](int out, int in) { return engine::LinearWeights{weights(out, in), mat(1, out)}; };
  const int da = h.n_audio_state, dt = h.n_text_state;
  m.conv1_w = mat(da, 3 * h.n_mels);
  m.conv1_b = mat(1, da);
  m.conv2_w = mat(da, 3 * da);
  m.conv2_b = mat(1, da);
  m.encoder_pos = mat(h.n_audio_ctx, da);
  for (int i = 0; i < h.n_audio_layer; ++i)
    m.encoder_layers.push_back({ln(da), lin(3 * da, da), lin(da, da), ln(da), lin(4 * da, da), lin(da, 4 * da)});
  m.encoder_ln = ln(da);
  m.token_embedding = weights(h.n_vocab, dt);
  m.decoder_pos = mat(h.n_text_ctx, dt);
  for (int i = 0; i < h.n_text_layer; ++i)
    m.decoder_layers.push_back({ln(dt), lin(3 * dt, dt), lin(dt, dt), ln(dt), lin(dt, dt), lin(2 * dt, da),
                                lin(dt, dt), ln(dt), lin(4 * dt, dt), lin(dt, 4 * dt)});
  m.decoder_ln = ln(dt);
  return m;
}

namespace {

constexpr double kMaxRelErr = 1e-5;  // float32 sums against double, no TF32 (METHOD.md: fp32 lands far under 1e-3)

struct Checker {
  CudaBackend& be;
  int n_fail = 0;
  uint64_t seed = 1;

  Mat up(const std::vector<float>& v, int rows, int cols) { return be.upload(v.data(), rows, cols); }
  std::vector<float> rnd(size_t n, float scale = 1.0f) { return random_vec(n, seed++, scale); }
  void poison(Mat& m) {
    WST_CUDA_CHECK(cudaMemset2DAsync(m.data, m.ld * sizeof(float), 0xFF, m.cols * sizeof(float), m.rows, be.stream()));
  }
  std::vector<float> down(const Mat& m) {
    std::vector<float> h(static_cast<size_t>(m.rows) * m.cols);
    be.download(m, h.data());
    return h;
  }
  // Rows to compare: all when few, else 64 spread over the matrix (first and last included).
  static std::vector<int> rows_to_check(int rows) {
    std::vector<int> r;
    if (rows <= 64) {
      for (int i = 0; i < rows; ++i) r.push_back(i);
      return r;
    }
    for (int i = 0; i < 64; ++i) r.push_back(static_cast<int>(static_cast<long long>(i) * (rows - 1) / 63));
    return r;
  }
  // ref(row, out) fills one reference row of `cols` values.
  void compare(const std::string& what, const Mat& out, const std::function<void(int, double*)>& ref,
               double tolerance = kMaxRelErr) {
    std::vector<float> got = down(out);
    size_t n_unwritten = 0;
    for (float x : got)
      if (!std::isfinite(x)) ++n_unwritten;
    double num = 0, den = 0, max_abs = 0;
    std::vector<double> want(out.cols);
    for (int r : rows_to_check(out.rows)) {
      ref(r, want.data());
      for (int c = 0; c < out.cols; ++c) {
        const double d = got[static_cast<size_t>(r) * out.cols + c] - want[c];
        if (std::isfinite(d)) {
          num += d * d;
          max_abs = std::max(max_abs, std::abs(d));
        }
        den += want[c] * want[c];
      }
    }
    const double rel = std::sqrt(num / std::max(den, 1e-300));
    const bool ok = n_unwritten == 0 && rel < tolerance;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s rel %.2e  max|d| %.2e%s\n", ok ? "ok" : "FAIL", what.c_str(), rel, max_abs,
                n_unwritten ? ("  UNWRITTEN/NaN " + std::to_string(n_unwritten)).c_str() : "");
  }

  void linear(const std::string& name, int m, int n, int k, bool bias, int x_ld_extra = 0) {
    auto x = rnd(static_cast<size_t>(m) * (k + x_ld_extra)), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n);
    Mat Xfull = up(x, m, k + x_ld_extra), W = up(w, n, k), B = up(b, 1, n), Y = be.alloc(m, n);
    Mat X = Xfull.cols_view(0, k);
    poison(Y);
    be.linear(X, W, bias ? &B : nullptr, Y);
    const int ldx = k + x_ld_extra;
    compare("linear " + name + " [" + std::to_string(m) + "," + std::to_string(k) + "]x[" + std::to_string(n) + "," +
                std::to_string(k) + "]^T" + (x_ld_extra ? " (x strided)" : ""),
            Y, [&](int r, double* o) {
              for (int j = 0; j < n; ++j) {
                double s = bias ? b[j] : 0.0;
                for (int t = 0; t < k; ++t) s += static_cast<double>(x[static_cast<size_t>(r) * ldx + t]) * w[static_cast<size_t>(j) * k + t];
                o[j] = s;
              }
            });
  }

  // The same with weights kept as `type` (float16 / bfloat16): against the float32 values in double, so the
  // tolerance covers the rounding of weights (and of x, for more than 8 rows) to the half type.
  void linear_half(const std::string& name, engine::WeightType type, int m, int n, int k, bool bias, double tol) {
    auto x = rnd(static_cast<size_t>(m) * k), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n);
    Mat X = up(x, m, k), B = up(b, 1, n), Y = be.alloc(m, n);
    engine::Weights W = be.upload_weights(w.data(), n, k, type);
    poison(Y);
    be.linear(X, W, bias ? &B : nullptr, Y);
    compare("linear " + std::string(engine::weight_type_name(type)) + " " + name + " [" + std::to_string(m) + "," +
                std::to_string(k) + "]x[" + std::to_string(n) + "," + std::to_string(k) + "]^T",
            Y, [&](int r, double* o) {
              for (int j = 0; j < n; ++j) {
                double s = bias ? b[j] : 0.0;
                for (int t = 0; t < k; ++t) s += static_cast<double>(x[static_cast<size_t>(r) * k + t]) * w[static_cast<size_t>(j) * k + t];
                o[j] = s;
              }
            }, tol);
  }

  // linears (a window's cross K/V: x rounded once for every layer's product) against linear for each: the same bits;
  // the many-row products with the bias in cuBLASLt's epilogue (set_lt_bias, the default) against the bias written
  // into y first (cublasGemmEx, beta = 1): the same sums, held to a float32 tolerance (the two may take other
  // kernels); and the epilogue must have run (a silent fallback would pass both).
  void linears_half(engine::WeightType type, int m, int d, int n_layers) {
    const std::string what = "linears " + std::string(engine::weight_type_name(type)) + " " +
                             std::to_string(n_layers) + " x [" + std::to_string(m) + "," + std::to_string(d) + "]x[" +
                             std::to_string(2 * d) + "," + std::to_string(d) + "]^T";
    auto x = rnd(static_cast<size_t>(m) * d);
    Mat X = up(x, m, d);
    std::vector<engine::Weights> w;
    std::vector<Mat> b, y;
    for (int i = 0; i < n_layers; ++i) {
      w.push_back(be.upload_weights(rnd(static_cast<size_t>(2) * d * d, 0.05f).data(), 2 * d, d, type));
      b.push_back(up(rnd(2 * d), 1, 2 * d));
      y.push_back(be.alloc(m, 2 * d));
      poison(y.back());
    }
    std::vector<const engine::Weights*> wp;
    std::vector<const Mat*> bp;
    std::vector<Mat*> yp;
    for (int i = 0; i < n_layers; ++i) {
      wp.push_back(&w[i]);
      bp.push_back(i == 1 ? nullptr : &b[i]);  // one product without a bias
      yp.push_back(&y[i]);
    }
    const long long lt_before = be.lt_bias_products();
    be.linears(X, wp, bp, yp);
    const bool lt_ran = be.lt_bias_products() > lt_before;
    size_t n_diff = 0, n_bad = 0;
    double worst = 0;
    for (int i = 0; i < n_layers; ++i) {
      std::vector<float> got = down(y[i]);
      for (float v : got) n_bad += !std::isfinite(v);
      Mat one = be.alloc(m, 2 * d);
      be.linear(X, w[i], bp[i], one);
      std::vector<float> want = down(one);
      n_diff += bits_differing(got, want);
      const bool lt_before_switch = be.lt_bias();
      be.set_lt_bias(!lt_before_switch);
      be.linear(X, w[i], bp[i], one);
      be.set_lt_bias(lt_before_switch);
      std::vector<float> other = down(one);
      double num = 0, den = 0;
      for (size_t j = 0; j < got.size(); ++j) {
        num += (static_cast<double>(got[j]) - other[j]) * (static_cast<double>(got[j]) - other[j]);
        den += static_cast<double>(other[j]) * other[j];
      }
      worst = std::max(worst, std::sqrt(num / std::max(den, 1e-300)));
    }
    const bool ok = n_diff == 0 && n_bad == 0 && worst < kMaxRelErr && (lt_ran || !be.lt_bias());
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s %zu values differ from linear's, %zu unwritten; against the bias written first rel %.2e;"
                " cuBLASLt's bias epilogue %s\n",
                ok ? "ok" : "FAIL", what.c_str(), n_diff, n_bad, worst,
                lt_ran ? "ran" : be.lt_bias() ? "NEVER RAN" : "off");
  }

  // The cuBLASLt products' refusals, each a one-line error naming the call (reachable only through the backend on a
  // GPU, so checked here rather than in the CPU tests).
  void lt_product_errors() {
    auto error_of = [](const std::function<void()>& f) -> std::string {
      try {
        f();
      } catch (const std::exception& e) {
        return e.what();
      }
      return "(no error)";
    };
    engine::Weights w32 = be.upload_weights(rnd(64 * 64).data(), 64, 64, engine::WeightType::float32);
    engine::Weights w16 = be.upload_weights(rnd(64 * 64).data(), 64, 64, engine::WeightType::float16);
    std::shared_ptr<void> x = be.alloc_bytes(16 * 64 * 2);
    Mat y = be.alloc(16, 64), b = up(rnd(64), 1, 64);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {error_of([&] { be.product_bias(w32, x.get(), 64, 16, y.data, 64, b.data); }),
         "product_bias: float16 or bfloat16 weights only, not float32"},
        {error_of([&] { be.product_bias(w16, x.get(), 64, 16, y.data, 64, nullptr); }),
         "product_bias: no bias (the plain product is half_product's)"},
        {error_of([&] { be.product_bias_gelu(w32, x.get(), 64, 16, y.data, 64, b.data); }),
         "product_bias_gelu: float16 or bfloat16 weights only, not float32"},
        {error_of([&] { be.set_tensor_rows_occupancy(3); }), "tensor rows: 1 or 2 blocks an SM, not 3"},
        {error_of([&] { be.product_bias_half(w16, x.get(), 64, 16, y.data, 64, nullptr); }),
         "product_bias_half: no bias (the plain product is half_product's)"},
        {error_of([&] { be.product_bias_half(w32, x.get(), 64, 16, y.data, 64, b.data); }),
         "product_bias_half: float16 or bfloat16 weights only, not float32"},
    };
    for (const auto& [got, want] : cases) {
      const bool ok = got == want;
      if (!ok) ++n_fail;
      std::printf("  %-4s error: %s%s\n", ok ? "ok" : "FAIL", got.c_str(), ok ? "" : (" (expected: " + want + ")").c_str());
    }
  }

  // The encoder's half-activation blocks (encoder_blocks.cu) against the same blocks op by op in float32 (float32
  // weights of the same values, float32 precision), on t = 1500 random rows: what each adds to x is compared (x
  // itself would hide the blocks' error). The op-by-op half path is measured the same way; the fused path must be
  // within tol and no worse than twice the op-by-op path's error.
  void encoder_blocks_half(engine::WeightType type, engine::cuda::Precision prec, const std::string& name, int d,
                           int n_head, int n_layers, double tol) {
    const int t = 1500, f = 4 * d;
    const std::vector<float> x0 = rnd(static_cast<size_t>(t) * d);
    struct Raw {
      std::vector<float> g1, b1, wqkv, bqkv, wo, bo, g2, b2, w1, bb1, w2, bb2;
    };
    std::vector<Raw> raw(n_layers);
    auto gain = [&](int n) {
      auto v = rnd(n, 0.2f);
      for (auto& e : v) e += 1.0f;
      return v;
    };
    for (auto& r : raw) {
      r.g1 = gain(d), r.b1 = rnd(d, 0.1f), r.g2 = gain(d), r.b2 = rnd(d, 0.1f);
      r.wqkv = rnd(static_cast<size_t>(3) * d * d, 0.05f), r.bqkv = rnd(3 * d, 0.1f);
      r.wo = rnd(static_cast<size_t>(d) * d, 0.05f), r.bo = rnd(d, 0.1f);
      r.w1 = rnd(static_cast<size_t>(f) * d, 0.05f), r.bb1 = rnd(f, 0.1f);
      r.w2 = rnd(static_cast<size_t>(d) * f, 0.05f), r.bb2 = rnd(d, 0.1f);
    }
    auto make_layers = [&](engine::WeightType wt) {
      std::vector<engine::EncoderLayerWeights> ls;
      auto lin = [&](const std::vector<float>& w, const std::vector<float>& b, int rows, int cols) {
        return engine::LinearWeights{be.upload_weights(w.data(), rows, cols, wt), up(b, 1, rows)};
      };
      for (const auto& r : raw)
        ls.push_back({{up(r.g1, 1, d), up(r.b1, 1, d)}, lin(r.wqkv, r.bqkv, 3 * d, d), lin(r.wo, r.bo, d, d),
                      {up(r.g2, 1, d), up(r.b2, 1, d)}, lin(r.w1, r.bb1, f, d), lin(r.w2, r.bb2, d, f)});
      return ls;
    };
    const bool graphs_before = be.encoder_graphs(), half_before = be.half_encoder();  // put back at the end
    auto run = [&](const std::vector<engine::EncoderLayerWeights>& ls, bool half_path, bool graphs,
                   engine::cuda::Precision p) {
      be.set_precision(p);
      be.set_half_encoder(half_path);
      be.set_encoder_graphs(graphs);
      Mat x = up(x0, t, d);
      be.encoder_blocks(ls, n_head, x);
      std::vector<float> out = down(x);
      for (size_t i = 0; i < out.size(); ++i) out[i] -= x0[i];
      return out;
    };
    const std::vector<float> want =
        run(make_layers(engine::WeightType::float32), false, false, engine::cuda::Precision::f32);
    const auto half_layers = make_layers(type);
    const std::vector<float> ops = run(half_layers, false, false, prec);
    // (WST_CUDA_FLASH_SHAPE may have set one; put back at the end)
    const auto shape_set = be.flash_shape_setting();
    be.set_flash_shape(engine::cuda::FlashShape::words16);
    const long long epilogue_start = be.fc1_epilogue_products();  // (checked at the end: the epilogue ran somewhere)
    const std::vector<float> got = run(half_layers, true, false, prec);
    // The same blocks recorded as a graph: recorded on the first call, replayed on the second (another x buffer);
    // the same kernels on the same inputs, so the same bits are expected.
    // Three windows: the first runs eagerly and prepares the recording, the second records, the third replays
    // (its rows at another address: the block the second's rows freed is held meanwhile).
    const std::vector<float> rec0 = run(half_layers, true, true, prec);
    const std::vector<float> rec1 = run(half_layers, true, true, prec);
    Mat hold = be.alloc(t, d);
    const std::vector<float> rec2 = run(half_layers, true, true, prec);
    hold = Mat{};
    // The attention's other launch shapes through the same four windows as shape 0's got, rec0 (eager, preparing
    // the recording), rec1 (recording) and rec2 (replay): each window shape 0's bits, in case cuBLAS chose
    // otherwise while capturing.
    for (auto shape : {engine::cuda::FlashShape::ldmatrix16, engine::cuda::FlashShape::ldmatrix32}) {
      be.set_flash_shape(shape);
      size_t n_shape_diff = 0;
      for (const std::vector<float>* same_as : {&got, &rec0, &rec1, &rec2}) {
        const std::vector<float> o = run(half_layers, true, same_as != &got, prec);
        n_shape_diff += bits_differing(o, *same_as);
      }
      if (n_shape_diff) ++n_fail;
      std::printf("  %-4s %-58s %zu values differ\n", n_shape_diff ? "FAIL" : "ok",
                  ("encoder blocks " + std::string(engine::weight_type_name(type)) + " " + name + " flash shape " +
                   std::to_string(static_cast<int>(shape)) + " = shape 0, 4 windows")
                      .c_str(),
                  n_shape_diff);
    }
    be.set_flash_shape(shape_set);
    be.set_encoder_graphs(graphs_before);
    be.set_half_encoder(half_before);
    // (Bit-identical unless cuBLAS picks another algorithm while capturing: then within float32 sums' rounding.)
    size_t n_diff = 0;
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i)
      for (float r : {rec0[i], rec1[i], rec2[i]}) {
        n_diff += r != got[i];
        num += (static_cast<double>(r) - got[i]) * (static_cast<double>(r) - got[i]);
        den += static_cast<double>(got[i]) * got[i];
      }
    const double rel_rec = std::sqrt(num / std::max(den, 1e-300));
    const bool ok_rec = rel_rec < 1e-5;  // NaN fails too
    if (!ok_rec) ++n_fail;
    std::printf("  %-4s %-58s rel %.2e against the eager launches, %zu values not bit-identical\n",
                ok_rec ? "ok" : "FAIL",
                ("encoder blocks " + std::string(engine::weight_type_name(type)) + " " + name + " recording: 3 windows").c_str(),
                rel_rec, n_diff);
    auto rel = [&](const std::vector<float>& a, double* max_abs) {
      double num = 0, den = 0;
      size_t bad = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        const double dd = static_cast<double>(a[i]) - want[i];
        if (!std::isfinite(dd)) ++bad;
        else num += dd * dd, *max_abs = std::max(*max_abs, std::abs(dd));
        den += static_cast<double>(want[i]) * want[i];
      }
      return bad ? INFINITY : std::sqrt(num / std::max(den, 1e-300));
    };
    double max_got = 0, max_ops = 0;
    const double r_got = rel(got, &max_got), r_ops = rel(ops, &max_ops);
    const bool ok = r_got < tol && r_got <= 2.0 * r_ops;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s rel %.2e  max|d| %.2e (op by op: rel %.2e  max|d| %.2e)\n", ok ? "ok" : "FAIL",
                ("encoder blocks " + std::string(engine::weight_type_name(type)) + " " + name + " x" +
                 std::to_string(n_layers) + " vs float32")
                    .c_str(),
                r_got, max_got, r_ops, max_ops);
    // Variants with their own bits: an eager window held to the tolerance against float32 (and, where `near_ops`, to
    // twice the op-by-op path's error, as shape 0 is); its recorded windows (prepare, record, replay) to its bits.
    auto variant = [&](const std::string& label, bool near_ops) {
      const std::vector<float> eager = run(half_layers, true, false, prec);
      size_t n_rec_diff = 0;
      for (int w = 0; w < 3; ++w) {
        const std::vector<float> r = run(half_layers, true, true, prec);
        n_rec_diff += bits_differing(r, eager);
      }
      double max_v = 0;
      const double r_v = rel(eager, &max_v);
      const bool ok_v = r_v < tol && (!near_ops || r_v <= 2.0 * r_ops) && n_rec_diff == 0;
      if (!ok_v) ++n_fail;
      std::printf("  %-4s %-58s rel %.2e  max|d| %.2e, recorded: %zu values differ\n", ok_v ? "ok" : "FAIL",
                  ("encoder blocks " + std::string(engine::weight_type_name(type)) + " " + name + " " + label).c_str(),
                  r_v, max_v, n_rec_diff);
    };
    // The attention on wgmma (flash_wgmma.cu).
    if (wgmma_ready("encoder blocks " + std::string(engine::weight_type_name(type)) + " " + name)) {
      for (int sh = static_cast<int>(engine::cuda::FlashShape::wgmma64x64); sh < engine::cuda::kFlashShapes; ++sh) {
        be.set_flash_shape(static_cast<engine::cuda::FlashShape>(sh));
        variant("wgmma shape " + std::to_string(sh), true);
      }
      be.set_flash_shape(shape_set);
    }
    // fc1's bias and GELU in cuBLASLt's epilogue, the other way from the default (on since run 40): its GELU is the
    // tanh form, so only the tolerance holds the two against each other.
    const bool fc1_before = be.fc1_epilogue();
    be.set_fc1_epilogue(!fc1_before);
    try {
      const long long rounded_before = be.fc1_bias_roundings();
      variant(fc1_before ? "fc1 without cuBLASLt's epilogue (exact GELU)" : "fc1 bias + GELU (tanh) in cuBLASLt's epilogue",
              false);
      // The epilogue was asked for in the default's windows or in this variant's, so it must have run (a silent
      // fallback to the product and the pass would pass both checks).
      if (be.fc1_epilogue_products() == epilogue_start) {
        ++n_fail;
        std::printf("  FAIL %-58s cuBLASLt's epilogue never ran (no algorithm: the product and the pass instead)\n",
                    ("encoder blocks " + std::string(engine::weight_type_name(type)) + " " + name).c_str());
      }
      if (be.fc1_bias_roundings() > rounded_before)
        std::printf("       (cuBLASLt took no float32 bias for this fc1: its bias rounded to the weights' type)\n");
    } catch (const std::exception& e) {  // (the switch's failure, not the checker's: the other checks go on)
      ++n_fail;
      std::printf("  FAIL %-58s %s\n",
                  ("encoder blocks " + std::string(engine::weight_type_name(type)) + " " + name +
                   (fc1_before ? " fc1 without cuBLASLt's epilogue" : " fc1 in cuBLASLt's epilogue"))
                      .c_str(),
                  e.what());
    }
    be.set_fc1_epilogue(fc1_before);
    be.set_encoder_graphs(graphs_before);
    be.set_half_encoder(half_before);
  }

  // linear_fused (the decoder step's one-kernel layer): layer norm before, GELU or residual add after.
  void linear_fused_half(engine::WeightType type, int m, int n, int k, bool norm, engine::Backend::Epilogue epi,
                         double tol, const std::string& label = "linear_fused ") {
    auto x = rnd(static_cast<size_t>(m) * k, 2.0f), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n);
    auto g = rnd(k), be_v = rnd(k), y0 = rnd(static_cast<size_t>(m) * n);
    for (auto& v : g) v += 1.0f;
    Mat X = up(x, m, k), B = up(b, 1, n), G = up(g, 1, k), BE = up(be_v, 1, k), Y = up(y0, m, n);
    engine::Weights W = be.upload_weights(w.data(), n, k, type);
    if (epi != engine::Backend::Epilogue::add) poison(Y);
    be.linear_fused(X, norm ? &G : nullptr, norm ? &BE : nullptr, W, &B, epi, Y);
    const char* epi_name = epi == engine::Backend::Epilogue::add ? "add" : epi == engine::Backend::Epilogue::gelu ? "gelu" : "none";
    compare(label + std::string(engine::weight_type_name(type)) + (norm ? " norm" : "") + " epilogue " +
                epi_name + " [" + std::to_string(m) + "," + std::to_string(k) + "]x[" + std::to_string(n) + "," +
                std::to_string(k) + "]^T",
            Y, [&](int r, double* o) {
              std::vector<double> xn(k);
              const float* xr = x.data() + static_cast<size_t>(r) * k;
              double mean = 0, var = 0;
              for (int t = 0; t < k; ++t) mean += xr[t];
              mean /= k;
              for (int t = 0; t < k; ++t) var += (xr[t] - mean) * (xr[t] - mean);
              var /= k;
              for (int t = 0; t < k; ++t) xn[t] = norm ? (xr[t] - mean) / std::sqrt(var + 1e-5) * g[t] + be_v[t] : xr[t];
              for (int j = 0; j < n; ++j) {
                double v = b[j];
                for (int t = 0; t < k; ++t) v += xn[t] * w[static_cast<size_t>(j) * k + t];
                if (epi == engine::Backend::Epilogue::gelu) v = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
                if (epi == engine::Backend::Epilogue::add) v += y0[static_cast<size_t>(r) * n + j];
                o[j] = v;
              }
            }, tol);
  }

  // The matrix-vector kernel in every launch shape (output rows a warp, warps a block): every row's sum runs in the
  // same order whatever the shape, so each must give the default shape's bits.
  void gemv_shapes(engine::WeightType type, int m, int n, int k, bool norm, engine::Backend::Epilogue epi) {
    auto x = rnd(static_cast<size_t>(m) * k, 2.0f), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n);
    auto g = rnd(k), be_v = rnd(k), y0 = rnd(static_cast<size_t>(m) * n);
    for (auto& v : g) v += 1.0f;
    Mat X = up(x, m, k), B = up(b, 1, n), G = up(g, 1, k), BE = up(be_v, 1, k);
    engine::Weights W = be.upload_weights(w.data(), n, k, type);
    auto run = [&] {
      Mat Y = up(y0, m, n);
      be.linear_fused(X, norm ? &G : nullptr, norm ? &BE : nullptr, W, &B, epi, Y);
      return down(Y);
    };
    const std::vector<float> want = run();
    engine::cuda::GemvShape saved[2][2];
    for (int a = 0; a < 2; ++a)
      for (int c = 0; c < 2; ++c) saved[a][c] = be.gemv_shape(a, c);
    for (int r : {1, 2, 4})
      for (int warps : {4, 8}) {
        for (int a = 0; a < 2; ++a)
          for (int c = 0; c < 2; ++c) be.set_gemv_shape(a, c, {r, warps});
        const std::vector<float> got = run();
        const size_t n_diff = bits_differing(got, want);
        if (n_diff) ++n_fail;
        std::printf("  %-4s %-58s %zu of %zu values differ from the default shape\n", n_diff ? "FAIL" : "ok",
                    ("gemv " + std::to_string(r) + " rows a warp, " + std::to_string(warps) + " warps: [" +
                     std::to_string(m) + "," + std::to_string(k) + "]x[" + std::to_string(n) + "," + std::to_string(k) +
                     "]^T" + (norm ? " norm" : ""))
                        .c_str(),
                    n_diff, got.size());
      }
    for (int a = 0; a < 2; ++a)
      for (int c = 0; c < 2; ++c) be.set_gemv_shape(a, c, saved[a][c]);
  }

  // One row into an output at least 4x its input in a shape of its own (set_gemv_expanding_shape: fc1, the logits)
  // against the default shape with the one-row warp norm: the same warp norm and every output's sum in the same order,
  // so the same bits in every shape; the launch counter proves the shape was taken. With a wide output (the logits)
  // and the norm once on, the separate norm goes a warp a row too.
  void expanding_shapes(engine::WeightType type, int n, int k, engine::Backend::Epilogue epi) {
    auto x = rnd(static_cast<size_t>(k), 2.0f), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n);
    auto g = rnd(k), be_v = rnd(k);
    for (auto& v : g) v += 1.0f;
    Mat X = up(x, 1, k), B = up(b, 1, n), G = up(g, 1, k), BE = up(be_v, 1, k);
    engine::Weights W = be.upload_weights(w.data(), n, k, type);
    auto run = [&] {
      Mat Y = be.alloc(1, n);
      poison(Y);
      be.linear_fused(X, &G, &BE, W, &B, epi, Y);
      return down(Y);
    };
    const engine::cuda::GemvShape shape0 = be.gemv_expanding_shape();
    const int min0 = be.gemv_expanding_min_input();
    const bool one0 = be.gemv_one_row_norm_by_warp();  // put back below
    be.set_gemv_one_row_norm_by_warp(true);
    be.set_gemv_expanding_shape({0, 0}, min0);
    const std::vector<float> want = run();
    for (int r : {1, 2, 4})
      for (int warps : {1, 2, 4, 8}) {
        be.set_gemv_expanding_shape({r, warps}, 0);
        const long long before = be.gemv_expanding_launches();
        const std::vector<float> got = run();
        const bool ran = be.gemv_expanding_launches() == before + 1;
        const size_t n_diff = bits_differing(got, want);
        const bool ok = ran && n_diff == 0;
        if (!ok) ++n_fail;
        std::printf("  %-4s %-58s %zu of %zu values differ from the one-row warp norm's%s\n", ok ? "ok" : "FAIL",
                    ("expanding " + std::to_string(r) + " x " + std::to_string(warps) + ": [1," + std::to_string(k) +
                     "]x[" + std::to_string(n) + "," + std::to_string(k) + "]^T norm")
                        .c_str(),
                    n_diff, got.size(), ran ? "" : " (the shape was not taken)");
      }
    be.set_gemv_expanding_shape(shape0, min0);
    be.set_gemv_one_row_norm_by_warp(one0);
  }

  // The normed products' gains and biases staged in shared memory (set_norm_staged) against read from L2: the same
  // values, so the same bits, whichever norm the launch takes (block-wide, a warp's, the expanding shape's, once).
  void staged_norm(engine::WeightType type, int m, int n, int k, engine::Backend::Epilogue epi) {
    auto x = rnd(static_cast<size_t>(m) * k, 2.0f), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n);
    auto g = rnd(k), be_v = rnd(k);
    for (auto& v : g) v += 1.0f;
    Mat X = up(x, m, k), B = up(b, 1, n), G = up(g, 1, k), BE = up(be_v, 1, k);
    engine::Weights W = be.upload_weights(w.data(), n, k, type);
    auto run = [&](bool staged) {
      be.set_norm_staged(staged);
      Mat Y = be.alloc(m, n);
      poison(Y);
      be.linear_fused(X, &G, &BE, W, &B, epi, Y);
      return down(Y);
    };
    const bool staged0 = be.norm_staged();  // put back below
    const std::vector<float> want = run(false), got = run(true);
    be.set_norm_staged(staged0);
    const size_t n_diff = bits_differing(got, want);
    if (n_diff) ++n_fail;
    std::printf("  %-4s %-58s %zu of %zu values differ from the norm read from L2\n", n_diff ? "FAIL" : "ok",
                ("staged norm: [" + std::to_string(m) + "," + std::to_string(k) + "]x[" + std::to_string(n) + "," +
                 std::to_string(k) + "]^T")
                    .c_str(),
                n_diff, got.size());
  }

  // The layer norm folded into the product after it (set_norm_fold, fold_norm) against double precision, beside the
  // unfolded kernel's error: W' is rounded once more and x - m cancels after the sums, so the folded error is held
  // to 2.5x the unfolded one and to the tolerance. x has a mean far from 0 (`offset`) and a few channels `outlier`
  // times the others' size (the residual stream's large channels), where the cancellation costs most. Then the
  // folded product in every launch shape: its sums run in the same order, so the bits of the first.
  void norm_fold(engine::WeightType type, int n, int k, engine::Backend::Epilogue epi, float offset, float outlier) {
    auto x = rnd(k, 2.0f), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n), g = rnd(k), bn = rnd(k);
    for (auto& v : g) v += 1.0f;
    for (auto& v : x) v += offset;
    for (int i = 3; i < k; i += k / 4) x[i] *= outlier;
    Mat X = up(x, 1, k), B = up(b, 1, n), G = up(g, 1, k), BN = up(bn, 1, k);
    engine::Weights W = be.upload_weights(w.data(), n, k, type);
    std::vector<double> want(n);
    {
      double mean = 0, var = 0;
      for (float v : x) mean += v;
      mean /= k;
      for (float v : x) var += (v - mean) * (v - mean);
      const double r = 1.0 / std::sqrt(var / k + 1e-5);
      for (int j = 0; j < n; ++j) {
        double v = b[j];
        for (int t = 0; t < k; ++t) v += ((x[t] - mean) * r * g[t] + bn[t]) * w[static_cast<size_t>(j) * k + t];
        if (epi == engine::Backend::Epilogue::gelu) v = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
        want[j] = v;
      }
    }
    auto rel = [&](const std::vector<float>& got) {
      double num = 0, den = 0;
      for (int j = 0; j < n; ++j) {
        num += (got[j] - want[j]) * (got[j] - want[j]);
        den += want[j] * want[j];
      }
      return std::sqrt(num / std::max(den, 1e-300));  // NaN where got holds one
    };
    auto run = [&] {
      Mat Y = be.alloc(1, n);
      poison(Y);
      be.linear_fused(X, &G, &BN, W, &B, epi, Y);
      return down(Y);
    };
    const bool fold0 = be.norm_fold();  // put back below
    be.set_norm_fold(false);
    const std::vector<float> plain = run();
    be.set_norm_fold(true);
    be.fold_norm(W, G, BN, &B);
    const long long before = be.norm_fold_launches();
    const std::vector<float> folded = run();
    const bool ran = be.norm_fold_launches() == before + 1;
    engine::cuda::GemvShape saved[2][2];
    for (int a = 0; a < 2; ++a)
      for (int c = 0; c < 2; ++c) saved[a][c] = be.gemv_shape(a, c);
    const engine::cuda::GemvShape expanding0 = be.gemv_expanding_shape();
    const int expanding_min0 = be.gemv_expanding_min_input();
    size_t n_shape_diff = 0;
    for (int r : {1, 2, 4})
      for (int warps : {4, 8}) {
        for (int a = 0; a < 2; ++a)
          for (int c = 0; c < 2; ++c) be.set_gemv_shape(a, c, {r, warps});
        be.set_gemv_expanding_shape({r, warps}, 0);
        n_shape_diff += bits_differing(run(), folded);
      }
    for (int a = 0; a < 2; ++a)
      for (int c = 0; c < 2; ++c) be.set_gemv_shape(a, c, saved[a][c]);
    be.set_gemv_expanding_shape(expanding0, expanding_min0);
    be.set_norm_fold(fold0);
    const double r_fold = rel(folded), r_plain = rel(plain);
    const double tol = type == engine::WeightType::bfloat16 ? 2e-2 : 3e-3;
    const bool ok = ran && r_fold < tol && r_fold <= 2.5 * r_plain && n_shape_diff == 0;
    if (!ok) ++n_fail;
    char label[160];
    std::snprintf(label, sizeof label, "norm folded %s [1,%d]x[%d,%d]^T, x + %g, outliers x%g",
                  engine::weight_type_name(type), k, n, k, offset, outlier);
    std::printf("  %-4s %-58s rel %.2e (unfolded %.2e), %zu values differ between shapes%s\n", ok ? "ok" : "FAIL",
                label, r_fold, r_plain, n_shape_diff, ran ? "" : " (the folded kernel did not run)");
  }

  // What fold_norm refuses, each with its one-line error: float32 weights, gains of another width, and weights already
  // folded with other gains (replacing that fold would free what a recording may read).
  void norm_fold_refusals() {
    int bad = 0;
    auto expect = [&](const std::string& want, const std::function<void()>& f) {
      std::string got = "(no error)";
      try {
        f();
      } catch (const Error& e) {
        got = e.what();
      }
      if (got != want) {
        ++bad;
        std::printf("       fold_norm: expected \"%s\", got \"%s\"\n", want.c_str(), got.c_str());
      }
    };
    auto g = rnd(64), bn = rnd(64), g2 = rnd(64), w = rnd(32 * 64, 0.05f);
    Mat G = up(g, 1, 64), BN = up(bn, 1, 64), G2 = up(g2, 1, 64), G_narrow = up(g, 1, 32);
    const engine::Weights W32 = be.upload_weights(w.data(), 32, 64, engine::WeightType::float32);
    const engine::Weights W16 = be.upload_weights(w.data(), 32, 64, engine::WeightType::float16);
    expect("fold_norm: float32 weights (float16 or bfloat16 only)", [&] { be.fold_norm(W32, G, BN, nullptr); });
    expect("fold_norm: gains, biases or bias do not match weights of 32 x 64",
           [&] { be.fold_norm(W16, G_narrow, BN, nullptr); });
    be.fold_norm(W16, G, BN, nullptr);
    expect("fold_norm: these 32 x 64 weights are already folded with other gains, biases or bias",
           [&] { be.fold_norm(W16, G2, BN, nullptr); });
    if (bad) ++n_fail;
    std::printf("  %-4s %-58s %d of 3 refusals not as expected\n", bad ? "FAIL" : "ok", "fold_norm's refusals", bad);
  }

  // The tensor-core row kernel (set_tensor_rows) against double precision, its launch counted; then its other tile
  // counts against one tile (each tile's sums run in the same order whatever the tiles: the same bits).
  void tensor_rows(int m, int n, int k, bool norm, engine::Backend::Epilogue epi, double tol) {
    const bool on0 = be.tensor_rows_on();
    const int tiles0 = be.tensor_rows_tiles(), min0 = be.tensor_rows_min();
    be.set_tensor_rows(true);
    be.set_tensor_rows_min(1);
    const long long before = be.tensor_rows_launches();
    linear_fused_half(engine::WeightType::float16, m, n, k, norm, epi, tol, "tensor rows ");
    const std::string shape = "[" + std::to_string(m) + "," + std::to_string(k) + "]x[" + std::to_string(n) + "," +
                              std::to_string(k) + "]^T" + (norm ? " norm" : "");
    if (be.tensor_rows_launches() == before) {
      ++n_fail;
      std::printf("  FAIL tensor rows %s: the kernel did not run\n", shape.c_str());
    }
    auto x = rnd(static_cast<size_t>(m) * k, 2.0f), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n);
    auto g = rnd(k), be_v = rnd(k), y0 = rnd(static_cast<size_t>(m) * n);
    for (auto& v : g) v += 1.0f;
    Mat X = up(x, m, k), B = up(b, 1, n), G = up(g, 1, k), BE = up(be_v, 1, k);
    engine::Weights W = be.upload_weights(w.data(), n, k, engine::WeightType::float16);
    auto run = [&](int tiles) {
      be.set_tensor_rows_tiles(tiles);
      Mat Y = up(y0, m, n);
      be.linear_fused(X, norm ? &G : nullptr, norm ? &BE : nullptr, W, &B, epi, Y);
      return down(Y);
    };
    const std::vector<float> want = run(1);
    for (int tiles : {2, 4}) {
      const std::vector<float> got = run(tiles);
      const size_t n_diff = bits_differing(got, want);
      if (n_diff) ++n_fail;
      std::printf("  %-4s %-58s %zu of %zu values differ from one tile\n", n_diff ? "FAIL" : "ok",
                  ("tensor rows, " + std::to_string(tiles) + " tiles: " + shape).c_str(), n_diff, got.size());
    }
    // A wide normed output (the logits) with its rows normalised once against the kernel's own norm: the same values
    // (a warp a row both ways), so the same bits.
    if (norm && n >= CudaBackend::kNormOnceMinOutputs && m <= 8) {
      const bool once0 = be.norm_once(), warp0 = be.gemv_norm_by_warp();
      be.set_gemv_norm_by_warp(true);
      be.set_norm_once(!once0);
      const long long before_once = be.norm_once_launches();
      const std::vector<float> other = run(0);
      const bool once_ran = (be.norm_once_launches() > before_once) == !once0;
      be.set_norm_once(once0);
      const std::vector<float> same = run(0);
      be.set_gemv_norm_by_warp(warp0);
      const size_t n_diff = bits_differing(other, same);
      const bool ok = once_ran && n_diff == 0;
      if (!ok) ++n_fail;
      std::printf("  %-4s %-58s %zu of %zu values differ%s\n", ok ? "ok" : "FAIL",
                  ("tensor rows, norm once against its own norm: " + shape).c_str(), n_diff, other.size(),
                  once_ran ? "" : " (norm once did not run as set)");
    }
    be.set_tensor_rows(on0);
    be.set_tensor_rows_tiles(tiles0);
    be.set_tensor_rows_min(min0);
  }

  // A normed product into a wide output with its rows normalised once (set_norm_once) against the kernel that
  // normalises them in every block: the same norm code over the same 256 threads, so the same bits; the launch
  // counter proves the separate norm ran. Checked with the block-wide norm and with a warp a row.
  void norm_once(engine::WeightType type, const std::vector<int>& row_counts, int n, int k) {
    auto w = rnd(static_cast<size_t>(n) * k, 0.05f);
    auto g = rnd(k), be_v = rnd(k);
    for (auto& v : g) v += 1.0f;
    Mat G = up(g, 1, k), BE = up(be_v, 1, k);
    engine::Weights W = be.upload_weights(w.data(), n, k, type);  // once for every row count (n x k is the logits')
    for (int m : row_counts) norm_once_rows(type, m, n, k, W, G, BE);
  }
  void norm_once_rows(engine::WeightType type, int m, int n, int k, const engine::Weights& W, const Mat& G,
                      const Mat& BE) {
    auto x = rnd(static_cast<size_t>(m) * k, 2.0f);
    Mat X = up(x, m, k);
    const bool once0 = be.norm_once(), warp0 = be.gemv_norm_by_warp(), one0 = be.gemv_one_row_norm_by_warp();
    for (bool by_warp : {false, true}) {
      be.set_gemv_norm_by_warp(by_warp);
      be.set_gemv_one_row_norm_by_warp(by_warp);
      auto run = [&](bool once) {
        be.set_norm_once(once);
        Mat Y = be.alloc(m, n);
        poison(Y);
        be.linear_fused(X, &G, &BE, W, nullptr, engine::Backend::Epilogue::none, Y);
        return down(Y);
      };
      const std::vector<float> want = run(false);
      const long long before = be.norm_once_launches();
      const std::vector<float> got = run(true);
      const bool ran = be.norm_once_launches() == before + 1;
      const size_t n_diff = bits_differing(got, want);
      const bool ok = ran && n_diff == 0;
      if (!ok) ++n_fail;
      std::printf("  %-4s %-58s %zu of %zu values differ from the kernel's own norm%s\n", ok ? "ok" : "FAIL",
                  ("norm once " + std::string(engine::weight_type_name(type)) + " [" + std::to_string(m) + "," +
                   std::to_string(k) + "]x[" + std::to_string(n) + "," + std::to_string(k) + "]^T" +
                   (by_warp ? ", a warp a row" : ""))
                      .c_str(),
                  n_diff, got.size(), ran ? "" : " (the separate norm did not run)");
    }
    be.set_norm_once(once0);
    be.set_gemv_norm_by_warp(warp0);
    be.set_gemv_one_row_norm_by_warp(one0);
  }

  // A wide input read in chunks (set_gemv_chunks) against the same rows read at once (a larger shared-memory limit):
  // every row's sums in the same order, so the same bits; the launch counter proves the chunked kernel ran.
  void gemv_chunked(engine::WeightType type, int m, int n, int k, size_t whole_limit, size_t chunk_limit) {
    auto x = rnd(static_cast<size_t>(m) * k, 2.0f), w = rnd(static_cast<size_t>(n) * k, 0.05f), b = rnd(n);
    auto y0 = rnd(static_cast<size_t>(m) * n);
    Mat X = up(x, m, k), B = up(b, 1, n);
    engine::Weights W = be.upload_weights(w.data(), n, k, type);
    const size_t limit0 = be.gemv_shared_bytes();
    const bool chunks0 = be.gemv_chunks();
    auto run = [&](size_t limit, bool chunks) {
      be.set_gemv_shared_bytes(limit);
      be.set_gemv_chunks(chunks);
      Mat Y = up(y0, m, n);
      be.linear_fused(X, nullptr, nullptr, W, &B, engine::Backend::Epilogue::add, Y);
      return down(Y);
    };
    const long long c0 = be.gemv_chunked_launches();
    const std::vector<float> want = run(whole_limit, false);
    const long long c1 = be.gemv_chunked_launches();
    const std::vector<float> got = run(chunk_limit, true);
    const long long c2 = be.gemv_chunked_launches();
    be.set_gemv_shared_bytes(limit0);
    be.set_gemv_chunks(chunks0);
    const size_t n_diff = bits_differing(got, want);
    const bool ran = c1 == c0 && c2 == c1 + 1;
    const bool ok = ran && n_diff == 0;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s %zu of %zu values differ from one pass%s\n", ok ? "ok" : "FAIL",
                ("gemv in chunks " + std::string(engine::weight_type_name(type)) + " [" + std::to_string(m) + "," +
                 std::to_string(k) + "]x[" + std::to_string(n) + "," + std::to_string(k) + "]^T, " +
                 std::to_string(chunk_limit / 1024) + " KiB")
                    .c_str(),
                n_diff, got.size(), ran ? "" : " (not one chunked launch against one whole)");
  }

  // Several query rows over one window's K/V (beams): shared_kv_attention reads each key once for all rows, and each
  // row's sums must not depend on the other rows (each row alone, through the same kernel at one row, gives the same
  // bits); checked against the reference too.
  void shared_kv(int n_rows, int tk, int n_head, int d) {
    auto qb = rnd(static_cast<size_t>(n_rows) * d), kvb = rnd(static_cast<size_t>(tk) * 2 * d);
    Mat Q = up(qb, n_rows, d), KV = up(kvb, tk, 2 * d), O = be.alloc(n_rows, d), O1 = be.alloc(n_rows, d);
    poison(O);
    poison(O1);
    const Mat K = KV.cols_view(0, d), V = KV.cols_view(d, d);
    const std::vector<const Mat*> ks(n_rows, &K), vs(n_rows, &V);
    const bool before = be.shared_kv(), one_row_before = be.one_row_scores_first();
    const int min_heads_before = be.shared_kv_min_heads();
    be.set_shared_kv_min_heads(1);  // every head count through the kernel, whatever the default bound
    be.set_shared_kv(true);
    be.set_one_row_scores_first(true);
    const long long launches = be.shared_kv_launches();
    be.cross_attention_rows(Q, ks, vs, O, n_head);
    for (int i = 0; i < n_rows; ++i) {
      Mat o1 = O1.rows_view(i, 1);
      be.cross_attention_rows(Q.rows_view(i, 1), {&K}, {&V}, o1, n_head);
    }
    const bool ran = be.shared_kv_launches() == launches + 1 + n_rows;
    be.set_shared_kv(before);
    be.set_shared_kv_min_heads(min_heads_before);
    be.set_one_row_scores_first(one_row_before);
    const std::vector<float> a = down(O), b = down(O1);
    const size_t n_diff = bits_differing(a, b);
    const bool ok = ran && n_diff == 0;
    if (!ok) ++n_fail;
    const std::string what = std::to_string(n_rows) + " rows over " + std::to_string(tk) + " keys, " +
                             std::to_string(n_head) + " heads, d " + std::to_string(d);
    std::printf("  %-4s %-58s %zu of %zu values differ from each row alone%s\n", ok ? "ok" : "FAIL",
                ("shared K/V attention " + what).c_str(), n_diff, a.size(), ran ? "" : " (the kernel did not run)");
    compare("shared K/V attention " + what, O, [&](int i, double* o) {
      reference_attention(qb.data() + static_cast<size_t>(i) * d, kvb.data(), 2 * d, kvb.data() + d, 2 * d, tk, n_head,
                          d, o);
    });
  }

  // The same kernel over the K/V's float16 shadow (set_half_cross_kv, made by cross_kv_written): against the
  // reference within float16's tolerance; then new values written at the same place and announced again, so that a
  // stale shadow would show against the new reference; then K/V announced as one of several windows, both new ones and
  // the same storage again with its first values (no shadow read: the float32 kernel, held to the float tolerance;
  // a shadow kept from the sole window's announcement would give kv_b's answer).
  void shared_kv_half(int n_rows, int tk, int n_head, int d) {
    auto qb = rnd(static_cast<size_t>(n_rows) * d);
    const std::vector<float> kv_a = rnd(static_cast<size_t>(tk) * 2 * d), kv_b = rnd(static_cast<size_t>(tk) * 2 * d);
    Mat Q = up(qb, n_rows, d), KV = up(kv_a, tk, 2 * d), O = be.alloc(n_rows, d);
    const Mat K = KV.cols_view(0, d), V = KV.cols_view(d, d);
    const std::vector<const Mat*> ks(n_rows, &K), vs(n_rows, &V);
    const bool shared0 = be.shared_kv(), one_row0 = be.one_row_scores_first(), half0 = be.half_cross_kv();
    const int min_heads0 = be.shared_kv_min_heads();
    be.set_shared_kv(true);
    be.set_shared_kv_min_heads(1);
    be.set_one_row_scores_first(true);
    be.set_half_cross_kv(true);
    const std::string what = std::to_string(n_rows) + " rows over " + std::to_string(tk) + " keys, " +
                             std::to_string(n_head) + " heads, d " + std::to_string(d);
    for (const std::vector<float>* kv : {&kv_a, &kv_b}) {
      if (kv == &kv_b) {
        Mat fresh = up(*kv, tk, 2 * d);
        be.copy(fresh, KV);  // the same storage, new values
      }
      be.cross_kv_written(KV, true);
      poison(O);
      const long long before = be.half_cross_kv_launches();
      be.cross_attention_rows(Q, ks, vs, O, n_head);
      const bool ran = be.half_cross_kv_launches() == before + 1;
      if (!ran) {
        ++n_fail;
        std::printf("  FAIL %-58s (the float16 K/V were not used)\n", ("shared K/V attention, K/V float16 " + what).c_str());
      }
      compare(std::string("shared K/V attention, K/V float16 ") + (kv == &kv_b ? "(new values) " : "") + what, O,
              [&](int i, double* o) {
                reference_attention(qb.data() + static_cast<size_t>(i) * d, kv->data(), 2 * d, kv->data() + d, 2 * d, tk,
                                    n_head, d, o);
              }, 2e-3);
    }
    Mat batch_kv = up(kv_a, tk, 2 * d);
    Mat fresh = up(kv_a, tk, 2 * d);
    be.copy(fresh, KV);  // the sole window's storage, its first values back
    for (Mat* kv : {&batch_kv, &KV}) {
      const std::string label = std::string("shared K/V attention, one of several windows") +
                                (kv == &KV ? " (storage that had a shadow) " : " ") + what;
      const Mat bk = kv->cols_view(0, d), bv = kv->cols_view(d, d);
      be.cross_kv_written(*kv, false);
      poison(O);
      const long long before = be.half_cross_kv_launches();
      be.cross_attention_rows(Q, std::vector<const Mat*>(n_rows, &bk), std::vector<const Mat*>(n_rows, &bv), O, n_head);
      if (be.half_cross_kv_launches() != before) {
        ++n_fail;
        std::printf("  FAIL %-58s (a float16 shadow was read)\n", label.c_str());
      }
      compare(label, O, [&](int i, double* o) {
        reference_attention(qb.data() + static_cast<size_t>(i) * d, kv_a.data(), 2 * d, kv_a.data() + d, 2 * d, tk,
                            n_head, d, o);
      });
    }
    be.set_shared_kv(shared0);
    be.set_shared_kv_min_heads(min_heads0);
    be.set_one_row_scores_first(one_row0);
    be.set_half_cross_kv(half0);
  }

  void embed_half(engine::WeightType type, int n_vocab, int d, double tol) {
    auto table = rnd(static_cast<size_t>(n_vocab) * d), pos = rnd(static_cast<size_t>(448) * d);
    engine::Weights T = be.upload_weights(table.data(), n_vocab, d, type);
    Mat P = up(pos, 448, d), Y = be.alloc(5, d);
    const int ids[5] = {50257, 0, 220, n_vocab - 1, 7};
    poison(Y);
    be.embed(T, ids, 5, P, 10, Y);
    compare("embed " + std::string(engine::weight_type_name(type)) + " 5 tokens, width " + std::to_string(d), Y,
            [&](int i, double* o) {
              for (int c = 0; c < d; ++c)
                o[c] = static_cast<double>(table[static_cast<size_t>(ids[i]) * d + c]) + pos[static_cast<size_t>(10 + i) * d + c];
            }, tol);
    // A beam step's rows, each at its own position (embed_rows: one launch), repeats and the context's last included.
    const int at[5] = {7, 3, 3, 447, 0};
    poison(Y);
    be.embed_rows(T, ids, at, 5, P, Y);
    compare("embed_rows " + std::string(engine::weight_type_name(type)) + " 5 tokens at their own positions, width " +
                std::to_string(d),
            Y, [&](int i, double* o) {
              for (int c = 0; c < d; ++c)
                o[c] = static_cast<double>(table[static_cast<size_t>(ids[i]) * d + c]) +
                       pos[static_cast<size_t>(at[i]) * d + c];
            }, tol);
  }

  // o = layer_norm(x_row + add) (add: a row, or null), in double precision.
  static void norm_ref(const float* x_row, const float* add, const std::vector<float>& g, const std::vector<float>& b,
                       int cols, double* o) {
    double mean = 0, var = 0;
    for (int c = 0; c < cols; ++c) mean += o[c] = static_cast<double>(x_row[c]) + (add ? add[c] : 0.0f);
    mean /= cols;
    for (int c = 0; c < cols; ++c) var += (o[c] - mean) * (o[c] - mean);
    var /= cols;
    for (int c = 0; c < cols; ++c) o[c] = (o[c] - mean) / std::sqrt(var + 1e-5) * g[c] + b[c];
  }

  void layer_norm(int rows, int cols) {
    auto x = rnd(static_cast<size_t>(rows) * cols, 3.0f), g = rnd(cols), b = rnd(cols);
    for (int i = 0; i < rows; ++i) x[static_cast<size_t>(i) * cols] += 5.0f;  // a mean far from 0
    Mat X = up(x, rows, cols), G = up(g, 1, cols), B = up(b, 1, cols), Y = be.alloc(rows, cols);
    poison(Y);
    be.layer_norm(X, G, B, Y);
    compare("layer_norm [" + std::to_string(rows) + "," + std::to_string(cols) + "]", Y, [&](int r, double* o) {
      norm_ref(x.data() + static_cast<size_t>(r) * cols, nullptr, g, b, cols, o);
    });
  }

  // The encoder's half-precision norm (layer_norm_half): y = norm(x + add) in float16 / bfloat16 against double
  // precision (its output widened to float32 for compare), x left as it was. Widths that are multiples of 128 take
  // the warp-a-row kernel, others the block's.
  void layer_norm_half(int rows, int cols, bool f16, double tol) {
    auto x = rnd(static_cast<size_t>(rows) * cols, 3.0f), add = rnd(cols), g = rnd(cols), b = rnd(cols);
    for (int i = 0; i < rows; ++i) x[static_cast<size_t>(i) * cols] += 5.0f;  // a mean far from 0
    Mat X = up(x, rows, cols), A = up(add, 1, cols), G = up(g, 1, cols), B = up(b, 1, cols);
    const size_t n = static_cast<size_t>(rows) * cols;
    std::shared_ptr<void> y = be.alloc_bytes(n * 2);
    WST_CUDA_CHECK(cudaMemsetAsync(y.get(), 0xFF, n * 2, be.stream()));  // NaN in both types
    if (f16)
      engine::cuda::layer_norm_half<__half>(X, A.data, G.data, B.data, static_cast<__half*>(y.get()), cols, be.stream());
    else
      engine::cuda::layer_norm_half<__nv_bfloat16>(X, A.data, G.data, B.data, static_cast<__nv_bfloat16*>(y.get()),
                                                   cols, be.stream());
    std::vector<uint16_t> bits(n);
    WST_CUDA_CHECK(cudaMemcpyAsync(bits.data(), y.get(), n * 2, cudaMemcpyDeviceToHost, be.stream()));
    be.synchronize();
    std::vector<float> widened(n);
    for (size_t i = 0; i < n; ++i) widened[i] = f16 ? half_to_float(bits[i]) : bfloat16_to_float(bits[i]);
    const std::string what = "layer_norm_half " + std::string(f16 ? "float16" : "bfloat16") + " (x + add) [" +
                             std::to_string(rows) + "," + std::to_string(cols) + "]";
    compare(what, up(widened, rows, cols), [&](int r, double* o) {
      norm_ref(x.data() + static_cast<size_t>(r) * cols, add.data(), g, b, cols, o);
    }, tol);
    if (down(X) != x) {
      ++n_fail;
      std::printf("  FAIL %-58s x was written\n", what.c_str());
    }
  }

  void gelu_add(int rows, int cols) {
    auto x = rnd(static_cast<size_t>(rows) * cols, 3.0f);
    Mat X = up(x, rows, cols);
    be.gelu(X);
    compare("gelu [" + std::to_string(rows) + "," + std::to_string(cols) + "]", X, [&](int r, double* o) {
      for (int c = 0; c < cols; ++c) {
        const double v = x[static_cast<size_t>(r) * cols + c];
        o[c] = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
      }
    });
    // add with a strided source: y [rows, cols] += cols_view of [rows, 2 cols].
    auto y = rnd(static_cast<size_t>(rows) * cols), s = rnd(static_cast<size_t>(rows) * 2 * cols);
    Mat Y = up(y, rows, cols), S = up(s, rows, 2 * cols);
    be.add(Y, S.cols_view(cols, cols));
    compare("add [" + std::to_string(rows) + "," + std::to_string(cols) + "] (x strided)", Y, [&](int r, double* o) {
      for (int c = 0; c < cols; ++c)
        o[c] = static_cast<double>(y[static_cast<size_t>(r) * cols + c]) + s[static_cast<size_t>(r) * 2 * cols + cols + c];
    });
  }

  // One query row's multi-head attention in double: q [d], keys/values rows 0 .. visible - 1 of k and v (row
  // strides ldk, ldv), out o [d].
  static void reference_attention(const float* q, const float* k, size_t ldk, const float* v, size_t ldv, int visible,
                                  int n_head, int d, double* o) {
    const int dh = d / n_head;
    std::vector<double> p(visible);
    for (int h = 0; h < n_head; ++h) {
      double mx = -1e300, sum = 0;
      for (int j = 0; j < visible; ++j) {
        double s = 0;
        for (int t = 0; t < dh; ++t) s += static_cast<double>(q[h * dh + t]) * k[j * ldk + h * dh + t];
        p[j] = s / std::sqrt(static_cast<double>(dh));
        mx = std::max(mx, p[j]);
      }
      for (auto& x : p) sum += (x = std::exp(x - mx));
      for (int t = 0; t < dh; ++t) {
        double acc = 0;
        for (int j = 0; j < visible; ++j) acc += p[j] * v[j * ldv + h * dh + t];
        o[h * dh + t] = acc / sum;
      }
    }
  }

  // q is a column slice of a [tq, 3d] buffer (as the encoder's fused qkv), k and v of a [tk, 2d] buffer
  // (as the decoder's cross K/V).
  void attention(const std::string& name, int tq, int tk, int n_head, int d, int causal, double tol = kMaxRelErr) {
    auto qb = rnd(static_cast<size_t>(tq) * 3 * d), kvb = rnd(static_cast<size_t>(tk) * 2 * d);
    Mat QB = up(qb, tq, 3 * d), KV = up(kvb, tk, 2 * d), O = be.alloc(tq, d);
    poison(O);
    be.attention(QB.cols_view(0, d), KV.cols_view(0, d), KV.cols_view(d, d), O, n_head, causal);
    compare("attention " + name + " tq " + std::to_string(tq) + " tk " + std::to_string(tk) + " heads " +
                std::to_string(n_head) + " d " + std::to_string(d) + " causal " + std::to_string(causal),
            O, [&](int i, double* o) {
              const int visible = causal < 0 ? tk : std::min(tk, causal + i + 1);
              reference_attention(qb.data() + static_cast<size_t>(i) * 3 * d, kvb.data(), 2 * d, kvb.data() + d, 2 * d,
                                  visible, n_head, d, o);
            }, tol);
  }

  // The decoder's cross-attention with its query product (Backend::cross_attention_from): one cluster kernel
  // (set_fused_cross) against the query product and the attention in turn; the same arithmetic in the same order,
  // so the same bits. The fused kernel reads the K/V's float16 shadow (set_half_cross_kv), which the two kernels then
  // read too: half_kv makes one (in float16 precision; each of the two paths must read it). Without a shadow (no
  // half_kv, or bfloat16) the query must not be fused: the two kernels run either way.
  void cross_fused(engine::WeightType type, const std::string& name, int d, int n_head, int tk, bool half_kv) {
    auto x = rnd(d, 2.0f), g = rnd(d), bb = rnd(d), w = rnd(static_cast<size_t>(d) * d, 0.05f), bq = rnd(d);
    auto kv = rnd(static_cast<size_t>(tk) * 2 * d);
    for (auto& e : g) e += 1.0f;
    Mat X = up(x, 1, d), G = up(g, 1, d), BE = up(bb, 1, d), BQ = up(bq, 1, d), KV = up(kv, tk, 2 * d);
    Mat Q = be.alloc(1, d), O1 = be.alloc(1, d), O2 = be.alloc(1, d);
    const engine::Weights W = be.upload_weights(w.data(), d, d, type);
    poison(O1);
    poison(O2);
    const bool cross_before = be.fused_cross();  // put back at the end
    const int cross_width_before = be.fused_cross_max_width();
    const bool scores_first_before = be.one_row_scores_first();
    be.set_one_row_scores_first(true);  // the unfused attention scored first, as inside the fused kernel
    be.set_fused_cross_max_width(1 << 30);  // every width here, whatever the default bound
    // The two kernels' query product normalises its row block-wide, as the fused kernel does (not a warp a row).
    const bool one_norm_before = be.gemv_one_row_norm_by_warp();
    be.set_gemv_one_row_norm_by_warp(false);
    const bool half_before = be.half_cross_kv();
    be.set_half_cross_kv(half_kv);
    if (half_kv) be.cross_kv_written(KV, true);
    const long long half_before_launches = be.half_cross_kv_launches();
    be.set_fused_cross(false);
    be.cross_attention_from(X, G, BE, W, &BQ, Q, KV.cols_view(0, d), KV.cols_view(d, d), O1, n_head);
    // The fused kernel leaves q unwritten: q poisoned before and still poisoned after shows it ran (not the
    // fallback, which would give the same bits).
    poison(Q);
    const long long before = be.fused_cross_launches();
    be.set_fused_cross(true);
    // First with the norm's gains and biases read from L2, then staged in shared memory (set_norm_staged, the
    // default): the same bits.
    const bool staged_before = be.norm_staged();
    be.set_norm_staged(false);
    be.cross_attention_from(X, G, BE, W, &BQ, Q, KV.cols_view(0, d), KV.cols_view(d, d), O2, n_head);
    Mat O3 = be.alloc(1, d);
    poison(O3);
    be.set_norm_staged(true);
    be.cross_attention_from(X, G, BE, W, &BQ, Q, KV.cols_view(0, d), KV.cols_view(d, d), O3, n_head);
    be.set_norm_staged(staged_before);
    const long long fused_mid = be.fused_cross_launches();
    // q and the shadow's reads as the three launches above left them (the folded launches below write q and read the
    // shadow again).
    const std::vector<float> q_after = down(Q);
    const long long half_reads = be.half_cross_kv_launches() - half_before_launches;
    // The norm folded into wq (fold_norm for the attention's products, set_norm_fold_attention): the two kernels
    // (the folded matrix-vector product, then the attention) and the fused kernel folded give the same bits, and
    // stay near the unfolded output.
    const bool foldable = type == engine::WeightType::float16 || type == engine::WeightType::bfloat16;
    Mat O4 = be.alloc(1, d), O5 = be.alloc(1, d);
    poison(O4);
    poison(O5);
    const long long norm_folds_before = be.norm_fold_launches();
    if (foldable) {
      be.fold_norm(W, G, BE, &BQ, true);
      const bool fold_attention_before = be.norm_fold_attention();
      be.set_norm_fold_attention(true);
      be.set_fused_cross(false);
      be.cross_attention_from(X, G, BE, W, &BQ, Q, KV.cols_view(0, d), KV.cols_view(d, d), O4, n_head);
      be.set_fused_cross(true);
      be.cross_attention_from(X, G, BE, W, &BQ, Q, KV.cols_view(0, d), KV.cols_view(d, d), O5, n_head);
      be.set_norm_fold_attention(fold_attention_before);
    }
    be.set_fused_cross(cross_before);
    be.set_fused_cross_max_width(cross_width_before);
    be.set_one_row_scores_first(scores_first_before);
    be.set_gemv_one_row_norm_by_warp(one_norm_before);
    be.set_half_cross_kv(half_before);
    const bool shadow = half_kv && be.precision() == engine::cuda::Precision::f16;
    const bool read_half = half_reads == (shadow ? 3 : 0);
    const std::vector<float> a = down(O1), b = down(O2), c = down(O3);
    size_t n_diff = 0, n_bad = 0, q_written = 0, n_staged_diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      n_diff += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
      n_staged_diff += std::memcmp(&b[i], &c[i], sizeof(float)) != 0;
      n_bad += !std::isfinite(b[i]);
    }
    for (float e : q_after) q_written += std::isfinite(e);
    const bool ran = fused_mid == before + 2 && q_written == 0;
    const bool unfused = fused_mid == before && q_written == q_after.size();
    // Folded: both launches took the fold (the fused one where the fused kernel runs), the same bits, near the rest.
    size_t n_fold_diff = 0;
    double fold_rel = 0;
    bool fold_ok = true;
    if (foldable) {
      const std::vector<float> f4 = down(O4), f5 = down(O5);
      n_fold_diff = bits_differing(f5, f4);
      double num = 0, den = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        num += (static_cast<double>(f4[i]) - a[i]) * (static_cast<double>(f4[i]) - a[i]);
        den += static_cast<double>(a[i]) * a[i];
      }
      fold_rel = std::sqrt(num / std::max(den, 1e-300));
      const bool fused_folded = be.fused_cross_launches() == fused_mid + (shadow ? 1 : 0);
      fold_ok = n_fold_diff == 0 && fold_rel < 1e-2 && fused_folded &&
                be.norm_fold_launches() == norm_folds_before + 2;
    }
    const bool ok =
        (shadow ? ran : unfused) && read_half && n_diff == 0 && n_bad == 0 && n_staged_diff == 0 && fold_ok;
    if (!ok) ++n_fail;
    if (foldable)
      std::printf("       (the norm folded: %zu values differ between the two kernels and the fused one, rel %.1e "
                  "against unfolded%s)\n",
                  n_fold_diff, fold_rel, fold_ok ? "" : "; FAILED");
    std::printf("  %-4s %-58s %zu of %zu values differ from the two kernels, %zu with the norm staged%s%s\n",
                ok ? "ok" : "FAIL",
                ("cross query + attention fused " + std::string(engine::weight_type_name(type)) + " " + name +
                 (shadow ? ", K/V float16" : ", no shadow"))
                    .c_str(),
                n_diff, a.size(), n_staged_diff,
                shadow ? (ran ? "" : " (the fused kernel did not run)")
                       : (unfused ? "" : " (fused without a shadow)"),
                read_half ? "" : shadow ? " (the float16 K/V were not read by both)" : " (a float16 shadow was read)");
  }

  // The cross-attention's output product folded into its fused kernel (set_fused_out): x += out wo^T + bo against
  // the fused kernel and then the product kernel (x + the same sums in another order: within 1e-5 of x's largest
  // value), and the folded launch twice from the same x bit for bit (its counters left at zero between launches).
  void cross_folded(engine::WeightType type, const std::string& name, int d, int n_head, int tk) {
    auto x = rnd(d, 2.0f), g = rnd(d), bb = rnd(d), w = rnd(static_cast<size_t>(d) * d, 0.05f), bq = rnd(d);
    auto wo = rnd(static_cast<size_t>(d) * d, 0.05f), bo = rnd(d);
    auto kv = rnd(static_cast<size_t>(tk) * 2 * d);
    for (auto& e : g) e += 1.0f;
    Mat G = up(g, 1, d), BE = up(bb, 1, d), BQ = up(bq, 1, d), BO = up(bo, 1, d), KV = up(kv, tk, 2 * d);
    Mat X0 = up(x, 1, d), X1 = up(x, 1, d), X2 = up(x, 1, d), Q = be.alloc(1, d), O = be.alloc(1, d);
    const engine::Weights W = be.upload_weights(w.data(), d, d, type), WO = be.upload_weights(wo.data(), d, d, type);
    const bool out_before = be.fused_out(), half_before = be.half_cross_kv(), cross_before = be.fused_cross();
    const int width_before = be.fused_cross_max_width();
    be.set_fused_cross(true);
    be.set_fused_cross_max_width(1 << 30);
    be.set_half_cross_kv(true);
    be.cross_kv_written(KV, true);
    be.set_fused_out(false);
    be.cross_attention_out_from(G, BE, W, &BQ, WO, &BO, X0, Q, KV.cols_view(0, d), KV.cols_view(d, d), O, n_head);
    be.set_fused_out(true);
    const long long before = be.fused_out_launches();
    be.cross_attention_out_from(G, BE, W, &BQ, WO, &BO, X1, Q, KV.cols_view(0, d), KV.cols_view(d, d), O, n_head);
    be.cross_attention_out_from(G, BE, W, &BQ, WO, &BO, X2, Q, KV.cols_view(0, d), KV.cols_view(d, d), O, n_head);
    const bool ran = be.fused_out_launches() == before + 2;
    be.set_fused_out(out_before);
    be.set_half_cross_kv(half_before);
    be.set_fused_cross(cross_before);
    be.set_fused_cross_max_width(width_before);
    const std::vector<float> a = down(X0), b = down(X1), c = down(X2);
    double largest = 0, worst = 0;
    size_t n_twice = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      largest = std::max(largest, std::abs(static_cast<double>(a[i])));
      worst = std::max(worst, std::isfinite(b[i]) ? std::abs(static_cast<double>(a[i]) - b[i]) : INFINITY);
      n_twice += std::memcmp(&b[i], &c[i], sizeof(float)) != 0;
    }
    const bool shadow = be.precision() == engine::cuda::Precision::f16;  // (bfloat16: no shadow, nothing folded)
    const bool ok = shadow ? ran && worst <= 1e-5 * largest && n_twice == 0 : !ran && worst == 0;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s largest difference %.1e of %.1e; twice: %zu values differ%s\n", ok ? "ok" : "FAIL",
                ("cross output product folded " + std::string(engine::weight_type_name(type)) + " " + name).c_str(),
                worst, largest, n_twice, ran ? "" : shadow ? " (the folded kernel did not run)" : " (not folded)");
  }

  // upload_transposed (the mel spectrogram into the convolutions' layout): every value in its place, exactly;
  // the same shape twice, through the backend's one pinned buffer.
  void upload_transposed(int rows, int cols) {
    const std::vector<float> x = rnd(static_cast<size_t>(rows) * cols);
    const Mat t = be.upload_transposed(x.data(), rows, cols);
    const std::vector<float> got = down(t);
    size_t n_diff = 0;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c)
        if (std::memcmp(&got[static_cast<size_t>(c) * rows + r], &x[static_cast<size_t>(r) * cols + c], 4) != 0) ++n_diff;
    const bool ok = n_diff == 0 && t.rows == cols && t.cols == rows;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s %zu values out of place\n", ok ? "ok" : "FAIL",
                ("upload_transposed " + std::to_string(rows) + "x" + std::to_string(cols)).c_str(), n_diff);
  }

  // upload_mel: in float16 precision each value rounded to float16 by the host (F16C where the CPU has it) and
  // widened on the device, so exactly util/half.h's rounding (infinities, float16's overflow, subnormals, ties and
  // NaN among the values); with set_half_mel(false), and in bfloat16, the float32 values exactly.
  void upload_mel(int rows, int cols) {
    const size_t n = static_cast<size_t>(rows) * cols;
    std::vector<float> x = rnd(n);
    const float specials[] = {INFINITY, -INFINITY, 70000.f, -65520.f, 65519.f, 65504.f, 1e-6f, -3e-8f, 6e-8f,
                              2.98e-8f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 0.f, -0.f, NAN, 5.9604645e-8f, 1e-45f};
    // (at the start, in F16C's lanes, and at the end, in the scalar tail where n is not a multiple of 8)
    for (size_t i = 0; i < std::size(specials) && i * 7 < n; ++i) x[i * 7] = specials[i];
    for (size_t i = 0; i < std::size(specials) && i < n / 2; ++i) x[n - 1 - i] = specials[i];
    const engine::cuda::Precision p0 = be.precision();
    const bool half0 = be.half_mel();
    for (auto [prec, half] : {std::pair{engine::cuda::Precision::f16, true}, std::pair{engine::cuda::Precision::f16, false},
                              std::pair{engine::cuda::Precision::bf16, true}}) {
      be.set_precision(prec);
      be.set_half_mel(half);
      const Mat t = be.upload_mel(x.data(), rows, cols);
      const std::vector<float> got = down(t);
      const bool rounded = half && prec == engine::cuda::Precision::f16;
      size_t n_diff = 0;
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
          const float v = x[static_cast<size_t>(r) * cols + c];
          const float want = rounded ? half_to_float(float_to_half(v)) : v;
          const float g = got[static_cast<size_t>(c) * rows + r];
          if (!(std::isnan(want) && std::isnan(g)) && std::memcmp(&g, &want, 4) != 0) ++n_diff;
        }
      const bool ok = n_diff == 0 && t.rows == cols && t.cols == rows;
      if (!ok) ++n_fail;
      std::printf("  %-4s %-58s %zu values differ\n", ok ? "ok" : "FAIL",
                  ("upload_mel " + std::to_string(rows) + "x" + std::to_string(cols) +
                   (rounded ? " rounded to float16" : prec == engine::cuda::Precision::f16 ? " float32 (switch off)"
                                                                                        : " float32 (bfloat16)"))
                      .c_str(),
                  n_diff);
    }
    be.set_precision(p0);
    be.set_half_mel(half0);
  }

  // cross_kv for a sole float16 window, the shadow written by the product itself (set_half_direct_kv, the default)
  // against the float32 products rounded to their shadows (off): the one-row cross-attention over the shadows (the
  // steps' way), the float32 K/V made from the shadow when the cluster kernel reads them for 12 queries (right after
  // the widening), then read by attention() for 20 (a long prompt) and downloaded. Both ways sum in float32 and round once to float16: held to float16's tolerance. Fails
  // where the direct products or the widening did not run.
  void cross_kv_direct(const std::string& name, int d, int n_head, int n_layers) {
    const int t = 1500;
    const Mat X = up(rnd(static_cast<size_t>(t) * d), t, d);
    std::vector<engine::Weights> w;
    std::vector<Mat> b, kv[2];
    for (int i = 0; i < n_layers; ++i) {
      w.push_back(be.upload_weights(rnd(static_cast<size_t>(2) * d * d, 0.05f).data(), 2 * d, d,
                                    engine::WeightType::float16));
      b.push_back(up(rnd(2 * d), 1, 2 * d));
      for (auto& k : kv) k.push_back(be.alloc(t, 2 * d));
    }
    const Mat Q1 = up(rnd(d), 1, d), Q12 = up(rnd(static_cast<size_t>(12) * d), 12, d),
              Q20 = up(rnd(static_cast<size_t>(20) * d), 20, d);
    const bool direct0 = be.half_direct_kv();
    const long long products0 = be.half_direct_kv_products(), widened0 = be.cross_kv_widened();
    std::vector<float> one[2], twelve[2], many[2], values[2];
    for (bool direct : {false, true}) {
      be.set_half_direct_kv(direct);
      std::vector<const engine::Weights*> wp;
      std::vector<const Mat*> bp;
      std::vector<Mat*> yp;
      for (int i = 0; i < n_layers; ++i) wp.push_back(&w[i]), bp.push_back(&b[i]), yp.push_back(&kv[direct][i]);
      be.cross_kv(X, wp, bp, yp, true);
      for (int i = 0; i < n_layers; ++i) {
        const Mat k = kv[direct][i].cols_view(0, d), v = kv[direct][i].cols_view(d, d);
        Mat o1 = be.alloc(1, d), o12 = be.alloc(12, d), o20 = be.alloc(20, d);
        be.cross_attention(Q1, k, v, o1, n_head);  // over the shadow
        // 12 rows: past the shared-K/V kernel, the cluster kernel over the float32 K/V, widened just before it (it
        // must wait for the widening rather than load them early)
        be.cross_attention(Q12, k, v, o12, n_head);
        be.attention(Q20, k, v, o20, n_head, -1);  // over the float32 K/V through attention()
        for (float e : down(o1)) one[direct].push_back(e);
        for (float e : down(o12)) twelve[direct].push_back(e);
        for (float e : down(o20)) many[direct].push_back(e);
        for (float e : down(kv[direct][i])) values[direct].push_back(e);
      }
    }
    be.set_half_direct_kv(direct0);
    const long long products = be.half_direct_kv_products() - products0, widened = be.cross_kv_widened() - widened0;
    const double r1 = rel_diff(one[1], one[0]), r12 = rel_diff(twelve[1], twelve[0]), r20 = rel_diff(many[1], many[0]),
                 rv = rel_diff(values[1], values[0]);
    const bool ok = r1 < 2e-3 && r12 < 2e-3 && r20 < 2e-3 && rv < 2e-3 && products == n_layers && widened == n_layers;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s the shadow written directly against rounded: one query rel %.2e, 12 rel %.2e, 20 rel "
                "%.2e, K/V rel %.2e; %lld of %d layers direct, %lld widened\n",
                ok ? "ok" : "FAIL", ("cross_kv " + name).c_str(), r1, r12, r20, rv, products, n_layers, widened);
  }

  // encoder_stem fused (set_stem_fused, the default) against the ops in turn (Backend::encoder_stem: conv1d_gelu
  // twice, add): the same bits, at a model's shapes (t_in mel frames of n_mels); fails where the fused path's launch
  // count shows it did not run.
  void encoder_stem(const std::string& name, int t_in, int n_mels, int d) {
    const int t_out = (t_in - 1) / 2 + 1;
    const Mat mel = up(rnd(static_cast<size_t>(t_in) * n_mels), t_in, n_mels);
    const Mat w1 = up(rnd(static_cast<size_t>(d) * 3 * n_mels, 0.1f), d, 3 * n_mels), b1 = up(rnd(d), 1, d);
    const Mat w2 = up(rnd(static_cast<size_t>(d) * 3 * d, 0.05f), d, 3 * d), b2 = up(rnd(d), 1, d);
    const Mat pos = up(rnd(static_cast<size_t>(t_out) * d), t_out, d);
    const bool fused0 = be.stem_fused();
    std::vector<float> out[2];
    size_t n_bad = 0;
    for (bool fused : {false, true}) {
      be.set_stem_fused(fused);
      Mat x = be.alloc(t_out, d);
      poison(x);
      be.encoder_stem(mel, w1, b1, w2, b2, pos, x);
      out[fused] = down(x);
      for (float v : out[fused]) n_bad += !std::isfinite(v);
    }
    be.set_stem_fused(fused0);
    const size_t n_diff = bits_differing(out[0], out[1]);
    // encode()'s upload of the channel-major mel, rounded to float16 by the host or not (set_half_mel), then the stem:
    // the same bits either way (in float16 the first convolution rounds its input to float16 itself; in bfloat16
    // nothing is rounded on the way).
    const std::vector<float> mel_cm = rnd(static_cast<size_t>(n_mels) * t_in);
    const bool half0 = be.half_mel();
    std::vector<float> via[2];
    for (bool half : {false, true}) {
      be.set_half_mel(half);
      const Mat mt = be.upload_mel(mel_cm.data(), n_mels, t_in);
      Mat x = be.alloc(t_out, d);
      poison(x);
      be.encoder_stem(mt, w1, b1, w2, b2, pos, x);
      via[half] = down(x);
    }
    be.set_half_mel(half0);
    const size_t n_mel_diff = bits_differing(via[0], via[1]);
    const bool ok = n_diff == 0 && n_bad == 0 && n_mel_diff == 0;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s fused against the ops in turn: %zu values differ, %zu not finite; the mel uploaded as "
                "float16 against float32: %zu values differ\n",
                ok ? "ok" : "FAIL", ("encoder_stem " + name).c_str(), n_diff, n_bad, n_mel_diff);
  }

  // The encoder's half-input flash attention (flash_attention_half, encoder_blocks.cu's): q|k|v [t, 3d] rounded to
  // T, their biases added by the kernel (k's left out: the reference adds it, as the softmax ignores it), out in T.
  template <class T>
  void flash_half(const std::string& name, int t, int n_head, double tol) {
    const int d = 64 * n_head;
    const bool f16 = std::is_same_v<T, __half>;
    auto vals = rnd(static_cast<size_t>(t) * 3 * d), bias = rnd(3 * d, 0.5f);
    std::vector<uint16_t> bits(vals.size());
    for (size_t i = 0; i < vals.size(); ++i) {
      bits[i] = f16 ? float_to_half(vals[i]) : float_to_bfloat16(vals[i]);
      vals[i] = f16 ? half_to_float(bits[i]) : bfloat16_to_float(bits[i]);  // the reference sees the rounded inputs
    }
    std::shared_ptr<void> qkv = be.alloc_bytes(bits.size() * 2), out = be.alloc_bytes(static_cast<size_t>(t) * d * 2);
    WST_CUDA_CHECK(cudaMemcpyAsync(qkv.get(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice, be.stream()));
    WST_CUDA_CHECK(cudaMemsetAsync(out.get(), 0xFF, static_cast<size_t>(t) * d * 2, be.stream()));  // NaN
    Mat B = up(bias, 1, 3 * d);
    int n_sm = 0;
    int device = 0;
    WST_CUDA_CHECK(cudaGetDevice(&device));
    WST_CUDA_CHECK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, device));
    engine::cuda::flash_attention_half<T>(static_cast<const T*>(qkv.get()), 3 * d, t, d, B.data,
                                          static_cast<T*>(out.get()), d, n_sm, be.stream(),
                                          engine::cuda::FlashShape::words16);  // shape 0, the others' reference
    std::vector<uint16_t> got_bits(static_cast<size_t>(t) * d);
    WST_CUDA_CHECK(cudaMemcpyAsync(got_bits.data(), out.get(), got_bits.size() * 2, cudaMemcpyDeviceToHost, be.stream()));
    be.synchronize();
    // The other launch shapes give the default's bits.
    for (auto shape : {engine::cuda::FlashShape::ldmatrix16, engine::cuda::FlashShape::ldmatrix32}) {
      WST_CUDA_CHECK(cudaMemsetAsync(out.get(), 0xFF, static_cast<size_t>(t) * d * 2, be.stream()));
      engine::cuda::flash_attention_half<T>(static_cast<const T*>(qkv.get()), 3 * d, t, d, B.data,
                                            static_cast<T*>(out.get()), d, n_sm, be.stream(), shape);
      std::vector<uint16_t> shape_bits(got_bits.size());
      WST_CUDA_CHECK(
          cudaMemcpyAsync(shape_bits.data(), out.get(), shape_bits.size() * 2, cudaMemcpyDeviceToHost, be.stream()));
      be.synchronize();
      size_t n_diff = 0;
      for (size_t i = 0; i < got_bits.size(); ++i) n_diff += shape_bits[i] != got_bits[i];
      const bool ok = n_diff == 0;
      if (!ok) ++n_fail;
      std::printf("  %-4s %-58s %zu values differ\n", ok ? "ok" : "FAIL",
                  ("flash half " + std::string(f16 ? "float16" : "bfloat16") + " t " + std::to_string(t) + " shape " +
                   std::to_string(static_cast<int>(shape)) + " = shape 0 bit for bit")
                      .c_str(),
                  n_diff);
    }
    // With the biases: q + bq, k + bk, v + bv.
    std::vector<float> biased(vals);
    for (int r = 0; r < t; ++r)
      for (int c = 0; c < 3 * d; ++c) biased[static_cast<size_t>(r) * 3 * d + c] += bias[c];
    Mat O = be.alloc(t, d);  // the result widened to float32, for compare()
    auto check = [&](const std::vector<uint16_t>& out_bits, const std::string& shape) {
      std::vector<float> got(out_bits.size());
      for (size_t i = 0; i < got.size(); ++i)
        got[i] = f16 ? half_to_float(out_bits[i]) : bfloat16_to_float(out_bits[i]);
      WST_CUDA_CHECK(cudaMemcpyAsync(O.data, got.data(), got.size() * 4, cudaMemcpyHostToDevice, be.stream()));
      be.synchronize();
      compare(std::string("flash half ") + (f16 ? "float16 " : "bfloat16 ") + name + " t " + std::to_string(t) +
                  " heads " + std::to_string(n_head) + shape,
              O, [&](int i, double* o) {
                reference_attention(biased.data() + static_cast<size_t>(i) * 3 * d, biased.data() + d, 3 * d,
                                    biased.data() + 2 * d, 3 * d, t, n_head, d, o);
              }, tol);
    };
    check(got_bits, "");
    // The wgmma shapes (flash_wgmma.cu): their own bits, held to the same tolerance.
    if (!wgmma_ready("flash half t " + std::to_string(t))) return;
    std::vector<uint16_t> shape4_bits;
    for (int sh = static_cast<int>(engine::cuda::FlashShape::wgmma64x64); sh < engine::cuda::kFlashShapes; ++sh) {
      WST_CUDA_CHECK(cudaMemsetAsync(out.get(), 0xFF, static_cast<size_t>(t) * d * 2, be.stream()));
      engine::cuda::flash_attention_half<T>(static_cast<const T*>(qkv.get()), 3 * d, t, d, B.data,
                                            static_cast<T*>(out.get()), d, n_sm, be.stream(),
                                            static_cast<engine::cuda::FlashShape>(sh));
      std::vector<uint16_t> shape_bits(got_bits.size());
      WST_CUDA_CHECK(
          cudaMemcpyAsync(shape_bits.data(), out.get(), shape_bits.size() * 2, cudaMemcpyDeviceToHost, be.stream()));
      be.synchronize();
      check(shape_bits, " wgmma shape " + std::to_string(sh));
      if (sh == static_cast<int>(engine::cuda::FlashShape::wgmma128x64)) shape4_bits = shape_bits;
      if (sh == static_cast<int>(engine::cuda::FlashShape::wgmma128x64p)) {
        // The pipelined kernel runs shape 4's products in the same order: the same bits.
        size_t n_diff = 0;
        for (size_t i = 0; i < shape_bits.size(); ++i) n_diff += shape_bits[i] != shape4_bits[i];
        const bool ok = n_diff == 0 && shape4_bits.size() == shape_bits.size();
        if (!ok) ++n_fail;
        std::printf("  %-4s %-58s %zu values differ\n", ok ? "ok" : "FAIL",
                    ("flash half " + std::string(f16 ? "float16" : "bfloat16") + " t " + std::to_string(t) +
                     " wgmma shape 6 = shape 4 bit for bit")
                        .c_str(),
                    n_diff);
      }
    }
  }

  // Whether the wgmma shapes can run here; on a compute capability 9.0 GPU they must (a FAIL if the sm_90a code did
  // not load), elsewhere they are skipped, said so once per check.
  bool wgmma_ready(const std::string& what) {
    if (engine::cuda::flash_wgmma_available()) return true;
    int device = 0, major = 0, minor = 0;
    WST_CUDA_CHECK(cudaGetDevice(&device));
    WST_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    WST_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    const bool hopper = major == 9 && minor == 0;
    if (hopper) ++n_fail;
    std::printf("  %-4s %-58s %s\n", hopper ? "FAIL" : "skip", (what + " wgmma shapes").c_str(),
                hopper ? "compute capability 9.0 but no sm_90a code loaded" : "no wgmma on this GPU");
    return false;
  }

  // A step's self-attention for n sequences at once (Backend::step_self_attention): row b of qkv is sequence b's
  // q | k | v at position pos[b] of its own cache [ctx, d]; its k and v must land in that row (exactly) and its q
  // attend over rows 0 .. pos[b].
  void step_self(int n, int ctx, int n_head, int d) {
    auto qkv = rnd(static_cast<size_t>(n) * 3 * d);
    Mat QKV = up(qkv, n, 3 * d), O = be.alloc(n, d);
    poison(O);
    std::vector<std::vector<float>> kc(n), vc(n);
    std::vector<Mat> K, V;
    std::vector<int> pos(n);
    for (int b = 0; b < n; ++b) {
      pos[b] = (20 + 37 * b) % (ctx - 1);
      kc[b] = rnd(static_cast<size_t>(ctx) * d);
      vc[b] = rnd(static_cast<size_t>(ctx) * d);
      K.push_back(up(kc[b], ctx, d));
      V.push_back(up(vc[b], ctx, d));
    }
    std::vector<Mat*> kp, vp;
    for (int b = 0; b < n; ++b) {
      kp.push_back(&K[b]);
      vp.push_back(&V[b]);
    }
    be.step_self_attention(QKV, kp, vp, pos, O, n_head);
    size_t cache_wrong = 0;
    for (int b = 0; b < n; ++b) {
      const std::vector<float> kd = down(K[b]), vd = down(V[b]);
      for (int c = 0; c < d; ++c) {
        kc[b][static_cast<size_t>(pos[b]) * d + c] = qkv[static_cast<size_t>(b) * 3 * d + d + c];
        vc[b][static_cast<size_t>(pos[b]) * d + c] = qkv[static_cast<size_t>(b) * 3 * d + 2 * d + c];
      }
      cache_wrong += kd != kc[b] || vd != vc[b];
    }
    if (cache_wrong) ++n_fail;
    std::printf("  %-4s %-58s\n", cache_wrong ? "FAIL" : "ok",
                ("step self-attention: " + std::to_string(n) + " caches' new rows written").c_str());
    compare("step self-attention " + std::to_string(n) + " sequences, ctx " + std::to_string(ctx) + " heads " +
                std::to_string(n_head) + " d " + std::to_string(d),
            O, [&](int b, double* o) {
              reference_attention(qkv.data() + static_cast<size_t>(b) * 3 * d, kc[b].data(), d, vc[b].data(), d,
                                  pos[b] + 1, n_head, d, o);
            });
  }

  void conv1d(const std::string& name, int t_in, int c_in, int c_out, int stride, double tol = kMaxRelErr) {
    const int t_out = (t_in - 1) / stride + 1;
    auto x = rnd(static_cast<size_t>(t_in) * c_in), w = rnd(static_cast<size_t>(c_out) * 3 * c_in, 0.05f), b = rnd(c_out);
    Mat X = up(x, t_in, c_in), W = up(w, c_out, 3 * c_in), B = up(b, 1, c_out), Y = be.alloc(t_out, c_out);
    poison(Y);
    be.conv1d_gelu(X, W, B, stride, Y);
    compare("conv1d_gelu " + name + " [" + std::to_string(t_in) + "," + std::to_string(c_in) + "] -> [" +
                std::to_string(t_out) + "," + std::to_string(c_out) + "] stride " + std::to_string(stride),
            Y, [&](int t, double* o) {
              for (int oc = 0; oc < c_out; ++oc) {
                double s = b[oc];
                for (int kk = 0; kk < 3; ++kk) {
                  const int src = t * stride + kk - 1;
                  if (src < 0 || src >= t_in) continue;
                  for (int c = 0; c < c_in; ++c)
                    s += static_cast<double>(w[static_cast<size_t>(oc) * 3 * c_in + kk * c_in + c]) * x[static_cast<size_t>(src) * c_in + c];
                }
                o[oc] = 0.5 * s * (1.0 + std::erf(s / std::sqrt(2.0)));
              }
            }, tol);
  }

  // decoding.cpp's host arithmetic for one row: the masks, the timestamp rule on log_softmax (double sums),
  // then v = the filtered logits and the log_softmax of v (what the host ranks and sums).
  static void host_filter(const std::vector<float>& x, const engine::StepRules& r, std::vector<float>& v,
                          std::vector<float>& lp, bool* text_masked) {
    const int n_vocab = static_cast<int>(x.size()), ts_begin = r.ts_begin;
    v = x;
    for (int t : *r.suppress) v[t] = -INFINITY;
    for (int t = r.mask_a_begin; t < r.mask_a_end; ++t) v[t] = -INFINITY;
    for (int t = r.mask_b_begin; t < r.mask_b_end; ++t) v[t] = -INFINITY;
    auto log_softmax = [](const std::vector<float>& in) {
      float mx = -INFINITY;
      for (float f : in) mx = std::max(mx, f);
      double sum = 0;
      for (float f : in)
        if (f != -INFINITY) sum += std::exp(static_cast<double>(f) - mx);
      const double lse = mx + std::log(sum);
      std::vector<float> out(in.size());
      for (size_t i = 0; i < in.size(); ++i) out[i] = in[i] == -INFINITY ? -INFINITY : static_cast<float>(in[i] - lse);
      return out;
    };
    *text_masked = false;
    if (r.timestamp_rule) {
      const std::vector<float> l = log_softmax(v);
      float max_text = -INFINITY, mx = -INFINITY;
      for (int t = 0; t < ts_begin; ++t) max_text = std::max(max_text, l[t]);
      for (int t = ts_begin; t < n_vocab; ++t) mx = std::max(mx, l[t]);
      if (mx != -INFINITY) {
        double s = 0;
        for (int t = ts_begin; t < n_vocab; ++t)
          if (l[t] != -INFINITY) s += std::exp(static_cast<double>(l[t]) - mx);
        if (mx + std::log(s) > max_text) {
          *text_masked = true;
          for (int t = 0; t < ts_begin; ++t) v[t] = -INFINITY;
        }
      }
    }
    lp = log_softmax(v);
  }

  // Random rules as a step might have them: suppressed ids, the two ranges, the timestamp rule on or off.
  // Where the timestamps begin: Whisper's 1501 at the end, or with spread_timestamps (small vocabularies, the cluster
  // pick's shares) the last two thirds, so that several blocks hold timestamps.
  bool spread_timestamps = false;
  int ts_begin_of(int n_vocab) const { return spread_timestamps ? n_vocab / 3 : std::max(0, n_vocab - 1501); }

  // Random rules as a step might have them: suppressed ids, the two ranges, the timestamp rule on or off; one trial
  // in 11 masks everything.
  engine::StepRules random_rules(Rng& rng, int trial, int n_vocab, const std::vector<int>* suppress) const {
    const int ts_begin = ts_begin_of(n_vocab), eot = std::min(50256, ts_begin);
    engine::StepRules r;
    r.suppress = suppress;
    r.timestamp_rule = trial % 5 != 0;
    r.ts_begin = ts_begin;
    switch (trial % 3) {
      case 1: r.mask_a_begin = ts_begin; r.mask_a_end = n_vocab; break;
      case 2: r.mask_a_begin = 0; r.mask_a_end = eot; break;
      default: break;
    }
    if (trial % 11 == 10) {
      r.mask_a_begin = 0;
      r.mask_a_end = n_vocab;
    }
    if (trial % 2) {
      r.mask_b_begin = ts_begin;
      r.mask_b_end = ts_begin + static_cast<int>(rng.next() % (n_vocab - ts_begin + 1));
    }
    return r;
  }

  // 90 suppressed ids (the same for every row of a trial, as the pick kernels' one bitmask needs).
  static std::vector<int> random_suppress(Rng& rng, int n_vocab) {
    std::vector<int> ids;
    for (int i = 0; i < 90; ++i) ids.push_back(static_cast<int>(rng.next() % n_vocab));
    return ids;
  }

  // Random logits with the timestamps lifted by a random amount, so that both outcomes of the timestamp rule
  // occur, some near the tie.
  std::vector<float> random_logits(Rng& rng, int n_vocab) {
    std::vector<float> x = rnd(n_vocab, 4.0f);
    const float lift = rng.uniform(12.0f);
    for (int t = ts_begin_of(n_vocab); t < n_vocab; ++t) x[t] += lift;
    return x;
  }

  // Backend::pick_greedy against the host arithmetic under random rules.
  void greedy_pick(int n_vocab, int trials) {
    int n_bad = 0, n_text_masked = 0;
    double worst_lp = 0;
    Rng rng(seed++);
    Mat L = be.alloc(1, n_vocab);
    const std::vector<int> suppress = random_suppress(rng, n_vocab);
    for (int trial = 0; trial < trials; ++trial) {
      const std::vector<float> x = random_logits(rng, n_vocab);
      const engine::StepRules r = random_rules(rng, trial, n_vocab, &suppress);
      std::vector<float> v, lp;
      bool text_masked = false;
      host_filter(x, r, v, lp, &text_masked);
      n_text_masked += text_masked;
      const int want = static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
      const float want_lp = lp[want];
      // On the backend's stream (a plain cudaMemcpy may return before its DMA lands; the stream would not wait).
      WST_CUDA_CHECK(cudaMemcpyAsync(L.data, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice, be.stream()));
      const engine::GreedyPick got = be.pick_greedy(L, r);
      const double dlp = std::abs(static_cast<double>(got.logprob) - want_lp);
      if (got.logprob != want_lp) worst_lp = std::max(worst_lp, dlp);
      if (got.token != want || !(got.logprob == want_lp || dlp < 1e-5)) {  // == : both -inf (everything masked)
        if (n_bad < 5)
          std::printf("    trial %d: token %d (want %d), logprob %.9g (want %.9g)\n", trial, got.token, want,
                      got.logprob, want_lp);
        ++n_bad;
      }
    }
    const bool ok = n_bad == 0;
    if (!ok) ++n_fail;
    std::printf("  %-4s greedy pick, vocab %d, %d trials (%d with the text masked by the timestamp rule): %d differ,"
                " max |d logprob| %.2e\n", ok ? "ok" : "FAIL", n_vocab, trials, n_text_masked, n_bad, worst_lp);
  }

  // Backend::top_candidates (beam search's step) against the host: each of 5 rows under its own random rules
  // and beam score, its 10 best continuations by score then token, scores bit for bit.
  void beam_candidates(int n_vocab, int trials) {
    constexpr int kRows = 5, kK = 10;
    int n_bad = 0;
    Rng rng(seed++);
    Mat L = be.alloc(kRows, n_vocab);
    const std::vector<int> suppress = random_suppress(rng, n_vocab);
    for (int trial = 0; trial < trials; ++trial) {
      std::vector<engine::StepRules> rules;
      std::vector<float> scores, all;
      std::vector<engine::BeamCandidate> want;
      for (int b = 0; b < kRows; ++b) {
        const std::vector<float> x = random_logits(rng, n_vocab);
        all.insert(all.end(), x.begin(), x.end());
        rules.push_back(random_rules(rng, trial * kRows + b, n_vocab, &suppress));
        scores.push_back(-0.5f * static_cast<float>(b) + rng.uniform(0.25f));
        std::vector<float> v, lp;
        bool text_masked = false;
        host_filter(x, rules.back(), v, lp, &text_masked);
        std::vector<engine::BeamCandidate> row;
        for (int t = 0; t < n_vocab; ++t)
          if (lp[t] != -INFINITY) row.push_back({scores.back() + lp[t], b, t});
        std::sort(row.begin(), row.end(), [](const engine::BeamCandidate& p, const engine::BeamCandidate& q) {
          return p.score != q.score ? p.score > q.score : p.token < q.token;
        });
        if (row.size() > kK) row.resize(kK);
        want.insert(want.end(), row.begin(), row.end());
      }
      WST_CUDA_CHECK(cudaMemcpyAsync(L.data, all.data(), all.size() * sizeof(float), cudaMemcpyHostToDevice, be.stream()));
      const std::vector<engine::BeamCandidate> got = be.top_candidates(L, rules, scores, kK);
      bool same = got.size() == want.size();
      for (size_t i = 0; same && i < got.size(); ++i)
        same = got[i].beam == want[i].beam && got[i].token == want[i].token &&
               std::memcmp(&got[i].score, &want[i].score, sizeof(float)) == 0;
      if (!same) {
        if (n_bad < 3) std::printf("    trial %d: %zu candidates, want %zu (or a token/score differs)\n", trial, got.size(), want.size());
        ++n_bad;
      }
    }
    const bool ok = n_bad == 0;
    if (!ok) ++n_fail;
    std::printf("  %-4s beam candidates, vocab %d, %d trials of %d rows x top %d: %d differ\n", ok ? "ok" : "FAIL",
                n_vocab, trials, kRows, kK, n_bad);
  }

  // Backend::pick_greedy_rows (every row in one launch, batched windows) against the host: 3 rows, each under its
  // own random rules.
  void greedy_pick_rows(int n_vocab, int trials) {
    constexpr int kRows = 3;
    int n_bad = 0;
    Rng rng(seed++);
    Mat L = be.alloc(kRows, n_vocab);
    const std::vector<int> suppress = random_suppress(rng, n_vocab);
    for (int trial = 0; trial < trials; ++trial) {
      std::vector<float> all;
      std::vector<engine::StepRules> rules;
      std::vector<engine::GreedyPick> want;
      for (int b = 0; b < kRows; ++b) {
        const std::vector<float> x = random_logits(rng, n_vocab);
        all.insert(all.end(), x.begin(), x.end());
        rules.push_back(random_rules(rng, trial * kRows + b, n_vocab, &suppress));
        std::vector<float> v, lp;
        bool text_masked = false;
        host_filter(x, rules.back(), v, lp, &text_masked);
        const int t = static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
        want.push_back({t, lp[t]});
      }
      WST_CUDA_CHECK(cudaMemcpyAsync(L.data, all.data(), all.size() * sizeof(float), cudaMemcpyHostToDevice, be.stream()));
      const std::vector<engine::GreedyPick> got = be.pick_greedy_rows(L, rules);
      bool same = got.size() == want.size();
      for (size_t b = 0; same && b < got.size(); ++b)
        same = got[b].token == want[b].token &&
               (got[b].logprob == want[b].logprob || std::abs(static_cast<double>(got[b].logprob) - want[b].logprob) < 1e-5);
      n_bad += !same;
    }
    const bool ok = n_bad == 0;
    if (!ok) ++n_fail;
    std::printf("  %-4s greedy picks of %d rows in one launch, vocab %d, %d trials: %d differ\n", ok ? "ok" : "FAIL",
                kRows, n_vocab, trials, n_bad);
  }

  // Both ways of picking on sm_90: a cluster of blocks a row (the default) and one block (WST_CUDA_PICK_CLUSTER=0),
  // each checked against the host, at the model's vocabulary and at small ones (empty shares, timestamps over
  // several blocks); then each timed on the host's clock (a call: the rules' copy, the kernel, the result's copy back
  // and the wait), one row greedy and 5 rows' 10 best candidates, medians of 200 calls. cluster_ran: whether the
  // cluster way could run here (sm_90 code, clusters on).
  bool cluster_ran = false;
  void picks_both_ways(int n_vocab) {
    const bool cluster0 = be.pick_cluster_requested();
    Rng rng(seed++);
    std::vector<int> suppress = {1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92};
    engine::StepRules r;
    r.suppress = &suppress;
    r.timestamp_rule = true;
    r.ts_begin = n_vocab - 1501;
    std::vector<float> all;
    for (int b = 0; b < 5; ++b) {
      const std::vector<float> x = random_logits(rng, n_vocab);
      all.insert(all.end(), x.begin(), x.end());
    }
    Mat L1 = be.alloc(1, n_vocab), L5 = be.alloc(5, n_vocab);
    WST_CUDA_CHECK(cudaMemcpyAsync(L1.data, all.data(), n_vocab * sizeof(float), cudaMemcpyHostToDevice, be.stream()));
    WST_CUDA_CHECK(cudaMemcpyAsync(L5.data, all.data(), all.size() * sizeof(float), cudaMemcpyHostToDevice, be.stream()));
    const std::vector<engine::StepRules> rules5(5, r);
    const std::vector<float> scores5 = {-0.1f, -0.2f, -0.3f, -0.4f, -0.5f};
    double ms[2][2] = {};
    auto median_of = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    for (bool cluster : {true, false}) {
      be.set_pick_cluster(cluster);
      if (cluster && !be.pick_cluster()) {
        std::printf("  skip the cluster pick: no sm_90 code running here, or WST_CUDA_CLUSTERS=0\n");
        continue;
      }
      cluster_ran = cluster_ran || cluster;
      std::printf("  (picks %s)\n", cluster ? "a cluster of blocks a row" : "one block a row");
      greedy_pick(n_vocab, 300);
      beam_candidates(n_vocab, 100);
      greedy_pick_rows(n_vocab, 40);
      spread_timestamps = true;
      for (int small : {1, 7, 9, 100, 3001}) {
        greedy_pick(small, 60);
        beam_candidates(small, 20);
      }
      spread_timestamps = false;
      std::vector<double> tg, tb;
      for (int i = 0; i < 220; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        be.pick_greedy(L1, r);
        auto t1 = std::chrono::steady_clock::now();
        be.top_candidates(L5, rules5, scores5, 10);
        auto t2 = std::chrono::steady_clock::now();
        if (i >= 20) {
          tg.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          tb.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
        }
      }
      ms[cluster][0] = median_of(tg);
      ms[cluster][1] = median_of(tb);
    }
    be.set_pick_cluster(cluster0);
    std::printf("  time pick_greedy, vocab %d: a cluster a row %.4f ms, one block %.4f ms; top_candidates (5 rows, "
                "10 each): %.4f ms, %.4f ms (host clock, medians of 200; 0: not run)\n",
                n_vocab, ms[1][0], ms[0][0], ms[1][1], ms[0][1]);
  }

  void embed_copy(int n_vocab, int d) {
    auto table = rnd(static_cast<size_t>(n_vocab) * d), pos = rnd(static_cast<size_t>(448) * d);
    Mat T = up(table, n_vocab, d), P = up(pos, 448, d), Y = be.alloc(4, d);
    const int ids[4] = {50257, 0, 220, n_vocab - 1};
    poison(Y);
    be.embed(T, ids, 4, P, 10, Y);
    compare("embed 4 tokens, width " + std::to_string(d) + ", positions 10..13", Y, [&](int i, double* o) {
      for (int c = 0; c < d; ++c)
        o[c] = static_cast<double>(table[static_cast<size_t>(ids[i]) * d + c]) + pos[static_cast<size_t>(10 + i) * d + c];
    });
    // float32 weights, each row at its own position (embed_rows): exact.
    const engine::Weights T32 = be.upload_weights(table.data(), n_vocab, d, engine::WeightType::float32);
    const int at[4] = {447, 9, 9, 0};
    poison(Y);
    be.embed_rows(T32, ids, at, 4, P, Y);
    compare("embed_rows 4 tokens, width " + std::to_string(d) + ", positions 447, 9, 9, 0", Y, [&](int i, double* o) {
      for (int c = 0; c < d; ++c)
        o[c] = static_cast<double>(table[static_cast<size_t>(ids[i]) * d + c]) + pos[static_cast<size_t>(at[i]) * d + c];
    });
    // More rows than one launch takes (64): the second launch's rows at their own positions too.
    std::vector<int> many_ids(70), many_at(70);
    for (int i = 0; i < 70; ++i) {
      many_ids[i] = (i * 7919) % n_vocab;
      many_at[i] = (i * 37) % 448;
    }
    Mat Y70 = be.alloc(70, d);
    poison(Y70);
    be.embed_rows(T32, many_ids.data(), many_at.data(), 70, P, Y70);
    compare("embed_rows 70 tokens (two launches), width " + std::to_string(d), Y70, [&](int i, double* o) {
      for (int c = 0; c < d; ++c)
        o[c] = static_cast<double>(table[static_cast<size_t>(many_ids[i]) * d + c]) +
               pos[static_cast<size_t>(many_at[i]) * d + c];
    });
    // copy a column slice of [7, 3d] into rows 5..11 of a [448, d] cache.
    auto src = rnd(static_cast<size_t>(7) * 3 * d);
    Mat S = up(src, 7, 3 * d), C = be.alloc(448, d);
    Mat dst = C.rows_view(5, 7);
    poison(dst);
    be.copy(S.cols_view(d, d), dst);
    compare("copy [7," + std::to_string(d) + "] strided -> cache rows 5..11", dst, [&](int r, double* o) {
      for (int c = 0; c < d; ++c) o[c] = src[static_cast<size_t>(r) * 3 * d + d + c];
    });
  }
  // A decoder layer of random weights kept as `type`, layer norms near 1 (its cross K/V product left empty: the
  // checks give the layers the K/V themselves).
  engine::DecoderLayerWeights random_decoder_layer(engine::WeightType type, int d) {
    auto ln = [&] {
      auto g = rnd(d, 0.2f);
      for (auto& e : g) e += 1.0f;
      return engine::LayerNormWeights{up(g, 1, d), up(rnd(d, 0.2f), 1, d)};
    };
    auto lin = [&](int out, int in) {
      const auto w = rnd(static_cast<size_t>(out) * in, 0.05f);
      return engine::LinearWeights{be.upload_weights(w.data(), out, in, type), up(rnd(out, 0.2f), 1, out)};
    };
    return {ln(), lin(3 * d, d), lin(d, d), ln(), lin(d, d), engine::LinearWeights{}, lin(d, d), ln(), lin(4 * d, d),
            lin(d, 4 * d)};
  }
  // ||got - want|| / ||want||.
  static double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      num += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
      den += static_cast<double>(want[i]) * want[i];
    }
    return std::sqrt(num / std::max(den, 1e-300));
  }

  // A recorded step's decoder layers in one persistent kernel (set_persistent_decoder, decoder_stack.cu) against the
  // same layers op by op (the default decoder_layers_at), both recorded and replayed at three positions from the same
  // x and caches: x after the layers and every layer's new cache rows compared. Not bit for bit (the attention split
  // into other parts, the layer norms summed by other threads): within tol, every value written.
  // compact: the kernel's compact build (float16; no early loads there) against the ops, and bit for bit against the
  // inline build without early loads.
  void decoder_stack(engine::WeightType type, const std::string& name, int d, int n_head, int n_layer, int n_ctx,
                     int tk, double tol, bool early_loads = true, bool compact = false) {
    const bool early_before = be.persistent_early_loads(), compact_before = be.persistent_compact();
    be.set_persistent_early_loads(early_loads);
    be.set_persistent_compact(compact);
    std::vector<engine::DecoderLayerWeights> layers;
    std::vector<Mat> cross, k0, v0;
    for (int i = 0; i < n_layer; ++i) {
      layers.push_back(random_decoder_layer(type, d));
      cross.push_back(up(rnd(static_cast<size_t>(tk) * 2 * d), tk, 2 * d));
      k0.push_back(up(rnd(static_cast<size_t>(n_ctx) * d), n_ctx, d));
      v0.push_back(up(rnd(static_cast<size_t>(n_ctx) * d), n_ctx, d));
    }
    const Mat X0 = up(rnd(d), 1, d);
    struct Run {
      std::vector<Mat> k, v;
      Mat x, qkv, attn, q, mlp;
      std::shared_ptr<void> rec;
    };
    // The ops, the persistent kernel as asked, and with `compact` the inline build without early loads (whose values
    // the compact build must give bit for bit).
    Run runs[3];
    const int n_variants = compact ? 3 : 2;
    const std::vector<int> none;
    engine::StepRules rules;
    rules.suppress = &none;
    const long long before = be.persistent_launches();
    for (int variant = 0; variant < n_variants; ++variant) {
      Run& r = runs[variant];
      for (int i = 0; i < n_layer; ++i) {
        r.k.push_back(be.alloc(n_ctx, d));
        r.v.push_back(be.alloc(n_ctx, d));
      }
      r.x = be.alloc(1, d);
      r.qkv = be.alloc(1, 3 * d);
      r.attn = be.alloc(1, d);
      r.q = be.alloc(1, d);
      r.mlp = be.alloc(1, 4 * d);
      be.set_persistent_decoder(variant >= 1);
      if (variant == 2) {
        be.set_persistent_compact(false);
        be.set_persistent_early_loads(false);
      }
      be.set_step(1, 0, rules, 64);
      be.begin_step_recording();
      try {
        be.decoder_layers_at(layers, r.k, r.v, cross, n_head, r.x, r.qkv, r.attn, r.q, r.mlp);
      } catch (...) {
        be.abort_step_recording();
        be.set_persistent_decoder(false);
        be.set_persistent_early_loads(early_before);
        be.set_persistent_compact(compact_before);
        throw;
      }
      r.rec = be.end_step_recording();
    }
    be.set_persistent_decoder(false);
    be.set_persistent_early_loads(early_before);
    be.set_persistent_compact(compact_before);
    const bool ran = be.persistent_launches() == before + (n_variants - 1);
    double worst_x = 0, worst_kv = 0;
    size_t n_bad = 0;
    bool same_bits = true;
    for (int pos : {0, 37, n_ctx - 1}) {
      std::vector<float> xs[3], kvs[3];
      for (int variant = 0; variant < n_variants; ++variant) {
        Run& r = runs[variant];
        for (int i = 0; i < n_layer; ++i) {
          be.copy(k0[i], r.k[i]);
          be.copy(v0[i], r.v[i]);
        }
        be.copy(X0, r.x);
        be.set_step(1, pos, rules, 64);
        be.replay_step(r.rec);  // (no pick in this recording, so nothing runs ahead to change x after it)
        xs[variant] = down(r.x);
        for (int i = 0; i < n_layer; ++i)
          for (const Mat* c : {&r.k[i], &r.v[i]}) {
            const std::vector<float> row = down(c->rows_view(pos, 1));
            kvs[variant].insert(kvs[variant].end(), row.begin(), row.end());
          }
      }
      for (const auto* v : {&xs[1], &kvs[1]})
        for (float e : *v) n_bad += !std::isfinite(e);
      worst_x = std::max(worst_x, rel_l2(xs[1], xs[0]));
      worst_kv = std::max(worst_kv, rel_l2(kvs[1], kvs[0]));
      if (compact)
        same_bits = same_bits && xs[2].size() == xs[1].size() && kvs[2].size() == kvs[1].size() &&
                    std::memcmp(xs[2].data(), xs[1].data(), xs[1].size() * sizeof(float)) == 0 &&
                    std::memcmp(kvs[2].data(), kvs[1].data(), kvs[1].size() * sizeof(float)) == 0;
    }
    const bool ok = ran && n_bad == 0 && worst_x < tol && worst_kv < tol && same_bits;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s x rel %.2e, new K/V rows rel %.2e%s%s%s\n", ok ? "ok" : "FAIL",
                ("persistent decoder " + std::string(engine::weight_type_name(type)) + " " + name + ", " +
                 std::to_string(n_layer) + " layers" + (compact ? ", compact" : early_loads ? "" : ", no early loads"))
                    .c_str(),
                worst_x, worst_kv, ran ? "" : " (the persistent kernel did not run)",
                n_bad ? ("  NaN " + std::to_string(n_bad)).c_str() : "",
                !compact ? "" : same_bits ? "; the inline build's bits" : "; NOT THE INLINE BUILD'S BITS");
  }
  // A step of m sequences through the decoder layers eagerly (Backend::decoder_layers_rows): the persistent kernel
  // against the default (the ops in turn), each sequence at its own position of its own caches; `shared`: every
  // sequence over one window's cross K/V (beams; the kernel reads each key once for all), else each its own
  // (batched windows). x and every new K/V row compared, within tol.
  // With `compact` (float16): the kernel's compact build runs too, and must give the inline build's values bit for
  // bit (the same arithmetic; with several rows neither issues early loads).
  void decoder_rows(engine::WeightType type, const std::string& name, int d, int n_head, int n_layer, int m,
                    bool shared, double tol, bool compact = false) {
    const int n_ctx = 448, tk = 1500;
    std::vector<engine::DecoderLayerWeights> layers;
    std::vector<std::vector<Mat>> cross(n_layer), k0(n_layer), v0(n_layer);
    for (int i = 0; i < n_layer; ++i) {
      layers.push_back(random_decoder_layer(type, d));
      for (int b = 0; b < m; ++b) {
        if (b == 0 || !shared) cross[i].push_back(up(rnd(static_cast<size_t>(tk) * 2 * d), tk, 2 * d));
        k0[i].push_back(up(rnd(static_cast<size_t>(n_ctx) * d), n_ctx, d));
        v0[i].push_back(up(rnd(static_cast<size_t>(n_ctx) * d), n_ctx, d));
      }
    }
    const Mat X0 = up(rnd(static_cast<size_t>(m) * d), m, d);
    std::vector<int> positions;
    for (int b = 0; b < m; ++b) positions.push_back((37 * b + 5) % n_ctx);
    positions.back() = n_ctx - 1;
    std::vector<float> xs[3], kvs[3];
    const long long before = be.persistent_launches();
    const int n_variants = compact ? 3 : 2;  // the ops in turn, the persistent kernel, its compact build
    for (int variant = 0; variant < n_variants; ++variant) {
      std::vector<std::vector<Mat>> k(n_layer), v(n_layer);
      std::vector<std::vector<Mat*>> kp(n_layer), vp(n_layer);
      std::vector<std::vector<const Mat*>> cp(n_layer);
      for (int i = 0; i < n_layer; ++i) {
        for (int b = 0; b < m; ++b) {
          k[i].push_back(be.alloc(n_ctx, d));
          v[i].push_back(be.alloc(n_ctx, d));
          be.copy(k0[i][b], k[i][b]);
          be.copy(v0[i][b], v[i][b]);
        }
        for (int b = 0; b < m; ++b) {
          kp[i].push_back(&k[i][b]);
          vp[i].push_back(&v[i][b]);
          cp[i].push_back(&cross[i][shared ? 0 : b]);
        }
      }
      Mat X = be.alloc(m, d), QKV = be.alloc(m, 3 * d), A = be.alloc(m, d), Q = be.alloc(m, d), MLP = be.alloc(m, 4 * d);
      // Whether the kernel takes the first launch's rows (up to 8; the others are fewer).
      const int m0 = std::min(m, 8);
      std::vector<std::vector<Mat*>> k0p(n_layer), v0p(n_layer);
      std::vector<std::vector<const Mat*>> c0p(n_layer);
      for (int i = 0; i < n_layer; ++i) {
        k0p[i].assign(kp[i].begin(), kp[i].begin() + m0);
        v0p[i].assign(vp[i].begin(), vp[i].begin() + m0);
        c0p[i].assign(cp[i].begin(), cp[i].begin() + m0);
      }
      if (variant == 0 && !be.decoder_stack_fits(layers, k0p, v0p, c0p, n_head, X.rows_view(0, m0))) {
        std::printf("  skip %-58s (the kernel's block does not fit this device: the ops in turn run)\n",
                    ("persistent decoder " + std::string(engine::weight_type_name(type)) + " " + name + ", " +
                     std::to_string(m) + (shared ? " beams" : " windows")).c_str());
        return;
      }
      be.copy(X0, X);
      const bool compact_before = be.persistent_compact(), chunks_before = be.gemv_chunks();
      be.set_persistent_decoder(variant >= 1);
      be.set_persistent_compact(variant == 2);
      // The reference's fc2 (5 or more rows of large-v3's 5120-wide input) through the matrix-vector kernel in
      // chunks, float32 as the persistent kernel's: without chunks it rounds the activations to the weights' type
      // (the tensor-core product), as the more-than-8-rows cases below do (run 34 did so, and differed by 2e-4).
      be.set_gemv_chunks(true);
      be.decoder_layers_rows(layers, kp, vp, positions, cp, n_head, X, QKV, A, Q, MLP);
      be.set_gemv_chunks(chunks_before);
      be.set_persistent_decoder(false);
      be.set_persistent_compact(compact_before);
      xs[variant] = down(X);
      for (int i = 0; i < n_layer; ++i)
        for (int b = 0; b < m; ++b)
          for (const Mat* c : {&k[i][b], &v[i][b]}) {
            const std::vector<float> row = down(c->rows_view(positions[b], 1));
            kvs[variant].insert(kvs[variant].end(), row.begin(), row.end());
          }
    }
    // A launch for each 8 sequences, in each persistent variant.
    const bool ran = be.persistent_launches() == before + (n_variants - 1) * ((m + 7) / 8);
    size_t n_bad = 0;
    for (const auto* vec : {&xs[1], &kvs[1]})
      for (float e : *vec) n_bad += !std::isfinite(e);
    const double ex = rel_l2(xs[1], xs[0]), ekv = rel_l2(kvs[1], kvs[0]);
    const bool same_bits = !compact || (xs[2].size() == xs[1].size() && kvs[2].size() == kvs[1].size() &&
                                        std::memcmp(xs[2].data(), xs[1].data(), xs[1].size() * sizeof(float)) == 0 &&
                                        std::memcmp(kvs[2].data(), kvs[1].data(), kvs[1].size() * sizeof(float)) == 0);
    const bool ok = ran && n_bad == 0 && ex < tol && ekv < tol && same_bits;
    if (!ok) ++n_fail;
    std::printf("  %-4s %-58s x rel %.2e, new K/V rows rel %.2e%s%s%s\n", ok ? "ok" : "FAIL",
                ("persistent decoder " + std::string(engine::weight_type_name(type)) + " " + name + ", " +
                 std::to_string(m) + (shared ? " beams" : " windows")).c_str(),
                ex, ekv, ran ? "" : " (the persistent kernel did not run)",
                n_bad ? ("  NaN " + std::to_string(n_bad)).c_str() : "",
                !compact ? "" : same_bits ? "; compact build bit for bit" : "; COMPACT BUILD DIFFERS");
  }
};

}  // namespace

// cuda_check --picks: only the picks' checks and timings (a short GPU call).
int run_pick_checks(CudaBackend& be) {
  Checker ck{be};
  for (int n_vocab : {51865, 51866}) ck.picks_both_ways(n_vocab);
  std::printf("op checks: %d failed%s\n", ck.n_fail, ck.cluster_ran ? "" : " (the cluster pick did not run)");
  return ck.n_fail ? 1 : ck.cluster_ran ? 0 : 2;
}

int run_op_checks(CudaBackend& be) {
  Checker ck{be};
  // The tensor-core row kernel (on by default since run 37) only where a check asks for it (Checker::tensor_rows):
  // the other several-row checks keep checking the matrix-vector kernel and its switches, as written.
  const bool tensor_rows0 = be.tensor_rows_on();
  be.set_tensor_rows(false);
  struct Shape { const char* name; int d, n_head, n_mels, n_vocab; };
  for (const Shape s : {Shape{"tiny", 384, 6, 80, 51865}, Shape{"large-v3", 1280, 20, 128, 51866}}) {
    std::printf("%s (d %d, %d heads, %d mels):\n", s.name, s.d, s.n_head, s.n_mels);
    const int d = s.d;
    ck.linear("qkv", 1500, 3 * d, d, true);
    ck.linear("fc1", 1500, 4 * d, d, true);
    ck.linear("fc2", 1500, d, 4 * d, true);
    ck.linear("cross_kv", 1500, 2 * d, d, true);
    ck.linear("step qkv", 1, 3 * d, d, true);
    ck.linear("step fc2", 1, d, 4 * d, true);
    ck.linear("logits", 1, s.n_vocab, d, false);
    ck.linear("prompt", 7, d, d, true, 13);
    ck.layer_norm(1500, d);
    ck.layer_norm(1, d);
    ck.gelu_add(1500, 4 * d);
    ck.attention("encoder", 1500, 1500, s.n_head, d, -1);
    ck.attention("step self", 1, 101, s.n_head, d, 100);
    ck.attention("step self (cache longer than visible)", 1, 120, s.n_head, d, 100);
    ck.attention("step cross", 1, 1500, s.n_head, d, -1);
    // Again on fresh inputs: a race between the chunk blocks and the merge would move the error.
    ck.attention("step cross (again)", 1, 1500, s.n_head, d, -1);
    ck.attention("step cross (third)", 1, 1500, s.n_head, d, -1);
    ck.attention("prompt", 5, 105, s.n_head, d, 100);
    ck.attention("5 beams over the cross K/V", 5, 1500, s.n_head, d, -1);
    ck.attention("16 windows' queries over one cross K/V", 16, 1500, s.n_head, d, -1);
    ck.step_self(5, 448, s.n_head, d);
    ck.step_self(16, 448, s.n_head, d);
    ck.step_self(19, 448, s.n_head, d);  // more than one launch's rows
    // One block a sequence and head over short caches (set_small_self, on by default since run 35).
    const bool small_before = be.small_self();
    be.set_small_self(true);
    const long long small0 = be.small_self_launches();
    ck.step_self(5, 200, s.n_head, d);
    ck.step_self(19, 200, s.n_head, d);
    ck.step_self(1, 2, s.n_head, d);
    const bool small_ran = be.small_self_launches() == small0 + 4;  // 1 + 2 + 1 launches
    ck.step_self(16, 448, s.n_head, d);  // one launch, a cache of 428 visible keys among them: the clusters
    const bool small_skipped = be.small_self_launches() == small0 + 4;
    be.set_small_self(small_before);
    if (!small_ran || !small_skipped) ++ck.n_fail;
    std::printf("  %-4s %-58s\n", small_ran && small_skipped ? "ok" : "FAIL",
                "step self-attention, one block a head: taken for short caches only");
    ck.conv1d("conv1", 3000, s.n_mels, d, 1);
    ck.conv1d("conv2", 3000, d, d, 2);
    ck.embed_copy(s.n_vocab, d);
    ck.picks_both_ways(s.n_vocab);
  }
  std::printf("odd shapes:\n");
  ck.linear("k not a multiple of 4", 1, 51, 37, true);
  ck.linear("k not a multiple of 4", 3, 51, 37, true);
  ck.attention("d_head 16", 1, 37, 6, 96, 36);
  ck.attention("d_head 32", 1, 70, 2, 64, -1);
  ck.attention("d_head 16", 9, 40, 6, 96, 30);
  std::printf("cuBLASLt products and switches, their refusals:\n");
  ck.lt_product_errors();
  // Half precision: weights float16 / bfloat16, products on the tensor cores, the encoder's attention in
  // flash_attention.cu. Tolerances from the types' rounding (float16 2^-11, bfloat16 2^-8 per operand):
  // METHOD.md's bf16 range is 1e-3 to 1e-2.
  for (auto [type, prec, tol] : {std::tuple{engine::WeightType::float16, engine::cuda::Precision::f16, 2e-3},
                                 std::tuple{engine::WeightType::bfloat16, engine::cuda::Precision::bf16, 1.2e-2}}) {
    be.set_precision(prec);
    std::printf("%s:\n", engine::weight_type_name(type));
    for (const Shape s : {Shape{"tiny", 384, 6, 80, 51865}, Shape{"large-v3", 1280, 20, 128, 51866}}) {
      const int d = s.d;
      ck.linear_half("qkv", type, 1500, 3 * d, d, true, tol);
      ck.linear_half("fc2", type, 1500, d, 4 * d, true, tol);
      ck.linear_half("cross_kv", type, 1500, 2 * d, d, true, tol);
      ck.linears_half(type, 1500, d, 3);
      ck.linear_half("step qkv", type, 1, 3 * d, d, true, tol);
      ck.linear_half("step fc1", type, 1, 4 * d, d, true, tol);
      ck.linear_half("step fc2", type, 1, d, 4 * d, true, tol);
      ck.linear_half("5 beams fc1", type, 5, 4 * d, d, true, tol);
      ck.linear_half("5 beams fc2", type, 5, d, 4 * d, true, tol);
      ck.linear_half("logits", type, 1, s.n_vocab, d, false, tol);
      ck.linear_half("5 beams logits", type, 5, s.n_vocab, d, false, tol);
      ck.linear_half("prompt", type, 12, d, d, true, tol);
      ck.embed_half(type, s.n_vocab, d, tol);
      using Epi = engine::Backend::Epilogue;
      // 5 and 8 rows of 4d: past the kernel's 96 KiB, the rounded tensor-core product, or with the experiments on
      // (set_gemv_chunks) the input in chunks; and the rows' layer norms a warp each (set_gemv_norm_by_warp).
      const bool chunks0 = be.gemv_chunks(), warp_norm0 = be.gemv_norm_by_warp(),
                 one_norm0 = be.gemv_one_row_norm_by_warp();  // put back below
      for (bool experiments : {false, true}) {
        be.set_gemv_chunks(experiments);
        be.set_gemv_norm_by_warp(experiments);
        be.set_gemv_one_row_norm_by_warp(experiments);
        for (int rows : {1, 2, 5, 8}) {
          ck.linear_fused_half(type, rows, 3 * d, d, true, Epi::none, tol);
          ck.linear_fused_half(type, rows, d, d, false, Epi::add, tol);
          ck.linear_fused_half(type, rows, 4 * d, d, true, Epi::gelu, tol);
          ck.linear_fused_half(type, rows, d, 4 * d, false, Epi::add, tol);
        }
      }
      be.set_gemv_chunks(chunks0);
      be.set_gemv_norm_by_warp(warp_norm0);
      be.set_gemv_one_row_norm_by_warp(one_norm0);
      ck.linear_fused_half(type, 1, s.n_vocab, d, true, Epi::none, tol);
      ck.norm_once(type, {1, 2, 5, 8}, s.n_vocab, d);
      {  // the logits with norm once the other way round from the default, against double precision too
        const bool once0 = be.norm_once();
        be.set_norm_once(!once0);
        ck.linear_fused_half(type, 5, s.n_vocab, d, true, Epi::none, tol);
        be.set_norm_once(once0);
      }
      ck.linear_fused_half(type, 12, d, d, true, Epi::gelu, tol);  // more rows: the ops in turn
      if (type == engine::WeightType::float16) {  // the tensor-core row kernel (float16 weights only)
        for (int rows : {1, 2, 5, 8, 12, 16}) {
          ck.tensor_rows(rows, 3 * d, d, true, Epi::none, tol);
          ck.tensor_rows(rows, d, d, false, Epi::add, tol);
          ck.tensor_rows(rows, 4 * d, d, true, Epi::gelu, tol);
          ck.tensor_rows(rows, d, 4 * d, false, Epi::add, tol);
        }
        ck.tensor_rows(5, s.n_vocab, d, true, Epi::none, tol);
        ck.tensor_rows(1, s.n_vocab, d, true, Epi::none, tol);
        ck.tensor_rows(16, s.n_vocab, d, true, Epi::none, tol);  // past norm once's 8 rows: the kernel's own norm
      }
      ck.layer_norm_half(1500, d, type == engine::WeightType::float16, tol);
      ck.layer_norm_half(7, d + 8, type == engine::WeightType::float16, tol);  // a width for the block-a-row kernel
      ck.conv1d(std::string(engine::weight_type_name(type)) + " conv1", 3000, s.n_mels, d, 1, tol);
      ck.conv1d(std::string(engine::weight_type_name(type)) + " conv2", 3000, d, d, 2, tol);
      // Fresh weights where the last ones were freed: the rounded weights kept for the old ones must not serve them.
      ck.conv1d(std::string(engine::weight_type_name(type)) + " conv2 (new weights)", 3000, d, d, 2, tol);
      if (type == engine::WeightType::float16) ck.cross_kv_direct(s.name, d, s.n_head, 3);
      ck.encoder_stem(std::string(engine::weight_type_name(type)) + " " + s.name, 3000, s.n_mels, d);
      ck.encoder_stem(std::string(engine::weight_type_name(type)) + " " + s.name + ", 7 frames", 7, s.n_mels, d);
      ck.attention(std::string("flash ") + s.name + " encoder", 1500, 1500, s.n_head, d, -1, tol);
      ck.attention(std::string("flash ") + s.name + " encoder (again)", 1500, 1500, s.n_head, d, -1, tol);
      ck.attention(std::string("flash ") + s.name + " prompt", 5, 105, s.n_head, d, 100, tol);
      ck.attention(std::string("flash ") + s.name + " prompt, 40 queries", 40, 140, s.n_head, d, 100, tol);
      // One-query steps keep the float32 path in every mode.
      ck.attention(std::string("step cross ") + s.name, 1, 1500, s.n_head, d, -1);
    }
    ck.attention("flash odd sizes", 37, 70, 2, 128, -1, tol);
    ck.attention("flash odd sizes causal", 77, 133, 3, 192, 56, tol);
    ck.attention("flash causal from 0", 65, 65, 2, 128, 0, tol);
    ck.linear_half("k not a multiple of 8", type, 1, 51, 36, true, tol);
    ck.linear_half("k not a multiple of 8", type, 20, 51, 36, true, tol);
  }
  std::printf("the matrix-vector kernel's launch shapes:\n");
  for (auto [type, prec] : {std::pair{engine::WeightType::float16, engine::cuda::Precision::f16},
                            std::pair{engine::WeightType::bfloat16, engine::cuda::Precision::bf16}}) {
    be.set_precision(prec);
    using Epi = engine::Backend::Epilogue;
    const bool chunks0 = be.gemv_chunks(), warp_norm0 = be.gemv_norm_by_warp(),
               one_norm0 = be.gemv_one_row_norm_by_warp();  // put back below
    for (bool experiments : {false, true}) {  // chunks and the rows' norms a warp each, off and on
      be.set_gemv_chunks(experiments);
      be.set_gemv_norm_by_warp(experiments);
      be.set_gemv_one_row_norm_by_warp(experiments);
      // Two rows: the residual read right after the wait (one or two values a warp) against 2 x 2 and 2 x 4 shapes
      // that read it after the sums.
      for (int rows : {1, 2, 5}) {
        ck.gemv_shapes(type, rows, 3 * 1280, 1280, true, Epi::none);
        ck.gemv_shapes(type, rows, 4 * 384, 384, true, Epi::gelu);
        ck.gemv_shapes(type, rows, 1280, 4 * 1280, false, Epi::add);
        ck.gemv_shapes(type, rows, 1000, 1280, false, Epi::add);  // rows not a multiple of a block's
      }
      if (experiments) ck.gemv_shapes(type, 8, 1280, 4 * 1280, false, Epi::add);  // in chunks
      for (int rows : {1, 2, 5}) {
        ck.staged_norm(type, rows, 3 * 1280, 1280, Epi::none);
        ck.staged_norm(type, rows, 4 * 384, 384, Epi::gelu);
      }
    }
    // fc1 of large-v3 and of tiny, the logits' product of large-v3 (normalised once, 51866 wide).
    ck.expanding_shapes(type, 4 * 1280, 1280, Epi::gelu);
    ck.expanding_shapes(type, 4 * 384, 384, Epi::gelu);
    ck.expanding_shapes(type, 51866, 1280, Epi::none);
    ck.staged_norm(type, 1, 4 * 1280, 1280, Epi::gelu);  // the expanding shape's warp norm
    ck.staged_norm(type, 1, 51866, 1280, Epi::none);     // the logits' norm once
    ck.norm_fold_refusals();
    // The norm folded into fc1 (large-v3's and tiny's) and a q|k|v-shaped product: x as the others, then shifted
    // and with large channels.
    for (auto [offset, outlier] : {std::pair{0.0f, 1.0f}, std::pair{4.0f, 1.0f}, std::pair{1.0f, 60.0f}}) {
      ck.norm_fold(type, 4 * 1280, 1280, Epi::gelu, offset, outlier);
      ck.norm_fold(type, 4 * 384, 384, Epi::gelu, offset, outlier);
      ck.norm_fold(type, 3 * 1280, 1280, Epi::none, offset, outlier);
    }
    be.set_gemv_chunks(chunks0);
    be.set_gemv_norm_by_warp(warp_norm0);
    be.set_gemv_one_row_norm_by_warp(one_norm0);
    // Chunks against one pass (only inputs over 2048 wide go in chunks): 4 rows of 5120 (80 KiB whole; chunks of
    // 3072 at 64 KiB), 8 rows (160 KiB whole; chunks of 1536 at 96 KiB), 5 rows of 2304 (45 KiB whole; chunks of
    // 1024 and a last of 256 at 20 KiB).
    ck.gemv_chunked(type, 4, 1280, 4 * 1280, 96 * 1024, 64 * 1024);
    ck.gemv_chunked(type, 8, 1280, 4 * 1280, 160 * 1024, 96 * 1024);
    ck.gemv_chunked(type, 5, 384, 2304, 96 * 1024, 20 * 1024);
  }
  std::printf("several rows over one window's cross-attention K/V:\n");
  be.set_precision(engine::cuda::Precision::f16);
  for (int rows : {1, 2, 5, 6, 7, 8}) {
    ck.shared_kv(rows, 1500, 20, 1280);
    ck.shared_kv(rows, 1500, 6, 384);
  }
  ck.shared_kv(5, 7, 20, 1280);     // the last block of each head without keys
  ck.shared_kv(5, 3000, 20, 1280);  // two rounds of scores a block
  ck.shared_kv(3, 100, 6, 384);
  ck.shared_kv(3, 100, 8, 384);    // heads 48 wide
  ck.shared_kv(4, 1500, 12, 384);  // 32 wide
  for (int rows : {1, 5}) {
    ck.shared_kv_half(rows, 1500, 20, 1280);
    ck.shared_kv_half(rows, 1500, 6, 384);
  }
  ck.shared_kv_half(5, 3000, 20, 1280);  // two rounds of scores a block
  ck.shared_kv_half(5, 7, 20, 1280);     // the last block of each head without keys
  ck.shared_kv_half(3, 100, 8, 384);     // heads 48 wide
  std::printf("decoder cross query fused into the cross-attention:\n");
  for (auto [type, prec] : {std::pair{engine::WeightType::float16, engine::cuda::Precision::f16},
                            std::pair{engine::WeightType::bfloat16, engine::cuda::Precision::bf16}}) {
    be.set_precision(prec);
    ck.cross_fused(type, "tiny", 384, 6, 1500, true);
    ck.cross_fused(type, "large-v3", 1280, 20, 1500, true);
    ck.cross_fused(type, "large-v3, 7 keys", 1280, 20, 7, true);
    ck.cross_fused(type, "large-v3, 3000 keys", 1280, 20, 3000, true);  // two rounds of scores a block
    ck.cross_fused(type, "large-v3", 1280, 20, 1500, false);           // no shadow: not fused
    ck.cross_folded(type, "tiny", 384, 6, 1500);
    ck.cross_folded(type, "small", 768, 12, 1500);
    ck.cross_folded(type, "large-v3", 1280, 20, 1500);
    ck.cross_folded(type, "width 2048", 2048, 32, 1500);  // the widest the kernels take: 256 rows a block
  }
  std::printf("the mel spectrogram's upload, transposed on the device:\n");
  for (auto [rows, cols] : {std::pair{128, 3000}, std::pair{128, 3000}, std::pair{80, 3000}, std::pair{45, 70},
                            std::pair{1, 65537}, std::pair{64, 1024}})  // (65537 floats: a 256 KiB chunk and 4 bytes)
    ck.upload_transposed(rows, cols);
  for (auto [rows, cols] : {std::pair{128, 3000}, std::pair{80, 3000}, std::pair{45, 70}, std::pair{1, 131073}})
    ck.upload_mel(rows, cols);  // (131073 halves: a 256 KiB chunk and 2 bytes)
  std::printf("encoder attention on half inputs (flash_attention_half):\n");
  // (1 to 4 blocks of 64 keys and 24: the pipelined shape's stages start, wrap and end at each of them)
  for (int t : {1, 16, 64, 77, 128, 129, 192, 193, 1500}) {
    ck.flash_half<__half>("", t, t == 1500 ? 20 : 3, 3e-3);
    ck.flash_half<__nv_bfloat16>("", t, t == 1500 ? 20 : 3, 2e-2);
  }
  std::printf("encoder blocks with half activations:\n");
  for (auto [type, prec, tol] : {std::tuple{engine::WeightType::float16, engine::cuda::Precision::f16, 1e-2},
                                 std::tuple{engine::WeightType::bfloat16, engine::cuda::Precision::bf16, 4e-2}}) {
    ck.encoder_blocks_half(type, prec, "tiny", 384, 6, 2, tol);
    ck.encoder_blocks_half(type, prec, "large-v3", 1280, 20, 2, tol);
  }
  be.set_precision(engine::cuda::Precision::f32);
  be.set_own_gemv(false);
  std::printf("one-row linear through cublasSgemv:\n");
  ck.linear("step qkv", 1, 3 * 1280, 1280, true);
  ck.linear("logits", 1, 51866, 1280, false);
  be.set_own_gemv(true);
  // The TF32 switch changes the matrix products (not a pass/fail check: tf32 lands near 3e-4).
  be.set_tf32(true);
  {
    auto x = random_vec(static_cast<size_t>(512) * 1280, 99), w = random_vec(static_cast<size_t>(1280) * 1280, 98);
    Mat X = be.upload(x.data(), 512, 1280), W = be.upload(w.data(), 1280, 1280), Y = be.alloc(512, 1280);
    be.linear(X, W, nullptr, Y);
    std::vector<float> got(static_cast<size_t>(512) * 1280);
    be.download(Y, got.data());
    double num = 0, den = 0;
    for (int r = 0; r < 512; r += 37)
      for (int j = 0; j < 1280; ++j) {
        double s = 0;
        for (int t = 0; t < 1280; ++t) s += static_cast<double>(x[static_cast<size_t>(r) * 1280 + t]) * w[static_cast<size_t>(j) * 1280 + t];
        num += (got[static_cast<size_t>(r) * 1280 + j] - s) * (got[static_cast<size_t>(r) * 1280 + j] - s);
        den += s * s;
      }
    std::printf("info: with TF32 on, linear [512,1280]x[1280,1280]^T rel %.2e (expected near 3e-4)\n", std::sqrt(num / den));
  }
  be.set_tf32(false);
  // Last: the persistent kernel is new, and a fault in it (a trap from its barrier's watchdog) ends the process.
  std::printf("decoder layers in one persistent kernel (recorded step at positions 0, 37, 447; eager steps of several sequences):\n");
  for (auto [type, prec] : {std::pair{engine::WeightType::float16, engine::cuda::Precision::f16},
                            std::pair{engine::WeightType::bfloat16, engine::cuda::Precision::bf16}}) {
    be.set_precision(prec);
    ck.decoder_stack(type, "tiny", 384, 6, 2, 448, 1500, 1e-4);
    ck.decoder_stack(type, "large-v3", 1280, 20, 2, 448, 1500, 1e-4);
    ck.decoder_stack(type, "large-v3, 7 keys", 1280, 20, 3, 448, 7, 1e-4);
    ck.decoder_stack(type, "large-v3", 1280, 20, 2, 448, 1500, 1e-4, false);
    ck.decoder_rows(type, "tiny", 384, 6, 2, 8, true, 1e-4);
    ck.decoder_rows(type, "tiny", 384, 6, 2, 3, false, 1e-4);
    // More than 8 rows: the op-by-op reference's products round the activations to the weights' type (the
    // matrix-vector kernel takes at most 8 rows; half_linear.cu), the persistent kernel keeps them float32, so the
    // two differ by the activations' rounding (run 31: float16 2.0e-4, bfloat16 1.7e-3).
    const double rounded = type == engine::WeightType::float16 ? 1e-3 : 1e-2;
    ck.decoder_rows(type, "tiny", 384, 6, 2, 11, false, rounded);  // two launches: 8 windows, then 3
    ck.decoder_rows(type, "tiny", 384, 6, 2, 9, false, rounded);   // 8, then one (the one-row kernel, eagerly)
    ck.decoder_rows(type, "large-v3", 1280, 20, 2, 5, true, 1e-4);
    ck.decoder_rows(type, "large-v3", 1280, 20, 2, 2, false, 1e-4);
    // 7 x 20 = 140 parts, more than one a block on 132 SMs (a block then attends over two parts in turn).
    ck.decoder_rows(type, "large-v3", 1280, 20, 2, 7, true, 1e-4);
    ck.decoder_rows(type, "large-v3", 1280, 20, 2, 7, false, 1e-4);
    if (type == engine::WeightType::float16) {
      // The compact build (float16 only): against the ops, and bit for bit against the inline build.
      ck.decoder_stack(type, "large-v3", 1280, 20, 2, 448, 1500, 1e-4, false, true);
      ck.decoder_stack(type, "tiny", 384, 6, 2, 448, 1500, 1e-4, false, true);
      ck.decoder_rows(type, "large-v3", 1280, 20, 2, 5, true, 1e-4, true);
      ck.decoder_rows(type, "large-v3", 1280, 20, 2, 7, false, 1e-4, true);
      ck.decoder_rows(type, "tiny", 384, 6, 2, 11, false, rounded, true);
    }
  }
  be.set_precision(engine::cuda::Precision::f32);
  be.set_tensor_rows(tensor_rows0);
  std::printf("op checks: %d failed\n", ck.n_fail);
  return ck.n_fail;
}

}  // namespace wst::cuda_tool

int main(int argc, char** argv) {
  bool bench = true, checks = true, picks_only = false;
  int reps = 30;
  std::vector<std::string> archs;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--skip-bench") == 0) bench = false;
    else if (std::strcmp(argv[i], "--skip-checks") == 0) checks = false;
    else if (std::strcmp(argv[i], "--picks") == 0) picks_only = true;
    else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = std::atoi(argv[++i]);
    else archs.push_back(argv[i]);
  }
  if (archs.empty()) archs = {"tiny", "base", "small", "large-v3-turbo", "large-v3"};
  try {
    const std::string why = wst::engine::cuda_unavailable_reason();
    if (!why.empty()) {
      std::printf("%s\n", why.c_str());
      return 2;
    }
    wst::engine::cuda::CudaBackend be(0, false);
    cudaDeviceProp prop{};
    WST_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    int driver = 0, runtime = 0;
    WST_CUDA_CHECK(cudaDriverGetVersion(&driver));
    WST_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    std::printf("device: %s, %d SMs, %.1f GiB, cc %d.%d, driver %d, runtime %d\n", prop.name, prop.multiProcessorCount,
                prop.totalGlobalMem / 1073741824.0, prop.major, prop.minor, driver, runtime);
    if (picks_only) return wst::cuda_tool::run_pick_checks(be);
    const int n_fail = checks ? wst::cuda_tool::run_op_checks(be) : 0;
    int rc = n_fail ? 1 : 0;
    if (bench) rc |= wst::cuda_tool::run_benchmarks(be, archs, reps);
    return rc;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
