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
// (product_bias).
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
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool bias_in_output_type = false;  // cuBLASLt took no float32 bias here: the bias rounded to y's type instead
  };
  cublasLtHandle_t handle = nullptr;
  // type, n, k, m, ldx, ldy, bias, GELU (else the bias alone, float32 output)
  std::map<std::tuple<int, int, int, int, int, int, bool, bool>, Plan> plans;
  // (bias, type, n) -> a buffer for the bias in that type, refilled at every product (a cached copy could outlive a
  // change of the values at that address); made at the first, eager window's product.
  std::map<std::tuple<const float*, int, int>, std::shared_ptr<void>> rounded_biases;
  long long roundings = 0;  // biases rounded so far (CudaBackend::fc1_bias_roundings)
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

// The plan for one shape, or one with a null op where cuBLASLt's heuristic finds no algorithm. gelu: GELU(product +
// bias) in the weights' type; otherwise product + bias (bias required) in float32. The descriptors made
// so far are destroyed if a cuBLAS call throws part way (the guard), or handed to the plan returned.
LtProducts::Plan make_plan(LtProducts& lt, cudaDataType_t t, int n, int k, int m, int ldx, int ldy, bool bias,
                           bool bias_in_output_type, bool gelu) {
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
  const cublasLtEpilogue_t epi =
      !gelu ? CUBLASLT_EPILOGUE_BIAS : bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  WST_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (bias && !bias_in_output_type) {
    const cudaDataType_t bias_type = CUDA_R_32F;  // the backend's biases are float32
    WST_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
  }
  WST_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, t, k, n, k));    // w^T read from w [n, k]
  WST_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, t, k, m, ldx));  // x^T
  WST_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, gelu ? t : CUDA_R_32F, n, m, ldy));  // y^T
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

// The plan for a product with the epilogue (a GELU or not), made at its shape's first product (nullptr op: none).
const LtProducts::Plan& plan_for(LtProducts& lt, cudaDataType_t t, int n, int k, int m, int ldx, int ldy, bool bias,
                                 bool gelu) {
  const auto key = std::make_tuple(static_cast<int>(t), n, k, m, ldx, ldy, bias, gelu);
  auto found = lt.plans.find(key);
  if (found == lt.plans.end()) {
    // Row-major y [m, n] = x [m, k] w [n, k]^T, read column-major: y^T = w^T x^T (as half_product). A float32 bias
    // first; where cuBLASLt has no algorithm for it, the bias in y's type (the GELU's half output only).
    // A cuBLAS error while planning counts as no algorithm: the caller then takes the product and a pass.
    LtProducts::Plan fresh;
    for (bool in_output_type : {false, true}) {
      if (in_output_type && (!bias || !gelu)) break;
      try {
        fresh = make_plan(lt, t, n, k, m, ldx, ldy, bias, in_output_type, gelu);
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

}  // namespace

bool CudaBackend::product_bias_gelu(const Weights& w, const void* x, int ldx, int m, void* y, int ldy,
                                    const float* bias) {
  const cudaDataType_t t = lt_type(w, "product_bias_gelu");
  if (m == 0 || w.rows == 0) return true;
  if (!lt_) lt_ = std::make_shared<LtProducts>();
  const int n = w.rows;
  const LtProducts::Plan& plan = plan_for(*lt_, t, n, w.cols, m, ldx, ldy, bias != nullptr, true);
  if (!plan.op) return false;  // no algorithm for this shape with a GELU epilogue
  const void* bias_arg = bias;
  if (bias && plan.bias_in_output_type) {
    auto& rounded = lt_->rounded_biases[{bias, static_cast<int>(t), n}];
    if (!rounded) rounded = alloc_bytes(static_cast<size_t>(n) * 2);
    round_rows_to(Mat{nullptr, const_cast<float*>(bias), 1, n, n}, w.type, rounded.get(), stream_);
    ++lt_->roundings;
    bias_arg = rounded.get();
  }
  run_plan(*lt_, plan, w, x, y, bias_arg, blas_workspace_.data, stream_);
  ++lt_->products;
  return true;
}

bool CudaBackend::product_bias(const Weights& w, const void* x, int ldx, int m, float* y, int ldy,
                               const float* bias) {
  const cudaDataType_t t = lt_type(w, "product_bias");
  if (!bias) throw Error("product_bias: no bias (the plain product is half_product's)");
  if (m == 0 || w.rows == 0) return true;
  // The heuristic's algorithms may assume cuBLASLt's default alignments (256 bytes for the matrices): a view at
  // another offset takes the caller's other way rather than an error.
  if (((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y) |
        reinterpret_cast<uintptr_t>(w.packed.get())) & 255) != 0 ||
      (reinterpret_cast<uintptr_t>(bias) & 15) != 0)
    return false;
  if (!lt_) lt_ = std::make_shared<LtProducts>();
  const LtProducts::Plan& plan = plan_for(*lt_, t, w.rows, w.cols, m, ldx, ldy, true, false);
  if (!plan.op) return false;  // no algorithm for this shape with a float32 bias and output
  run_plan(*lt_, plan, w, x, y, bias, blas_workspace_.data, stream_);
  ++lt_->bias_products;
  return true;
}

long long CudaBackend::fc1_bias_roundings() const { return lt_ ? lt_->roundings : 0; }
long long CudaBackend::fc1_epilogue_products() const { return lt_ ? lt_->products : 0; }
long long CudaBackend::lt_bias_products() const { return lt_ ? lt_->bias_products : 0; }

}  // namespace wst::engine::cuda
