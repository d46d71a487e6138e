// Every backend op against a plain reference written here in double precision, on random inputs of several
// shapes (as ggml's test-backend-ops). The CUDA backend runs the same cases against the CPU backend in
// cuda_backend_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/attention_tiled.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/packed_kernels.h"
#include "engine/cpu/vec_math.h"
#include "support/error_of.h"
#include "util/errors.h"
#include "util/half.h"

namespace wst::engine {
namespace {

// float32 sums of up to 1536 products against double: 1e-4 absolute + 1e-4 relative is far below what a
// wrong index or a missing term gives (O(0.1)).
constexpr double kAbs = 1e-4, kRel = 1e-4;

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  double max_diff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::abs(got[i] - want[i]);
    max_diff = std::max(max_diff, diff);
    ASSERT_LE(diff, kAbs + kRel * std::abs(want[i])) << what << ": first bad index " << i << ", got " << got[i]
                                                     << ", want " << want[i];
  }
}

class BackendOps : public ::testing::TestWithParam<int> {  // parameter: thread count
 protected:
  std::unique_ptr<Backend> be_ = make_cpu_backend(GetParam());
  std::vector<float> down(const Mat& m) {
    std::vector<float> h(static_cast<size_t>(m.rows) * m.cols);
    be_->download(m, h.data());
    return h;
  }
};

TEST_P(BackendOps, LinearMatchesReference) {
  for (auto [m, n, k] : {std::tuple{1, 51, 64}, std::tuple{7, 33, 20}, std::tuple{130, 96, 384}}) {
    auto x = random_vec(m * k, 1), w = random_vec(n * k, 2), b = random_vec(n, 3);
    Mat X = be_->upload(x.data(), m, k), W = be_->upload(w.data(), n, k), B = be_->upload(b.data(), 1, n), Y = be_->alloc(m, n);
    be_->linear(X, W, &B, Y);
    std::vector<double> want(m * n);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = b[j];
        for (int t = 0; t < k; ++t) s += static_cast<double>(x[i * k + t]) * w[j * k + t];
        want[i * n + j] = s;
      }
    expect_close(down(Y), want, "linear");
  }
}

TEST_P(BackendOps, UploadTransposedGivesTheTranspose) {
  // The mel spectrogram's shape (past the 32 x 32 tiles' edges in both directions), a single row, a single column;
  // through upload_transposed and encode()'s upload_mel, which in float32 (a float16 backend may round it to what
  // its first convolution reads) is the same.
  for (auto [rows, cols] : {std::pair{80, 3000}, std::pair{45, 70}, std::pair{1, 33}, std::pair{33, 1}}) {
    auto x = random_vec(rows * cols, 7);
    for (bool mel : {false, true}) {
      const Mat T = mel ? be_->upload_mel(x.data(), rows, cols) : be_->upload_transposed(x.data(), rows, cols);
      ASSERT_EQ(T.rows, cols);
      ASSERT_EQ(T.cols, rows);
      const std::vector<float> got = down(T);
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
          ASSERT_EQ(got[static_cast<size_t>(c) * rows + r], x[static_cast<size_t>(r) * cols + c])
              << (mel ? "upload_mel " : "upload_transposed ") << rows << "x" << cols << " at " << r << "," << c;
    }
  }
}

TEST_P(BackendOps, LayerNormAndGeluMatchReference) {
  const int rows = 70, cols = 384;
  auto x = random_vec(rows * cols, 4, 3.0f), g = random_vec(cols, 5), b = random_vec(cols, 6);
  Mat X = be_->upload(x.data(), rows, cols), G = be_->upload(g.data(), 1, cols), B = be_->upload(b.data(), 1, cols);
  Mat Y = be_->alloc(rows, cols);
  be_->layer_norm(X, G, B, Y);
  std::vector<double> want(rows * cols);
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    for (int c = 0; c < cols; ++c) var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
    var /= cols;
    for (int c = 0; c < cols; ++c) want[r * cols + c] = (x[r * cols + c] - mean) / std::sqrt(var + 1e-5) * g[c] + b[c];
  }
  expect_close(down(Y), want, "layer_norm");
  be_->gelu(X);
  for (size_t i = 0; i < x.size(); ++i) want[i] = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
  expect_close(down(X), want, "gelu");
}

TEST_P(BackendOps, AttentionMatchesReference) {
  // Shapes: a decoded token (1 query), a prompt with a causal mask over a cache, and an encoder-sized
  // block count (> 512 rows, so more than one row block).
  struct Case { int tq, tk, n_head, d, causal; };
  // The last three are the encoder's register-tiled kernel (attention_tiled.cpp: >= 64 queries, head width
  // 64, no mask) with query counts that are not a multiple of its 24-row blocks and key counts that are not a
  // multiple of its 16- and 48-key tiles, including the encoder's 1500 keys.
  for (const Case c : {Case{1, 37, 6, 384, 36}, Case{5, 12, 4, 64, 7}, Case{600, 150, 2, 64, -1},
                       Case{130, 101, 3, 192, -1}, Case{77, 1500, 1, 64, -1}, Case{64, 17, 2, 128, -1}}) {
    auto qkv = random_vec(static_cast<size_t>(c.tq + 2 * c.tk) * c.d, 7);
    const float* q = qkv.data();
    const float* k = q + static_cast<size_t>(c.tq) * c.d;
    const float* v = k + static_cast<size_t>(c.tk) * c.d;
    Mat Q = be_->upload(q, c.tq, c.d), K = be_->upload(k, c.tk, c.d), V = be_->upload(v, c.tk, c.d), O = be_->alloc(c.tq, c.d);
    be_->attention(Q, K, V, O, c.n_head, c.causal);
    const int dh = c.d / c.n_head;
    std::vector<double> want(static_cast<size_t>(c.tq) * c.d);
    for (int h = 0; h < c.n_head; ++h)
      for (int i = 0; i < c.tq; ++i) {
        const int visible = c.causal < 0 ? c.tk : std::min(c.tk, c.causal + i + 1);
        std::vector<double> p(visible);
        double mx = -1e300, sum = 0;
        for (int j = 0; j < visible; ++j) {
          double s = 0;
          for (int t = 0; t < dh; ++t) s += static_cast<double>(q[i * c.d + h * dh + t]) * k[j * c.d + h * dh + t];
          p[j] = s / std::sqrt(static_cast<double>(dh));
          mx = std::max(mx, p[j]);
        }
        for (auto& x : p) sum += (x = std::exp(x - mx));
        for (int t = 0; t < dh; ++t) {
          double o = 0;
          for (int j = 0; j < visible; ++j) o += p[j] / sum * v[j * c.d + h * dh + t];
          want[i * c.d + h * dh + t] = o;
        }
      }
    expect_close(down(O), want, "attention");
  }
}

// A decoder step's self-attention for several sequences at once (beams, batched windows): each sequence's new k
// and v land in its own cache at its own position, and its query attends over that cache's rows up to there.
TEST_P(BackendOps, StepSelfAttentionWritesEachCacheAndAttendsOverIt) {
  const int n = 3, ctx = 20, d = 64, n_head = 2, dh = d / n_head;
  const std::vector<int> pos = {0, 7, 19};
  auto qkv = random_vec(static_cast<size_t>(n) * 3 * d, 21);
  Mat QKV = be_->upload(qkv.data(), n, 3 * d), O = be_->alloc(n, d);
  std::vector<std::vector<float>> kc(n), vc(n);
  std::vector<Mat> K, V;
  for (int b = 0; b < n; ++b) {
    kc[b] = random_vec(static_cast<size_t>(ctx) * d, 30 + b);
    vc[b] = random_vec(static_cast<size_t>(ctx) * d, 40 + b);
    K.push_back(be_->upload(kc[b].data(), ctx, d));
    V.push_back(be_->upload(vc[b].data(), ctx, d));
  }
  std::vector<Mat*> kp = {&K[0], &K[1], &K[2]}, vp = {&V[0], &V[1], &V[2]};
  be_->step_self_attention(QKV, kp, vp, pos, O, n_head);
  std::vector<double> want(static_cast<size_t>(n) * d);
  for (int b = 0; b < n; ++b) {
    for (int c = 0; c < d; ++c) {
      kc[b][static_cast<size_t>(pos[b]) * d + c] = qkv[static_cast<size_t>(b) * 3 * d + d + c];
      vc[b][static_cast<size_t>(pos[b]) * d + c] = qkv[static_cast<size_t>(b) * 3 * d + 2 * d + c];
    }
    EXPECT_EQ(down(K[b]), kc[b]) << "sequence " << b << "'s k cache";
    EXPECT_EQ(down(V[b]), vc[b]) << "sequence " << b << "'s v cache";
    for (int h = 0; h < n_head; ++h) {
      std::vector<double> p(pos[b] + 1);
      double mx = -1e300, sum = 0;
      for (int j = 0; j <= pos[b]; ++j) {
        double sc = 0;
        for (int t = 0; t < dh; ++t)
          sc += static_cast<double>(qkv[static_cast<size_t>(b) * 3 * d + h * dh + t]) * kc[b][static_cast<size_t>(j) * d + h * dh + t];
        p[j] = sc / std::sqrt(static_cast<double>(dh));
        mx = std::max(mx, p[j]);
      }
      for (auto& x : p) sum += (x = std::exp(x - mx));
      for (int t = 0; t < dh; ++t) {
        double o = 0;
        for (int j = 0; j <= pos[b]; ++j) o += p[j] / sum * vc[b][static_cast<size_t>(j) * d + h * dh + t];
        want[static_cast<size_t>(b) * d + h * dh + t] = o;
      }
    }
  }
  expect_close(down(O), want, "step_self_attention");
  // A position outside a cache, or fewer positions than rows, is refused by name.
  const std::vector<int> outside = {0, 7, ctx};
  try {
    be_->step_self_attention(QKV, kp, vp, outside, O, n_head);
    ADD_FAILURE() << "a position past the cache was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("step_self_attention"), std::string::npos) << e.what();
  }
  EXPECT_THROW(be_->step_self_attention(QKV, kp, vp, {0, 7}, O, n_head), Error);
}

// cross_attention_rows: each query row over its own K/V (rows 0 and 1 share one window, row 2 has another, row
// 3 the first again), the same values as cross_attention row by row; mismatched counts are refused by name.
TEST_P(BackendOps, CrossAttentionRowsAttendEachRowOverItsOwnKeys) {
  const int n = 4, d = 64, n_head = 2;
  const std::vector<int> keys = {30, 11};
  auto q = random_vec(static_cast<size_t>(n) * d, 51);
  Mat Q = be_->upload(q.data(), n, d), O = be_->alloc(n, d);
  std::vector<Mat> K, V;
  for (int w = 0; w < 2; ++w) {
    auto kv = random_vec(static_cast<size_t>(keys[w]) * 2 * d, 60 + w);
    K.push_back(be_->upload(kv.data(), keys[w], d));
    V.push_back(be_->upload(kv.data() + static_cast<size_t>(keys[w]) * d, keys[w], d));
  }
  const std::vector<int> window = {0, 0, 1, 0};
  std::vector<const Mat*> kp, vp;
  for (int w : window) kp.push_back(&K[w]), vp.push_back(&V[w]);
  be_->cross_attention_rows(Q, kp, vp, O, n_head);
  const std::vector<float> got = down(O);
  for (int b = 0; b < n; ++b) {
    Mat one = be_->alloc(1, d);
    be_->cross_attention(Q.rows_view(b, 1), K[window[b]], V[window[b]], one, n_head);
    const std::vector<float> want = down(one);
    for (int c = 0; c < d; ++c)
      EXPECT_NEAR(got[static_cast<size_t>(b) * d + c], want[c], 1e-6f) << "row " << b << ", column " << c;
  }
  try {
    be_->cross_attention_rows(Q, {kp[0], kp[1]}, vp, O, n_head);
    ADD_FAILURE() << "two K matrices for four rows were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cross_attention_rows"), std::string::npos) << e.what();
  }
}

// The tiled kernel against the sgemm path it replaces (attention() with WST_ATTENTION unset takes the tiled
// one for these shapes): within 2e-6 absolute on outputs of size ~0.1-1 (float rounding of sums over 1500
// keys), at the encoder's shape with several heads.
TEST_P(BackendOps, TiledAttentionMatchesSgemmPath) {
  if (!cpu::attention_tiled_supported(64, -1)) GTEST_SKIP() << "no AVX-512F here";
  const int tq = 1500, tk = 1500, n_head = 6, d = 384;
  auto qkv = random_vec(static_cast<size_t>(tq + 2 * tk) * d, 11);
  Mat Q = be_->upload(qkv.data(), tq, d), K = be_->upload(qkv.data() + static_cast<size_t>(tq) * d, tk, d),
      V = be_->upload(qkv.data() + static_cast<size_t>(tq + tk) * d, tk, d);
  Mat O = be_->alloc(tq, d), O2 = be_->alloc(tq, d);
  cpu::attention_tiled(Q, K, V, O, n_head, GetParam() == 0 ? 2 : GetParam());
  // The sgemm path: the same call with one query row at a time is not it (tq == 1 is the gemv path), so
  // compare with blocks of 63 queries (< 64: the sgemm path), which compute the same rows.
  for (int r0 = 0; r0 < tq; r0 += 63) {
    const int n = std::min(63, tq - r0);
    Mat o = O2.rows_view(r0, n);
    be_->attention(Q.rows_view(r0, n), K, V, o, n_head, -1);
  }
  auto a = down(O), b = down(O2);
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, static_cast<double>(std::abs(a[i] - b[i])));
  EXPECT_LE(max_diff, 2e-6);
}

TEST_P(BackendOps, Conv1dGeluMatchesReference) {
  for (int stride : {1, 2}) {
    const int t_in = 41, c_in = 10, c_out = 12, t_out = (t_in - 1) / stride + 1;
    auto x = random_vec(t_in * c_in, 8), w = random_vec(c_out * 3 * c_in, 9), b = random_vec(c_out, 10);
    Mat X = be_->upload(x.data(), t_in, c_in), W = be_->upload(w.data(), c_out, 3 * c_in), B = be_->upload(b.data(), 1, c_out);
    Mat Y = be_->alloc(t_out, c_out);
    be_->conv1d_gelu(X, W, B, stride, Y);
    std::vector<double> want(t_out * c_out);
    for (int t = 0; t < t_out; ++t)
      for (int o = 0; o < c_out; ++o) {
        double s = b[o];
        for (int kk = 0; kk < 3; ++kk) {
          const int src = t * stride + kk - 1;
          if (src < 0 || src >= t_in) continue;
          for (int c = 0; c < c_in; ++c) s += static_cast<double>(w[o * 3 * c_in + kk * c_in + c]) * x[src * c_in + c];
        }
        want[t * c_out + o] = 0.5 * s * (1.0 + std::erf(s / std::sqrt(2.0)));
      }
    expect_close(down(Y), want, "conv1d_gelu");
  }
}

// x @ w^T + b in double for x [m, k], w [n, k].
std::vector<double> linear_reference(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                                     int m, int n, int k) {
  std::vector<double> want(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = b[j];
      for (int t = 0; t < k; ++t) s += static_cast<double>(x[i * k + t]) * w[j * k + t];
      want[i * n + j] = s;
    }
  return want;
}

// Shapes for the packed paths: 1..4 rows (one kernel call), 5 and 16 (groups of 4), 17 and 70 (the matrix
// product paths: float16 widened to sgemm, int8 through oneDNN), widths with and without a tail past 64.
const std::tuple<int, int, int> kPackedShapes[] = {{1, 51, 64},  {2, 40, 384}, {3, 33, 100}, {4, 17, 1536},
                                                   {5, 65, 384}, {16, 48, 70}, {17, 96, 384}, {70, 130, 448}};

TEST_P(BackendOps, Float16LinearIsFloat32LinearOnTheRoundedWeights) {
  for (auto [m, n, k] : kPackedShapes) {
    auto x = random_vec(m * k, 11), w = random_vec(n * k, 12), b = random_vec(n, 13);
    // The weights as float16 holds them: round-trip through the half conversion.
    std::vector<uint16_t> h(w.size());
    cpu::f32_to_f16(w.data(), h.data(), static_cast<int64_t>(w.size()));
    std::vector<float> wr(w.size());
    cpu::f16_to_f32(h.data(), wr.data(), static_cast<int64_t>(w.size()));
    ASSERT_NE(wr, w);  // rounding happened (random normals are not halves)
    Weights W = be_->upload_weights(w.data(), n, k, WeightType::float16);
    ASSERT_EQ(W.type, WeightType::float16);
    Mat X = be_->upload(x.data(), m, k), B = be_->upload(b.data(), 1, n), Y = be_->alloc(m, n);
    be_->linear(X, W, &B, Y);
    expect_close(down(Y), linear_reference(x, wr, b, m, n, k), "float16 linear");
  }
}

TEST_P(BackendOps, LinearsGiveEachProductOverOneInput) {
  // A window's cross K/V (Decoder::compute_cross_kv): several weights, with and without a bias, over one x; each
  // output as linear gives it, bit for bit; lists of different lengths are refused by name.
  const int m = 9, k = 40;
  auto x = random_vec(m * k, 21);
  Mat X = be_->upload(x.data(), m, k);
  std::vector<Weights> ws;
  std::vector<Mat> bs, ys;
  for (int i = 0; i < 3; ++i) {
    const int n = 16 + 8 * i;
    ws.push_back(be_->upload_weights(random_vec(n * k, 22 + i).data(), n, k,
                                     i == 2 ? WeightType::float16 : WeightType::float32));
    bs.push_back(be_->upload(random_vec(n, 30 + i).data(), 1, n));
    ys.push_back(be_->alloc(m, n));
  }
  std::vector<const Weights*> wp{&ws[0], &ws[1], &ws[2]};
  std::vector<const Mat*> bp{&bs[0], nullptr, &bs[2]};
  std::vector<Mat*> yp{&ys[0], &ys[1], &ys[2]};
  be_->linears(X, wp, bp, yp);
  for (int i = 0; i < 3; ++i) {
    Mat one = be_->alloc(m, ws[i].rows);
    be_->linear(X, ws[i], bp[i], one);
    EXPECT_EQ(down(ys[i]), down(one)) << "product " << i;
  }
  EXPECT_EQ(test::error_of([&] { be_->linears(X, wp, {bp[0], bp[1]}, yp); }), "linears: 3 weights, 2 biases and 3 outputs");
  EXPECT_EQ(test::error_of([&] { be_->linears(X, wp, bp, {yp[0]}); }), "linears: 3 weights, 3 biases and 1 outputs");
}

TEST_P(BackendOps, CrossKvGivesLinearsProducts) {
  // Decoder::compute_cross_kv's call: every layer's K/V over one window as linear gives it, bit for bit, read back
  // after the call (a backend may make them when read); lists of different lengths refused as linears refuses them.
  const int m = 7, k = 24;
  Mat X = be_->upload(random_vec(m * k, 41).data(), m, k);
  std::vector<Weights> ws;
  std::vector<Mat> bs, ys;
  for (int i = 0; i < 2; ++i) {
    ws.push_back(be_->upload_weights(random_vec(2 * k * k, 42 + i).data(), 2 * k, k, WeightType::float16));
    bs.push_back(be_->upload(random_vec(2 * k, 50 + i).data(), 1, 2 * k));
    ys.push_back(be_->alloc(m, 2 * k));
  }
  std::vector<const Weights*> wp{&ws[0], &ws[1]};
  std::vector<const Mat*> bp{&bs[0], &bs[1]};
  std::vector<Mat*> yp{&ys[0], &ys[1]};
  for (bool sole : {true, false}) {
    be_->cross_kv(X, wp, bp, yp, sole);
    for (int i = 0; i < 2; ++i) {
      Mat one = be_->alloc(m, 2 * k);
      be_->linear(X, ws[i], bp[i], one);
      EXPECT_EQ(down(ys[i]), down(one)) << "layer " << i << (sole ? ", sole window" : ", one of several");
    }
  }
  EXPECT_EQ(test::error_of([&] { be_->cross_kv(X, wp, {bp[0]}, yp, true); }), "linears: 2 weights, 1 biases and 2 outputs");
}

TEST_P(BackendOps, Int8LinearWithinQuantisationError) {
  for (auto [m, n, k] : kPackedShapes) {
    auto x = random_vec(m * k, 14), w = random_vec(n * k, 15), b = random_vec(n, 16);
    Weights W = be_->upload_weights(w.data(), n, k, WeightType::int8);
    Mat X = be_->upload(x.data(), m, k), B = be_->upload(b.data(), 1, n), Y = be_->alloc(m, n);
    be_->linear(X, W, &B, Y);
    const auto want = linear_reference(x, w, b, m, n, k);
    const auto got = down(Y);
    // Each product's error is at most |x| * (w step / 2) + |w| * (x step / 2) with steps max|.| / 127 per row; a
    // sum of k such errors with random signs grows like sqrt(k). Bound: 4 sqrt(k) * (max|x| max|w| / 127).
    double max_x = 0, max_w = 0;
    for (float v : x) max_x = std::max(max_x, static_cast<double>(std::abs(v)));
    for (float v : w) max_w = std::max(max_w, static_cast<double>(std::abs(v)));
    const double bound = 4.0 * std::sqrt(static_cast<double>(k)) * max_x * max_w / 127.0;
    double worst = 0, sum_sq = 0, sum_sq_want = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want[i]));
      sum_sq += (got[i] - want[i]) * (got[i] - want[i]);
      sum_sq_want += want[i] * want[i];
    }
    EXPECT_LE(worst, bound) << m << "x" << n << "x" << k;
    // And far closer than a wrong product (relative RMS error of a few per cent at most).
    EXPECT_LT(std::sqrt(sum_sq / sum_sq_want), 0.03) << m << "x" << n << "x" << k;
  }
}

// The error an embedding row of table type t may carry: the row's own quantisation step (float16: 2^-11 relative;
// int8: max|row| / 254).
double embed_tolerance(const std::vector<float>& table, int id, int d, WeightType t) {
  double row_max = 0;
  for (int c = 0; c < d; ++c) row_max = std::max(row_max, static_cast<double>(std::abs(table[id * d + c])));
  return t == WeightType::int8 ? row_max / 254.0 + 1e-6 : t == WeightType::float16 ? row_max / 2048.0 : 1e-6;
}

TEST_P(BackendOps, EmbedFromPackedTables) {
  const int n_vocab = 40, d = 96, n_ctx = 8;
  auto table = random_vec(n_vocab * d, 17), pos = random_vec(n_ctx * d, 18);
  Mat P = be_->upload(pos.data(), n_ctx, d);
  const int ids[] = {0, 39, 7};
  for (WeightType t : {WeightType::float32, WeightType::float16, WeightType::int8}) {
    Weights T = be_->upload_weights(table.data(), n_vocab, d, t);
    Mat Y = be_->alloc(3, d);
    be_->embed(T, ids, 3, P, 2, Y);
    const auto got = down(Y);
    for (int i = 0; i < 3; ++i) {
      const double tol = embed_tolerance(table, ids[i], d, t);
      for (int c = 0; c < d; ++c)
        ASSERT_NEAR(got[i * d + c], table[ids[i] * d + c] + pos[(2 + i) * d + c], tol) << weight_type_name(t);
    }
    EXPECT_THROW(be_->embed(T, std::vector<int>{n_vocab}.data(), 1, P, 0, Y), Error);
  }
}

// A step's rows at their own positions (beams): table[id] + pos[position] for each row, within the table type's
// rounding; a position outside the context (past it or negative) is an error.
TEST_P(BackendOps, EmbedRowsPutsEachRowAtItsOwnPosition) {
  const int n_vocab = 40, d = 96, n_ctx = 8;
  auto table = random_vec(n_vocab * d, 19), pos = random_vec(n_ctx * d, 20);
  Mat P = be_->upload(pos.data(), n_ctx, d);
  const int ids[] = {0, 39, 7, 7}, at[] = {7, 0, 3, 5};
  for (WeightType t : {WeightType::float32, WeightType::float16, WeightType::int8}) {
    Weights T = be_->upload_weights(table.data(), n_vocab, d, t);
    Mat Y = be_->alloc(4, d);
    be_->embed_rows(T, ids, at, 4, P, Y);
    const auto got = down(Y);
    for (int i = 0; i < 4; ++i) {
      const double tol = embed_tolerance(table, ids[i], d, t);
      for (int c = 0; c < d; ++c)
        ASSERT_NEAR(got[i * d + c], table[ids[i] * d + c] + pos[at[i] * d + c], tol)
            << weight_type_name(t) << " row " << i;
    }
    Mat two = Y.rows_view(0, 2);
    for (const int bad : {n_ctx, -1}) {
      const int positions[] = {1, bad};
      EXPECT_EQ(test::error_of([&] { be_->embed_rows(T, ids, positions, 2, P, two); }),
                "embed_rows: position " + std::to_string(bad) + " outside the text context of 8");
    }
    EXPECT_EQ(test::error_of([&] { be_->embed_rows(T, ids, at, 3, P, two); }), "embed_rows: y has 2 rows for 3 tokens");
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, BackendOps, ::testing::Values(1, 2));

TEST(HalfConversion, RoundTripsEveryHalfAndRoundsToNearestEven) {
  // Every finite half converts to float and back unchanged.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;  // inf / NaN
    const uint16_t in = static_cast<uint16_t>(h);
    float f;
    cpu::f16_to_f32(&in, &f, 1);
    uint16_t out;
    cpu::f32_to_f16(&f, &out, 1);
    ASSERT_EQ(out, in) << std::hex << h;
  }
  // Halfway between 1 and the next half (1 + 2^-10): ties go to the even one (1); above goes up.
  const float tie = 1.0f + 0.00048828125f, above = 1.0f + 0.0005f;
  uint16_t a, b;
  cpu::f32_to_f16(&tie, &a, 1);
  cpu::f32_to_f16(&above, &b, 1);
  EXPECT_EQ(a, 0x3c00);
  EXPECT_EQ(b, 0x3c01);
  // Vectorised and scalar widening agree (lengths that leave a tail).
  std::vector<uint16_t> halves(37);
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(0x3000 + 97 * i);
  std::vector<float> wide(37);
  cpu::f16_to_f32(halves.data(), wide.data(), 37);
  for (size_t i = 0; i < halves.size(); ++i) {
    float one;
    cpu::f16_to_f32(&halves[i], &one, 1);
    EXPECT_EQ(wide[i], one);
  }
  // Vectorised narrowing (F16C where the CPU has it) and float_to_half agree, on ties, float16's overflow, subnormals
  // and infinities in the 8-wide part and in the tail (21 values: 16 + 5); a NaN stays a NaN.
  const std::vector<float> narrow = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65519.0f, 65520.0f, -70000.0f,
                                     std::ldexp(1.0f, -25), std::ldexp(1.5f, -25), 6e-8f, -3e-8f, 1e-45f,
                                     INFINITY, -INFINITY, 0.0f, -0.0f, 0.1f, 65504.0f, 1.0f + 1.0f / 2048,
                                     std::ldexp(1.5f, -25), 65520.0f, -0.3333f, NAN};
  std::vector<uint16_t> narrowed(narrow.size());
  cpu::f32_to_f16(narrow.data(), narrowed.data(), static_cast<int64_t>(narrow.size()));
  for (size_t i = 0; i + 1 < narrow.size(); ++i) EXPECT_EQ(narrowed[i], float_to_half(narrow[i])) << i;
  EXPECT_EQ(narrowed.back() & 0x7c00, 0x7c00);
  EXPECT_NE(narrowed.back() & 0x03ff, 0);
}

TEST(ThreadPool, EveryIndexOnceAcrossManyJobs) {
  // Jobs of every size and thread count back to back (the decoder's pattern), each index run exactly once.
  for (int round = 0; round < 300; ++round) {
    const int n = 1 + (round * 37) % 200, threads = 1 + round % 4;
    std::vector<std::atomic<int>> hits(n);
    cpu::parallel_for(n, threads, [&](int b, int e) {
      for (int i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "round " << round << " index " << i;
  }
}

// Abramowitz & Stegun's bound is 1.5e-7 in exact arithmetic; evaluated in float it is within 5e-7 (4.7e-7 seen).
TEST(VecMath, ErfApproxWithin5e7) {
  double worst = 0;
  for (float x = -6.0f; x <= 6.0f; x += 0.00137f) worst = std::max(worst, std::abs(cpu::erf_approx(x) - std::erf(static_cast<double>(x))));
  EXPECT_LT(worst, 5e-7);
  EXPECT_LT(std::abs(cpu::erf_approx(0.0f)), 1e-7f);
}

TEST(VecMath, ExpNonPositiveWithin3e7OfExp) {
  double worst = 0;
  for (float x = -87.0f; x <= 0.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(cpu::exp_nonpositive(x) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);  // about 2 ulp (measured 2.2e-7)
  EXPECT_EQ(cpu::exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(cpu::exp_nonpositive(-200.0f) < 1e-37f, true);
}

}  // namespace
}  // namespace wst::engine
