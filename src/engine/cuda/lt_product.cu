// The encoder's fc1 product with its bias and GELU in cuBLASLt's epilogue (CUBLASLT_EPILOGUE_GELU_BIAS), instead
// of the product and then a pass over its [1500, 4d] half output (bias_gelu_half: 12.6 us a large-v3 layer, run 38).
// cuBLASLt's GELU is the tanh approximation, not the exact erf form of the models and of the other paths (whisper.cpp
// uses the tanh form too): the two differ by up to ~5e-4 (about half a float16 ulp at 1). tools/cuda/cuda_check.cpp
// holds it to the half encoder's tolerance against float32 and tools/cuda/run_real_weights.sh to float16's gate; in
// run 40 (H100) tiny.en kept its tokens on all 42 files (41 with the exact GELU's pass), and the bench's random
// windows moved 1e-4 to 5e-4, as the attention's other launch shapes do. On by default since run 40
// (WST_CUDA_FC1_EPILOGUE=0 turns it off).
// The same plans also serve the many-row products of half weights over float32 activations (the decoder's
// cross-attention K/V, a prompt): the bias in the epilogue (CUBLASLT_EPILOGUE_BIAS) and a float32 output, where the
// product before wrote the bias into y and read it back (beta = 1): 2 x 4 bytes a value less to move
// (product_bias); and with a float16 output, a sole window's cross K/V written straight into their float16 copy
// (product_bias_half).
// One plan (operation and layout descriptors, the heuristic's first algorithm) per shape, kept for the backend's
// life (an empty one where cuBLASLt has no algorithm, so that it is asked once); the products share cuBLAS's
// workspace (the same stream runs them one at a time).
#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "engine/cuda/cuda_backend.cuh"
#include "util/errors.h"

namespace wst::engine::cuda {

struct LtProducts {
  // What cuBLASLt adds to the product.
  enum Epi : int { bias, gelu, gelu_bias };
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool bias_in_output_type = false;  // cuBLASLt took no float32 bias here: the bias rounded to y's type instead
  };
  cublasLtHandle_t handle = nullptr;
  // type, n, k, m, ldx, ldy, epilogue, output type
  using Key = std::tuple<int, int, int, int, int, int, int, int>;
  std::map<Key, Plan> plans;
  // (bias, type, n) -> a buffer for the bias in that type, refilled at every product (a cached copy could outlive a
  // change of the values at that address); made at the first, eager window's product.
  std::map<std::tuple<const float*, int, int>, std::shared_ptr<void>> rounded_biases;
  long long roundings = 0;  // biases rounded so far (CudaBackend::fc1_bias_roundings; product_bias_half's too)
  long long products = 0;   // products run with the epilogue (CudaBackend::fc1_epilogue_products)
  long long bias_products = 0;  // products run with the bias alone in the epilogue (CudaBackend::lt_bias_products)

  LtProducts() { WST_CUBLAS_CHECK(cublasLtCreate(&handle)); }
  ~LtProducts() {
    for (auto& [key, p] : plans) release(p);
    if (handle) cublasLtDestroy(handle);
  }
  // Destroys a plan's descriptors (those made so far) and leaves it empty.
  static void release(Plan& p) {
    if (p.op) cublasLtMatmulDescDestroy(p.op);
    for (cublasLtMatrixLayout_t l : {p.a, p.b, p.d})
      if (l) cublasLtMatrixLayoutDestroy(l);
    p = {};
  }
};

namespace {

// What a product's plan is made for: y [m, n] (row stride ldy, type out: t or float32) = the epilogue over
// x [m, k] (row stride ldx) w [n, k]^T, w and x of type t.
struct LtShape {
  cudaDataType_t t;
  int n, k, m, ldx, ldy;
  LtProducts::Epi epi;
  cudaDataType_t out;
};

// The plan for one shape (the heuristic's first algorithm), or one with a null op where cuBLASLt's heuristic finds
// none. The descriptors made so far are destroyed if a cuBLAS call throws part way (the guard), or handed to the
// plan returned.
LtProducts::Plan make_plan(LtProducts& lt, const LtShape& r, bool bias_in_output_type) {
  struct Guard {
    LtProducts::Plan p;
    cublasLtMatmulPreference_t pref = nullptr;
    ~Guard() {
      if (pref) cublasLtMatmulPreferenceDestroy(pref);
      LtProducts::release(p);
    }
  } g;
  LtProducts::Plan& p = g.p;
  p.bias_in_output_type = bias_in_output_type;
  WST_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  WST_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  WST_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  const cublasLtEpilogue_t epi = r.epi == LtProducts::bias   ? CUBLASLT_EPILOGUE_BIAS
                                 : r.epi == LtProducts::gelu ? CUBLASLT_EPILOGUE_GELU
                                                             : CUBLASLT_EPILOGUE_GELU_BIAS;
  WST_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (r.epi != LtProducts::gelu && !bias_in_output_type) {
    const cudaDataType_t bias_type = CUDA_R_32F;  // the backend's biases are float32
    WST_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
  }
  WST_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, r.t, r.k, r.n, r.k));      // w^T read from w [n, k]
  WST_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, r.t, r.k, r.m, r.ldx));    // x^T
  WST_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, r.out, r.n, r.m, r.ldy));  // y^T
  cublasLtMatmulPreference_t& pref = g.pref;
  WST_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t workspace = kBlasWorkspaceBytes;  // cuBLAS's (the backend's blas_workspace_)
  WST_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                                    sizeof workspace));
  cublasLtMatmulHeuristicResult_t found{};
  int n_found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(lt.handle, p.op, p.a, p.b, p.d, p.d, pref, 1, &found, &n_found);
  if (st != CUBLAS_STATUS_SUCCESS || n_found == 0) return {};
  p.algo = found.algo;
  LtProducts::Plan made = p;
  p = {};  // the descriptors are the returned plan's now
  return made;
}

// The plan for a shape, made at its first product (nullptr op: none).
const LtProducts::Plan& plan_for(LtProducts& lt, const LtShape& r) {
  const LtProducts::Key key{static_cast<int>(r.t), r.n, r.k, r.m, r.ldx, r.ldy, static_cast<int>(r.epi),
                            static_cast<int>(r.out)};
  auto found = lt.plans.find(key);
  if (found == lt.plans.end()) {
    // Row-major y [m, n] = x [m, k] w [n, k]^T, read column-major: y^T = w^T x^T (as half_product). A float32 bias
    // first; where cuBLASLt has no algorithm for it and y is half, the bias in y's type (the GELU's output; the
    // cross K/V's float16 copy on the H100, run 59). A cuBLAS error while planning counts as no algorithm: the
    // caller then takes its other way.
    LtProducts::Plan fresh;
    for (bool in_output_type : {false, true}) {
      if (in_output_type && (r.epi == LtProducts::gelu || r.out == CUDA_R_32F)) break;
      try {
        fresh = make_plan(lt, r, in_output_type);
      } catch (const Error&) {
        fresh = {};
      }
      if (fresh.op) break;
    }
    found = lt.plans.emplace(key, fresh).first;
  }
  return found->second;
}

// y = the plan's epilogue over x w^T (+ bias: float32, or the plan's rounded copy).
void run_plan(const LtProducts& lt, const LtProducts::Plan& plan, const Weights& w, const void* x, void* y,
              const void* bias, void* workspace, cudaStream_t stream) {
  if (bias)
    WST_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  const float one = 1.0f, zero = 0.0f;
  WST_CUBLAS_CHECK(cublasLtMatmul(lt.handle, plan.op, &one, w.packed.get(), plan.a, x, plan.b, &zero, y, plan.d, y,
                                  plan.d, &plan.algo, workspace, kBlasWorkspaceBytes, stream));
}

// The cuBLASLt type of half weights; throws, naming the caller, for any other type.
cudaDataType_t lt_type(const Weights& w, const char* who) {
  if (w.type != WeightType::float16 && w.type != WeightType::bfloat16)
    throw Error(std::string(who) + ": float16 or bfloat16 weights only, not " + weight_type_name(w.type));
  return w.type == WeightType::float16 ? CUDA_R_16F : CUDA_R_16BF;
}

// The heuristic's algorithms may assume cuBLASLt's default alignments (256 bytes for the matrices, 16 for a bias).
bool lt_aligned(const void* w, const void* x, const void* y, const void* bias) {
  return ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y) | reinterpret_cast<uintptr_t>(w)) & 255) ==
             0 &&
         (reinterpret_cast<uintptr_t>(bias) & 15) == 0;
}

}  // namespace

bool CudaBackend::product_bias_gelu(const Weights& w, const void* x, int ldx, int m, void* y, int ldy,
                                    const float* bias) {
  const cudaDataType_t t = lt_type(w, "product_bias_gelu");
  if (m == 0 || w.rows == 0) return true;
  if (!lt_) lt_ = std::make_shared<LtProducts>();
  const LtProducts::Plan& plan =
      plan_for(*lt_, {t, w.rows, w.cols, m, ldx, ldy, bias ? LtProducts::gelu_bias : LtProducts::gelu, t});
  if (!plan.op) return false;  // no algorithm for this shape with a GELU epilogue
  run_plan(*lt_, plan, w, x, y, plan_bias(plan.bias_in_output_type, w, bias), blas_workspace_.data, stream_);
  ++lt_->products;
  return true;
}

const void* CudaBackend::plan_bias(bool in_output_type, const Weights& w, const float* bias) {
  if (!bias || !in_output_type) return bias;
  auto& rounded = lt_->rounded_biases[{bias, static_cast<int>(w.type), w.rows}];
  if (!rounded) rounded = alloc_bytes(static_cast<size_t>(w.rows) * 2);
  round_rows_to(Mat{nullptr, const_cast<float*>(bias), 1, w.rows, w.rows}, w.type, rounded.get(), stream_);
  ++lt_->roundings;
  return rounded.get();
}

bool CudaBackend::product_bias(const Weights& w, const void* x, int ldx, int m, float* y, int ldy,
                               const float* bias) {
  return product_bias_to(w, x, ldx, m, y, ldy, bias, false, "product_bias");
}

bool CudaBackend::product_bias_half(const Weights& w, const void* x, int ldx, int m, void* y, int ldy,
                                    const float* bias) {
  return product_bias_to(w, x, ldx, m, y, ldy, bias, true, "product_bias_half");
}

bool CudaBackend::product_bias_to(const Weights& w, const void* x, int ldx, int m, void* y, int ldy, const float* bias,
                                  bool half_out, const char* who) {
  const cudaDataType_t t = lt_type(w, who);
  if (!bias) throw Error(std::string(who) + ": no bias (the plain product is half_product's)");
  if (m == 0 || w.rows == 0) return true;
  // A view at another offset takes the caller's other way rather than an error.
  if (!lt_aligned(w.packed.get(), x, y, bias)) return false;
  if (!lt_) lt_ = std::make_shared<LtProducts>();
  const LtProducts::Plan& plan =
      plan_for(*lt_, {t, w.rows, w.cols, m, ldx, ldy, LtProducts::bias, half_out ? t : CUDA_R_32F});
  if (!plan.op) return false;  // no algorithm for this shape with a bias and this output
  run_plan(*lt_, plan, w, x, y, plan_bias(plan.bias_in_output_type, w, bias), blas_workspace_.data, stream_);
  ++lt_->bias_products;
  return true;
}

long long CudaBackend::fc1_bias_roundings() const { return lt_ ? lt_->roundings : 0; }
long long CudaBackend::fc1_epilogue_products() const { return lt_ ? lt_->products : 0; }
long long CudaBackend::lt_bias_products() const { return lt_ ? lt_->bias_products : 0; }

}  // namespace wst::engine::cuda
