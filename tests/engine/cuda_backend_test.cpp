// The CUDA backend against the CPU backend on the same random inputs, op by op (the cases of
// backend_ops_test.cpp, plus the strided views the encoder and decoder pass), and what the engine says where
// it cannot use a GPU. Without a GPU (CI) the op cases skip, saying why; the device cases run everywhere.
// The GPU machine's own check at every model shape against a double reference: tools/cuda/cuda_check.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/backend.h"
#include "util/errors.h"
#include "wst/engine.h"

namespace wst::engine {
namespace {

// Both sides are float32 with different summation orders (OpenBLAS vs cuBLAS, blocked vs split softmax):
// they differ by a few ulp times sqrt(K); a wrong index or a missing term differs by O(0.1).
constexpr double kAbs = 1e-4, kRel = 1e-4;

struct Host {
  std::vector<float> v;
  int rows, cols;
};

Host random_host(int rows, int cols, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  Host h{std::vector<float>(static_cast<size_t>(rows) * cols), rows, cols};
  for (auto& x : h.v) x = d(rng);
  return h;
}

// An output buffer full of NaN, so an element the op does not write fails the comparison.
Mat poisoned(Backend& be, int rows, int cols) {
  std::vector<float> nan(static_cast<size_t>(rows) * cols, std::numeric_limits<float>::quiet_NaN());
  return be.upload(nan.data(), rows, cols);
}

using Op = std::function<Mat(Backend&, std::vector<Mat>&)>;  // inputs placed on the backend -> output

class CudaBackendOps : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = device_unavailable_reason("cuda");
    if (!why.empty()) GTEST_SKIP() << "no GPU to test: " << why;
#ifdef WST_HAVE_CUDA
    gpu_ = make_cuda_backend(0);
#endif
    cpu_ = make_cpu_backend(2);
  }

  std::vector<float> run(Backend& be, const std::vector<Host>& inputs, const Op& op) {
    std::vector<Mat> m;
    for (const Host& h : inputs) m.push_back(be.upload(h.v.data(), h.rows, h.cols));
    Mat out = op(be, m);
    std::vector<float> r(static_cast<size_t>(out.rows) * out.cols);
    be.download(out, r.data());
    return r;
  }

  void expect_same(const std::string& what, const std::vector<Host>& inputs, const Op& op) {
    const std::vector<float> want = run(*cpu_, inputs, op), got = run(*gpu_, inputs, op);
    ASSERT_EQ(got.size(), want.size()) << what;
    double max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double diff = std::abs(static_cast<double>(got[i]) - want[i]);
      ASSERT_TRUE(std::isfinite(got[i])) << what << ": element " << i << " not written (or not finite): " << got[i];
      ASSERT_LE(diff, kAbs + kRel * std::abs(want[i]))
          << what << ": first bad index " << i << ", cuda " << got[i] << ", cpu " << want[i];
      max_diff = std::max(max_diff, diff);
    }
    RecordProperty(what + " max_diff", std::to_string(max_diff));
  }

  std::unique_ptr<Backend> cpu_, gpu_;
};

TEST_F(CudaBackendOps, UploadTransposedMatchesCpu) {
  // The mel spectrogram's shape twice (a backend may reuse its buffers from one window to the next), and odd shapes.
  for (auto [rows, cols] : {std::pair{128, 3000}, std::pair{128, 3000}, std::pair{80, 3000}, std::pair{45, 70},
                            std::pair{1, 33}}) {
    expect_same("upload_transposed " + std::to_string(rows) + "x" + std::to_string(cols), {random_host(rows, cols, 8)},
                [](Backend& be, std::vector<Mat>& in) {
                  std::vector<float> h(static_cast<size_t>(in[0].rows) * in[0].cols);
                  be.download(in[0], h.data());
                  return be.upload_transposed(h.data(), in[0].rows, in[0].cols);
                });
  }
}

TEST_F(CudaBackendOps, LinearMatchesCpu) {
  // A decoded token (m = 1, the gemv path), odd sizes, an encoder-like block, and x as a strided column view.
  for (auto [m, n, k] : {std::tuple{1, 51, 64}, std::tuple{1, 1155, 37}, std::tuple{7, 33, 20}, std::tuple{130, 96, 384}}) {
    expect_same("linear " + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k),
                {random_host(m, k + 3, 1), random_host(n, k, 2), random_host(1, n, 3)},
                [m = m, n = n, k = k](Backend& be, std::vector<Mat>& in) {
                  Mat y = poisoned(be, m, n);
                  be.linear(in[0].cols_view(3, k), in[1], &in[2], y);
                  return y;
                });
    expect_same("linear without bias", {random_host(m, k, 4), random_host(n, k, 5)}, [m = m, n = n](Backend& be, std::vector<Mat>& in) {
      Mat y = poisoned(be, m, n);
      be.linear(in[0], in[1], nullptr, y);
      return y;
    });
  }
}

TEST_F(CudaBackendOps, LayerNormGeluAddMatchCpu) {
  for (int rows : {1, 70}) {
    expect_same("layer_norm", {random_host(rows, 384, 4, 3.0f), random_host(1, 384, 5), random_host(1, 384, 6)},
                [rows](Backend& be, std::vector<Mat>& in) {
                  Mat y = poisoned(be, rows, 384);
                  be.layer_norm(in[0], in[1], in[2], y);
                  return y;
                });
  }
  expect_same("gelu", {random_host(70, 1536, 7, 3.0f)}, [](Backend& be, std::vector<Mat>& in) {
    be.gelu(in[0]);
    return in[0];
  });
  expect_same("add (strided source)", {random_host(70, 384, 8), random_host(70, 768, 9)}, [](Backend& be, std::vector<Mat>& in) {
    be.add(in[0], in[1].cols_view(384, 384));
    return in[0];
  });
}

TEST_F(CudaBackendOps, AttentionMatchesCpu) {
  // A decoded token over a self-attention cache (causal) and over 1500 audio frames, a prompt, an encoder-sized
  // block, and small heads; q, k and v are column views of wider buffers, as the encoder and decoder pass them.
  struct Case { int tq, tk, n_head, d, causal; };
  for (const Case c : {Case{1, 37, 6, 384, 36}, Case{1, 120, 6, 384, 100}, Case{1, 1500, 6, 384, -1}, Case{5, 12, 4, 64, 7},
                       Case{600, 150, 2, 64, -1}, Case{3, 40, 6, 96, 30}}) {
    expect_same("attention tq " + std::to_string(c.tq) + " tk " + std::to_string(c.tk) + " causal " + std::to_string(c.causal),
                {random_host(c.tq, 3 * c.d, 10), random_host(c.tk, 2 * c.d, 11)}, [c](Backend& be, std::vector<Mat>& in) {
                  Mat out = poisoned(be, c.tq, c.d);
                  be.attention(in[0].cols_view(0, c.d), in[1].cols_view(0, c.d), in[1].cols_view(c.d, c.d), out, c.n_head,
                               c.causal);
                  return out;
                });
  }
}

TEST_F(CudaBackendOps, Conv1dGeluMatchesCpu) {
  for (int stride : {1, 2}) {
    const int t_in = 41, c_in = 10, c_out = 12, t_out = (t_in - 1) / stride + 1;
    expect_same("conv1d_gelu stride " + std::to_string(stride),
                {random_host(t_in, c_in, 12), random_host(c_out, 3 * c_in, 13), random_host(1, c_out, 14)},
                [=](Backend& be, std::vector<Mat>& in) {
                  Mat y = poisoned(be, t_out, c_out);
                  be.conv1d_gelu(in[0], in[1], in[2], stride, y);
                  return y;
                });
  }
}

TEST_F(CudaBackendOps, EmbedAndCopyMatchCpu) {
  expect_same("embed", {random_host(300, 64, 15), random_host(448, 64, 16)}, [](Backend& be, std::vector<Mat>& in) {
    const int ids[3] = {299, 0, 17};
    Mat y = poisoned(be, 3, 64);
    be.embed(in[0], ids, 3, in[1], 10, y);
    return y;
  });
  expect_same("embed rows at their own positions", {random_host(300, 64, 15), random_host(448, 64, 16)},
              [](Backend& be, std::vector<Mat>& in) {
                const int ids[4] = {299, 0, 17, 17}, at[4] = {447, 3, 3, 0};
                Mat y = poisoned(be, 4, 64);
                be.embed_rows(Weights(in[0]), ids, at, 4, in[1], y);
                return y;
              });
  expect_same("embed 70 rows at their own positions (two launches)",
              {random_host(300, 64, 18), random_host(448, 64, 19)}, [](Backend& be, std::vector<Mat>& in) {
                std::vector<int> ids(70), at(70);
                for (int i = 0; i < 70; ++i) {
                  ids[i] = (i * 113) % 300;
                  at[i] = (i * 37) % 448;
                }
                Mat y = poisoned(be, 70, 64);
                be.embed_rows(Weights(in[0]), ids.data(), at.data(), 70, in[1], y);
                return y;
              });
  expect_same("copy into cache rows", {random_host(7, 192, 17)}, [](Backend& be, std::vector<Mat>& in) {
    Mat cache = poisoned(be, 20, 64);
    Mat dst = cache.rows_view(5, 7);
    be.copy(in[0].cols_view(64, 64), dst);
    return dst;
  });
}

TEST_F(CudaBackendOps, ShapeErrorsNameBothShapes) {
  Mat x = gpu_->alloc(2, 3), w = gpu_->alloc(4, 5), y = gpu_->alloc(2, 4);
  try {
    gpu_->linear(x, w, nullptr, y);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "linear: shapes x [2, 3], w [4, 5], y [2, 4] do not agree");
  }
  const int bad = 7;
  Mat table = gpu_->alloc(5, 4), pos = gpu_->alloc(8, 4), out = gpu_->alloc(1, 4);
  EXPECT_THROW(gpu_->embed(table, &bad, 1, pos, 0, out), Error);
  const int id = 1;
  for (const int at : {8, -1}) {
    std::string what = "(no error)";
    try {
      gpu_->embed_rows(Weights(table), &id, &at, 1, pos, out);
    } catch (const Error& e) {
      what = e.what();
    }
    EXPECT_EQ(what, "embed: position " + std::to_string(at) + " outside the text context of 8");
  }
}

// Half precision (compute types float16 and bfloat16): float16/bfloat16 weights through the matrix-vector
// kernel (few rows) and cublasGemmEx (many rows), and the encoder's flash attention, against the CPU in float32;
// relative error of the whole output under the types' rounding bound (tools/cuda/cuda_check.cpp checks every
// model shape against double precision on the GPU machine).
TEST(CudaHalfPrecision, LinearAndAttentionMatchCpuWithinRounding) {
  const std::string why = device_unavailable_reason("cuda");
  if (!why.empty()) GTEST_SKIP() << "no GPU to test: " << why;
#ifdef WST_HAVE_CUDA
  auto cpu = make_cpu_backend(2);
  auto rel_err = [](const std::vector<float>& got, const std::vector<float>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (!std::isfinite(got[i])) return 1e30;
      num += (got[i] - want[i]) * double(got[i] - want[i]);
      den += want[i] * double(want[i]);
    }
    return std::sqrt(num / den);
  };
  for (auto [type, name, tol] : {std::tuple{WeightType::float16, "float16", 2e-3},
                                 std::tuple{WeightType::bfloat16, "bfloat16", 1.2e-2}}) {
    auto gpu = make_cuda_backend(0, name);
    for (auto [m, n, k] : {std::tuple{1, 1155, 384}, std::tuple{5, 200, 96}, std::tuple{130, 96, 384}, std::tuple{3, 51, 36}}) {
      const Host x = random_host(m, k, 21), w = random_host(n, k, 22), b = random_host(1, n, 23);
      auto run = [&](Backend& be, WeightType t) {
        Mat X = be.upload(x.v.data(), m, k), B = be.upload(b.v.data(), 1, n), Y = poisoned(be, m, n);
        Weights W = be.upload_weights(w.v.data(), n, k, t);
        be.linear(X, W, &B, Y);
        std::vector<float> r(static_cast<size_t>(m) * n);
        be.download(Y, r.data());
        return r;
      };
      EXPECT_LT(rel_err(run(*gpu, type), run(*cpu, WeightType::float32)), tol)
          << name << " linear " << m << "x" << n << "x" << k;
    }
    for (auto [tq, tk, causal] : {std::tuple{600, 150, -1}, std::tuple{37, 70, 20}}) {
      const int d = 128, n_head = 2;
      const Host q = random_host(tq, 3 * d, 24), kv = random_host(tk, 2 * d, 25);
      auto run = [&](Backend& be) {
        Mat Q = be.upload(q.v.data(), tq, 3 * d), KV = be.upload(kv.v.data(), tk, 2 * d), O = poisoned(be, tq, d);
        be.attention(Q.cols_view(0, d), KV.cols_view(0, d), KV.cols_view(d, d), O, n_head, causal);
        std::vector<float> r(static_cast<size_t>(tq) * d);
        be.download(O, r.data());
        return r;
      };
      EXPECT_LT(rel_err(run(*gpu), run(*cpu)), tol) << name << " attention tq " << tq << " tk " << tk;
    }
    // The convolutions keep their weights' rounding while the weights live: two weight sets in turn, the second
    // freed and made again (the pool usually hands back the same address), must each give their own output.
    for (uint32_t seed : {31u, 32u, 31u}) {
      const int t_in = 300, c_in = 40, c_out = 48, stride = 2, t_out = (t_in - 1) / stride + 1;
      const Host x = random_host(t_in, c_in, 30), w = random_host(c_out, 3 * c_in, seed, 0.2f),
                 b = random_host(1, c_out, seed + 10);
      auto run = [&](Backend& be) {
        Mat X = be.upload(x.v.data(), t_in, c_in), W = be.upload(w.v.data(), c_out, 3 * c_in),
            B = be.upload(b.v.data(), 1, c_out), Y = poisoned(be, t_out, c_out);
        be.conv1d_gelu(X, W, B, stride, Y);
        std::vector<float> r(static_cast<size_t>(t_out) * c_out);
        be.download(Y, r.data());
        return r;
      };
      EXPECT_LT(rel_err(run(*gpu), run(*cpu)), tol) << name << " conv1d_gelu, weights of seed " << seed;
    }
  }
#endif
}

TEST(CudaDevice, AvailableDevicesSaysWhyCudaIsMissing) {
  const std::vector<std::string> devices = available_devices();
  const std::string why = device_unavailable_reason("cuda");
  if (why.empty()) {
    EXPECT_EQ(devices, (std::vector<std::string>{"cpu", "cuda"}));
    return;
  }
  EXPECT_EQ(devices, std::vector<std::string>{"cpu"});
#ifdef WST_HAVE_CUDA
  // Compiled in, no usable GPU: the CUDA runtime's own reason after the prefix.
  EXPECT_EQ(why.rfind("no CUDA device: ", 0), 0u) << why;
  EXPECT_GT(why.size(), std::strlen("no CUDA device: ") + 3) << why;
#else
  EXPECT_EQ(why, "this build has no cuda backend (built without the CUDA toolkit)");
#endif
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
}

TEST(CudaDevice, LoadingOnCudaWithoutAGpuFailsWithOneLine) {
  const std::string why = device_unavailable_reason("cuda");
  if (why.empty()) GTEST_SKIP() << "a CUDA device is usable here";
  EngineOptions eo;
  eo.device = "cuda";
  try {
    Engine::load("/nonexistent/model", eo);  // the device is refused before the model is read
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "device cuda: " + why + "; use --device cpu");
  }
}

TEST(CudaDevice, UnknownDevicesAreNamed) {
  EXPECT_EQ(device_unavailable_reason("cpu"), "");
  EXPECT_EQ(device_unavailable_reason("tpu"), "device \"tpu\": unknown (expected cpu or cuda)");
  EngineOptions eo;
  eo.device = "tpu";
  try {
    Engine::load("/nonexistent/model", eo);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "device \"tpu\": unknown (expected cpu or cuda)");
  }
}

}  // namespace
}  // namespace wst::engine
