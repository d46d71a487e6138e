// The encoder's residual blocks for float16 / bfloat16 weights, with the activations between the products kept in
// the weights' type (Backend::encoder_blocks; the default runs them op by op in float32). A layer is seven launches
// (eight without fc1's epilogue):
//   layer norm of x plus the biases it is owed -> half rows
//   q|k|v product (cuBLAS, tensor cores, float32 accumulation, half output, no bias)
//   flash attention over the half q|k|v, adding q's and v's biases itself -> half rows
//   output product added onto x (float32, beta = 1; its bias is owed)
//   layer norm (of x plus what it is owed) -> half rows
//   fc1 product with its bias and GELU in cuBLASLt's epilogue (the tanh GELU; or, with set_fc1_epilogue(false) or
//     where cuBLASLt has no algorithm for it, the product and then its bias and the exact GELU in one pass)
//   fc2 product added onto x (its bias owed)
// The residual stream x stays float32 throughout, as on the CPU. It holds the products' sums only: the biases of
// the products added onto it are summed ahead, once a window, into one row per norm (owed_biases_kernel), which the
// norm adds to the values it reads, and the last row is added to x at the end; so no norm writes x back.
// Plus one launch a window for those rows. A window's launches are recorded once as a CUDA
// graph and replayed (EncoderRecording; set_encoder_graphs(false) or WST_CUDA_ENCODER_GRAPH=0 launches them eagerly).
// Checked against the op-by-op path by tools/cuda/cuda_check.cpp; timed by tools/cuda/cuda_bench.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <memory>

#include "engine/cuda/cuda_backend.cuh"
#include "engine/layer_weights.h"
#include "util/errors.h"

namespace wst::engine::cuda {

namespace {

// The biases added onto the residual stream, layer by layer (null: none).
constexpr int kMaxOwedLayers = 64;
struct ResidualBiases {
  const float* out[kMaxOwedLayers];
  const float* fc2[kMaxOwedLayers];
};

// rows [2 n + 1, d]: row 2i what x is owed before layer i's first norm (the biases of every product added onto it
// before), row 2i + 1 before its second (plus the output product's), row 2n after the last layer. Summed in
// layer order, a thread a column.
__global__ void owed_biases_kernel(ResidualBiases b, int n_layers, int d, float* rows) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= d) return;
  float s = 0.0f;
  for (int i = 0; i < n_layers; ++i) {
    rows[static_cast<size_t>(2 * i) * d + c] = s;
    if (b.out[i]) s += b.out[i][c];
    rows[static_cast<size_t>(2 * i + 1) * d + c] = s;
    if (b.fc2[i]) s += b.fc2[i][c];
  }
  rows[static_cast<size_t>(2 * n_layers) * d + c] = s;
}

// The blocks' half-precision scratch rows and the owed biases' rows (freed into the pool when the last holder lets
// go: a recorded window keeps its own).
struct Scratch {
  std::shared_ptr<void> h, qkv, attn, mlp;
  Mat owed;
  Scratch(CudaBackend& be, int t, int d, int f, int n_layers) {
    h = be.alloc_bytes(static_cast<size_t>(t) * d * 2);
    qkv = be.alloc_bytes(static_cast<size_t>(t) * 3 * d * 2);
    attn = be.alloc_bytes(static_cast<size_t>(t) * d * 2);
    mlp = be.alloc_bytes(static_cast<size_t>(t) * f * 2);
    owed = be.alloc(2 * n_layers + 1, d);
  }
};

template <class T>
void run_blocks(CudaBackend& be, const std::vector<EncoderLayerWeights>& layers, Mat& x, const Scratch& sc, int n_sm,
                FlashShape flash) {
  const int t = x.rows, d = x.cols, f = layers.front().fc1.w.rows;
  const cudaDataType_t ht = std::is_same_v<T, __half> ? CUDA_R_16F : CUDA_R_16BF;
  cudaStream_t s = be.stream();
  cublasHandle_t blas = be.blas();
  T* h = static_cast<T*>(sc.h.get());
  T* qkv = static_cast<T*>(sc.qkv.get());
  T* attn = static_cast<T*>(sc.attn.get());
  T* mlp = static_cast<T*>(sc.mlp.get());
  const int n = static_cast<int>(layers.size());
  ResidualBiases biases{};
  for (int i = 0; i < n; ++i) {
    biases.out[i] = bias_or_null(layers[i].attn_out.b);
    biases.fc2[i] = bias_or_null(layers[i].fc2.b);
  }
  owed_biases_kernel<<<(d + 127) / 128, 128, 0, s>>>(biases, n, d, sc.owed.data);
  WST_CUDA_CHECK_LAUNCH();
  const auto owed = [&](int k) { return sc.owed.data + static_cast<size_t>(k) * sc.owed.ld; };
  for (int i = 0; i < n; ++i) {
    const auto& l = layers[i];
    layer_norm_half<T>(x, i == 0 ? nullptr : owed(2 * i), l.attn_ln.gamma.data, l.attn_ln.beta.data, h, d, s);
    half_product(blas, l.qkv.w, h, d, t, qkv, ht, 3 * d, 0.0f);
    flash_attention_half<T>(qkv, 3 * d, t, d, bias_or_null(l.qkv.b), attn, d, n_sm, s, flash);
    half_product(blas, l.attn_out.w, attn, d, t, x.data, CUDA_R_32F, x.ld, 1.0f);
    layer_norm_half<T>(x, owed(2 * i + 1), l.mlp_ln.gamma.data, l.mlp_ln.beta.data, h, d, s);
    if (!be.fc1_epilogue() || !be.product_bias_gelu(l.fc1.w, h, d, t, mlp, f, bias_or_null(l.fc1.b))) {
      half_product(blas, l.fc1.w, h, d, t, mlp, ht, f, 0.0f);
      bias_gelu_half<T>(mlp, t, f, bias_or_null(l.fc1.b), s);
    }
    half_product(blas, l.fc2.w, mlp, f, t, x.data, CUDA_R_32F, x.ld, 1.0f);
  }
  add_row(x, owed(2 * n), s);
}

void run_blocks_typed(CudaBackend& be, Precision p, const std::vector<EncoderLayerWeights>& layers, Mat& x,
                      const Scratch& sc, int n_sm, FlashShape flash) {
  if (p == Precision::f16)
    run_blocks<__half>(be, layers, x, sc, n_sm, flash);
  else
    run_blocks<__nv_bfloat16>(be, layers, x, sc, n_sm, flash);
}

// Every device address a recording bakes in: the layers' weights, biases and norms.
std::vector<const void*> addresses(const std::vector<EncoderLayerWeights>& layers) {
  std::vector<const void*> a;
  for (const auto& l : layers) {
    for (const LayerNormWeights* n : {&l.attn_ln, &l.mlp_ln}) a.insert(a.end(), {n->gamma.data, n->beta.data});
    for (const LinearWeights* lw : {&l.qkv, &l.attn_out, &l.fc1, &l.fc2})
      a.insert(a.end(), {lw->w.packed.get(), lw->b.data});
  }
  return a;
}

// A window's blocks recorded as a CUDA graph: x is copied into the recording's own rows first and back after, so
// one recording serves every window of the model whatever buffer its rows arrive in. Kept while the weights (every
// address the graph holds), shapes and precision stay the same; made on the second window with them (exec null
// until then: the first runs eagerly).
struct EncoderRecording {
  std::vector<const void*> weights;
  int t = 0, d = 0;
  Precision precision = Precision::f32;
  FlashShape flash = FlashShape::words16;
  bool fc1_epilogue = false;
  Mat x;  // the recording's rows [t, d]
  std::unique_ptr<Scratch> scratch;
  cudaGraphExec_t exec = nullptr;
  ~EncoderRecording() {
    if (exec) cudaGraphExecDestroy(exec);
  }
  bool serves(const std::vector<EncoderLayerWeights>& l, const Mat& rows, Precision p, FlashShape f, bool fc1) const {
    return t == rows.rows && d == rows.cols && precision == p && flash == f && fc1_epilogue == fc1 &&
           weights == addresses(l);
  }
};

}  // namespace

bool CudaBackend::half_encoder_fits(const std::vector<EncoderLayerWeights>& layers, int n_head, const Mat& x) const {
  if (!half_encoder_ || layers.empty() || layers.size() > static_cast<size_t>(kMaxOwedLayers) ||
      precision_ == Precision::f32 || n_head * 64 != x.cols || x.cols % 8 != 0)
    return false;
  const WeightType want = precision_ == Precision::f16 ? WeightType::float16 : WeightType::bfloat16;
  const int d = x.cols, f = layers.front().fc1.w.rows;
  if (f % 8 != 0) return false;
  for (const auto& l : layers) {
    for (const LinearWeights* lw : {&l.qkv, &l.attn_out, &l.fc1, &l.fc2})
      if (lw->w.type != want) return false;
    if (l.qkv.w.rows != 3 * d || l.qkv.w.cols != d || l.attn_out.w.rows != d || l.attn_out.w.cols != d ||
        l.fc1.w.rows != f || l.fc1.w.cols != d || l.fc2.w.rows != d || l.fc2.w.cols != f)
      return false;
  }
  return true;
}

void CudaBackend::encoder_blocks(const std::vector<EncoderLayerWeights>& layers, int n_head, Mat& x) {
  if (!half_encoder_fits(layers, n_head, x)) return Backend::encoder_blocks(layers, n_head, x);
  const int n_sm = n_sm_;
  const int t = x.rows, d = x.cols, f = layers.front().fc1.w.rows;
  const FlashShape flash = flash_shape_for(n_head);  // (the recording below holds the same)
  if (!encoder_graphs_ || recording_) {
    const Scratch sc(*this, t, d, f, static_cast<int>(layers.size()));
    run_blocks_typed(*this, precision_, layers, x, sc, n_sm, flash);
    return;
  }
  auto* rec = static_cast<EncoderRecording*>(encoder_recording_.get());
  if (!rec || !rec->serves(layers, x, precision_, flash, fc1_epilogue_)) {
    // New weights or shapes: this window runs eagerly (every kernel and cuBLAS's choices loaded once outside a
    // capture), the next one records.
    encoder_recording_.reset();
    auto fresh = std::make_shared<EncoderRecording>();
    fresh->weights = addresses(layers);
    fresh->t = t;
    fresh->d = d;
    fresh->precision = precision_;
    fresh->flash = flash;
    fresh->fc1_epilogue = fc1_epilogue_;
    fresh->x = alloc(t, d);
    fresh->scratch = std::make_unique<Scratch>(*this, t, d, f, static_cast<int>(layers.size()));
    // Kept only once this eager window has run (a window that threw must not leave a recording to capture next,
    // whose first products would then be planned inside the capture).
    run_blocks_typed(*this, precision_, layers, x, *fresh->scratch, n_sm, flash);
    encoder_recording_ = fresh;
    return;
  }
  if (!rec->exec) {
    // Everything the blocks use is allocated already; capture the launches only (cuBLAS has its workspace).
    cudaGraph_t graph = nullptr;
    WST_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    try {
      run_blocks_typed(*this, precision_, layers, rec->x, *rec->scratch, n_sm, flash);
    } catch (...) {
      cudaStreamEndCapture(stream_, &graph);
      if (graph) cudaGraphDestroy(graph);
      encoder_recording_.reset();
      throw;
    }
    WST_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    const cudaError_t e = cudaGraphInstantiate(&rec->exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) encoder_recording_.reset();
    WST_CUDA_CHECK(e);
  }
  WST_CUDA_CHECK(cudaMemcpy2DAsync(rec->x.data, rec->x.ld * sizeof(float), x.data, x.ld * sizeof(float),
                                   d * sizeof(float), t, cudaMemcpyDeviceToDevice, stream_));
  WST_CUDA_CHECK(cudaGraphLaunch(rec->exec, stream_));
  WST_CUDA_CHECK(cudaMemcpy2DAsync(x.data, x.ld * sizeof(float), rec->x.data, rec->x.ld * sizeof(float),
                                   d * sizeof(float), t, cudaMemcpyDeviceToDevice, stream_));
}

}  // namespace wst::engine::cuda
