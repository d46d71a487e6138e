// The CUDA half of every op in engine/backend.h: fp32 matrices in device memory, one stream per backend,
// cuBLAS for the matrix products, small kernels for the rest (one .cu file per op, as engine/cpu/).
// Memory comes from a caching pool, so the decoder's per-step alloc() costs no cudaMalloc after the first step.
// Every CUDA and cuBLAS call is checked; a failure becomes a wst::Error naming the call.
// Checked against a double-precision reference on the GPU machine by tools/cuda/cuda_check.cpp and against the
// CPU backend by tests/engine/cuda_backend_test.cpp (skipped without a GPU).
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/step_state.h"
#include "engine/cuda/switches.h"

namespace wst::engine::cuda {

[[noreturn]] void throw_cuda_error(const char* call, const std::string& why, const char* file, int line);
const char* cublas_status_name(cublasStatus_t s);
// Whether the current device runs the wgmma kernels: compute capability 9.0 and sm_90a code loaded (probed once per
// device by a small launch; the backend asks when it starts, outside any stream capture, and keeps the answer).
bool flash_wgmma_available();

struct LtProducts;  // lt_product.cu

// cuBLAS's workspace (its recommendation for Hopper), which the cuBLASLt products share.
constexpr size_t kBlasWorkspaceBytes = size_t{32} << 20;

#define WST_CUDA_CHECK(call)                                                                                  \
  do {                                                                                                        \
    cudaError_t wst_err_ = (call);                                                                            \
    if (wst_err_ != cudaSuccess)                                                                              \
      ::wst::engine::cuda::throw_cuda_error(#call, cudaGetErrorString(wst_err_), __FILE__, __LINE__);         \
  } while (0)

#define WST_CUBLAS_CHECK(call)                                                                                \
  do {                                                                                                        \
    cublasStatus_t wst_st_ = (call);                                                                          \
    if (wst_st_ != CUBLAS_STATUS_SUCCESS)                                                                     \
      ::wst::engine::cuda::throw_cuda_error(#call, ::wst::engine::cuda::cublas_status_name(wst_st_), __FILE__, \
                                            __LINE__);                                                        \
  } while (0)

// After a kernel launch: a bad configuration or an earlier asynchronous fault shows up here.
#define WST_CUDA_CHECK_LAUNCH() WST_CUDA_CHECK(cudaGetLastError())

// A caching allocator: freed blocks go to a free list keyed by their rounded size and are handed out again.
// All work runs on one stream, so a block freed on the host while kernels still use it is only reused by
// kernels queued after them (the rule PyTorch's caching allocator follows per stream).
class DevicePool {
 public:
  explicit DevicePool(int device) : device_(device) {}
  ~DevicePool();
  float* get(size_t bytes, size_t* rounded);
  void put(float* p, size_t rounded);
  size_t bytes_reserved() const { return reserved_; }
  size_t peak_bytes_reserved() const { return peak_reserved_; }
  // Bytes in the free lists: reserved from the device, kept for reuse.
  size_t bytes_idle();

 private:
  int device_;
  std::mutex mu_;
  std::map<size_t, std::vector<float*>> free_;
  size_t reserved_ = 0, peak_reserved_ = 0;
};

// The same for a recorded beam step (Backend::set_rows_step, step_graph.cu): each row's token, position and rules,
// its beam score; after it, a LayerCaches a layer: each row's K and V cache (a beam's cache slot changes as beams
// are reordered, so the recording reads it here rather than from its kernels' arguments).
constexpr int kMaxStepRows = 16;
constexpr int kMaxRecordedLayers = 64;
struct RowsStep {
  StepState row[kMaxStepRows];
  float score[kMaxStepRows];
};
struct LayerCaches {
  float* k[kMaxStepRows];
  float* v[kMaxStepRows];
};
static_assert(offsetof(RowsStep, row) == 0, "rows_states() reads the rows at the state's start");
constexpr size_t kRowsStepBytes = sizeof(RowsStep) + kMaxRecordedLayers * sizeof(LayerCaches);

// What the matrix units compute in: f32 (exact float32, the checking path; TF32 only through set_tf32) or the
// half types (products with half operands and float32 accumulation; the encoder's attention in a fused kernel
// on the tensor cores; the rest in float32).
enum class Precision { f32, f16, bf16 };

// How the half-weight matrix-vector kernel runs (CudaBackend's, set from the device and the environment).
struct GemvConfig {
  // Launch shapes, [several rows][input wider than 2048]. The fastest of those timed in run 34 (H200): one row,
  // 2 output rows a warp x 4 warps (a large-v3 greedy step 1.72 against 1.81 ms with 1 x 8), several rows 2 x 8
  // (with the switches below, a 5-beam step 4.29 against 4.93 ms with 1 x 8); the wide input (fc2) 1 x 4 in both.
  GemvShape shapes[2][2] = {{{2, 4}, {1, 4}}, {{2, 8}, {1, 4}}};
  size_t shared_limit = 0;     // the most activation bytes a block takes (gemv_shared_limit)
  // norm_by_warp on since run 34 (large-v3 5-beam step 4.72 -> 4.40 ms with the other defaults, run 35). chunks off: the rounded tensor-core product was faster in every model (run 35, H100: large-v3 5-beam
  // step 4.19 against 4.40 ms with chunks, tiny 0.448 against 0.463), though its sums are float32 throughout.
  bool chunks = false;         // several rows of a wide input in chunks, not the rounded tensor-core product
  bool norm_by_warp = true;    // several rows' layer norms a warp each, not one after another by the whole block
  bool one_row_norm_by_warp = false;  // one row's layer norm by one warp (frees the block's size: any shape)
  // One row into an output at least 4x its input (fc1, the logits' product) from an input at least
  // expanding_min_input wide: this shape, the row normed by a warp (gemv_expanding); rows_per_warp 0: never.
  // 4 x 4 from 1280 since run 78 (H100): large-v3's greedy token run ahead 1.625 -> 1.558 ms, large-v3-turbo's
  // 0.2661 -> 0.2586, 40 of 40 picks agreeing; narrower inputs keep the default shape (tiny, 384 wide, was 2.4%
  // slower with it in run 77). docs/cuda_notes.md entry 32.
  GemvShape one_row_expanding{4, 4};
  int expanding_min_input = 1280;
  // The normed products' gains and biases copied into shared memory before the wait (prepare_norm_weights), read from
  // there by the norm instead of from L2 after its sums; the same bits. On since run 85 (recorded greedy step, two
  // rounds: large-v3 1.550 against 1.569 ms, large-v3-turbo -1.2%, tiny -1.7%, small even; same picks). Off:
  // WST_CUDA_NORM_STAGED=0 or CudaBackend::set_norm_staged, which the fused attention kernels follow too.
  bool stage_norm = true;
};

// Whether m rows of an n x k product take GemvConfig::one_row_expanding (and a warp's layer norm). Not the q|k|v
// product (3x), whose unfused form must give the fused attention kernels' bits (their block-wide norm).
inline bool gemv_expanding(int m, int n, int k, const GemvConfig& cfg) {
  return takes_expanding_shape(m, n, k, cfg.one_row_expanding, cfg.expanding_min_input);
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, bool allow_tf32, Precision precision = Precision::f32);
  ~CudaBackend() override;
  std::string name() const override { return "cuda"; }

  Mat alloc(int rows, int cols) override;
  Mat upload(const float* host, int rows, int cols) override;
  // Through a pinned buffer of the backend's and transposed on the device: queued, not waited for.
  Mat upload_transposed(const float* host, int rows, int cols) override;
  // upload_transposed's way with the mel rounded to float16 by the host as it is copied into the pinned buffer (F16C
  // where the CPU has it) and widened back on the device while transposed, in float16 precision, whose first
  // convolution rounds its input to float16 anyway (conv1d_half): half the bytes copied and moved, the same values
  // for the stem. Off (WST_CUDA_HALF_MEL=0 or set_half_mel(false)), or in other precisions: upload_transposed.
  Mat upload_mel(const float* mel, int n_mels, int n_frames) override;
  void set_half_mel(bool on) { half_mel_ = on; }
  bool half_mel() const { return half_mel_; }
  void encoder_stem(const Mat& mel_t, const Mat& conv1_w, const Mat& conv1_b, const Mat& conv2_w, const Mat& conv2_b,
                    const Mat& pos, Mat& x) override;
  void download(const Mat& m, float* host) override;
  void copy(const Mat& src, Mat& dst) override;

  // Weights: float32, float16, bfloat16 (half_linear.cu).
  bool supports(WeightType t) const override { return t != WeightType::int8; }
  bool fast_matrix_products(WeightType t) const override { return t != WeightType::int8; }
  Weights upload_weights(const float* host, int rows, int cols, WeightType type) override;
  Weights upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type) override;
  void linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) override;
  // Many rows of half weights (a window's cross K/V): x rounded to the weights' type once for all the products (so
  // no y may be x).
  void linears(const Mat& x, const std::vector<const Weights*>& w, const std::vector<const Mat*>& bias,
               const std::vector<Mat*>& y) override;
  void linear_fused(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                    Epilogue epilogue, Mat& y) override;
  void embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) override;
  void linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) override;
  void layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) override;
  void gelu(Mat& x) override;
  void add(Mat& y, const Mat& x) override;
  void attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) override;
  void conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) override;
  void embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) override;
  // A step's rows at their own positions in one launch (a beam step's 5 embeddings took 5).
  void embed_rows(const Weights& table, const int* ids, const int* positions, int n, const Mat& pos, Mat& y) override;
  // The greedy step's filters and argmax on the GPU (greedy_pick.cu); WST_CUDA_HOST_FILTERS=1 turns it off
  // (the logits then go to the host, as on the CPU), to compare the two.
  bool picks_greedy() const override { return pick_on_gpu_; }
  GreedyPick pick_greedy(const Mat& logits, const StepRules& rules) override;
  // Every row in one launch (greedy_pick.cu); WST_CUDA_PICK_ROWS=0 picks row by row (a launch and a wait each), to
  // compare.
  std::vector<GreedyPick> pick_greedy_rows(const Mat& logits, const std::vector<StepRules>& rules) override;
  void set_pick_rows(bool on) { pick_rows_ = on; }
  bool pick_rows() const { return pick_rows_; }
  // On sm_90 each row's pick (and beam candidates) is a cluster of blocks, each over a share of the vocabulary
  // (greedy_pick.cu); WST_CUDA_PICK_CLUSTER=0 or set_pick_cluster(false), and before sm_90, one block a row. Same
  // tokens; the log-sum-exp's double sums added in another order (the same bits in run 66). Run 66 (H100): the
  // recorded greedy step -0.025 to -0.036 ms in every model (large-v3 1.669 -> 1.633, tiny 0.186 -> 0.161);
  // cuda_check --picks checks and times both ways.
  void set_pick_cluster(bool on) { pick_cluster_ = on; }
  bool pick_cluster() const { return pick_cluster_ && sm90_ && clusters_; }  // what runs
  bool pick_cluster_requested() const { return pick_cluster_; }             // what was asked for
  std::vector<BeamCandidate> top_candidates(const Mat& logits, const std::vector<StepRules>& rules,
                                            const std::vector<float>& beam_scores, int k) override;
  // Greedy steps as CUDA graphs (step_graph.cu); WST_CUDA_GRAPH=0 runs them eagerly, to compare.
  bool records_steps() const override { return pick_on_gpu_ && graphs_; }
  void set_step(int token, int position, const StepRules& rules, int n_vocab) override;
  void begin_step_recording() override;
  std::shared_ptr<void> end_step_recording() override;
  void abort_step_recording() noexcept override;
  GreedyPick replay_step(const std::shared_ptr<void>& recording) override;
  // replay_step runs the next step ahead (WST_CUDA_STEP_AHEAD=0: off): once a step is launched, the step after it
  // is launched too, on the state its pick predicts (next_step_state: the pick as the next token, the timestamp
  // rules after it), before the host has read the pick. If the host's next step is that one (same recording, token,
  // position, rules and suppressed ids), its pick is already on the way; otherwise the step ahead is waited for and
  // run again. So the GPU does not wait for the host between tokens; a step ahead that is not used (after the last
  // token, when the host's rules differ) costs one step, and after a step that was not as predicted none runs ahead
  // until one is again.
  void forget_step_ahead() override;
  void set_step_ahead(bool on) { step_ahead_ = on; }
  bool step_ahead() const { return step_ahead_; }
  long long step_ahead_hits() const { return ahead_hits_; }
  long long step_ahead_misses() const { return ahead_misses_; }
  long long step_ahead_unused() const { return ahead_unused_; }  // forgotten (forget_step_ahead)
  void embed_at(const Weights& table, const Mat& pos, Mat& y) override;
  void copy_to_row_at(const Mat& src, Mat& cache) override;
  // Beam steps as CUDA graphs too (step_graph.cu): one recording per number of rows and self-attention kernel
  // (rows_step_kind: 1 while every cache is short enough for one block a head, else 0); WST_CUDA_RECORD_BEAMS=0
  // runs them eagerly, to compare. Only where the self-attention runs in cluster kernels (sm_90) and the decoder
  // layers are not one persistent kernel.
  void set_rows_step(const std::vector<int>& tokens, const std::vector<int>& positions,
                     const std::vector<std::vector<Mat*>>& k_caches, const std::vector<std::vector<Mat*>>& v_caches,
                     const std::vector<StepRules>& rules, const std::vector<float>& beam_scores, int n_vocab,
                     int k) override;
  int rows_step_kind() const override { return rows_kind_; }
  void begin_rows_recording() override;
  std::vector<BeamCandidate> replay_rows_step(const std::shared_ptr<void>& recording) override;
  void embed_rows_at(const Weights& table, const Mat& pos, Mat& y) override;
  void step_self_attention_at(int layer, const Mat& qkv, Mat& out, int n_head) override;
  void top_candidates_at(const Mat& logits) override;
  void set_record_rows(bool on) { record_rows_ = on; }
  bool record_rows() const { return record_rows_; }
  void linear_fused_kv_at(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias, Mat& y,
                          Mat& k_cache, Mat& v_cache) override;
  void attention_at(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) override;
  void step_self_attention(const Mat& qkv, const std::vector<Mat*>& k_caches, const std::vector<Mat*>& v_caches,
                           const std::vector<int>& positions, Mat& out, int n_head) override;
  void cross_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) override;
  // Up to kMaxAttentionRows rows a launch, each row over its own K/V (cluster_attention).
  void cross_attention_rows(const Mat& q, const std::vector<const Mat*>& ks, const std::vector<const Mat*>& vs,
                            Mat& out, int n_head) override;
  // One row: the query product and the attention in one cluster kernel (cross_query_attention, sm_90, half
  // weights; its attention scores the keys first over the K/V's float16 shadow, so the same bits as the product and
  // then the attention with one_row_scores_first on), for models up to fused_cross_max_width() wide
  // (WST_CUDA_FUSED_CROSS_MAX_WIDTH; the kernel takes up to 2048), where the window has a shadow (set_half_cross_kv;
  // without one the two kernels run). Off in session 18, when it read the float32 K/V (128 registers and a 48-byte
  // spill, slower than the two kernels); on again since run 46 over the float16 shadow (125 registers, no spill)
  // unless WST_CUDA_FUSED_CROSS=0 or set_fused_cross(false): greedy step, H100, with the self q|k|v fused too,
  // large-v3 1.736 -> 1.710 ms, large-v3-turbo 0.334 -> 0.329, small 0.513 -> 0.508, tiny 0.190 -> 0.187.
  static constexpr int kFusedCrossMaxWidth = 2048;
  void cross_attention_from(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq, Mat& q,
                            const Mat& k, const Mat& v, Mat& out, int n_head) override;
  void set_fused_cross(bool on) { fused_cross_ = on; }
  bool fused_cross() const { return fused_cross_; }
  void set_fused_cross_max_width(int d) { fused_cross_max_width_ = d; }
  int fused_cross_max_width() const { return fused_cross_max_width_; }
  // Several query rows over the same cross-attention K/V (beams) through shared_kv_attention (each key read once,
  // its keys scored first since session 18); on unless WST_CUDA_SHARED_KV=0 or set_shared_kv(false), for models of
  // at least shared_kv_min_heads() heads (1 since session 18; WST_CUDA_SHARED_KV_MIN_HEADS): run 42 (H200), 5-beam
  // step against the kernel off: large-v3 2.742 against 3.505 ms, small at any head count 0.857 against 0.964.
  void set_shared_kv(bool on) { shared_kv_ = on; }
  void set_shared_kv_min_heads(int n) { shared_kv_min_heads_ = n; }
  int shared_kv_min_heads() const { return shared_kv_min_heads_; }
  // One row's cross-attention through the same kernel (its keys scored first; other sums' order than the cluster
  // kernel's), at any head count, whatever set_shared_kv says; on unless WST_CUDA_ONE_ROW_SCORES_FIRST=0 or
  // set_one_row_scores_first(false): run 43 (H100), greedy step with the cross query unfused: large-v3 1.798 against
  // 1.828 ms with the cluster kernel. (The fused cross query's kernel always scores first: with this off, fused and
  // unfused give different bits.)
  void set_one_row_scores_first(bool on) { one_row_scores_first_ = on; }
  bool one_row_scores_first() const { return one_row_scores_first_; }
  // The window's cross K/V also kept as float16 (a shadow written in stream order whenever the decoder writes a
  // layer's K/V for a sole window, cross_kv_written), which the scores-first kernels then read instead of the
  // float32 K/V: half the bytes and half the key row's registers, the K/V rounded to float16 (held to the half
  // tolerances). On in the float16 precision (not bfloat16, whose range float16 lacks) unless
  // WST_CUDA_HALF_CROSS_KV=0 or set_half_cross_kv(false) (before set_audio): run 44 (H100), large-v3 greedy step
  // 1.808 -> 1.712 ms, 5-beam step 2.819 -> 2.725 ms. The other attention kernels (the cluster kernel for rows over
  // several windows, the persistent kernel, the fallbacks) keep reading the float32 K/V. Windows set together
  // (set_audios of several) get no new shadow: their rows mostly go through the cluster kernel, and the automatic
  // batch size does not count a shadow's memory; a batch's last rows over one window read the float32 K/V. A shadow
  // adds half of its window's K/V to the pool; a freed K/V's shadow goes at the next cross_kv_written, and one a
  // recording holds lives as long as the recording (refreshed at every cross_kv_written of its K/V).
  void cross_kv_written(const Mat& kv, bool sole_window) override;
  void set_half_cross_kv(bool on) { half_cross_kv_ = on; }
  bool half_cross_kv() const { return half_cross_kv_; }
  long long half_cross_kv_launches() const { return half_cross_kv_launches_; }
  // cross_kv for a sole window in float16 (with the shadows on): each layer's product writes the float16 shadow
  // directly (cuBLASLt, the bias in its epilogue; product_bias_half), and the float32 K/V are made from the shadow
  // only if an op reads them (a prompt or beams of more than 8 rows, past the shared-K/V kernel; a fallback); once a
  // recorded step has read float32 K/V, every later window writes them too, as long as such a recording lives
  // (cross_f32_readers_). Off
  // (WST_CUDA_HALF_DIRECT_KV=0 or set_half_direct_kv(false)): the float32 products, then each rounded to its shadow.
  // Directly, the sums are rounded once to float16 after the bias added in float32; where cuBLASLt takes no float32
  // bias with a half output (the H100 in run 59) the bias itself is rounded to half first.
  void set_half_direct_kv(bool on) { half_direct_kv_ = on; }
  bool half_direct_kv() const { return half_direct_kv_; }
  long long half_direct_kv_products() const { return half_direct_kv_products_; }  // layers made that way so far
  long long cross_kv_widened() const { return cross_kv_widened_; }  // float32 K/V made from their shadows so far
  void cross_kv(const Mat& x, const std::vector<const Weights*>& w, const std::vector<const Mat*>& bias,
                const std::vector<Mat*>& kv, bool sole_window) override;
  // y [m, n] float16 (row stride ldy) = x [m, k] w^T + bias, x in float16, bias [n] in cuBLASLt's epilogue, float32
  // sums: the cross K/V's shadow. The bias float32 where cuBLASLt takes it with a half output, else rounded to half
  // first (as product_bias_gelu's; the H100's cuBLASLt in run 59 took no float32 bias here). false, with nothing
  // done, where cuBLASLt has no such algorithm or a matrix is not 256-byte aligned.
  bool product_bias_half(const Weights& w, const void* x, int ldx, int m, void* y, int ldy, const float* bias);
  // Several sequences' self-attention over caches of at most kSmallSelfKeys visible keys with one block a sequence
  // and head instead of a cluster of 8 (8 blocks of a dozen keys each on a 100-key cache); other sums' order, so
  // not the same bits. On since run 34 unless WST_CUDA_SMALL_SELF=0 or set_small_self(false).
  void set_small_self(bool on) { small_self_ = on; }
  bool small_self() const { return small_self_; }
  // The attention kernels ask L2 for their block's keys and values before waiting for the kernel before them
  // (session 12; the same bits either way, by construction: a prefetch changes no value). On unless
  // WST_CUDA_PREFETCH_ROWS=0 or set_prefetch_rows(false): it adds traffic while the kernel before runs (a large-v3
  // layer's 15 MB of cross K/V), so it is a switch until timed. Read by the kernels when they run, so a recorded step
  // follows it too; one flag for the device in this process (the last backend to set it wins).
  void set_prefetch_rows(bool on);
  bool prefetch_rows() const { return prefetch_rows_; }
  // GemvConfig::stage_norm, which the fused attention kernels follow too (staged_norm). A launch takes it when made,
  // so a recording keeps the setting it was made with.
  void set_norm_staged(bool on) { gemv_.stage_norm = on; }
  bool norm_staged() const { return gemv_.stage_norm; }
  long long small_self_launches() const { return small_self_launches_; }
  bool shared_kv() const { return shared_kv_; }
  long long shared_kv_launches() const { return shared_kv_launches_; }
  // A recorded step's q|k|v product, cache write and self-attention in one cluster kernel (self_query_attention;
  // the same picks bit for bit, run 31); on unless WST_CUDA_FUSED_SELF=0 or set_fused_self(false).
  void self_attention_at_from(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& w, const Mat* bias,
                              Mat& qkv, Mat& k_cache, Mat& v_cache, Mat& out, int n_head) override;
  void set_fused_self(bool on) { fused_self_ = on; }
  bool fused_self() const { return fused_self_; }
  // The output products folded into the two fused attention kernels above (FoldedOutput: x += out wo^T + bo with no
  // kernel of its own; other bits than the product kernel's, the heads' partial sums added in head order), where
  // those kernels run and wo is [d, d] in their weights' type; off unless WST_CUDA_FUSED_OUT=1 or
  // set_fused_out(true): correct but slower (run 73, H200: tiny 0.1445 -> 0.1490 ms a token, large-v3 1.481 ->
  // 1.521). Otherwise the attention, then linear_fused.
  void self_attention_out_at_from(const Mat& gamma, const Mat& beta, const Weights& w, const Mat* bias,
                                  const Weights& wo, const Mat* bo, Mat& x, Mat& qkv, Mat& k_cache, Mat& v_cache,
                                  Mat& out, int n_head) override;
  void cross_attention_out_from(const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq, const Weights& wo,
                                const Mat* bo, Mat& x, Mat& q, const Mat& k, const Mat& v, Mat& out,
                                int n_head) override;
  void set_fused_out(bool on);  // (on: makes the fold's scratch, once)
  bool fused_out() const { return fused_out_; }
  long long fused_out_launches() const { return fused_out_launches_; }
  // How many times each fused kernel was launched or recorded (so a check can tell it ran, not a fallback).
  long long fused_cross_launches() const { return fused_cross_launches_; }
  long long fused_self_launches() const { return fused_self_launches_; }
  // A step's decoder layers in one persistent kernel (decoder_stack.cu) in the half modes, for a recorded greedy step
  // and for beam / batched steps of up to 8 sequences; an experiment, off unless WST_CUDA_PERSISTENT_DECODER=1 or
  // set_persistent_decoder(true) (slower than the defaults, run 32). Otherwise (and where decoder_stack_fits is false)
  // the defaults.
  void decoder_layers_at(const std::vector<DecoderLayerWeights>& layers, std::vector<Mat>& k_caches,
                         std::vector<Mat>& v_caches, const std::vector<Mat>& cross_kv, int n_head, Mat& x, Mat& qkv,
                         Mat& attn, Mat& q, Mat& mlp) override;
  void decoder_layers_rows(const std::vector<DecoderLayerWeights>& layers, const std::vector<std::vector<Mat*>>& k_caches,
                           const std::vector<std::vector<Mat*>>& v_caches, const std::vector<int>& positions,
                           const std::vector<std::vector<const Mat*>>& cross_kv, int n_head, Mat& x, Mat& qkv,
                           Mat& attn, Mat& q, Mat& mlp) override;
  // Whether the persistent kernel takes these layers and x.rows sequences (caches and cross K/V [layer][sequence]).
  bool decoder_stack_fits(const std::vector<DecoderLayerWeights>& layers, const std::vector<std::vector<Mat*>>& k_caches,
                          const std::vector<std::vector<Mat*>>& v_caches,
                          const std::vector<std::vector<const Mat*>>& cross_kv, int n_head, const Mat& x) const;
  void set_persistent_decoder(bool on) { persistent_decoder_ = on; }
  // Its products' first weight loads issued between arriving at the barrier before them and waiting (on unless
  // WST_CUDA_PERSISTENT_EARLY=0), to compare.
  void set_persistent_early_loads(bool on) { persistent_early_loads_ = on; }
  bool persistent_early_loads() const { return persistent_early_loads_; }
  // The kernel's compact build (float16 only; bfloat16 keeps the inline one): every phase calls the same non-inlined
  // product, norm, merge and attention functions, so a layer walks ~86 KB of instructions instead of ~184 KB for one
  // row (is the kernel slow because its code is always cold? docs/cuda_notes.md, entry 14). No early weight loads
  // there. Off unless WST_CUDA_PERSISTENT_COMPACT=1.
  void set_persistent_compact(bool on) { persistent_compact_ = on; }
  bool persistent_compact() const { return persistent_compact_; }
  long long persistent_launches() const { return persistent_launches_; }
  // Device memory of n_layer * kPersistentTraceSlots + 2 clock64 values that the kernel's later launches (and
  // recordings) fill with block 0's clock around each barrier and at the end of each phase's prologue
  // (StackArgs::trace), or null (the default): where a step's time goes.
  void set_persistent_trace(unsigned long long* trace) { persistent_trace_ = trace; }
  void pick_greedy_at(const Mat& logits) override;
  // The encoder's blocks with half activations between the products (encoder_blocks.cu) where the weights are
  // float16 / bfloat16 in the matching precision and the heads 64 wide; otherwise op by op (the default).
  // WST_CUDA_HALF_ENCODER=0 (or set_half_encoder(false)) keeps the op-by-op path, to compare.
  void encoder_blocks(const std::vector<EncoderLayerWeights>& layers, int n_head, Mat& x) override;
  bool half_encoder_fits(const std::vector<EncoderLayerWeights>& layers, int n_head, const Mat& x) const;
  void set_half_encoder(bool on) { half_encoder_ = on; }
  bool half_encoder() const { return half_encoder_; }
  // Those blocks recorded once as a CUDA graph and replayed for every window (bit for bit the eager launches'
  // result, run 31); on unless WST_CUDA_ENCODER_GRAPH=0 or set_encoder_graphs(false).
  void set_encoder_graphs(bool on) {
    encoder_graphs_ = on;
    if (!on) encoder_recording_.reset();
  }
  bool encoder_graphs() const { return encoder_graphs_; }
  // The launch shape of those blocks' attention (a new one records the blocks again): by default (nullopt) chosen for
  // the model (flash_shape_for), or the one set here or by WST_CUDA_FLASH_SHAPE. Throws for a wgmma shape where
  // flash_wgmma_available() is false. flash_shape_setting() gives what set_flash_shape takes back.
  void set_flash_shape(std::optional<FlashShape> shape) {
    if (shape && is_wgmma(*shape) && !wgmma_)
      throw Error("flash shape " + std::to_string(static_cast<int>(*shape)) +
                  ": wgmma needs an sm_90 GPU and sm_90a code, which this GPU or build lacks");
    flash_shape_ = shape;
  }
  std::optional<FlashShape> flash_shape_setting() const { return flash_shape_; }
  // The shape the blocks use for n_head 64-wide heads: the one set; else on wgmma where this GPU runs it, two
  // warpgroups a block, pipelined, from 16 heads up (large-v3: recorded blocks 5.76 -> 5.43 ms with two warpgroups,
  // run 39, H200; 5.00 -> 4.91 pipelined, run 57, H100), one warpgroup below (small 1.50 -> 1.30, tiny 0.310 ->
  // 0.276, run 39; still the faster for both in run 57); else ldmatrix16.
  FlashShape flash_shape_for(int n_head) const {
    if (flash_shape_) return *flash_shape_;
    if (!wgmma_) return FlashShape::ldmatrix16;
    return n_head >= 16 ? FlashShape::wgmma128x64p : FlashShape::wgmma64x64;
  }
  // The encoder's fc1 with its bias and GELU in cuBLASLt's epilogue (cuBLASLt's GELU is the tanh approximation, not
  // the exact erf form: lt_product.cu), instead of the product and a bias + GELU pass. On by default since run 40
  // (the same tokens on real weights, large-v3's blocks 5.43 -> 5.16 ms on an H100); WST_CUDA_FC1_EPILOGUE=0 or
  // set_fc1_epilogue(false) turns it off. A new setting records the encoder's blocks again.
  void set_fc1_epilogue(bool on) { fc1_epilogue_ = on; }
  bool fc1_epilogue() const { return fc1_epilogue_; }
  // y [m, n] (the weights' type, row stride ldy) = GELU(x [m, k] w^T + bias) with x in the weights' type (row stride
  // ldx) and bias [n] float32 or null, in one cuBLASLt product.
  // Where cuBLASLt has no algorithm taking a float32 bias, the bias rounded to y's type first (a small kernel);
  // false, with nothing done, where it has none either way (the caller takes the product and a pass instead).
  bool product_bias_gelu(const Weights& w, const void* x, int ldx, int m, void* y, int ldy, const float* bias);
  long long fc1_bias_roundings() const;  // how many times product_bias_gelu has rounded a bias so far
  long long fc1_epilogue_products() const;  // how many products product_bias_gelu has run with the epilogue
  // y [m, n] float32 (row stride ldy) = x [m, k] w^T + bias with x in the weights' type and bias [n] float32, the bias
  // in cuBLASLt's epilogue (the product before wrote the bias into y and read it back: beta = 1). false, with
  // nothing done, where cuBLASLt has no algorithm for it or a matrix is not 256-byte aligned. Used by linear, linears
  // and conv1d_gelu for many rows (set_lt_bias); one plan is kept per shape, rows included (a prompt of a new length
  // asks cuBLASLt's heuristic once).
  bool product_bias(const Weights& w, const void* x, int ldx, int m, float* y, int ldy, const float* bias);
  long long lt_bias_products() const;  // how many products product_bias has run
  // Many-row products of half weights over float32 activations with the bias in cuBLASLt's epilogue (product_bias);
  // off (WST_CUDA_LT_BIAS=0 or set_lt_bias(false)): the bias written into y, then cublasGemmEx with beta = 1.
  void set_lt_bias(bool on) { lt_bias_ = on; }
  bool lt_bias() const { return lt_bias_; }
  // encoder_stem in the half precisions as three launches fewer with the same bits: conv1's GELU applied where conv2's
  // columns are gathered, conv2's GELU and the positional add in one pass (conv1d.cu). Off (WST_CUDA_STEM_FUSED=0 or
  // set_stem_fused(false)): the ops in turn (Backend::encoder_stem).
  void set_stem_fused(bool on) { stem_fused_ = on; }
  bool stem_fused() const { return stem_fused_; }

  // For the checker and benchmarks: the stream every op is queued on, and the matrix-product mode
  // (TF32 tensor cores on, or plain fp32).
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  void set_tf32(bool on);
  void set_own_gemv(bool on) { own_gemv_ = on; }
  // The half-weight matrix-vector kernel's launch shape (half_linear.cu) for one row or several (beams, batched
  // windows), with an input up to 2048 wide or wider (fc2): output rows a warp (1, 2 or 4) and warps a block.
  // WST_CUDA_GEMV_SHAPES="R,W R,W R,W R,W" (one row narrow, one row wide, several narrow, several wide) sets them.
  void set_gemv_shape(bool several_rows, bool wide, GemvShape shape);
  GemvShape gemv_shape(bool several_rows, bool wide) const { return gemv_.shapes[several_rows][wide]; }
  // One row into an output at least 4x its input (fc1, the logits' product) from an input at least min_input wide:
  // its own shape, its row normed by a warp. Default {4, 4} from 1280 (large-v3 and its turbo; run 78); {0, 0}: the
  // one-row narrow shape and norm, as every other one-row product. WST_CUDA_GEMV_EXPANDING_SHAPE="R,W" or "off", and
  // WST_CUDA_GEMV_EXPANDING_MIN (0: every model). Each launch that takes it is counted (gemv_expanding_launches).
  void set_gemv_expanding_shape(GemvShape shape, int min_input);
  GemvShape gemv_expanding_shape() const { return gemv_.one_row_expanding; }
  int gemv_expanding_min_input() const { return gemv_.expanding_min_input; }
  long long gemv_expanding_launches() const { return gemv_expanding_launches_; }
  // For several rows (session 11): a wide input (fc2 of 5 beams) in chunks through the kernel instead of the
  // rounded tensor-core product (off: slower in run 35; WST_CUDA_GEMV_CHUNKS=1 turns it on), and the rows' layer
  // norms a warp each (on since run 34; WST_CUDA_GEMV_WARP_NORM=0 turns it off).
  void set_gemv_chunks(bool on) { gemv_.chunks = on; }
  bool gemv_chunks() const { return gemv_.chunks; }
  void set_gemv_norm_by_warp(bool on) { gemv_.norm_by_warp = on; }
  bool gemv_norm_by_warp() const { return gemv_.norm_by_warp; }
  // The same for one row (a greedy step's fc1; WST_CUDA_GEMV_WARP_NORM_ONE=1): other bits than the block-wide norm,
  // and the normed products may then take any launch shape (fewer blocks normalising the same row). Off: no shape
  // with it beat 2 x 4 without it (run 34: 1.75 against 1.72 ms a large-v3 greedy step).
  void set_gemv_one_row_norm_by_warp(bool on) { gemv_.one_row_norm_by_warp = on; }
  bool gemv_one_row_norm_by_warp() const { return gemv_.one_row_norm_by_warp; }
  // A normed product into a wide output (at least kNormOnceMinOutputs columns: the logits) normalises its rows once in
  // a block of their own and runs the product's kernel without its norm, instead of every one of the kernel's blocks
  // normalising them again (3242 blocks for the logits at 2 x 8; run 35: large-v3 5 beams' normed logits 131 us
  // against 46 for one row without a norm, tiny one row 32.7 against 17.4). The kernel's own bits: the matrix-vector
  // kernel's norm code over the same 256 threads, or for the tensor-core row kernel a warp a row as its own (cuda_check
  // compares both). Up to 8 rows (9-16 keep the kernel's own norm). On since run 36 (H100, every model faster, same
  // picks): tiny greedy 0.218 -> 0.202 ms, 5 beams 0.368 -> 0.356; small 0.557 -> 0.552, 1.177 -> 1.160; large-v3
  // 1.901 -> 1.891, 4.189 -> 4.171. WST_CUDA_NORM_ONCE=0 turns it off.
  static constexpr int kNormOnceMinOutputs = 8192;
  void set_norm_once(bool on) { norm_once_ = on; }
  bool norm_once() const { return norm_once_; }
  long long norm_once_launches() const { return norm_once_launches_; }
  // A layer norm folded into the product after it (session 32; off until timed: WST_CUDA_NORM_FOLD=1 or
  // set_norm_fold). For one row, W (g * (x - m) r + b_n) + b = r (W' x - m s) + b', with W' = W diag(g) rounded to
  // the weights' type, s = W' 1 (its rows' sums over the rounded values) and b' = W b_n + b, made on the device
  // once (fold_norm): the products run on the raw row while each warp takes its mean m and 1 / std r itself, so the
  // norm's barriers and its pass over the row leave the kernel's path. Other bits than the unfolded product (W' is
  // rounded once more; x - m cancels after the sums), so the eager and recorded steps both take it or neither.
  // prepare_decoder folds every decoder layer's fc1 while the switch is on, and with WST_CUDA_NORM_FOLD_ATTENTION=1
  // (set_norm_fold_attention; written in session 32 after its last GPU call, never run) its q|k|v and cross-attention
  // query products too, which the fused attention kernels then take folded (row_sums) and so do the one-row paths
  // without them (linear_fused, linear_fused_kv_at): every one-row path of a folded product takes the fold, so eager
  // and recorded steps keep the same bits. A product takes its fold (fold_for) where one was made for those weights,
  // gains, biases and bias and its switch is on.
  struct NormFold {
    Weights w;             // W'
    Mat row_sums, bias;    // s [1, n], b' [1, n]
    const float* gamma = nullptr;
    const float* beta = nullptr;
    const float* source_bias = nullptr;
    bool attention = false;              // which switch it follows: set_norm_fold_attention, else set_norm_fold
    std::shared_ptr<const void> source;  // W's storage, kept so that no other weights take its address
  };
  void set_norm_fold(bool on) { norm_fold_ = on; }
  bool norm_fold() const { return norm_fold_; }
  void set_norm_fold_attention(bool on) { norm_fold_attention_ = on; }
  bool norm_fold_attention() const { return norm_fold_attention_; }
  void prepare_decoder(const std::vector<DecoderLayerWeights>& layers) override;
  // Makes w's fold for these gains, biases and bias (half weights; once: a second call finds it); `attention`: it
  // follows set_norm_fold_attention.
  const NormFold& fold_norm(const Weights& w, const Mat& gamma, const Mat& beta, const Mat* bias,
                            bool attention = false);
  // w's fold for these gains, biases and bias where one was made and its switch is on; else null.
  const NormFold* fold_for(const Weights& w, const float* gamma, const float* beta, const float* bias) const;
  long long norm_fold_launches() const { return norm_fold_launches_; }
  // Several rows (2 to 16: beams, batched windows) of float16 weights through tensor_rows.cu's tensor-core kernel
  // instead of the matrix-vector kernel (up to 8 rows) or the ops in turn (more): the rows split into a half part and a
  // scaled remainder (about 22 bits), other sums' order, held to tolerances (cuda_check; real weights 12/12 with 5
  // beams). Written in session 15 after ncu showed a 5-row product taking 1.5-2.2x a one-row product's time. On since
  // run 37; in run 38 (H100, the same bench) 5-beam steps large-v3 4.09 -> 3.43 ms, large-v3-turbo 0.696 -> 0.599,
  // small 1.137 -> 0.999, tiny 0.352 -> 0.320; batch-16 (forked) 7.75 -> 6.47, 1.20 -> 1.07, 2.56 -> 1.77, 0.749 ->
  // 0.507. WST_CUDA_TENSOR_ROWS=0 turns it off. Tiles: output features a block in 8s (1, 2 or 4; 0 chooses from the
  // model's width, tensor_rows_tiles; WST_CUDA_TENSOR_ROWS_TILES).
  void set_tensor_rows(bool on) { tensor_rows_ = on; }
  bool tensor_rows_on() const { return tensor_rows_; }
  void set_tensor_rows_tiles(int tiles) { tensor_rows_tiles_ = tiles; }
  int tensor_rows_tiles() const { return tensor_rows_tiles_; }
  // Tiles for products of fewer than 2048 outputs where the width's rule chooses (0: the rule; switches.h,
  // tensor_rows_tiles; WST_CUDA_TENSOR_ROWS_NARROW_TILES). cuda_bench's 5-beam variants try 1 and 4.
  void set_tensor_rows_narrow_tiles(int tiles) { tensor_rows_narrow_tiles_ = tiles; }
  int tensor_rows_narrow_tiles() const { return tensor_rows_narrow_tiles_; }
  // Blocks an SM (1 or 2: tensor_rows.cu's kOcc; WST_CUDA_TENSOR_ROWS_OCCUPANCY): 2 by default since run 50 (5-beam
  // steps 3-18% faster than at 1, batch-16 steps even or faster); cuda_bench's 5-beam variants time 1.
  void set_tensor_rows_occupancy(int blocks) {
    check_tensor_rows_occupancy(blocks);
    tensor_rows_occupancy_ = blocks;
  }
  int tensor_rows_occupancy() const { return tensor_rows_occupancy_; }
  long long tensor_rows_launches() const { return tensor_rows_launches_; }
  // The fewest rows that take it: 2 (one row, a greedy step, keeps the matrix-vector kernel); 1 to time it there
  // (WST_CUDA_TENSOR_ROWS_MIN=1; slower in run 38: large-v3's greedy step 2.36-2.53 against
  // 1.89 ms, tiny 0.232-0.250 against 0.203).
  void set_tensor_rows_min(int rows) { tensor_rows_min_ = rows; }
  int tensor_rows_min() const { return tensor_rows_min_; }
  // For the checks: the kernel's activation bytes a block (lowered, it takes wide inputs in chunks sooner), and how
  // many launches read their input in chunks.
  void set_gemv_shared_bytes(size_t bytes) { gemv_.shared_limit = bytes; }
  size_t gemv_shared_bytes() const { return gemv_.shared_limit; }
  long long gemv_chunked_launches() const { return gemv_chunked_launches_; }
  void set_graphs(bool on) { graphs_ = on; }
  bool graphs() const { return graphs_; }
  // Chained launches of the step's kernels (launch.cuh); on from sm_90 unless WST_CUDA_CHAIN=0.
  void set_chained(bool on) { chained_ = on && sm90_; }
  bool chained() const { return chained_; }
  // One-query attention in one cluster kernel on sm_90 (cluster_attention.cu); WST_CUDA_CLUSTERS=0 keeps the
  // two-kernel path, to compare.
  void set_clusters(bool on) { clusters_ = on; }
  Precision precision() const { return precision_; }
  void set_precision(Precision p);
  // float16 / bfloat16 bits [rows, cols] copied to the device as Weights of `type`.
  Weights upload_half(const uint16_t* host, int rows, int cols, WeightType type);
  // A float32 matrix already on the device (weights, or activations for a tensor-core product) rounded to
  // float16 / bfloat16 there, contiguous (queued on the stream).
  Weights to_half(const Mat& m, WeightType type);
  // to_half of a matrix of weights, kept while its storage lives (the convolutions' float32 weights, rounded once
  // rather than every window). Weights are not written after they are loaded, so the rounding stays true.
  const Weights& rounded_weights(const Mat& w, WeightType type);
  // Device memory from the pool, returned to it when the last reference goes.
  std::shared_ptr<void> alloc_bytes(size_t bytes);
  void synchronize();
  const DevicePool& pool() const { return *pool_; }
  // The pool's high-water mark: every byte cudaMalloc'ed through it (weights, activations, the cuBLAS
  // workspace), cached blocks included. The CUDA context and cuBLAS's own kernels are not counted.
  long long peak_device_bytes() const override { return static_cast<long long>(pool_->peak_bytes_reserved()); }
  // cudaMemGetInfo's free bytes on this device plus the pool's idle blocks (what sizes a batch).
  long long free_device_bytes() const override;

 private:
  // y = xh w^T + bias for xh already in w's type (the many-row products of linear, linears and conv1d_gelu):
  // product_bias where set_lt_bias and a bias, else the bias into y and cublasGemmEx (half_product_bias).
  void product_over_half(const Weights& w, const void* xh, int ldx, int m, const float* bias, Mat& y);
  // conv1d_gelu's half-precision product without its GELU: y = conv1d(x, w) + b (y.rows output rows), the columns
  // gathered in the precision's type (gelu_in: the GELU of each value gathered, as a GELU pass over x before).
  void conv1d_half(const Mat& x, const Mat& w, const Mat& b, int stride, bool gelu_in, Mat& y);

  int device_;
  int n_sm_ = 0;  // the device's multiprocessors (launch shapes)
  GemvConfig gemv_;  // the matrix-vector kernel's shapes, shared memory and experiments (half_linear.cu)
  long long gemv_chunked_launches_ = 0;
  long long gemv_expanding_launches_ = 0;
  bool norm_once_ = true;
  bool tensor_rows_ = true;
  int tensor_rows_tiles_ = 0, tensor_rows_narrow_tiles_ = 0, tensor_rows_occupancy_ = 2;
  int tensor_rows_min_ = 2;
  long long tensor_rows_launches_ = 0;
  long long norm_once_launches_ = 0;
  bool norm_fold_ = false;
  bool norm_fold_attention_ = false;
  std::map<const void*, NormFold> norm_folds_;  // by W's device address
  long long norm_fold_launches_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::shared_ptr<DevicePool> pool_;
  // The device is sm_90 or later and runs sm_90 code (chained launches, thread-block clusters); launches are
  // chained (launch.cuh).
  bool sm90_ = false, chained_ = false, clusters_ = true;
  bool half_encoder_ = true;
  std::optional<FlashShape> flash_shape_;  // set_flash_shape; nullopt: flash_shape_for chooses
  bool wgmma_ = false;  // flash_wgmma_available() for this device, asked when the backend starts
  bool fc1_epilogue_ = true;
  bool lt_bias_ = true;
  // product_bias (half_out false: float32 y) and product_bias_half (true: y in w's type); who names the caller in
  // errors.
  bool product_bias_to(const Weights& w, const void* x, int ldx, int m, void* y, int ldy, const float* bias,
                       bool half_out, const char* who);
  // The bias a cuBLASLt plan's epilogue reads: bias itself, or where the plan takes it in the output's type (w's), a
  // copy rounded to it (refilled at every product, in stream order).
  const void* plan_bias(bool in_output_type, const Weights& w, const float* bias);
  std::shared_ptr<LtProducts> lt_;  // cuBLASLt's handle and plans, made on first use (lt_product.cu)
  bool fused_cross_ = true, fused_self_ = true;  // (the constructor reads WST_CUDA_FUSED_CROSS / _SELF)
  bool fused_out_ = false;                        // (WST_CUDA_FUSED_OUT=1 on)
  long long fused_out_launches_ = 0;
  // FoldedOutput's scratch, made by set_fused_out(true) (empty until then: nothing folds): partials [32 heads, 2048]
  // floats (checked against n_head x d before every fold), then kCtas (8) counters as 32-bit words. Every recording
  // that folds uses these same addresses: safe while the backend's steps run on its one stream (as they all do);
  // recordings replayed on other streams at once would race.
  static_assert(sizeof(unsigned) == sizeof(float));
  static constexpr int kFoldPartials = 32 * 2048, kFoldCounters = 8;
  Mat fold_scratch_;
  // The fused kernels' launches; `wo` set: with the output product folded (FoldedOutput). False where they do not
  // fit (nothing launched): the caller then runs the unfused ops.
  bool launch_fused_self(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& w, const Mat* bias,
                         Mat& k_cache, Mat& v_cache, Mat& out, int n_head, const Weights* wo, const Mat* bo);
  bool launch_fused_cross(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq,
                          const Mat& k, const Mat& v, Mat& out, int n_head, const Weights* wo, const Mat* bo);
  int fused_cross_max_width_ = kFusedCrossMaxWidth;
  long long fused_cross_launches_ = 0, fused_self_launches_ = 0;
  bool shared_kv_ = true, small_self_ = true, prefetch_rows_ = true, one_row_scores_first_ = true;
  int shared_kv_min_heads_ = 1;
  long long shared_kv_launches_ = 0, small_self_launches_ = 0;
  // The device takes cooperative launches (all blocks resident at once: decoder_stack.cu's grid barriers).
  bool cooperative_ = false, persistent_decoder_ = false, persistent_early_loads_ = true, persistent_compact_ = false;
  long long persistent_launches_ = 0;
  unsigned long long* persistent_trace_ = nullptr;
  size_t shared_optin_ = 0;  // the most shared memory a block may take on this device (opt-in)
  // Whether the persistent kernel's block fits an SM, by (type, rows, shared memory): asked once each.
  mutable std::map<std::tuple<int, int, size_t>, bool> stack_resident_;
  // The persistent kernel's launch (decoder_stack.cu): positions for an eager step, st for a recorded one.
  void run_decoder_stack(const std::vector<DecoderLayerWeights>& layers, const std::vector<std::vector<Mat*>>& k_caches,
                         const std::vector<std::vector<Mat*>>& v_caches,
                         const std::vector<std::vector<const Mat*>>& cross_kv, const int* positions,
                         const StepState* st, int n_head, Mat& x, Mat& q, Mat& attn, Mat& mlp);
  bool encoder_graphs_ = false;
  std::shared_ptr<void> encoder_recording_;  // encoder_blocks.cu's EncoderRecording
  bool own_gemv_ = true;  // one-row linear through our kernel (linear.cu) rather than cublasSgemv
  Precision precision_ = Precision::f32;
  // The encoder's attention in half precision (flash_attention.cu); false when the shape is not one it takes.
  bool flash_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset);
  // Up to kMaxAttentionRows queries over the same K/V through cluster_attention (sm_90).
  void few_queries_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, bool kv_fixed);
  // Row b of q over all rows of *ks[b], *vs[b] (common row strides), kMaxAttentionRows rows a cluster_attention launch.
  void rows_attention(const Mat& q, const std::vector<const Mat*>& ks, const std::vector<const Mat*>& vs, Mat& out,
                      int n_head, bool kv_fixed);
  // One query row through cluster_attention (sm_90).
  void one_row_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int n_visible,
                         const StepState* st, bool kv_fixed);
  Mat blas_workspace_;  // given to cuBLAS so it allocates nothing itself (needed inside a CUDA graph capture)
  // pick_greedy's state: the suppressed ids (host copy, and as a device bitmask), its result on the device and
  // in pinned host memory.
  bool pick_on_gpu_ = true;
  std::vector<int> pick_suppress_;
  int pick_vocab_ = 0;
  std::shared_ptr<void> pick_bits_, pick_out_;
  void* pick_host_ = nullptr;
  // The step's state (StepState) in pinned host memory and on the device; the suppressed ids' bitmask is
  // rewritten in place while the vocabulary stays; another vocabulary gets a new mask, and recordings made before
  // keep (and read) the old one.
  StepState* step_host_ = nullptr;
  // Where a device copy kept by the backend came from: the float32 view and its storage, held weakly, so that a
  // freed matrix (and new data at its address) never matches again; expired copies are dropped.
  struct CopySource {
    std::weak_ptr<float> owner;
    const float* data = nullptr;
    int rows = 0, cols = 0, ld = 0;
    static CopySource of(const Mat& m) { return {m.storage, m.data, m.rows, m.cols, m.ld}; }
    bool is(const Mat& m) const {
      return !owner.owner_before(m.storage) && !m.storage.owner_before(owner) && data == m.data && rows == m.rows &&
             cols == m.cols && ld == m.ld;
    }
  };
  template <class Copy>
  static void drop_expired(std::vector<Copy>& copies) {
    copies.erase(std::remove_if(copies.begin(), copies.end(), [](const Copy& c) { return c.src.owner.expired(); }),
                 copies.end());
  }
  // cross_kv_written's float16 shadows of [rows, 2d] K/V (contiguous).
  struct HalfKv {
    CopySource src;
    std::shared_ptr<void> half;  // [rows, cols] float16, contiguous
    // cross_kv made the shadow alone: src's float32 values are made from it (widened) when an op reads them
    // (fresh_cross_kv).
    bool f32_stale = false;
  };
  std::vector<HalfKv> half_kv_;
  // Makes the float32 values of every K/V that m overlaps from its shadow where cross_kv left them stale (in stream
  // order; true where it launched a widening, which the next kernel must wait for before reading them). Every op
  // that reads a K/V's float32 values calls it first, cross_read where it reads m as a window's cross K/V. While a
  // step is recorded, such a read (or one of a shadowed K/V) marks the recording (mark_cross_f32_recorded), and the
  // widening is captured with it (run at each replay from the shadow of its time).
  bool fresh_cross_kv(const Mat& m, bool cross_read = false);
  // A recorded step reads some window's float32 K/V (the persistent kernel, rows beyond the shared-K/V kernel's):
  // while it can be replayed, cross_kv writes every window's float32 K/V too (recordings outlive windows). Each such
  // recording holds the mark that cross_f32_readers_ watches; it expires with the last of them (run 62: a sticky
  // flag kept every later model of a process, the bench's too, off the direct path).
  void mark_cross_f32_recorded();
  std::weak_ptr<void> cross_f32_readers_;
  bool half_direct_kv_ = true;
  long long half_direct_kv_products_ = 0, cross_kv_widened_ = 0;
  bool half_cross_kv_ = true;
  // Shadows are made and read: switched on, in float16 precision (float32 must give the CPU's tokens; float16 lacks
  // bfloat16's range).
  bool half_kv_on() const { return half_cross_kv_ && precision_ == Precision::f16; }
  long long half_cross_kv_launches_ = 0;
  // The shadow of the K/V whose K is k and V is v (views of one [rows, 2d] K/V, K first), or null.
  const HalfKv* half_kv_for(const Mat& k, const Mat& v) const;
  // The shadow of k, v as the scores-first kernels read it, where it is on, made and fits n_rows rows of heads dh
  // wide (counted in half_cross_kv_launches, held by a recording in progress); none otherwise.
  struct HalfKvView {
    const __half* k;
    const __half* v;
    int ld;
  };
  std::optional<HalfKvView> half_kv_view(const Mat& k, const Mat& v, int n_rows, int dh);
  // embed and embed_rows: row i at positions[i], or pos_offset + i where positions is null (embed.cu).
  void embed_weights(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, const int* positions,
                     Mat& y);
  // rounded_weights' copies.
  struct Rounded {
    CopySource src;
    WeightType type;
    Weights w;
  };
  std::vector<Rounded> rounded_;
  // upload_transposed's pinned buffer, and an event after the last copy out of it (written again only after it).
  static constexpr size_t kUploadChunkBytes = size_t{256} << 10;  // upload_transposed's copies and transfers
  bool stem_fused_ = true;
  bool half_mel_ = true;
  // upload_transposed's body: host [rows, cols] through the pinned buffer, as float32 or rounded to float16.
  Mat upload_staged(const float* host, int rows, int cols, bool half);
  float* staging_host_ = nullptr;
  size_t staging_bytes_ = 0;
  cudaEvent_t staging_free_ = nullptr;
  std::shared_ptr<void> step_dev_;
  void prepare_pick(int n_vocab, const StepRules& rules);  // the bitmask, result buffers and state's rules
  // The pick kernel under step_dev_'s rules; `recorded`: a recorded greedy step's (its pick into pick_slots_host_
  // and the next step's state into step_next_dev_, no copy back).
  void launch_pick(const Mat& logits, bool recorded = false);
  // A recorded greedy step's first node copies step_next_dev_ into step_dev_: what the host set (replay_step copies
  // it there first) or what the step before predicted (next_step_state, written by its pick).
  std::shared_ptr<void> step_next_dev_;
  int* pick_slots_host_ = nullptr;  // pinned: two picks (token, log-probability bits), by the step's position's parity
  long long pick_bits_version_ = 0;  // the suppressed ids' mask, rewritten
  // The step after the last replayed one (replay_step): whether it is predicted (valid: the last pick's
  // next_step_state, for that recording by serial number) and already launched, under which mask.
  struct StepAhead {
    bool valid = false, launched = false;
    unsigned long long recording = 0;
    StepState state{};
    long long bits_version = 0;
  } ahead_;
  cudaEvent_t step_done_[2] = {nullptr, nullptr};  // after each replay, by its position's parity
  bool step_ahead_ = true;
  long long ahead_hits_ = 0, ahead_misses_ = 0, ahead_unused_ = 0;
  // While a greedy step is recorded: the fewest rows of the caches and positional table its ops use
  // (note_step_rows), so that no step is run ahead past them.
  int step_rows_ = 0;
  void note_step_rows(int rows) { step_rows_ = std::min(step_rows_, rows); }
  bool step_picks_ = false;  // ... and whether it ends in the greedy pick (pick_greedy_at)
  // Launches `recording`'s replay for the state in step_next_dev_ (the host's or predicted) at `position`.
  void launch_replay(void* recording, int position);
  bool pick_rows_ = true;
  bool pick_cluster_ = true;
  // Each row's rules as the pick kernels read them (one suppress list for all rows: the bitmask); `what` names the
  // caller in the error.
  std::vector<StepState> row_rules(int n_vocab, const std::vector<StepRules>& rules, const char* what);
  GreedyPick read_pick();                                   // waits for the stream, returns the result
  // Recording: on while a step is captured; everything allocated meanwhile is kept by the recording.
  bool graphs_ = true;
  bool recording_ = false;
  // The recording begins: sync, capture, and a first node copying `bytes` of `src` (pinned host memory or, by
  // `kind`, the device's) to `dev`.
  void begin_recording(const void* src, void* dev, size_t bytes, cudaMemcpyKind kind = cudaMemcpyHostToDevice);
  // set_rows_step's state (kRowsStepBytes, pinned and on the device), its rows, layers, candidates a row and cache
  // strides, and its kind (-1: not recordable). rows_out_host_: the recording in progress's candidates (pinned; the
  // recording frees it).
  bool record_rows_ = true;
  RowsStep* rows_host_ = nullptr;
  std::shared_ptr<void> rows_dev_;
  int rows_n_ = 0, rows_layers_ = 0, rows_k_ = 0, rows_ldk_ = 0, rows_ldv_ = 0, rows_kind_ = -1;
  bool recording_rows_ = false;
  void* rows_out_host_ = nullptr;
  const StepState* rows_states() const { return static_cast<const StepState*>(rows_dev_.get()); }  // RowsStep::row
  const float* rows_scores() const {
    return reinterpret_cast<const float*>(static_cast<const char*>(rows_dev_.get()) + offsetof(RowsStep, score));
  }
  const LayerCaches* rows_caches(int layer) const {
    return reinterpret_cast<const LayerCaches*>(static_cast<const char*>(rows_dev_.get()) + sizeof(RowsStep)) + layer;
  }
  std::vector<std::shared_ptr<void>> recorded_;
};

// top_candidates' result as the host takes it: row b's candidates (scores[b * k + j], tokens[b * k + j]) up to its
// first token -1 (greedy_pick.cu).
std::vector<BeamCandidate> compact_candidates(const float* scores, const int* tokens, int n, int k);
// The most shared memory half_linear.cu's matrix-vector kernel may take a block on `device`.
size_t gemv_shared_limit(int device);
// y[r] = row for every row of y (a bias written before a product added with beta = 1; linear.cu).
void broadcast_rows(Mat& y, const float* row, cudaStream_t stream);
// Throws wst::Error naming the three shapes when y = x @ w^T does not fit (w [w_rows, w_cols]).
void check_linear_shapes(const Mat& x, int w_rows, int w_cols, const Mat& y);

// What engine::make_cuda_backend and engine::cuda_unavailable_reason return (backend.h), here for the
// module's entry points (module.cu) to call: the CMake build loads the backend as a module
// (engine/cuda_loader.cpp), the GPU machine's nvcc-only builds link it (tools/cuda/cuda_linked.cpp).
std::unique_ptr<Backend> make_backend(int device, const std::string& compute_type);
std::string unavailable_reason();

// Whether the code this device runs was compiled for sm_90 or later (the cluster kernel's binary version): a build
// without a 90 target on an H100 runs sm_80 code, in which the chained-launch waits and the cluster kernel's body
// compile to nothing, so the backend must not use them there.
bool sm90_code_runs();

// Whether the attention kernels (cluster_attention.cu) prefetch their keys' rows: a flag in the device's constant
// memory (CudaBackend::set_prefetch_rows).
void set_attention_row_prefetch(bool on, cudaStream_t stream);

// One-query attention in one kernel on sm_90 (cluster_attention.cu), for up to kMaxAttentionRows query rows at once:
// row b of q (row stride ldq) attends over its own keys rows.k[b], rows.v[b] (row strides ldk, ldv), the first
// rows.n_visible[b] of them, into row b of out [n_rows, n_head * dh]. `st` set: a recorded step of one row
// (n_visible = its position + 1); kv_fixed: K/V not written by the kernel just before.
// Clocks a layer in the persistent decoder kernel's trace (CudaBackend::set_persistent_trace): arriving at and
// leaving each of its 8 barriers (2 p, 2 p + 1), then the end of each phase's prologue (16 + p).
constexpr int kPersistentTraceSlots = 24;
constexpr int kMaxAttentionRows = 16;
static_assert(kMaxAttentionRows == kMaxStepRows, "a recorded beam step's rows are one attention launch's");
constexpr int kSmallSelfKeys = 256;  // CudaBackend::set_small_self's cache length, at most
struct AttentionRows {
  const float* k[kMaxAttentionRows];
  const float* v[kMaxAttentionRows];
  int n_visible[kMaxAttentionRows];
};

// Up to kMaxSharedKvRows query rows over the same K/V (a step's beams over their window; one row behind
// set_one_row_scores_first) in one cluster launch that reads each key once for all rows (cluster_attention.cu; sm_90,
// heads up to 64 wide, a multiple of 4, K and V 16-byte aligned); each row gets the same bits whatever the other
// rows, not cluster_attention's.
constexpr int kMaxSharedKvRows = 8;
bool shared_kv_attention_fits(int n_rows, int dh, const float* k, const float* v, int ldk, int ldv);
void shared_kv_attention(bool chained, cudaStream_t stream, const float* q, int ldq, int n_rows, const float* k,
                         const float* v, int ldk, int ldv, int n_keys, int n_head, int dh, float scale, float* out,
                         int ldo, bool kv_fixed);
// The same over K/V stored as float16 (CudaBackend::set_half_cross_kv; heads a multiple of 8 wide).
bool shared_kv_attention_fits(int n_rows, int dh, const __half* k, const __half* v, int ldk, int ldv);
void shared_kv_attention(bool chained, cudaStream_t stream, const float* q, int ldq, int n_rows, const __half* k,
                         const __half* v, int ldk, int ldv, int n_keys, int n_head, int dh, float scale, float* out,
                         int ldo, bool kv_fixed);
// one_block: one block a row and head (no cluster merge), for short caches.
// caches: row b's K and V read from caches->k[b], caches->v[b] (a recorded beam step's) rather than rows; with st,
// row b sees st[b].position + 1 keys.
void cluster_attention(bool chained, cudaStream_t stream, const float* q, int ldq, const AttentionRows& rows, int n_rows,
                       int ldk, int ldv, int n_head, int dh, float scale, float* out, int ldo, const StepState* st,
                       bool kv_fixed, bool one_block = false, const LayerCaches* caches = nullptr);
// One row's cross-attention with its query product (cluster_attention.cu): q = norm(x) wq^T + bq (gamma, beta;
// wq [d, d] in T) computed inside the kernel, then attention over n_keys rows of k, v (heads 64 wide) into out [1, d].
bool cross_query_attention_fits(int d, int n_head);
// A recorded step's self-attention with its q|k|v product (cluster_attention.cu): q, k, v = norm(x) wqkv^T + bqkv
// (wqkv [3d, d] in T) computed inside the kernel, k and v written into row st->position of the caches (row stride
// ldc), then attention over rows 0 .. st->position into out [1, d]. The same shapes as cross_query_attention.
// With `fold` (CudaBackend::set_fused_out), either kernel also adds its output product onto x (x += out wo^T + bo;
// wo [d, d] in T) and leaves out unwritten: each head's partial sums of the product go through `partials`
// [n_head, d] float32, and the last block of each slice of x adds them in head order (counters: kCtas unsigned, zero
// before the launch and zero after it).
template <class T>
struct FoldedOutput {
  const T* wo;
  const float* bo;  // or null
  float* x;
  float* partials;
  unsigned* counters;
};
template <class T>
void self_query_attention(bool chained, cudaStream_t stream, const float* x, int ldx, const float* gamma,
                          const float* beta, const T* wqkv, const float* bqkv, int d, int n_head, float* k_cache,
                          float* v_cache, int ldc, const StepState* st, float* out,
                          const FoldedOutput<T>* fold = nullptr, bool staged_norm = false,
                          const float* row_sums = nullptr);
// K/V: their float16 shadow (set_half_cross_kv). row_sums (both): the norm folded into the weights (NormFold: wq is
// W', bq b', gamma and beta null), s; null: the norm applied (gamma, beta).
template <class T>
void cross_query_attention(bool chained, cudaStream_t stream, const float* x, int ldx, const float* gamma,
                           const float* beta, const T* wq, const float* bq, int d, int n_head, const __half* k,
                           const __half* v, int ldk, int ldv, int n_keys, float* out,
                           const FoldedOutput<T>* fold = nullptr, bool staged_norm = false,
                           const float* row_sums = nullptr);

// The encoder's half-precision path (encoder_blocks.cu), T = __half or __nv_bfloat16:
// y [x.rows, x.cols] (row stride ldy) = layer_norm(x + add) in T (add: a row, or null; x is only read).
template <class T>
void layer_norm_half(const Mat& x, const float* add, const float* gamma, const float* beta, T* y, int ldy,
                     cudaStream_t stream);
// x [rows, cols] (row stride ld) rounded to float16 / bfloat16 into out (contiguous, rows * cols values): to_half's
// kernel, for buffers the caller keeps (half_linear.cu).
void round_rows_to(const Mat& x, WeightType type, void* out, cudaStream_t stream);
// Row-major y [m, w.rows] (type yt: the weights' type or float32, row stride ldy) = x [m, w.cols] (the weights' type,
// row stride ldx) w^T + beta y, w float16 / bfloat16, on the tensor cores with float32 accumulation (cuBLAS).
void half_product(cublasHandle_t blas, const Weights& w, const void* x, int ldx, int m, void* y, cudaDataType_t yt,
                  int ldy, float beta);
// A bias's device values, or null where there is none (no matrix, or an empty one).
inline const float* bias_or_null(const Mat* b) { return b && !b->empty() ? b->data : nullptr; }
inline const float* bias_or_null(const Mat& b) { return bias_or_null(&b); }

// y (float32) = x w^T + bias (bias [w.rows] or null) with x [m, w.cols] already in the weights' type: the bias
// written into y first and the product added onto it (beta = 1). linear()'s product for rows past the matrix-vector
// kernel's, and the convolutions' (conv1d.cu).
void half_product_bias(cublasHandle_t blas, const Weights& w, const void* x, int ldx, int m, const float* bias, Mat& y,
                       cudaStream_t stream);
// x [rows, cols] contiguous = gelu(x + bias) (bias [cols] or null), exact GELU, in T.
template <class T>
void bias_gelu_half(T* x, int rows, int cols, const float* bias, cudaStream_t stream);
// y[r] += row for every row of y.
void add_row(Mat& y, const float* row, cudaStream_t stream);
// out [cols, rows] (row stride ldo) = the transpose of in [rows, cols] contiguous, float32 or float16 (widened);
// elementwise.cu.
template <class In>
void transpose(const In* in, int rows, int cols, float* out, int ldo, cudaStream_t stream);
// Self-attention over qkv [t, 3d] in T (q | k | v, 64-wide heads, row stride ld), bias [3d] or null, into out
// [t, d] (row stride ldo), in one of the launch shapes (the mma.sync shapes give the same bits; the wgmma shapes go
// to flash_wgmma_half); flash_attention.cu.
template <class T>
void flash_attention_half(const T* qkv, int ld, int t, int d, const float* bias, T* out, int ldo, int n_sm,
                          cudaStream_t stream, FlashShape shape = FlashShape::ldmatrix16);
// The same on wgmma (a FlashShape::wgmma* shape; throws unless flash_wgmma_available()); flash_wgmma.cu.
template <class T>
void flash_wgmma_half(const T* qkv, int ld, int t, int d, const float* bias, T* out, int ldo, cudaStream_t stream,
                      FlashShape shape);

// Launch shape for a kernel over n elements with `threads` per block.
inline unsigned blocks_for(size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace wst::engine::cuda
