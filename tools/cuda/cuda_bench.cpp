// Timings of the CUDA backend on the GPU machine: the card's two ceilings (device copy bandwidth, fp32 and
// TF32 sgemm rate), then per model (random weights of the real shapes) one 30 s encoder window and one decoder
// step (KV cache at 100 positions, cross-attention over 1500 frames), each the median of n_reps after warm-up,
// next to the two floors (flops over the sgemm rate, bytes over the copy bandwidth). The decoder step is
// timed as engine::Decoder runs it (eager), and as the same ops captured once in a CUDA graph and replayed.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_profiler_api.h>
#include <nvtx3/nvToolsExt.h>

#include "cuda_tool.h"
#include "engine/cuda/chain_probe.h"
#include "engine/decoder.h"
#include "engine/timestamp_rules.h"
#include "engine/encoder.h"
#include "random_model.h"
#include "util/errors.h"
#include "util/half.h"

namespace wst::cuda_tool {

using engine::Mat;
using engine::cuda::CudaBackend;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// The fastest of cuBLASLt's first (up to 8) algorithms by its heuristic for the half-weight product y [m, n] (type
// yt, row stride ldy) = x [m, k] w^T + beta y, as half_product computes it: its time by `time_us`, its rank in the
// heuristic's list (0: the heuristic's first choice) and how many there were. Informational (the bench's lines): whether
// another algorithm than cuBLAS's choice runs the encoder's products faster.
struct LtBest {
  double us = NAN;
  int rank = -1, n = 0;
};
LtBest fastest_lt_algorithm(CudaBackend& be, const engine::Weights& w, const void* x, int m, void* y, cudaDataType_t yt,
                            int ldy, float beta, const std::function<double(const std::function<void()>&)>& time_us) {
  LtBest best;
  const cudaDataType_t t = w.type == engine::WeightType::float16 ? CUDA_R_16F : CUDA_R_16BF;
  const int n = w.rows, k = w.cols;
  cublasLtHandle_t lt = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  const size_t workspace_bytes = size_t{32} << 20;
  std::shared_ptr<void> workspace = be.alloc_bytes(workspace_bytes);
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cublasLtMatmulHeuristicResult_t found[8] = {};
  bool ok = cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatrixLayoutCreate(&a, t, k, n, k) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatrixLayoutCreate(&b, t, k, m, k) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatrixLayoutCreate(&c, yt, n, m, ldy) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                                 sizeof workspace_bytes) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulAlgoGetHeuristic(lt, op, a, b, c, c, pref, 8, found, &best.n) == CUBLAS_STATUS_SUCCESS;
  const float one = 1.0f;
  for (int i = 0; ok && i < best.n; ++i) {
    bool ran = true;
    const double us = time_us([&] {
      ran = ran && cublasLtMatmul(lt, op, &one, w.packed.get(), a, x, b, &beta, y, c, y, c, &found[i].algo,
                                  workspace.get(), workspace_bytes, be.stream()) == CUBLAS_STATUS_SUCCESS;
    });
    if (ran && (std::isnan(best.us) || us < best.us)) best.us = us, best.rank = i;
  }
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  for (cublasLtMatrixLayout_t l : {a, b, c})
    if (l) cublasLtMatrixLayoutDestroy(l);
  if (op) cublasLtMatmulDescDestroy(op);
  if (lt) cublasLtDestroy(lt);
  be.synchronize();  // (the workspace is freed into the pool on return)
  return best;
}

struct Events {
  cudaEvent_t a, b;
  Events() {
    WST_CUDA_CHECK(cudaEventCreate(&a));
    WST_CUDA_CHECK(cudaEventCreate(&b));
  }
  ~Events() {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
  float ms() {
    WST_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    WST_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    return t;
  }
};

// Times fn on the backend's stream: n_warm untimed runs, then the median of n_reps (ms).
template <class F>
double time_stream(CudaBackend& be, int n_warm, int n_reps, F fn) {
  for (int i = 0; i < n_warm; ++i) fn();
  be.synchronize();
  Events ev;
  std::vector<double> t;
  for (int i = 0; i < n_reps; ++i) {
    WST_CUDA_CHECK(cudaEventRecord(ev.a, be.stream()));
    fn();
    WST_CUDA_CHECK(cudaEventRecord(ev.b, be.stream()));
    t.push_back(ev.ms());
  }
  return median(t);
}

struct Ceilings {
  double copy_gbs = 0, sgemm_tflops = 0, tf32_tflops = 0, hgemm_tflops = 0;
};

Ceilings measure_ceilings(CudaBackend& be) {
  Ceilings c;
  const int n = 1 << 28;  // 1 GiB of floats
  Mat a = be.alloc(1, n), b = be.alloc(1, n);
  WST_CUDA_CHECK(cudaMemsetAsync(a.data, 0x3f, size_t{4} * n, be.stream()));
  double ms = time_stream(be, 2, 10, [&] {
    WST_CUDA_CHECK(cudaMemcpyAsync(b.data, a.data, size_t{4} * n, cudaMemcpyDeviceToDevice, be.stream()));
  });
  c.copy_gbs = 2.0 * 4 * n / (ms * 1e6);  // bytes read plus bytes written
  a = {};
  b = {};
  const int s = 8192;
  auto v = random_vec(static_cast<size_t>(s) * s, 5);
  Mat x = be.upload(v.data(), s, s), w = be.upload(v.data(), s, s), y = be.alloc(s, s);
  for (int tf32 = 0; tf32 < 2; ++tf32) {
    be.set_tf32(tf32 == 1);
    ms = time_stream(be, 2, 10, [&] { be.linear(x, w, nullptr, y); });
    (tf32 ? c.tf32_tflops : c.sgemm_tflops) = 2.0 * s * s * double(s) / (ms * 1e9);
  }
  be.set_tf32(false);
  // float16 weights: the backend's half path (x rounded to float16 first, then cublasGemmEx, float32 out).
  {
    engine::Weights wh = be.upload_weights(v.data(), s, s, engine::WeightType::float16);
    ms = time_stream(be, 2, 10, [&] { be.linear(x, wh, nullptr, y); });
    c.hgemm_tflops = 2.0 * s * s * double(s) / (ms * 1e9);
  }
  return c;
}

// Floors of one encoder window and one decoder step (fp32): flops, and the fewest bytes moved (each weight
// read once, the cache read once, the input read and the output written once).
struct Floors {
  double enc_gflop = 0, enc_mb = 0, dec_gflop = 0, dec_mb = 0;
};

// wbytes: bytes per weight (4 float32, 2 half); activations and caches stay float32.
Floors floors(const ModelInfo& h, int n_past, double wbytes = 4) {
  Floors f;
  const double d = h.n_audio_state, t = h.n_audio_ctx, dt = h.n_text_state, ta = h.n_audio_ctx;
  const double enc_layer_params = 12 * d * d + 13 * d;
  f.enc_gflop = (2 * 2 * t * d * 3 * h.n_mels + 2 * t * d * 3 * d +
                 h.n_audio_layer * (2 * t * 12 * d * d + 2 * 2 * t * t * d)) / 1e9;
  f.enc_mb = (4 * (3 * h.n_mels * d + 3 * d * d + t * d + h.n_mels * 2 * t + t * d) + wbytes * h.n_audio_layer * enc_layer_params) / 1e6;
  // Per decoder layer: qkv 3d^2, out d^2, cross q d^2, cross out d^2, fc 8 d^2 (cross K/V are precomputed).
  const double dec_layer_params = 14 * dt * dt;
  const double kv = n_past + 1;
  f.dec_gflop = (h.n_text_layer * (2 * dec_layer_params + 2 * 2 * (kv + ta) * dt) + 2 * h.n_vocab * dt) / 1e9;
  f.dec_mb = (wbytes * (h.n_text_layer * dec_layer_params + h.n_vocab * dt) +
              4 * (h.n_text_layer * (2 * kv * dt + 2 * ta * dt) + h.n_vocab)) / 1e6;
  return f;
}

// The decoder step of engine::Decoder::forward for one token (the same ops, fused as it fuses them), without
// the final download, on buffers given here, so it can run inside a CUDA graph capture (no host synchronisation, no allocation once warm).
struct StepBuffers {
  std::vector<Mat> self_k, self_v, cross_kv;
  Mat x, hbuf, qkv, attn, proj, q, mlp, row_norm, logits;
};

void decoder_step(const engine::WhisperModel& m, CudaBackend& be, StepBuffers& s, int token, int n_past) {
  const ModelInfo& h = m.info;
  const int d = h.n_text_state;
  be.embed(m.token_embedding, &token, 1, m.decoder_pos, n_past, s.x);
  using Epi = engine::Backend::Epilogue;
  for (size_t i = 0; i < m.decoder_layers.size(); ++i) {
    const auto& l = m.decoder_layers[i];
    be.linear_fused(s.x, &l.attn_ln.gamma, &l.attn_ln.beta, l.qkv.w, &l.qkv.b, Epi::none, s.qkv);
    Mat k_dst = s.self_k[i].rows_view(n_past, 1), v_dst = s.self_v[i].rows_view(n_past, 1);
    be.copy(s.qkv.cols_view(d, d), k_dst);
    be.copy(s.qkv.cols_view(2 * d, d), v_dst);
    be.attention(s.qkv.cols_view(0, d), s.self_k[i].rows_view(0, n_past + 1), s.self_v[i].rows_view(0, n_past + 1), s.attn,
                 h.n_text_head, n_past);
    be.linear_fused(s.attn, nullptr, nullptr, l.attn_out.w, &l.attn_out.b, Epi::add, s.x);
    be.linear_fused(s.x, &l.cross_ln.gamma, &l.cross_ln.beta, l.cross_q.w, &l.cross_q.b, Epi::none, s.q);
    be.attention(s.q, s.cross_kv[i].cols_view(0, d), s.cross_kv[i].cols_view(d, d), s.attn, h.n_text_head, -1);
    be.linear_fused(s.attn, nullptr, nullptr, l.cross_out.w, &l.cross_out.b, Epi::add, s.x);
    be.linear_fused(s.x, &l.mlp_ln.gamma, &l.mlp_ln.beta, l.fc1.w, &l.fc1.b, Epi::gelu, s.mlp);
    be.linear_fused(s.mlp, nullptr, nullptr, l.fc2.w, &l.fc2.b, Epi::add, s.x);
  }
  be.linear_fused(s.x, &m.decoder_ln.gamma, &m.decoder_ln.beta, m.token_embedding, nullptr, Epi::none, s.logits);
}

template <size_t N>
std::array<double, N> nans() {
  std::array<double, N> a;
  a.fill(NAN);
  return a;
}

struct Row {
  std::string arch;
  engine::cuda::Precision precision = engine::cuda::Precision::f32;
  // Recorded, by FlashShape; a window's output against shape 0's (NaN: not run; a 0 would read "same bits").
  std::array<double, engine::cuda::kFlashShapes> enc_blocks_flash_ms = nans<engine::cuda::kFlashShapes>();
  std::array<double, engine::cuda::kFlashShapes> flash_rel = nans<engine::cuda::kFlashShapes>();
  // Shape 6 (wgmma128x64p) gives shape 4's bits: the same products in the same order, issued otherwise.
  bool pipelined_same_bits = false;
  double enc_blocks_fc1_ms = NAN, fc1_rel = NAN;  // recorded with fc1's epilogue the other way; against shape 0's
  bool fc1_other_on = false;                      // that other way is the epilogue on
  bool fc1_rounded = false;                       // fc1's biases rounded to half (cuBLASLt took no float32 bias)
  // Decoder::set_audio: every decoder layer's cross-attention K/V from the window (and their float16 shadow), work
  // once a window that whisper.cpp's "encode time" includes (whisper_encode_internal runs its cross graph).
  double cross_kv_ms = NAN;
  // The same products layer by layer through linear (the window rounded for each), with the bias written first
  // (session 20's set_audio) and in cuBLASLt's epilogue.
  double cross_kv_each_ms = NAN, cross_kv_each_lt_ms = NAN;
  // encode()'s steps outside the residual blocks, each timed alone: the mel's upload (the host's copy into the pinned
  // buffer included: the stream waits for it), the two convolutions with their GELU, the positional add, the final
  // norm.
  double enc_again_ms = NAN;              // the whole encoder timed again later in the run
  // encode()'s four phases with an event after each (upload, stem, blocks, final norm): the medians of the GPU's
  // intervals from the start (gpu[i]: event i against the one before) and of the host's time in each call (host[i]),
  // to see whether the GPU waits for the host anywhere in a window.
  double timeline_gpu[4] = {NAN, NAN, NAN, NAN}, timeline_host[4] = {NAN, NAN, NAN, NAN}, timeline_total = NAN;
  double cross_kv_direct_other_ms = NAN;  // set_audio with the shadow written directly the other way
  bool cross_kv_direct_ran = false;       // the default's set_audio wrote shadows directly
  double part_stem_ms = NAN, part_stem_other_ms = NAN;  // the stem fused, and the other way from the default
  double part_upload_other_ms = NAN, enc_mel_other_ms = NAN;  // upload_mel and the encoder with WST_CUDA_HALF_MEL flipped
  double part_upload_ms = NAN, part_conv1_ms = NAN, part_conv2_ms = NAN, part_pos_ms = NAN, part_norm_ms = NAN;
  double enc_ms = 0, enc_ops_ms = NAN, enc_blocks_ms = 0, enc_blocks_graph_ms = NAN, enc_tf32_ms = 0, dec_ms = 0, dec_body_ms = 0, dec_graph_ms = 0;
  // Decoder::forward_and_pick, the engine's greedy step (filters and argmax on the GPU): eager, and recorded
  // once then replayed (Backend::records_steps); pick_same: both gave the same tokens and log-probabilities.
  double pick_eager_ms = 0, pick_graph_ms = 0;
  bool pick_same = false;
  // FNV-1a over the 40 recorded picks' tokens and log-probabilities' bits: equal hashes from two builds (an A/B,
  // run_ab_on_device.sh) mean the same picks bit for bit.
  unsigned long long picks_hash = 0;
  // The recorded step (fused query products) without the attention kernels' row prefetches, and whether its picks
  // are the same bit for bit.
  double pick_no_prefetch_ms = NAN;
  // The recorded step with each pick a cluster of blocks a row (the default on sm_90) against one block
  // (WST_CUDA_PICK_CLUSTER=0, as before sm_90): its time, whether the 40 tokens are the same, how many
  // log-probabilities bit for bit (the double sums' order differs); and the 5-beam recorded step both ways, each on a
  // fresh decoder.
  double pick_one_block_ms = NAN, pick_cluster_ms = NAN;
  bool one_block_tokens_same = false, cluster_pick_ran = false;
  int one_block_bits_same = 0;
  double one_block_dlogprob = 0;  // the largest |log-probability difference| between the two ways
  double beam5_one_block_ms = NAN, beam5_cluster_ms = NAN;
  bool beam5_one_block_tokens_same = false;
  bool no_prefetch_same = false;
  // The recorded greedy step with the norms' gains and biases staged in shared memory and not, a round each.
  std::array<double, 2> norm_staged_ms = {NAN, NAN}, norm_not_staged_ms = {NAN, NAN};
  bool norm_staged_same = true;
  // The recorded greedy step with the layer norm folded into fc1 (WST_CUDA_NORM_FOLD) and not, a round each: other
  // bits, so how many of the 40 tokens agree before the first difference and the largest log-probability difference
  // over those; whether its two rounds and its eager step give its recorded picks bit for bit.
  // [0]: fc1's norm folded (WST_CUDA_NORM_FOLD); [1]: fc1's and the attention products' (WST_CUDA_NORM_FOLD_ATTENTION
  // too).
  struct NormFoldRun {
    std::array<double, 2> fold_ms = {NAN, NAN}, unfolded_ms = {NAN, NAN};
    size_t agree = 0;
    double dlogprob = NAN;
    bool repeats = false, eager_same = false, ran = false;
  };
  std::array<NormFoldRun, 2> norm_fold;
  // WST_BENCH_CHAIN=1: each probed replay's kernels (chain_probe.h), in the order their waits released them.
  std::vector<std::vector<engine::cuda::ChainProbeRecord>> chain;
  int chain_layers = 0;
  size_t chain_tail = 3;  // kernels after the layers: the final norm's own (norm once), the logits, the pick
  bool norm_once_same = true;  // the greedy step with set_norm_once turned over: the same picks
  // The recorded step with the query products fused into the attention kernels (WST_CUDA_FUSED_CROSS, _SELF);
  // fused_same: the same picks as the recorded step without them.
  double pick_fused_ms[3] = {NAN, NAN, NAN};  // cross fused, self fused, both
  int default_variant = 2;                     // which of them the defaults run
  bool fused_same[3] = {false, false, false};
  // ... and both with the output products folded in (WST_CUDA_FUSED_OUT): whether it ran, its time, how many of the
  // 40 tokens agree with both before the first difference (other bits: the heads' partial sums), the largest
  // log-probability difference over those.
  bool fold_ran = false;
  double pick_fold_ms = NAN, fold_dlogprob = NAN;
  size_t fold_agree = 0;
  // The recorded step with every decoder layer in one persistent kernel (WST_CUDA_PERSISTENT_DECODER): its picks
  // are not expected bit for bit (other summation orders), so how many of the 40 tokens agree before the first
  // difference and the largest log-probability difference over those.
  double pick_persistent_ms = NAN, persistent_dlogprob = NAN;
  double pick_persistent_late_ms = NAN;  // the same without the early weight loads (WST_CUDA_PERSISTENT_EARLY=0)
  bool persistent_late_same = false;     // ... with the same picks bit for bit
  // The kernel's compact build (WST_CUDA_PERSISTENT_COMPACT, float16 only): the same arithmetic as without the early
  // loads, in ~86 KB of code for one row instead of ~184 KB; whether it ran, its picks (expected bit for bit those
  // without early loads) and phases.
  double pick_persistent_compact_ms = NAN;
  bool persistent_compact_ran = false, persistent_compact_same = false;
  std::string persistent_compact_phases;
  bool windows16_persistent_ran = false;
  // The 5-beam step with the persistent kernel (eager): time with the GPU's candidates, its logits against the
  // op-by-op step's (relative L2).
  double beam5_persistent_ms = NAN, beam5_persistent_rel = NAN;
  bool beam5_persistent_ran = false;
  double beam5_float_kv_ms = NAN, beam5_float_kv_rel = NAN;  // 5 beams over the float32 cross K/V (no shadow)
  bool beam5_float_kv_ran = false;
  int persistent_same = 0;
  bool persistent_ran = false;
  // Where the persistent kernel's recorded step spends its time: per phase, the mean over layers of block 0's
  // prologue (from leaving one barrier to the phase's first product or attention part), body (from there to arriving
  // at the next barrier) and wait (arriving to leaving), in microseconds at the device's top clock
  // (CudaBackend::set_persistent_trace).
  std::string persistent_phases;
  // A 5-beam step (Decoder::forward_step with 5 sequences): logits to the host, or the 10 best continuations
  // of each beam chosen on the GPU (forward_step_top, what the engine does).
  double beam5_host_ms = 0, beam5_top_ms = 0;
  // The 5-beam step eagerly (set_record_rows(false)) and whether its candidates are the recorded step's, bit for
  // bit; a walk of beam steps recorded and eager (candidates compared bit for bit).
  double beam5_eager_ms = NAN;
  bool beam5_eager_same = false;
  size_t walk_candidates = 0;
  int walk_steps = 0, walk_from = 0;
  bool walk_same = false;
  // A step of 16 sequences forked from one window, each row's best token chosen on the GPU (forward_step_top with
  // k = 1). Optimistic for 16 windows decoded together (docs/BATCHING.md): forked sequences share one window's
  // cross-attention K/V, one launch a layer, where separate windows take one launch each.
  double batch16_ms = 0, batch16_tensor_ms = NAN;  // the second with set_tensor_rows turned over
  double batch16_occupancy_ms = NAN;               // with set_tensor_rows_occupancy turned over (1 <-> 2)
  // The same with 16 separate windows (each its own cross-attention K/V), as batched transcription decodes.
  double windows16_ms = 0, windows16_persistent_ms = NAN, windows16_tensor_ms = NAN;
  // The engine's batched greedy step over 16 windows (forward_step_and_pick): picked in one launch, row by row.
  double windows16_pick_ms = NAN, windows16_pick_by_row_ms = NAN;
  // The recorded greedy step run ahead (the default) and not (WST_CUDA_STEP_AHEAD=0), 40 steps each under the rules
  // decoding gives after each pick (timestamp_step_rules): times, the same picks bit for bit, and how many steps were
  // the predicted ones (hits), not (misses) or left unused at the end.
  double ahead_on_ms = NAN, ahead_off_ms = NAN;
  bool ahead_same = false;
  long long ahead_hits = 0, ahead_misses = 0, ahead_unused = 0;
  // The harder walk (to the context's end, rules and suppress list changed, two decoders taking turns): its steps,
  // how many of them ran ahead as predicted, and the same picks bit for bit both ways.
  int ahead_walk_steps = 0;
  long long ahead_walk_hits = 0;
  bool ahead_walk_same = false;
  bool windows16_pick_same = false;
  Floors fl;
  double peak_gib = 0;
  double graph_rel = 0;
};

// Block 0's clock around each of the persistent kernel's barriers and at the end of each phase's prologue in the
// last launch of run(trace) (n_layer * kPersistentTraceSlots + 2 values: decoder_stack.cu's StackArgs::trace), as
// "phase p prologue+body/wait" in microseconds, means over the layers.
std::string phase_times(CudaBackend& be, int n_layer, const std::function<void(unsigned long long*)>& run) {
  constexpr int kSlots = engine::cuda::kPersistentTraceSlots;
  const size_t n = static_cast<size_t>(n_layer) * kSlots + 2;
  unsigned long long* trace = nullptr;
  WST_CUDA_CHECK(cudaMalloc(&trace, n * sizeof(unsigned long long)));
  WST_CUDA_CHECK(cudaMemsetAsync(trace, 0, n * sizeof(unsigned long long), be.stream()));
  be.synchronize();
  run(trace);
  WST_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<unsigned long long> c(n);
  WST_CUDA_CHECK(cudaMemcpy(c.data(), trace, n * sizeof(unsigned long long), cudaMemcpyDeviceToHost));
  WST_CUDA_CHECK(cudaFree(trace));
  int khz = 0, device = 0;
  WST_CUDA_CHECK(cudaGetDevice(&device));
  WST_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
  const double us_per_clock = 1e3 / khz;
  const unsigned long long start = c[n - 2], end = c[n - 1];
  if (start == 0 || end <= start) return "no trace (the kernel did not run)";
  double prologue[8] = {}, body[8] = {}, wait[8] = {};
  unsigned long long left = start;  // when block 0 left the previous barrier
  for (int li = 0; li < n_layer; ++li)
    for (int p = 0; p < 8; ++p) {
      const unsigned long long* l = c.data() + static_cast<size_t>(li) * kSlots;
      const unsigned long long arrive = l[2 * p], leave = l[2 * p + 1], begun = l[16 + p];
      prologue[p] += static_cast<double>(begun - left) * us_per_clock / n_layer;
      body[p] += static_cast<double>(arrive - begun) * us_per_clock / n_layer;
      wait[p] += static_cast<double>(leave - arrive) * us_per_clock / n_layer;
      left = leave;
    }
  std::string out = "whole " + std::to_string(static_cast<double>(end - start) * us_per_clock).substr(0, 7) +
                    " us; prologue+body/wait:";
  for (int p = 0; p < 8; ++p) {
    char buf[80];
    std::snprintf(buf, sizeof buf, " %d: %.2f+%.2f/%.2f", p + 1, prologue[p], body[p], wait[p]);
    out += buf;
  }
  return out;
}

// The step captured once in a CUDA graph and replayed (with the logits download); its logits must match the
// eager step's.
void graph_step(const engine::WhisperModel& m, CudaBackend& be, StepBuffers& s, int n_past, int n_reps,
                const std::vector<float>& eager_logits, Row& row) {
  const ModelInfo& h = m.info;
  const std::string& arch = row.arch;
  std::vector<float> host_logits(h.n_vocab);
  auto fetch = [&](std::vector<float>& out) {
    WST_CUDA_CHECK(cudaMemcpyAsync(out.data(), s.logits.data, out.size() * 4, cudaMemcpyDeviceToHost, be.stream()));
  };
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  WST_CUDA_CHECK(cudaStreamBeginCapture(be.stream(), cudaStreamCaptureModeThreadLocal));
  decoder_step(m, be, s, 220, n_past);
  WST_CUDA_CHECK(cudaStreamEndCapture(be.stream(), &graph));
  WST_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  row.dec_graph_ms = time_stream(be, 5, n_reps, [&] {
    WST_CUDA_CHECK(cudaGraphLaunch(exec, be.stream()));
    fetch(host_logits);
  });
  be.synchronize();
  // The graph computes what the eager step computes (same inputs): the logits must agree.
  double num = 0, den = 0;
  for (int i = 0; i < h.n_vocab; ++i) {
    if (!std::isfinite(host_logits[i])) throw Error(arch + ": graph logits not finite at " + std::to_string(i));
    num += (host_logits[i] - eager_logits[i]) * double(host_logits[i] - eager_logits[i]);
    den += eager_logits[i] * double(eager_logits[i]);
  }
  row.graph_rel = std::sqrt(num / den);
  if (row.graph_rel > 1e-5) throw Error(arch + ": graph logits differ from eager, rel " + std::to_string(row.graph_rel));
  WST_CUDA_CHECK(cudaGraphExecDestroy(exec));
  WST_CUDA_CHECK(cudaGraphDestroy(graph));
}

const char* precision_name(engine::cuda::Precision p) {
  return p == engine::cuda::Precision::f32 ? "float32" : p == engine::cuda::Precision::f16 ? "float16" : "bfloat16";
}

// encode()'s phases as encode() runs them (engine/encoder.cpp), an event recorded after each and the host's clock
// read around each call: where a window's time goes when the phases run back to back, which the parts timed alone
// (each with an idle GPU before it) do not show.
void encoder_timeline(CudaBackend& be, const engine::WhisperModel& m, const std::vector<float>& mel, int n_reps,
                      Row& row) {
  const ModelInfo& h = m.info;
  const int n_frames = 2 * h.n_audio_ctx, t = h.n_audio_ctx, d = h.n_audio_state;
  std::array<cudaEvent_t, 5> ev{};
  for (auto& e : ev) WST_CUDA_CHECK(cudaEventCreate(&e));
  std::array<std::vector<double>, 4> gpu, host;
  std::vector<double> total;
  for (int i = 0; i < n_reps + 3; ++i) {
    be.synchronize();
    using clock = std::chrono::steady_clock;
    std::array<clock::time_point, 5> at;
    at[0] = clock::now();
    WST_CUDA_CHECK(cudaEventRecord(ev[0], be.stream()));
    Mat x_in = be.upload_mel(mel.data(), h.n_mels, n_frames);
    WST_CUDA_CHECK(cudaEventRecord(ev[1], be.stream()));
    at[1] = clock::now();
    Mat x = be.alloc(t, d);
    be.encoder_stem(x_in, m.conv1_w, m.conv1_b, m.conv2_w, m.conv2_b, m.encoder_pos, x);
    WST_CUDA_CHECK(cudaEventRecord(ev[2], be.stream()));
    at[2] = clock::now();
    be.encoder_blocks(m.encoder_layers, h.n_audio_head, x);
    WST_CUDA_CHECK(cudaEventRecord(ev[3], be.stream()));
    at[3] = clock::now();
    Mat out = be.alloc(t, d);
    be.layer_norm(x, m.encoder_ln.gamma, m.encoder_ln.beta, out);
    WST_CUDA_CHECK(cudaEventRecord(ev[4], be.stream()));
    at[4] = clock::now();
    WST_CUDA_CHECK(cudaEventSynchronize(ev[4]));
    if (i < 3) continue;  // warm-up
    for (int k = 0; k < 4; ++k) {
      float ms = 0;
      WST_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[k], ev[k + 1]));
      gpu[k].push_back(ms);
      host[k].push_back(std::chrono::duration<double, std::milli>(at[k + 1] - at[k]).count());
    }
    float ms = 0;
    WST_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[0], ev[4]));
    total.push_back(ms);
  }
  for (auto& e : ev) cudaEventDestroy(e);
  for (int k = 0; k < 4; ++k) {
    row.timeline_gpu[k] = median(gpu[k]);
    row.timeline_host[k] = median(host[k]);
  }
  row.timeline_total = median(total);
}

Row bench_arch(CudaBackend& be, const std::string& arch, int n_reps, engine::cuda::Precision precision) {
  Row row;
  row.arch = arch;
  row.precision = precision;
  const bool half = precision != engine::cuda::Precision::f32;
  be.set_precision(precision);
  const engine::WeightType wt = precision == engine::cuda::Precision::f32   ? engine::WeightType::float32
                                : precision == engine::cuda::Precision::f16 ? engine::WeightType::float16
                                                                            : engine::WeightType::bfloat16;
  engine::WhisperModel m = random_model(arch, be, 11, wt);
  const ModelInfo& h = m.info;
  const int n_past = 100;
  row.fl = floors(h, n_past, half ? 2 : 4);
  std::vector<float> mel = random_vec(static_cast<size_t>(h.n_mels) * 2 * h.n_audio_ctx, 3, 1.0f);

  // Encoder: check once that the output is finite, then time.
  Mat enc = engine::encode(m, be, mel.data());
  {
    std::vector<float> host(static_cast<size_t>(enc.rows) * enc.cols);
    be.download(enc, host.data());
    for (float v : host)
      if (!std::isfinite(v)) throw Error(arch + ": encoder output not finite");
  }
  row.enc_ms = time_stream(be, 3, n_reps, [&] { enc = engine::encode(m, be, mel.data()); });
  {
    const int n_frames = 2 * h.n_audio_ctx, t = h.n_audio_ctx, d = h.n_audio_state;
    Mat x_in = be.upload_mel(mel.data(), h.n_mels, n_frames);
    row.part_upload_ms = time_stream(be, 3, n_reps, [&] { x_in = be.upload_mel(mel.data(), h.n_mels, n_frames); });
    be.set_half_mel(!be.half_mel());
    row.part_upload_other_ms =
        time_stream(be, 3, n_reps, [&] { x_in = be.upload_mel(mel.data(), h.n_mels, n_frames); });
    be.set_half_mel(!be.half_mel());
    x_in = be.upload_mel(mel.data(), h.n_mels, n_frames);
    Mat c1 = be.alloc(n_frames, d), x = be.alloc(t, d), out = be.alloc(t, d);
    row.part_conv1_ms = time_stream(be, 3, n_reps, [&] { be.conv1d_gelu(x_in, m.conv1_w, m.conv1_b, 1, c1); });
    row.part_conv2_ms = time_stream(be, 3, n_reps, [&] { be.conv1d_gelu(c1, m.conv2_w, m.conv2_b, 2, x); });
    row.part_pos_ms = time_stream(be, 3, n_reps, [&] { be.add(x, m.encoder_pos); });
    row.part_norm_ms =
        time_stream(be, 3, n_reps, [&] { be.layer_norm(x, m.encoder_ln.gamma, m.encoder_ln.beta, out); });
    const auto stem = [&] {
      be.encoder_stem(x_in, m.conv1_w, m.conv1_b, m.conv2_w, m.conv2_b, m.encoder_pos, x);
    };
    row.part_stem_ms = time_stream(be, 3, n_reps, stem);
    be.set_stem_fused(!be.stem_fused());
    row.part_stem_other_ms = time_stream(be, 3, n_reps, stem);
    be.set_stem_fused(!be.stem_fused());
  }
  {
    // The residual blocks alone (no mel upload, convolutions or final norm), on a copy of the output.
    Mat x = be.alloc(enc.rows, enc.cols);
    be.copy(enc, x);
    const bool graphs_default = be.encoder_graphs();
    const long long roundings_before = be.fc1_bias_roundings();
    be.set_encoder_graphs(false);  // launched eagerly
    row.enc_blocks_ms = time_stream(be, 3, n_reps, [&] { be.encoder_blocks(m.encoder_layers, h.n_audio_head, x); });
    if (be.half_encoder_fits(m.encoder_layers, h.n_audio_head, x)) {
      // The same blocks recorded once as a CUDA graph, replayed (the default; WST_CUDA_ENCODER_GRAPH=0 turns it off).
      be.set_encoder_graphs(true);
      row.enc_blocks_graph_ms =
          time_stream(be, 3, n_reps, [&] { be.encoder_blocks(m.encoder_layers, h.n_audio_head, x); });
      // The attention's launch shapes (FlashShape), recorded: each timed (the one just timed reused), and one
      // window's output through each compared with shape 0's from the same input (the mma.sync shapes bit for bit;
      // the wgmma shapes, where this GPU runs them, by their relative difference).
      const auto shape_set = be.flash_shape_setting();
      const engine::cuda::FlashShape shape_used = be.flash_shape_for(h.n_audio_head);
      std::vector<float> first, shape4;
      for (int sh = 0; sh < engine::cuda::kFlashShapes; ++sh) {
        if (engine::cuda::is_wgmma(static_cast<engine::cuda::FlashShape>(sh)) && !engine::cuda::flash_wgmma_available())
          continue;
        be.set_flash_shape(static_cast<engine::cuda::FlashShape>(sh));
        row.enc_blocks_flash_ms[sh] =
            sh == static_cast<int>(shape_used)
                ? row.enc_blocks_graph_ms
                : time_stream(be, 3, n_reps, [&] { be.encoder_blocks(m.encoder_layers, h.n_audio_head, x); });
        be.copy(enc, x);
        be.encoder_blocks(m.encoder_layers, h.n_audio_head, x);
        std::vector<float> out(static_cast<size_t>(x.rows) * x.cols);
        be.download(x, out.data());
        if (sh == 0)
          first = out;
        else
          row.flash_rel[sh] = std::memcmp(out.data(), first.data(), out.size() * 4) == 0 ? 0.0 : rel_diff(out, first);
        if (sh == static_cast<int>(engine::cuda::FlashShape::wgmma128x64)) shape4 = out;
        if (sh == static_cast<int>(engine::cuda::FlashShape::wgmma128x64p))
          row.pipelined_same_bits = shape4.size() == out.size() && std::memcmp(out.data(), shape4.data(), out.size() * 4) == 0;
      }
      be.set_flash_shape(shape_set);
      // fc1's bias and GELU in cuBLASLt's epilogue (its tanh GELU) the other way from the default
      // (WST_CUDA_FC1_EPILOGUE), recorded, timed, and a window against shape 0's.
      const bool fc1_before = be.fc1_epilogue();
      be.set_fc1_epilogue(!fc1_before);
      row.fc1_other_on = !fc1_before;
      try {
        row.enc_blocks_fc1_ms =
            time_stream(be, 3, n_reps, [&] { be.encoder_blocks(m.encoder_layers, h.n_audio_head, x); });
        be.copy(enc, x);
        be.encoder_blocks(m.encoder_layers, h.n_audio_head, x);
        std::vector<float> out(static_cast<size_t>(x.rows) * x.cols);
        be.download(x, out.data());
        row.fc1_rel = rel_diff(out, first);
      } catch (const std::exception& e) {  // NaN in the line: it did not run
        std::printf("%s: fc1 with its epilogue %s did not run: %s\n", arch.c_str(), fc1_before ? "off" : "on", e.what());
      }
      be.set_fc1_epilogue(fc1_before);
    }
    row.fc1_rounded = be.fc1_bias_roundings() > roundings_before;
    be.set_encoder_graphs(graphs_default);
  }
  encoder_timeline(be, m, mel, n_reps, row);
  // The whole encoder again, after the parts and the blocks' variants: how much one median varies within a run.
  row.enc_again_ms = time_stream(be, 3, n_reps, [&] { enc = engine::encode(m, be, mel.data()); });
  be.set_half_mel(!be.half_mel());
  row.enc_mel_other_ms = time_stream(be, 3, n_reps, [&] { enc = engine::encode(m, be, mel.data()); });
  be.set_half_mel(!be.half_mel());
  if (be.half_encoder_fits(m.encoder_layers, h.n_audio_head, enc)) {
    // The same window with the blocks op by op (float32 activations between the ops), for comparison.
    be.set_half_encoder(false);
    row.enc_ops_ms = time_stream(be, 3, n_reps, [&] { engine::encode(m, be, mel.data()); });
    be.set_half_encoder(true);
  }
  if (!half) {
    be.set_tf32(true);
    row.enc_tf32_ms = time_stream(be, 3, n_reps, [&] { engine::encode(m, be, mel.data()); });
    be.set_tf32(false);
  } else {
    row.enc_tf32_ms = NAN;
  }


  // Decoder step as the engine runs it: forward() of one token, logits downloaded (host clock; it synchronises).
  engine::Decoder dec(m, be);
  dec.set_audio(enc);
  row.cross_kv_ms = time_stream(be, 3, n_reps, [&] { dec.set_audio(enc); });
  {
    // The shadow written by the products themselves the other way from the default (WST_CUDA_HALF_DIRECT_KV).
    const long long direct0 = be.half_direct_kv_products();
    be.set_half_direct_kv(!be.half_direct_kv());
    row.cross_kv_direct_other_ms = time_stream(be, 3, n_reps, [&] { dec.set_audio(enc); });
    be.set_half_direct_kv(!be.half_direct_kv());
    dec.set_audio(enc);
    row.cross_kv_direct_ran = be.half_direct_kv_products() > direct0;
  }
  {
    // The same products as session 20's set_audio made them: each layer's linear in turn (the window rounded to half
    // for each), the bias written into the output first (set_lt_bias(false)), each layer's shadow after its product.
    const bool lt = be.lt_bias();
    std::vector<Mat> kv;
    for (const auto& l : m.decoder_layers) kv.push_back(be.alloc(enc.rows, l.cross_kv.w.rows));
    for (bool lt_on : {false, true}) {
      be.set_lt_bias(lt_on);
      (lt_on ? row.cross_kv_each_lt_ms : row.cross_kv_each_ms) = time_stream(be, 3, n_reps, [&] {
        for (size_t i = 0; i < kv.size(); ++i) {
          be.linear(enc, m.decoder_layers[i].cross_kv.w, &m.decoder_layers[i].cross_kv.b, kv[i]);
          be.cross_kv_written(kv[i], true);
        }
      });
    }
    be.set_lt_bias(lt);
  }
  std::vector<int> prompt(n_past, 220);
  std::vector<float> logits;
  dec.forward(prompt, {n_past - 1}, logits);
  // Another decoder over the same window and prompt (for a setting its set_audio or its recordings take).
  auto prompted = [&](engine::Decoder& d) {
    d.set_audio(enc);
    std::vector<float> unused;
    d.forward(prompt, {n_past - 1}, unused);
  };
  for (float v : logits)
    if (!std::isfinite(v)) throw Error(arch + ": decoder logits not finite");
  std::vector<double> t;
  for (int i = 0; i < 5 + n_reps; ++i) {
    dec.truncate(n_past);
    auto t0 = std::chrono::steady_clock::now();
    dec.forward({220}, {0}, logits);
    auto t1 = std::chrono::steady_clock::now();
    if (i >= 5) t.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  row.dec_ms = median(t);

  // The engine's greedy step (forward_and_pick), 40 tokens from the same prompt eagerly and from a recording:
  // the same tokens and log-probabilities bit for bit, then each timed (host clock: each step waits for its pick).
  {
    std::vector<int> suppress = {1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92};
    engine::StepRules rules;
    rules.suppress = &suppress;
    rules.timestamp_rule = true;
    rules.ts_begin = h.n_vocab - 1501;
    auto run = [&](engine::Decoder& dd, bool graphs, std::vector<engine::GreedyPick>& picks, std::vector<double>& ms) {
      be.set_graphs(graphs);
      dd.truncate(n_past);
      int token = 220;
      for (int i = 0; i < 40; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        const engine::GreedyPick p = dd.forward_and_pick(token, rules);
        auto t1 = std::chrono::steady_clock::now();
        picks.push_back(p);
        if (i >= 5) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        token = p.token;
      }
    };
    // The same tokens and log-probabilities bit for bit.
    auto same_picks = [](const std::vector<engine::GreedyPick>& a, const std::vector<engine::GreedyPick>& b) {
      bool same = a.size() == b.size();
      for (size_t i = 0; i < a.size() && same; ++i)
        same = a[i].token == b[i].token && std::memcmp(&a[i].logprob, &b[i].logprob, sizeof(float)) == 0;
      return same;
    };
    // How many of a's tokens agree with b's before the first difference (variants with other bits than the default).
    auto agreeing = [](const std::vector<engine::GreedyPick>& a, const std::vector<engine::GreedyPick>& b) {
      size_t n = 0;
      while (n < a.size() && n < b.size() && a[n].token == b[n].token) ++n;
      return n;
    };
    // The 40 recorded steps on a decoder of its own (a recording is made once a decoder), from the same prompt.
    auto run_fresh = [&](std::vector<engine::GreedyPick>& picks, std::vector<double>& ms) {
      engine::Decoder fresh(m, be);
      prompted(fresh);
      run(fresh, true, picks, ms);
    };
    // The baseline without the fused query products, timed as the variants below (one row's cross-attention scored
    // first, as inside the fused cross query's kernel, so that fused and unfused give the same bits).
    const bool cross_default = be.fused_cross(), self_default = be.fused_self();
    const bool scores_first_default = be.one_row_scores_first();
    be.set_one_row_scores_first(true);
    const int cross_width_default = be.fused_cross_max_width();
    // The variant the defaults run (the cross query fused only up to fused_cross_max_width), for the prefetch line.
    row.default_variant = cross_default && h.n_text_state <= cross_width_default ? 2 : 1;
    be.set_fused_cross_max_width(1 << 30);  // the variants below fuse it at any width
    be.set_fused_cross(false);
    be.set_fused_self(false);
    // The output products folded into the fused kernels (set_fused_out): other bits, so off until its own variant
    // below and through the prefetch line, which compare picks bit for bit.
    const bool out_default = be.fused_out();
    be.set_fused_out(false);
    std::vector<engine::GreedyPick> eager, graph;
    std::vector<double> te, tg;
    run(dec, false, eager, te);
    run(dec, true, graph, tg);
    row.pick_same = same_picks(eager, graph);
    row.picks_hash = 1469598103934665603ull;
    for (const engine::GreedyPick& p : graph) {
      unsigned char bytes[sizeof p.token + sizeof p.logprob];
      std::memcpy(bytes, &p.token, sizeof p.token);
      std::memcpy(bytes + sizeof p.token, &p.logprob, sizeof p.logprob);
      for (unsigned char b : bytes) row.picks_hash = (row.picks_hash ^ b) * 1099511628211ull;
    }
    row.pick_eager_ms = median(te);
    row.pick_graph_ms = median(tg);
    be.set_graphs(true);
    // The same recorded step with experiments on (each on a decoder of its own: a recording is made once): the
    // cross-attention's query product in the cross-attention's kernel (WST_CUDA_FUSED_CROSS), the q|k|v product in
    // the self-attention's (WST_CUDA_FUSED_SELF), both. The same picks bit for bit are expected (same arithmetic
    // in the same order).
    std::vector<engine::GreedyPick> both;  // variant 2's
    for (int variant = 0; variant < 3; ++variant) {
      be.set_fused_cross(variant != 1);
      be.set_fused_self(variant != 0);
      std::vector<engine::GreedyPick> picks;
      std::vector<double> tf;
      const long long cross0 = be.fused_cross_launches(), self0 = be.fused_self_launches();
      run_fresh(picks, tf);
      // In the half modes the fused kernels must have been recorded (once a layer), not fallen back; the cross one
      // only in float16, where the window's K/V have their float16 shadow (set_half_cross_kv) that it reads.
      const bool half_mode = precision != engine::cuda::Precision::f32;
      const bool cross_fuses = precision == engine::cuda::Precision::f16 && be.half_cross_kv();
      const bool ran = !half_mode || ((variant == 1 || !cross_fuses || be.fused_cross_launches() > cross0) &&
                                      (variant == 0 || be.fused_self_launches() > self0));
      row.fused_same[variant] = ran && same_picks(picks, graph);
      row.pick_fused_ms[variant] = median(tf);
      if (variant == 2) both = picks;
    }
    {
      // Both fused and the output products folded into them (WST_CUDA_FUSED_OUT): how many of the 40 tokens agree
      // with both fused alone before the first difference, and the largest log-probability difference over those.
      be.set_fused_out(true);
      std::vector<engine::GreedyPick> picks;
      std::vector<double> tf;
      const long long out0 = be.fused_out_launches();
      run_fresh(picks, tf);
      be.set_fused_out(false);
      row.fold_ran = be.fused_out_launches() > out0;
      row.pick_fold_ms = median(tf);
      row.fold_agree = 0;
      row.fold_dlogprob = 0;
      while (row.fold_agree < std::min(picks.size(), both.size()) &&
             picks[row.fold_agree].token == both[row.fold_agree].token) {
        const double diff = std::abs(static_cast<double>(picks[row.fold_agree].logprob) - both[row.fold_agree].logprob);
        row.fold_dlogprob = std::isfinite(diff) ? std::max(row.fold_dlogprob, diff) : INFINITY;
        ++row.fold_agree;
      }
    }
    be.set_fused_cross(cross_default);
    be.set_fused_self(self_default);
    be.set_fused_cross_max_width(cross_width_default);
    {
      // The attention kernels' row prefetches off (WST_CUDA_PREFETCH_ROWS=0), the defaults otherwise: the same picks
      // bit for bit (a prefetch changes no value), timed against the defaults (pick_fused_ms[default_variant]).
      const bool prefetch0 = be.prefetch_rows();
      be.set_prefetch_rows(false);
      std::vector<engine::GreedyPick> picks;
      std::vector<double> tn;
      run_fresh(picks, tn);
      be.set_prefetch_rows(prefetch0);
      row.pick_no_prefetch_ms = median(tn);
      row.no_prefetch_same = same_picks(picks, graph);
    }
    be.set_fused_out(out_default);
    {
      // The normed kernels' gains and biases staged in shared memory (the default; WST_CUDA_NORM_STAGED=0 off) turned
      // over, two rounds alternating: the same picks bit for bit (the same values, read from elsewhere).
      // Each run's picks against the first run's (the defaults' setting, with the other switches as they are here).
      const bool staged0 = be.norm_staged();
      std::vector<double> t_staged, t_not;
      std::vector<engine::GreedyPick> first;
      row.norm_staged_same = true;
      for (int round = 0; round < 2; ++round) {
        for (bool on : {staged0, !staged0}) {
          be.set_norm_staged(on);
          std::vector<engine::GreedyPick> picks;
          std::vector<double> t;
          run_fresh(picks, t);
          (on ? t_staged : t_not).push_back(median(t));
          if (first.empty()) first = picks;
          else row.norm_staged_same = row.norm_staged_same && same_picks(picks, first);
        }
      }
      be.set_norm_staged(staged0);
      row.norm_staged_ms = {t_staged[0], t_staged[1]};
      row.norm_not_staged_ms = {t_not[0], t_not[1]};
    }
    if (be.precision() != engine::cuda::Precision::f32) {
      // The layer norms folded into the weights (set_norm_fold: fc1's; then set_norm_fold_attention too: the q|k|v and
      // cross query products'; a fresh decoder's constructor folds its layers) turned over, two rounds alternating;
      // then the eager step with them against their recorded picks.
      const bool fold0 = be.norm_fold(), attention0 = be.norm_fold_attention(), graphs0 = be.graphs();
      long long fc1_launches = 0;  // variant 0's folded launches: variant 1 must take at least three times as many
      for (int variant = 0; variant < 2; ++variant) {
        auto& nf = row.norm_fold[variant];
        const auto set = [&](bool on) {
          be.set_norm_fold(on);
          be.set_norm_fold_attention(on && variant == 1);
        };
        std::vector<double> t_fold, t_plain;
        std::vector<engine::GreedyPick> fold_first, plain_first;
        nf.repeats = true;
        const long long launches0 = be.norm_fold_launches();
        for (int round = 0; round < 2; ++round) {
          for (bool on : {true, false}) {
            set(on);
            std::vector<engine::GreedyPick> picks;
            std::vector<double> t;
            run_fresh(picks, t);
            (on ? t_fold : t_plain).push_back(median(t));
            std::vector<engine::GreedyPick>& first = on ? fold_first : plain_first;
            if (first.empty()) first = picks;
            else if (on) nf.repeats = nf.repeats && same_picks(picks, first);
          }
        }
        // Each fresh decoder's recording launches every folded product once a layer: fc1 alone, then fc1, q|k|v and
        // the cross query (a fold not taken would leave the count short, and eager and recorded both unfolded).
        const long long launched = be.norm_fold_launches() - launches0;
        if (variant == 0) fc1_launches = launched;
        nf.ran = launched > 0 && (variant == 0 || launched >= 3 * fc1_launches);
        set(true);
        {
          engine::Decoder fresh(m, be);
          prompted(fresh);
          std::vector<engine::GreedyPick> picks;
          std::vector<double> unused;
          run(fresh, false, picks, unused);
          nf.eager_same = same_picks(picks, fold_first);
        }
        be.set_graphs(graphs0);
        nf.fold_ms = {t_fold[0], t_fold[1]};
        nf.unfolded_ms = {t_plain[0], t_plain[1]};
        nf.agree = agreeing(fold_first, plain_first);
        nf.dlogprob = 0;
        for (size_t i = 0; i < nf.agree; ++i) {
          const double dl = std::abs(static_cast<double>(fold_first[i].logprob) - plain_first[i].logprob);
          nf.dlogprob = std::isnan(dl) || std::isnan(nf.dlogprob) ? NAN : std::max(nf.dlogprob, dl);  // NaN stays
        }
      }
      be.set_norm_fold(fold0);
      be.set_norm_fold_attention(attention0);
    }
    {
      // The pick a cluster of blocks a row (the default) against one block (WST_CUDA_PICK_CLUSTER=0), back to back.
      const bool cluster0 = be.pick_cluster_requested();
      std::vector<engine::GreedyPick> with, without;
      std::vector<double> tw, to;
      be.set_pick_cluster(true);
      row.cluster_pick_ran = be.pick_cluster();
      run_fresh(with, tw);
      be.set_pick_cluster(false);
      run_fresh(without, to);
      be.set_pick_cluster(cluster0);
      row.pick_cluster_ms = median(tw);
      row.pick_one_block_ms = median(to);
      row.one_block_tokens_same = with.size() == without.size();
      for (size_t i = 0; i < with.size() && i < without.size(); ++i) {
        row.one_block_tokens_same = row.one_block_tokens_same && with[i].token == without[i].token;
        row.one_block_bits_same += std::memcmp(&with[i].logprob, &without[i].logprob, sizeof(float)) == 0;
        if (with[i].logprob != without[i].logprob)
          row.one_block_dlogprob = std::max(row.one_block_dlogprob,
                                            std::abs(static_cast<double>(with[i].logprob) - without[i].logprob));
      }
    }
    {
      // The step run ahead against not, under the rules decoding gives after each pick (so that timestamps change
      // them as in a transcription), each on a fresh decoder.
      const bool ahead0 = be.step_ahead();
      const int ts_begin = h.n_vocab - 1501, eot = h.n_vocab >= 51865 ? 50257 : 50256;
      auto run_rules = [&](bool ahead, std::vector<engine::GreedyPick>& picks, std::vector<double>& ms) {
        be.set_step_ahead(ahead);
        engine::Decoder fresh(m, be);
        prompted(fresh);
        std::vector<int> sampled = {220};  // as in decoding, the window's first token was sampled before
        int token = 220;
        for (int i = 0; i < 40; ++i) {
          engine::StepRules r = engine::timestamp_step_rules(sampled, ts_begin, eot, h.n_vocab);
          r.suppress = &suppress;
          auto t0 = std::chrono::steady_clock::now();
          const engine::GreedyPick p = fresh.forward_and_pick(token, r);
          auto t1 = std::chrono::steady_clock::now();
          picks.push_back(p);
          if (i >= 5) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          sampled.push_back(p.token);
          token = p.token;
        }
      };
      std::vector<engine::GreedyPick> on, off;
      std::vector<double> ton, toff;
      run_rules(false, off, toff);
      const long long h0 = be.step_ahead_hits(), m0 = be.step_ahead_misses(), u0 = be.step_ahead_unused();
      run_rules(true, on, ton);  // (the fresh decoder's end forgets its last step ahead: one unused)
      row.ahead_hits = be.step_ahead_hits() - h0;
      row.ahead_misses = be.step_ahead_misses() - m0;
      row.ahead_unused = be.step_ahead_unused() - u0;
      be.set_step_ahead(ahead0);
      row.ahead_on_ms = median(ton);
      row.ahead_off_ms = median(toff);
      row.ahead_same = same_picks(on, off);
      // A harder walk, ahead against not, bit for bit (written in session 27, not yet run): one decoder from its
      // prompt to the context's last position (no step may run ahead past it), every 7th step under rules other
      // than decoding's (a range it did not predict), another suppress list from step 60 on; then two decoders
      // taking turns for 40 steps each (each one's step ahead is the other's miss).
      auto walk = [&](bool ahead, std::vector<engine::GreedyPick>& picks) {
        be.set_step_ahead(ahead);
        std::vector<int> other_suppress = suppress;
        other_suppress.push_back(221);
        auto step = [&](engine::Decoder& d, std::vector<int>& sampled, int i) {
          engine::StepRules r = engine::timestamp_step_rules(sampled, ts_begin, eot, h.n_vocab);
          r.suppress = i >= 60 ? &other_suppress : &suppress;
          if (i % 7 == 3) {
            r.mask_a_begin = 0;
            r.mask_a_end = 5;
          }
          const engine::GreedyPick p = d.forward_and_pick(sampled.back(), r);
          picks.push_back(p);
          sampled.push_back(p.token);
        };
        {
          engine::Decoder d(m, be);
          prompted(d);
          std::vector<int> sampled = {220};
          for (int i = 0; d.n_past() < h.n_text_ctx; ++i) step(d, sampled, i);
        }
        engine::Decoder d0(m, be), d1(m, be);
        prompted(d0);
        prompted(d1);
        std::vector<int> s0 = {220}, s1 = {221};
        for (int i = 0; i < 40; ++i) {
          step(d0, s0, i);
          step(d1, s1, i);
        }
      };
      std::vector<engine::GreedyPick> walk_on, walk_off;
      const long long wh0 = be.step_ahead_hits();
      walk(true, walk_on);
      row.ahead_walk_hits = be.step_ahead_hits() - wh0;
      walk(false, walk_off);
      be.set_step_ahead(ahead0);
      row.ahead_walk_steps = static_cast<int>(walk_on.size());
      row.ahead_walk_same = same_picks(walk_on, walk_off);
    }
    be.set_one_row_scores_first(scores_first_default);
    // WST_BENCH_PROFILE="recorded greedy step" (tools/cuda/profile_on_device.sh): one replay of the defaults' recorded
    // step inside a profiler window, so that ncu profiles each of its kernels as the step runs them (the breakdown's
    // lines time the ops alone).
    // A fresh decoder's greedy step recorded and replayed twice; the next token.
    auto warm_recorded = [&](engine::Decoder& fresh) {
      prompted(fresh);
      be.set_graphs(true);
      fresh.truncate(n_past);
      int token = 220;
      for (int i = 0; i < 3; ++i) token = fresh.forward_and_pick(token, rules).token;
      be.synchronize();
      return token;
    };
    if (const char* pr = std::getenv("WST_BENCH_PROFILE"); pr && std::string(pr) == "recorded greedy step") {
      engine::Decoder fresh(m, be);
      const int token = warm_recorded(fresh);
      nvtxRangePushA("recorded greedy step");
      WST_CUDA_CHECK(cudaProfilerStart());
      fresh.forward_and_pick(token, rules);
      be.synchronize();
      WST_CUDA_CHECK(cudaProfilerStop());
      nvtxRangePop();
    }
    // WST_BENCH_CHAIN=1 with a build made with -DWST_CHAIN_PROBE (engine/cuda/chain_probe.h): five replays of the
    // defaults' recorded greedy step, each kernel's wait release on the GPU's clock, as the chain runs them.
    if (const char* ch = std::getenv("WST_BENCH_CHAIN");
        ch && std::string(ch) == "1" && precision != engine::cuda::Precision::f32) {
      engine::Decoder fresh(m, be);
      int token = warm_recorded(fresh);
      engine::cuda::chain_probe_drop();  // what the recording and the warm-up left
      for (int i = 0; i < 5; ++i) {
        token = fresh.forward_and_pick(token, rules).token;
        row.chain.push_back(engine::cuda::chain_probe_take());
      }
      row.chain_layers = h.n_text_layer;
      row.chain_tail = be.norm_once() ? 3 : 2;
    }
    // The recorded step with other launch shapes of the one-row matrix-vector kernel ({narrow, wide}: output rows a
    // warp, warps a block); the same picks bit for bit are expected (every row's sum in the same order). From 1280
    // wide, fc1 and the logits keep their own shape (the expanding shape, timed below), so these reach the rest.
    {
      using engine::cuda::GemvShape;
      const GemvShape narrow0 = be.gemv_shape(false, false), wide0 = be.gemv_shape(false, true);
      std::vector<engine::GreedyPick> base;
      std::vector<double> tb;
      run_fresh(base, tb);
      std::printf("%s %s: greedy recorded step, one-row gemv shapes (rows a warp x warps; narrow / wide): default "
                  "%d x %d / %d x %d %.4f ms",
                  arch.c_str(), precision_name(precision), narrow0.rows_per_warp, narrow0.warps, wide0.rows_per_warp,
                  wide0.warps, median(tb));
      for (auto [narrow, wide] : {std::pair{GemvShape{1, 8}, GemvShape{1, 4}}, std::pair{GemvShape{2, 8}, wide0},
                                  std::pair{GemvShape{2, 4}, wide0}, std::pair{GemvShape{4, 4}, wide0},
                                  std::pair{GemvShape{1, 4}, wide0}, std::pair{narrow0, GemvShape{1, 8}},
                                  std::pair{narrow0, GemvShape{2, 4}}}) {
        const auto same = [](GemvShape a, GemvShape b) {
          return a.rows_per_warp == b.rows_per_warp && a.warps == b.warps;
        };
        if (same(narrow, narrow0) && same(wide, wide0)) continue;  // the default, timed above
        be.set_gemv_shape(false, false, narrow);
        be.set_gemv_shape(false, true, wide);
        std::vector<engine::GreedyPick> picks;
        std::vector<double> ts;
        run_fresh(picks, ts);
        std::printf("; %d x %d / %d x %d %.4f ms%s", narrow.rows_per_warp, narrow.warps, wide.rows_per_warp,
                    wide.warps, median(ts), same_picks(picks, base) ? "" : " (PICKS DIFFER)");
      }
      // The one-row layer norm a warp (WST_CUDA_GEMV_WARP_NORM_ONE): other bits, so the picks are counted as the
      // persistent kernel's are (how many of the 40 agree before the first difference); then with shapes it frees.
      const bool one_norm0 = be.gemv_one_row_norm_by_warp();
      be.set_gemv_one_row_norm_by_warp(true);
      for (GemvShape narrow : {narrow0, GemvShape{2, 8}, GemvShape{4, 4}, GemvShape{1, 8}}) {
        be.set_gemv_shape(false, false, narrow);
        be.set_gemv_shape(false, true, wide0);
        std::vector<engine::GreedyPick> picks;
        std::vector<double> ts;
        run_fresh(picks, ts);
        const size_t agree = agreeing(picks, base);
        std::printf("; one-row warp norm, %d x %d %.4f ms (%zu of %zu picks agree)", narrow.rows_per_warp,
                    narrow.warps, median(ts), agree, base.size());
      }
      be.set_gemv_one_row_norm_by_warp(one_norm0);
      be.set_gemv_shape(false, false, narrow0);
      // fc1 and the logits' product in a shape of their own with a warp's norm (set_gemv_expanding_shape; 4 x 4
      // from 1280 by default), off, in other shapes from 1280 (large-v3 and its turbo) and from every width: other
      // bits there, so the picks are counted as above; "the same bits" where the width leaves the step as it was.
      const GemvShape expanding0 = be.gemv_expanding_shape();
      const int expanding_min0 = be.gemv_expanding_min_input();
      for (auto [shape, min_input] : {std::pair{GemvShape{0, 0}, 1280}, std::pair{GemvShape{4, 2}, 1280},
                                      std::pair{GemvShape{4, 8}, 1280}, std::pair{GemvShape{2, 4}, 1280},
                                      std::pair{GemvShape{2, 2}, 1280}, std::pair{GemvShape{4, 4}, 0}}) {
        be.set_gemv_expanding_shape(shape, min_input);
        std::vector<engine::GreedyPick> picks;
        std::vector<double> ts;
        run_fresh(picks, ts);
        const size_t agree = agreeing(picks, base);
        const std::string which =
            shape.rows_per_warp == 0 ? std::string("off (WST_CUDA_GEMV_EXPANDING_SHAPE=off)")
                                     : std::to_string(shape.rows_per_warp) + " x " + std::to_string(shape.warps) +
                                           " with a warp's norm from width " + std::to_string(min_input);
        std::printf("; fc1 and logits %s %.4f ms (%zu of %zu picks agree%s)", which.c_str(), median(ts), agree,
                    base.size(), same_picks(picks, base) ? ", the same bits" : "");
      }
      be.set_gemv_expanding_shape(expanding0, expanding_min0);
      // The logits' rows normalised once turned over (set_norm_once; the same bits expected).
      {
        be.set_gemv_shape(false, false, narrow0);
        be.set_gemv_shape(false, true, wide0);
        const bool once0 = be.norm_once();
        be.set_norm_once(!once0);
        std::vector<engine::GreedyPick> picks;
        std::vector<double> ts;
        run_fresh(picks, ts);
        be.set_norm_once(once0);
        row.norm_once_same = same_picks(picks, base);
        std::printf("; norm once %s %.4f ms%s", once0 ? "off" : "on", median(ts),
                    row.norm_once_same ? "" : " (PICKS DIFFER)");
      }
      // One row through the tensor-core row kernel too (set_tensor_rows_min(1); float16 weights; other sums' order, so
      // the picks are counted as above), its tiles chosen from the width, then 1 and 4.
      if (precision == engine::cuda::Precision::f16) {
        const bool tensor0 = be.tensor_rows_on();
        const int min0 = be.tensor_rows_min(), tiles0 = be.tensor_rows_tiles();
        be.set_tensor_rows(true);
        be.set_tensor_rows_min(1);
        for (int tiles : {0, 1, 4}) {
          be.set_tensor_rows_tiles(tiles);
          const long long before = be.tensor_rows_launches();
          std::vector<engine::GreedyPick> picks;
          std::vector<double> ts;
          run_fresh(picks, ts);
          const size_t agree = agreeing(picks, base);
          std::printf("; tensor rows at one row, %s %.4f ms (%zu of %zu picks agree%s)",
                      tiles == 0 ? "tiles by width" : tiles == 1 ? "1 tile" : "4 tiles", median(ts), agree,
                      base.size(), be.tensor_rows_launches() > before ? "" : ", DID NOT RUN");
        }
        be.set_tensor_rows(tensor0);
        be.set_tensor_rows_min(min0);
        be.set_tensor_rows_tiles(tiles0);
      }
      // One row's cross-attention with a switch turned (`set` true, then back), the cross query unfused so that every
      // width takes the attention kernel: timed against the "self q|k|v fused" time above (the same but for the
      // attention), its picks counted (other sums' order); `ran` says whether the switch's kernel ran.
      auto cross_variant = [&](const char* what, const std::function<void(bool)>& set,
                               const std::function<long long()>& launches, bool want_launches) {
        const bool cross0 = be.fused_cross();
        set(true);
        be.set_fused_cross(false);
        const long long before = launches();
        std::vector<engine::GreedyPick> picks;
        std::vector<double> ts;
        run_fresh(picks, ts);
        const bool launched = launches() > before;
        set(false);
        be.set_fused_cross(cross0);
        const size_t agree = agreeing(picks, base);
        std::printf("; %s, cross query unfused %.4f ms (%zu of %zu picks agree%s)", what, median(ts), agree,
                    base.size(), launched == want_launches ? "" : ", NOT AS MEANT");
      };
      // Through the cluster kernel (session 17's default): no scores-first launch expected.
      const bool first0 = be.one_row_scores_first();
      cross_variant("cross-attention through the cluster kernel",
                    [&](bool on) { be.set_one_row_scores_first(on ? false : first0); },
                    [&] { return be.shared_kv_launches(); }, false);
      // Over the float32 cross K/V, without the float16 shadow (set_half_cross_kv, the default in float16 since run
      // 45; float32 and bfloat16 never have one).
      if (precision == engine::cuda::Precision::f16) {
        const bool half0 = be.half_cross_kv();
        cross_variant("cross K/V in float32", [&](bool on) { be.set_half_cross_kv(on ? false : half0); },
                      [&] { return be.half_cross_kv_launches(); }, false);
      }
      std::printf("\n");
      be.set_gemv_shape(false, false, narrow0);
      be.set_gemv_shape(false, true, wide0);
    }
    // WST_BENCH_PERSISTENT=0 leaves the persistent kernel out (a fault in it ends the process).
    const char* bench_persistent = std::getenv("WST_BENCH_PERSISTENT");
    const bool with_persistent = bench_persistent == nullptr || std::string(bench_persistent) != "0";
    if (with_persistent) {
      be.set_persistent_decoder(true);
      std::vector<engine::GreedyPick> picks;
      std::vector<double> tp;
      const long long before = be.persistent_launches();
      run_fresh(picks, tp);
      row.persistent_ran = be.persistent_launches() > before;
      row.pick_persistent_ms = median(tp);
      // Without the early loads: the same arithmetic, so the same picks bit for bit (and the compact build's below).
      std::vector<engine::GreedyPick> late_picks;
      {
        const bool early_before = be.persistent_early_loads();
        be.set_persistent_early_loads(false);
        std::vector<double> tl;
        run_fresh(late_picks, tl);
        row.pick_persistent_late_ms = median(tl);
        be.set_persistent_early_loads(early_before);
        row.persistent_late_same = same_picks(late_picks, picks);
      }
      auto traced_phases = [&] {
        return phase_times(be, m.info.n_text_layer, [&](unsigned long long* trace) {
          be.set_persistent_trace(trace);
          std::vector<engine::GreedyPick> unused_picks;
          std::vector<double> unused_ms;
          run_fresh(unused_picks, unused_ms);
          be.set_persistent_trace(nullptr);
        });
      };
      row.persistent_phases = traced_phases();
      if (precision == engine::cuda::Precision::f16) {
        // The compact build, against the inline one without early loads (the same arithmetic).
        const bool compact_before = be.persistent_compact();
        be.set_persistent_compact(true);
        std::vector<engine::GreedyPick> compact_picks;
        std::vector<double> tc;
        const long long launches = be.persistent_launches();
        run_fresh(compact_picks, tc);
        row.persistent_compact_ran = be.persistent_launches() > launches;
        row.pick_persistent_compact_ms = median(tc);
        row.persistent_compact_same = same_picks(compact_picks, late_picks);
        row.persistent_compact_phases = traced_phases();
        be.set_persistent_compact(compact_before);
      }
      be.set_persistent_decoder(false);
      row.persistent_dlogprob = 0;
      for (size_t i = 0; i < picks.size() && i < graph.size() && picks[i].token == graph[i].token; ++i) {
        ++row.persistent_same;
        row.persistent_dlogprob = std::max(row.persistent_dlogprob,
                                           std::abs(static_cast<double>(picks[i].logprob) - graph[i].logprob));
      }
    }

    // 5 beams from the same prompt: the step timed both ways (the caches keep their length: truncate each time).
    dec.truncate(n_past);
    dec.fork(5);
    const std::vector<int> five = {220, 221, 222, 223, 224};
    const std::vector<engine::StepRules> rules5(5, rules);
    const std::vector<float> scores5 = {-0.1f, -0.2f, -0.3f, -0.4f, -0.5f};
    std::vector<double> th, tt;
    std::vector<float> all_logits;
    for (int i = 0; i < 5 + n_reps; ++i) {
      dec.truncate(n_past);
      auto t0 = std::chrono::steady_clock::now();
      dec.forward_step(five, all_logits);
      auto t1 = std::chrono::steady_clock::now();
      dec.truncate(n_past);
      const auto cands = dec.forward_step_top(five, rules5, scores5, 10);
      auto t2 = std::chrono::steady_clock::now();
      if (cands.empty()) throw Error(arch + ": no beam candidates");
      if (i >= 5) {
        th.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        tt.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
      }
    }
    row.beam5_host_ms = median(th);
    row.beam5_top_ms = median(tt);
    auto same_candidates = [](const std::vector<engine::BeamCandidate>& a, const std::vector<engine::BeamCandidate>& b) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a[i].score, &b[i].score, sizeof(float)) != 0 || a[i].beam != b[i].beam ||
            a[i].token != b[i].token)
          return false;
      return true;
    };
    {  // The same step eagerly (WST_CUDA_RECORD_BEAMS=0): its time, and its candidates against the recorded step's.
      const bool record0 = be.record_rows();
      dec.truncate(n_past);
      const auto recorded = dec.forward_step_top(five, rules5, scores5, 10);
      be.set_record_rows(false);
      std::vector<double> te;
      std::vector<engine::BeamCandidate> eager;
      for (int i = 0; i < 5 + n_reps; ++i) {
        dec.truncate(n_past);
        auto t0 = std::chrono::steady_clock::now();
        eager = dec.forward_step_top(five, rules5, scores5, 10);
        auto t1 = std::chrono::steady_clock::now();
        if (i >= 5) te.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      be.set_record_rows(record0);
      row.beam5_eager_ms = median(te);
      row.beam5_eager_same = same_candidates(recorded, eager);
    }
    {  // A walk of beam steps from the prompt, recorded and eager, each on a decoder of its own: every step's best
       // 5 candidates (4 in the second half: a recording for fewer rows) continue, so caches move between slots, and
       // the positions pass kSmallSelfKeys (the self-attention's other kernel: another recording).
      const int steps = std::min(h.n_text_ctx - n_past - 1, engine::cuda::kSmallSelfKeys + 20 - n_past);
      auto walk = [&](bool recorded) {
        const bool record0 = be.record_rows();
        be.set_record_rows(recorded);
        engine::Decoder d(m, be);
        prompted(d);
        d.fork(5);
        std::vector<int> tokens = five;
        std::vector<float> scores = scores5;
        std::vector<engine::BeamCandidate> all;
        for (int s = 0; s < steps; ++s) {
          auto c = d.forward_step_top(tokens, std::vector<engine::StepRules>(tokens.size(), rules), scores, 10);
          all.insert(all.end(), c.begin(), c.end());
          std::stable_sort(c.begin(), c.end(), [](const engine::BeamCandidate& x, const engine::BeamCandidate& y) {
            return x.score > y.score;
          });
          const size_t keep = std::min(c.size(), static_cast<size_t>(2 * s < steps ? 5 : 4));
          if (keep == 0) break;
          std::vector<int> src(keep);
          tokens.resize(keep);
          scores.resize(keep);
          for (size_t i = 0; i < keep; ++i) {
            src[i] = c[i].beam;
            tokens[i] = c[i].token;
            scores[i] = c[i].score;
          }
          d.reorder(src);
        }
        be.set_record_rows(record0);
        return all;
      };
      const auto walked = walk(true);
      row.walk_same = same_candidates(walked, walk(false));
      row.walk_candidates = walked.size();
      row.walk_steps = steps;
      row.walk_from = n_past;
    }
    // The 5-beam step's median time with the GPU's candidates under the backend's current settings, and its logits'
    // relative L2 difference from the defaults' (all_logits, from the same caches); `last`: the last step's candidates.
    auto time_beam5_on = [&](engine::Decoder& d, double* rel, std::vector<engine::BeamCandidate>* last = nullptr) {
      d.drop_recordings();  // recorded anew under the backend's current settings
      std::vector<double> tv;
      for (int i = 0; i < 5 + n_reps; ++i) {
        d.truncate(n_past);
        auto t0 = std::chrono::steady_clock::now();
        auto cands = d.forward_step_top(five, rules5, scores5, 10);
        auto t1 = std::chrono::steady_clock::now();
        if (cands.empty()) throw Error(arch + ": no beam candidates");
        if (i >= 5) tv.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        if (last) *last = std::move(cands);
      }
      std::vector<float> lg;
      d.truncate(n_past);
      d.forward_step(five, lg);
      *rel = rel_diff(lg, all_logits);
      return median(tv);
    };
    auto time_beam5 = [&](double* rel) { return time_beam5_on(dec, rel); };
    {  // The recorded 5-beam step with the candidates a cluster of blocks a row (the default) against one block
       // (WST_CUDA_PICK_CLUSTER=0).
      const bool cluster0 = be.pick_cluster_requested();
      std::vector<engine::BeamCandidate> with, without;
      double rel = 0;
      be.set_pick_cluster(true);
      row.beam5_cluster_ms = time_beam5_on(dec, &rel, &with);
      be.set_pick_cluster(false);
      row.beam5_one_block_ms = time_beam5_on(dec, &rel, &without);
      be.set_pick_cluster(cluster0);
      dec.drop_recordings();  // the next timings record under the restored setting
      row.beam5_one_block_tokens_same = with.size() == without.size();
      for (size_t i = 0; row.beam5_one_block_tokens_same && i < with.size(); ++i)
        row.beam5_one_block_tokens_same = with[i].beam == without[i].beam && with[i].token == without[i].token;
    }
    // The same 5-beam step with each of session 11's switches turned over in turn (since run 35: chunks off, the
    // other three on; the shared K/V at any head count since session 18), all four off in run 33's shapes, and other
    // launch shapes of the several-row matrix-vector kernel; logits against the default's (relative L2; the sums change order with the
    // warp norm and the small self-attention, and fc2's input is rounded to half without the chunks).
    {
      using engine::cuda::GemvShape;
      const GemvShape narrow0 = be.gemv_shape(true, false), wide0 = be.gemv_shape(true, true);
      const bool chunks0 = be.gemv_chunks(), warp_norm0 = be.gemv_norm_by_warp(), shared0 = be.shared_kv(),
                 small0 = be.small_self();
      const bool prefetch0 = be.prefetch_rows();
      struct Variant {
        const char* what;
        bool chunks, warp_norm, shared, small;
        GemvShape narrow, wide;
        int prefetch = -1;         // set_prefetch_rows when >= 0 (the attention kernels' row prefetches)
        int shared_min_heads = 0;  // set_shared_kv_min_heads when > 0
        int norm_once = -1;        // set_norm_once when >= 0
        int tensor = -1;           // set_tensor_rows when >= 0 (the tensor-core row kernel)
        int tiles = -1;            // set_tensor_rows_tiles when >= 0 (0: chosen from the width)
        int narrow_tiles = -1;     // set_tensor_rows_narrow_tiles when >= 0 (0: the width's rule)
        int occupancy = -1;        // set_tensor_rows_occupancy when > 0 (blocks an SM)
      };
      const bool norm_once0 = be.norm_once();
      const int min_heads0 = be.shared_kv_min_heads();
      const bool tensor0 = be.tensor_rows_on();
      const int tiles0 = be.tensor_rows_tiles(), narrow0_tiles = be.tensor_rows_narrow_tiles();
      const int occupancy0 = be.tensor_rows_occupancy();
      const Variant variants[] = {
          {"default", chunks0, warp_norm0, shared0, small0, narrow0, wide0},
          {"no row prefetch", chunks0, warp_norm0, shared0, small0, narrow0, wide0, 0},
          {chunks0 ? "chunks off (gemv)" : "chunks on (gemv)", !chunks0, warp_norm0, shared0, small0, narrow0, wide0, -1, 0,
           -1, 0},
          {"chunks on, wide 1x8 (gemv)", true, warp_norm0, shared0, small0, narrow0, {1, 8}, -1, 0, -1, 0},
          {warp_norm0 ? "warp norm off (gemv)" : "warp norm on (gemv)", chunks0, !warp_norm0, shared0, small0, narrow0,
           wide0, -1, 0, -1, 0},
          {shared0 ? "shared K/V off" : "shared K/V on", chunks0, warp_norm0, !shared0, small0, narrow0, wide0},
          {"shared K/V from 16 heads (session 17's bound)", chunks0, warp_norm0, true, small0, narrow0, wide0, -1, 16},
          {small0 ? "small self off" : "small self on", chunks0, warp_norm0, shared0, !small0, narrow0, wide0},
          {"none of the four, narrow 1x8, no tensor rows or norm once (run 33's step)", false, false, false, false, {1, 8},
           {1, 4}, -1, 0, 0, 0},
          {"narrow 1x8 (gemv)", chunks0, warp_norm0, shared0, small0, {1, 8}, wide0, -1, 0, -1, 0},
          {"narrow 2x4 (gemv)", chunks0, warp_norm0, shared0, small0, {2, 4}, wide0, -1, 0, -1, 0},
          {"narrow 4x8 (gemv)", chunks0, warp_norm0, shared0, small0, {4, 8}, wide0, -1, 0, -1, 0},
          {"narrow 4x4 (gemv)", chunks0, warp_norm0, shared0, small0, {4, 4}, wide0, -1, 0, -1, 0},
          {norm_once0 ? "norm once off" : "norm once on", chunks0, warp_norm0, shared0, small0, narrow0, wide0,
           -1, 0, norm_once0 ? 0 : 1},
          {tensor0 ? "tensor rows off" : "tensor rows on", chunks0, warp_norm0, shared0, small0, narrow0, wide0, -1, 0,
           -1, tensor0 ? 0 : 1},
          {"tensor rows, 1 tile", chunks0, warp_norm0, shared0, small0, narrow0, wide0, -1, 0, -1, 1, 1},
          {"tensor rows, 2 tiles", chunks0, warp_norm0, shared0, small0, narrow0, wide0, -1, 0, -1, 1, 2},
          {"tensor rows, 4 tiles", chunks0, warp_norm0, shared0, small0, narrow0, wide0, -1, 0, -1, 1, 4},
          {"tensor rows, under 2048 outputs 1 tile", chunks0, warp_norm0, shared0, small0, narrow0, wide0, -1, 0, -1, 1,
           0, 1},
          {"tensor rows, under 2048 outputs 4 tiles (run 43's rule from 1280 wide)", chunks0, warp_norm0, shared0,
           small0, narrow0, wide0, -1, 0, -1, 1, 0, 4},
          {"tensor rows, under 2048 outputs 2 tiles", chunks0, warp_norm0, shared0, small0, narrow0, wide0, -1, 0, -1, 1,
           0, 2},
          {"tensor rows, 1 block an SM (run 49's kernel and tiles)", chunks0, warp_norm0, shared0, small0, narrow0,
           wide0, -1, 0, -1, 1, -1, -1, 1},
      };
      std::printf("%s %s: 5-beam step variants (gemv shapes: rows a warp x warps)", arch.c_str(),
                  precision_name(precision));
      for (const Variant& v : variants) {
        be.set_gemv_chunks(v.chunks);
        be.set_gemv_norm_by_warp(v.warp_norm);
        be.set_shared_kv(v.shared);
        be.set_small_self(v.small);
        be.set_gemv_shape(true, false, v.narrow);
        be.set_gemv_shape(true, true, v.wide);
        be.set_prefetch_rows(v.prefetch >= 0 ? v.prefetch == 1 : prefetch0);
        be.set_shared_kv_min_heads(v.shared_min_heads > 0 ? v.shared_min_heads : min_heads0);
        be.set_norm_once(v.norm_once >= 0 ? v.norm_once == 1 : norm_once0);
        be.set_tensor_rows(v.tensor >= 0 ? v.tensor == 1 : tensor0);
        be.set_tensor_rows_tiles(v.tiles >= 0 ? v.tiles : tiles0);
        be.set_tensor_rows_narrow_tiles(v.narrow_tiles >= 0 ? v.narrow_tiles : narrow0_tiles);
        be.set_tensor_rows_occupancy(v.occupancy > 0 ? v.occupancy : occupancy0);
        const long long tensor_before = be.tensor_rows_launches();
        double rel = 0;
        const double ms = time_beam5(&rel);
        const bool tensor_ran = v.tensor != 1 || be.tensor_rows_launches() > tensor_before;
        std::printf("; %s %.4f ms (rel %.1e%s)", v.what, ms, rel, tensor_ran ? "" : ", DID NOT RUN");
      }
      std::printf("\n");
      be.set_gemv_chunks(chunks0);
      be.set_gemv_norm_by_warp(warp_norm0);
      be.set_shared_kv(shared0);
      be.set_small_self(small0);
      be.set_gemv_shape(true, false, narrow0);
      be.set_gemv_shape(true, true, wide0);
      be.set_prefetch_rows(prefetch0);
      be.set_shared_kv_min_heads(min_heads0);
      be.set_norm_once(norm_once0);
      be.set_tensor_rows(tensor0);
      be.set_tensor_rows_tiles(tiles0);
      be.set_tensor_rows_narrow_tiles(narrow0_tiles);
      be.set_tensor_rows_occupancy(occupancy0);
    }
    // The same 5-beam step with every layer in the persistent kernel (eager, one launch): timed with the GPU's
    // candidates, and its logits compared with the op-by-op step's (all_logits, from the same caches).
    if (with_persistent && precision != engine::cuda::Precision::f32) {
      be.set_persistent_decoder(true);
      const long long before = be.persistent_launches();
      row.beam5_persistent_ms = time_beam5(&row.beam5_persistent_rel);
      be.set_persistent_decoder(false);
      row.beam5_persistent_ran = be.persistent_launches() > before;
    }
    // Without the cross K/V's float16 shadow (set_half_cross_kv, the default in float16 since run 45): a decoder of
    // its own, so that its set_audio makes no shadow, from the same prompt; its logits against the defaults'.
    if (precision == engine::cuda::Precision::f16) {
      const bool half0 = be.half_cross_kv();
      be.set_half_cross_kv(false);
      engine::Decoder d5(m, be);
      prompted(d5);
      d5.fork(5);
      const long long before = be.half_cross_kv_launches();
      row.beam5_float_kv_ms = time_beam5_on(d5, &row.beam5_float_kv_rel);
      row.beam5_float_kv_ran = be.half_cross_kv_launches() == before;
      be.set_half_cross_kv(half0);
    }
    dec.reorder({0});

    // 16 sequences at once: forked from one window, then 16 separate windows (what batched transcription decodes:
    // each its own cross-attention K/V, here made from the same encoder output, each cache holding the prompt).
    std::vector<int> sixteen(16);
    for (int b = 0; b < 16; ++b) sixteen[b] = 220 + b;
    const std::vector<engine::StepRules> rules16(16, rules);
    const std::vector<float> scores16(16, 0.0f);
    // Median step time of `dd`'s 16 sequences, each row's best token chosen on the GPU (the caches keep their length).
    auto time_16 = [&](engine::Decoder& dd, const char* what) {
      dd.drop_recordings();  // recorded anew under the backend's current settings
      std::vector<double> tb;
      for (int i = 0; i < 5 + n_reps; ++i) {
        dd.truncate(n_past);
        auto t0 = std::chrono::steady_clock::now();
        const auto best = dd.forward_step_top(sixteen, rules16, scores16, 1);
        auto t1 = std::chrono::steady_clock::now();
        if (best.size() != 16) throw Error(arch + ": " + what + " gave " + std::to_string(best.size()) + " picks");
        if (i >= 5) tb.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      return median(tb);
    };
    dec.truncate(n_past);
    dec.fork(16);
    row.batch16_ms = time_16(dec, "16 forked sequences");
    {  // the tensor-core row kernel turned over (set_tensor_rows)
      const bool tensor0 = be.tensor_rows_on();
      be.set_tensor_rows(!tensor0);
      row.batch16_tensor_ms = time_16(dec, "16 forked sequences, tensor rows turned over");
      be.set_tensor_rows(tensor0);
      const int occupancy0 = be.tensor_rows_occupancy();  // and at the other occupancy
      be.set_tensor_rows_occupancy(3 - occupancy0);
      row.batch16_occupancy_ms = time_16(dec, "16 forked sequences, tensor rows' occupancy turned over");
      be.set_tensor_rows_occupancy(occupancy0);
    }
    dec.reorder({0});
    {
      engine::Decoder dec16(m, be);
      dec16.set_audios(std::vector<Mat>(16, enc));
      std::vector<float> unused;
      for (int b = 0; b < 16; ++b) dec16.forward(prompt, {}, unused, b);
      row.windows16_ms = time_16(dec16, "16 windows");
      // The engine's batched greedy step (forward_step_and_pick): every row picked in one launch, and row by row
      // (WST_CUDA_PICK_ROWS=0, a launch and a wait each), with their picks compared.
      auto time_picks = [&](std::vector<engine::GreedyPick>& picks) {
        std::vector<double> tp;
        for (int i = 0; i < 5 + n_reps; ++i) {
          dec16.truncate(n_past);
          auto t0 = std::chrono::steady_clock::now();
          picks = dec16.forward_step_and_pick(sixteen, rules16);
          auto t1 = std::chrono::steady_clock::now();
          if (i >= 5) tp.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
        return median(tp);
      };
      {
        const bool rows0 = be.pick_rows();
        std::vector<engine::GreedyPick> one_launch, by_row;
        be.set_pick_rows(true);
        row.windows16_pick_ms = time_picks(one_launch);
        be.set_pick_rows(false);
        row.windows16_pick_by_row_ms = time_picks(by_row);
        be.set_pick_rows(rows0);
        row.windows16_pick_same = one_launch.size() == by_row.size();
        for (size_t i = 0; row.windows16_pick_same && i < by_row.size(); ++i)
          row.windows16_pick_same = one_launch[i].token == by_row[i].token &&
                                    std::memcmp(&one_launch[i].logprob, &by_row[i].logprob, sizeof(float)) == 0;
      }
      const bool tensor0 = be.tensor_rows_on();
      be.set_tensor_rows(!tensor0);
      row.windows16_tensor_ms = time_16(dec16, "16 windows, tensor rows turned over");
      be.set_tensor_rows(tensor0);
      if (with_persistent && precision != engine::cuda::Precision::f32) {  // two launches of 8 windows, persistent
        be.set_persistent_decoder(true);
        const long long before = be.persistent_launches();
        row.windows16_persistent_ms = time_16(dec16, "16 windows, persistent");
        row.windows16_persistent_ran = be.persistent_launches() == before + 2 * (5 + n_reps);
        be.set_persistent_decoder(false);
      }
    }
  }

  // The same step on fixed buffers: eager, then one CUDA graph replayed; each with the logits download.
  StepBuffers s;
  const int d = h.n_text_state;
  for (int i = 0; i < h.n_text_layer; ++i) {
    s.self_k.push_back(be.alloc(h.n_text_ctx, d));
    s.self_v.push_back(be.alloc(h.n_text_ctx, d));
    s.cross_kv.push_back(be.alloc(h.n_audio_ctx, 2 * d));
    WST_CUDA_CHECK(cudaMemsetAsync(s.self_k.back().data, 0, size_t{4} * h.n_text_ctx * d, be.stream()));
    WST_CUDA_CHECK(cudaMemsetAsync(s.self_v.back().data, 0, size_t{4} * h.n_text_ctx * d, be.stream()));
    be.linear(enc, m.decoder_layers[i].cross_kv.w, &m.decoder_layers[i].cross_kv.b, s.cross_kv.back());
  }
  s.x = be.alloc(1, d), s.hbuf = be.alloc(1, d), s.qkv = be.alloc(1, 3 * d), s.attn = be.alloc(1, d);
  s.proj = be.alloc(1, d), s.q = be.alloc(1, d), s.mlp = be.alloc(1, 4 * d), s.row_norm = be.alloc(1, d);
  s.logits = be.alloc(1, h.n_vocab);
  std::vector<float> eager_logits(h.n_vocab);
  auto fetch = [&](std::vector<float>& out) {
    WST_CUDA_CHECK(cudaMemcpyAsync(out.data(), s.logits.data, out.size() * 4, cudaMemcpyDeviceToHost, be.stream()));
  };
  row.dec_body_ms = time_stream(be, 5, n_reps, [&] {
    decoder_step(m, be, s, 220, n_past);
    fetch(eager_logits);
  });
  be.synchronize();
  try {
    graph_step(m, be, s, n_past, n_reps, eager_logits, row);
  } catch (const std::exception& e) {
    // A failed capture leaves the stream capturing: end it so the next model still runs.
    cudaStreamCaptureStatus st;
    if (cudaStreamIsCapturing(be.stream(), &st) == cudaSuccess && st != cudaStreamCaptureStatusNone) {
      cudaGraph_t g = nullptr;
      cudaStreamEndCapture(be.stream(), &g);
      if (g) cudaGraphDestroy(g);
    }
    cudaGetLastError();
    std::printf("%s: CUDA graph step failed: %s\n", arch.c_str(), e.what());
    row.dec_graph_ms = NAN;
  }
  row.peak_gib = be.pool().peak_bytes_reserved() / 1073741824.0;
  be.set_precision(engine::cuda::Precision::f32);
  return row;
}

// The chain probe's replays (Row::chain): each kernel's median time from its wait's release to the next kernel's (the
// kernel's share of the step on its critical path), how long its first block had waited there, how many of its blocks
// were at the wait before the release and when the last got there (us after the release); then the
// layers' kernels by their place in the layer (the step as: the embedding, n_layers layers of the same kernels, then
// the final norm where it is its own kernel (tail 3, else 2), the logits and the pick). Half precisions only: in
// float32 the norms and products do not wait, so their time would be counted to the kernel before them.
void print_chain(const std::string& label, const std::vector<std::vector<engine::cuda::ChainProbeRecord>>& chain,
                 int n_layers, size_t tail) {
  if (chain.empty()) return;
  const size_t n = chain[0].size();
  for (const auto& c : chain) {
    bool same = c.size() == n && n >= 2;
    for (size_t i = 0; same && i < n; ++i) same = c[i].grid == chain[0][i].grid && c[i].block == chain[0][i].block;
    if (!same) {
      std::printf("%s: chain probe: %zu replays with different kernel sequences (or none: a build without "
                  "-DWST_CHAIN_PROBE)\n", label.c_str(), chain.size());
      return;
    }
  }
  // early: how many blocks were there before the release; last: when the last block got to the wait, in us after the
  // release (negative: every block was there before it).
  std::vector<double> to_next(n, 0), waited(n, 0), early(n, 0), last(n, 0), span;
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> d, w, e, l;
    for (const auto& c : chain) {
      if (i + 1 < n) d.push_back((c[i + 1].released - c[i].released) / 1e3);
      w.push_back((c[i].released - c[i].reached) / 1e3);
      e.push_back(c[i].early);
      l.push_back((static_cast<double>(c[i].last_reached) - static_cast<double>(c[i].released)) / 1e3);
    }
    to_next[i] = d.empty() ? NAN : median(d);
    waited[i] = median(w);
    early[i] = median(e);
    last[i] = median(l);
  }
  for (const auto& c : chain) span.push_back((c.back().released - c.front().released) / 1e3);
  std::printf("%s: chain probe, %zu replays of the recorded greedy step: %zu kernels, first release to last %.1f us "
              "(median)\n", label.c_str(), chain.size(), n, median(span));
  for (size_t i = 0; i < n; ++i)
    std::printf("%s: chain %3zu grid %5u block %4u waited %7.2f us, to the next release %7.2f us, %4.0f of %4u blocks "
                "early, the last there %+7.2f us\n", label.c_str(), i, chain[0][i].grid, chain[0][i].block, waited[i],
                to_next[i], early[i], chain[0][i].blocks, last[i]);
  const size_t head = 1;
  if (n_layers < 1 || n < head + tail || (n - head - tail) % n_layers != 0) return;
  const size_t per = (n - head - tail) / n_layers;
  for (size_t q = 0; q < per; ++q) {
    double d = 0, w = 0, e = 0, la = 0;
    for (int l = 0; l < n_layers; ++l) {
      d += to_next[head + l * per + q];
      w += waited[head + l * per + q];
      e += early[head + l * per + q];
      la += last[head + l * per + q];
    }
    std::printf("%s: chain, place %zu of a layer (grid %u, block %u): to the next release %.2f us, waited %.2f us, "
                "%.1f of %u blocks early, the last there %+.2f us (means over %d layers)\n", label.c_str(), q,
                chain[0][head + q].grid, chain[0][head + q].block, d / n_layers, w / n_layers, e / n_layers,
                chain[0][head + q].blocks, la / n_layers, n_layers);
    // Block 0's marks (chain_probe_mark: what each phase is is said where the kernel marks it): us after its own
    // release, the median over replays, the mean over layers; only where every replay of every layer has the mark.
    std::string phases;
    for (int p = 1; p < engine::cuda::kChainProbePhases; ++p) {
      double sum = 0;
      bool all = true;
      for (int l = 0; all && l < n_layers; ++l) {
        std::vector<double> at;
        for (const auto& c : chain) {
          const auto& k = c[head + l * per + q];
          all = all && k.phase[0] != 0 && k.phase[p] != 0;
          if (all) at.push_back((static_cast<double>(k.phase[p]) - static_cast<double>(k.phase[0])) / 1e3);
        }
        if (all) sum += median(at);
      }
      if (all) {
        char buf[32];
        std::snprintf(buf, sizeof buf, " %d: %.2f", p, sum / n_layers);
        phases += buf;
      }
    }
    if (!phases.empty())
      std::printf("%s: chain, place %zu of a layer: block 0's phases, us after its release:%s\n", label.c_str(), q,
                  phases.c_str());
  }
}

// whisper.cpp's CUDA build on an H100 (issue #8), ms per window and per token; 0 = not given there.
void whisper_cpp_reference(const std::string& arch, double* enc, double* tok) {
  *enc = *tok = 0;
  if (arch == "large-v3") *enc = 26.3, *tok = 4.61;
  if (arch == "large-v3-turbo") *enc = 22.9, *tok = 0.98;
  if (arch == "small") *enc = 7.0, *tok = 2.54;
  if (arch == "tiny") *enc = 1.9, *tok = 0.74;
}

// Per-op times at a model's decoder-step and encoder shapes (each op run 10 times back to back between two
// events, median of n_reps such runs), so the step and window times can be read as a sum of their parts.
void op_breakdown(CudaBackend& be, const std::string& arch, int n_reps) {
  const ModelInfo h = bench_support::architecture(arch);
  const int d = h.n_text_state, t = h.n_audio_ctx;
  auto rnd = [&](int rows, int cols) {
    auto v = random_vec(static_cast<size_t>(rows) * cols, rows * 31 + cols, 0.05f);
    return be.upload(v.data(), rows, cols);
  };
  // WST_BENCH_PROFILE=TEXT (tools/cuda/profile_on_device.sh): each op whose label contains TEXT runs once more after
  // its timing, between cudaProfilerStart and cudaProfilerStop and inside an NVTX range named by its label, so that
  // `ncu --profile-from-start off` profiles exactly those launches. (`us` keeps the op for `add`, which knows the
  // label: both run within the same statement, so what the op refers to is still there.)
  const char* profile = std::getenv("WST_BENCH_PROFILE");
  std::function<void()> last_op;
  auto us = [&](const std::function<void()>& op) {
    last_op = op;
    return 1e3 * time_stream(be, 2, n_reps, [&] {
             for (int i = 0; i < 10; ++i) op();
           }) / 10;
  };
  struct Line { std::string what; double us, bytes, flops; int per_step; };
  std::vector<Line> lines;
  auto add = [&](const std::string& what, double t_us, double bytes, double flops, int per_step) {
    lines.push_back({what, t_us, bytes, flops, per_step});
    if (profile != nullptr && *profile != '\0' && last_op && what.find(profile) != std::string::npos) {
      WST_CUDA_CHECK(cudaStreamSynchronize(be.stream()));
      nvtxRangePushA(what.c_str());
      WST_CUDA_CHECK(cudaProfilerStart());
      last_op();
      WST_CUDA_CHECK(cudaStreamSynchronize(be.stream()));
      WST_CUDA_CHECK(cudaProfilerStop());
      nvtxRangePop();
    }
    last_op = nullptr;
  };
  const double L = h.n_text_layer;
  // Decoder step shapes.
  Mat x1 = rnd(1, d), g = rnd(1, d), b = rnd(1, d), y1 = be.alloc(1, d), x4 = rnd(1, 4 * d), y3 = be.alloc(1, 3 * d),
      y4 = be.alloc(1, 4 * d), logits = be.alloc(1, h.n_vocab);
  Mat w_qkv = rnd(3 * d, d), b_qkv = rnd(1, 3 * d), w_dd = rnd(d, d), w_fc1 = rnd(4 * d, d), b_fc1 = rnd(1, 4 * d),
      w_fc2 = rnd(d, 4 * d), emb = rnd(h.n_vocab, d), pos = rnd(h.n_text_ctx, d);
  Mat cache_k = rnd(h.n_text_ctx, d), cache_v = rnd(h.n_text_ctx, d), cross = rnd(t, 2 * d);
  add("step layer_norm [1,d]", us([&] { be.layer_norm(x1, g, b, y1); }), 4.0 * 4 * d, 0, 3 * L + 1);
  for (int own = 1; own >= 0; --own) {
    be.set_own_gemv(own == 1);
    const std::string tag = own ? " (own gemv)" : " (cublasSgemv)";
    add("step linear qkv d->3d" + tag, us([&] { be.linear(x1, w_qkv, &b_qkv, y3); }), 4.0 * 3 * d * d, 2.0 * 3 * d * d, own ? L : 0);
    add("step linear d->d" + tag, us([&] { be.linear(x1, w_dd, &b, y1); }), 4.0 * d * d, 2.0 * d * d, own ? 3 * L : 0);
    add("step linear fc1 d->4d" + tag, us([&] { be.linear(x1, w_fc1, &b_fc1, y4); }), 16.0 * d * d, 8.0 * d * d, own ? L : 0);
    add("step linear fc2 4d->d" + tag, us([&] { be.linear(x4, w_fc2, &b, y1); }), 16.0 * d * d, 8.0 * d * d, own ? L : 0);
    add("step logits d->n_vocab" + tag, us([&] { be.linear(x1, emb, nullptr, logits); }), 4.0 * h.n_vocab * d,
        2.0 * h.n_vocab * d, own ? 1 : 0);
  }
  be.set_own_gemv(true);
  add("step attention self (101 keys)", us([&] {
        be.attention(y3.cols_view(0, d), cache_k.rows_view(0, 101), cache_v.rows_view(0, 101), y1, h.n_text_head, 100);
      }), 4.0 * 2 * 101 * d, 4.0 * 101 * d, L);
  add("step attention cross (1500 keys)", us([&] {
        be.attention(x1, cross.cols_view(0, d), cross.cols_view(d, d), y1, h.n_text_head, -1);
      }), 4.0 * 2 * t * d, 4.0 * t * d, L);
  add("step copy [1,d] into the cache", us([&] {
        Mat dst = cache_k.rows_view(100, 1);
        be.copy(y3.cols_view(d, d), dst);
      }), 8.0 * d, 0, 2 * L);
  add("step add [1,d]", us([&] { be.add(y1, x1); }), 12.0 * d, 0, 3 * L);
  add("step gelu [1,4d]", us([&] { be.gelu(y4); }), 32.0 * d, 0, L);
  const int tok = 220;
  add("step embed 1 token", us([&] { be.embed(emb, &tok, 1, pos, 100, y1); }), 12.0 * d, 0, 1);
  // Encoder shapes.
  Mat xe = rnd(t, d), ye = be.alloc(t, d), qkv = rnd(t, 3 * d), ye3 = be.alloc(t, 3 * d), ye4 = rnd(t, 4 * d);
  Mat mel = rnd(2 * t, h.n_mels), c1 = be.alloc(2 * t, d), c1w = rnd(d, 3 * h.n_mels), c2w = rnd(d, 3 * d);
  const double LE = h.n_audio_layer;
  add("enc layer_norm [1500,d]", us([&] { be.layer_norm(xe, g, b, ye); }), 8.0 * t * d, 0, -(2 * LE + 1));
  for (int tf32 = 0; tf32 < 2; ++tf32) {
    be.set_tf32(tf32 == 1);
    const std::string tag = tf32 ? " TF32" : "";
    const double n = tf32 ? 0 : 1;
    add("enc linear qkv" + tag, us([&] { be.linear(xe, w_qkv, &b_qkv, ye3); }), 4.0 * (3 * d * d + 4 * t * d), 2.0 * t * 3 * d * d, -n * LE);
    add("enc linear d->d" + tag, us([&] { be.linear(xe, w_dd, &b, ye); }), 4.0 * (d * d + 2 * t * d), 2.0 * t * d * d, -n * LE);
    add("enc linear fc1" + tag, us([&] { be.linear(xe, w_fc1, &b_fc1, ye4); }), 4.0 * (4 * d * d + 5 * t * d), 8.0 * t * d * d, -n * LE);
    add("enc linear fc2" + tag, us([&] { be.linear(ye4, w_fc2, &b, ye); }), 4.0 * (4 * d * d + 5 * t * d), 8.0 * t * d * d, -n * LE);
    add("enc attention 1500x1500" + tag, us([&] {
          be.attention(qkv.cols_view(0, d), qkv.cols_view(d, d), qkv.cols_view(2 * d, d), ye, h.n_audio_head, -1);
        }), 4.0 * 4 * t * d, 4.0 * t * t * d, -n * LE);
    add("enc conv1 + gelu" + tag, us([&] { be.conv1d_gelu(mel, c1w, b, 1, c1); }), 4.0 * (2 * t * h.n_mels + 2 * t * d),
        2.0 * 2 * t * d * 3 * h.n_mels, -n);
    add("enc conv2 + gelu" + tag, us([&] { be.conv1d_gelu(c1, c2w, b, 2, ye); }), 4.0 * (3 * t * d + 3 * d * d),
        2.0 * t * d * 3 * d, -n);
  }
  be.set_tf32(false);
  // Half precision (informational, not in the sums): float16 weights, flash attention.
  {
    be.set_precision(engine::cuda::Precision::f16);
    auto hw = [&](int rows, int cols) {
      auto v = random_vec(static_cast<size_t>(rows) * cols, rows * 37 + cols, 0.05f);
      return be.upload_weights(v.data(), rows, cols, engine::WeightType::float16);
    };
    engine::Weights h_qkv = hw(3 * d, d), h_dd = hw(d, d), h_fc1 = hw(4 * d, d), h_fc2 = hw(d, 4 * d), h_emb = hw(h.n_vocab, d);
    add("f16 step linear qkv d->3d", us([&] { be.linear(x1, h_qkv, &b_qkv, y3); }), 2.0 * 3 * d * d, 2.0 * 3 * d * d, 0);
    add("f16 step linear d->d", us([&] { be.linear(x1, h_dd, &b, y1); }), 2.0 * d * d, 2.0 * d * d, 0);
    add("f16 step linear fc1 d->4d", us([&] { be.linear(x1, h_fc1, &b_fc1, y4); }), 8.0 * d * d, 8.0 * d * d, 0);
    add("f16 step linear fc2 4d->d", us([&] { be.linear(x4, h_fc2, &b, y1); }), 8.0 * d * d, 8.0 * d * d, 0);
    add("f16 step logits d->n_vocab", us([&] { be.linear(x1, h_emb, nullptr, logits); }), 2.0 * h.n_vocab * d,
        2.0 * h.n_vocab * d, 0);
    {
      // A decoder step's ops as a greedy step (1 row) and a 5-beam step (5 rows) run them: the products with the
      // layer norm or the residual add fused (linear_fused), the self-attention of every row over its own cache
      // (step_self_attention) and the rows' cross-attention over one window. "beam5" lines: one each a layer.
      using Epi = engine::Backend::Epilogue;
      // "beam5x": the same with session 11's four switches off (informational: fc2's input at once, the rows' layer
      // norms by the block, the cross-attention a cluster a row, the self-attention in clusters; the launch shapes
      // stay the defaults; the tensor-core row kernel off).
      // "beam5g" / "beam5t": the defaults with the tensor-core row kernel (set_tensor_rows) turned off / on.
      const bool chunks_default = be.gemv_chunks(), warp_norm_default = be.gemv_norm_by_warp(),
                 shared_default = be.shared_kv(), small_default = be.small_self(), tensor_default = be.tensor_rows_on();
      for (int pass : {1, 5, 6, 7}) {
        const int rows = pass == 1 ? 1 : 5;
        const std::string tag = pass == 1   ? "f16 greedy1 "
                                : pass == 5 ? "f16 beam5 "
                                : pass == 6 ? "f16 beam5x "
                                : tensor_default ? "f16 beam5g "
                                                 : "f16 beam5t ";
        const int per = pass == 5 ? static_cast<int>(L) : 0;
        be.set_tensor_rows(pass == 7 ? !tensor_default : pass != 6 && tensor_default);
        be.set_gemv_chunks(pass != 6 && chunks_default);
        be.set_gemv_norm_by_warp(pass != 6 && warp_norm_default);
        be.set_shared_kv(pass != 6 && shared_default);
        be.set_small_self(pass != 6 && small_default);
        Mat xr = rnd(rows, d), xr4 = rnd(rows, 4 * d), yr = rnd(rows, d), yr3 = be.alloc(rows, 3 * d),
            yr4 = be.alloc(rows, 4 * d), lr = be.alloc(rows, h.n_vocab), qr = rnd(rows, d);
        add(tag + "norm + qkv d->3d", us([&] { be.linear_fused(xr, &g, &b, h_qkv, &b_qkv, Epi::none, yr3); }),
            2.0 * 3 * d * d, 2.0 * rows * 3 * d * d, per);
        add(tag + "out d->d, add", us([&] { be.linear_fused(xr, nullptr, nullptr, h_dd, &b, Epi::add, yr); }),
            2.0 * d * d, 2.0 * rows * d * d, 2 * per);
        add(tag + "norm + cross q d->d", us([&] { be.linear_fused(xr, &g, &b, h_dd, &b, Epi::none, qr); }),
            2.0 * d * d, 2.0 * rows * d * d, per);
        add(tag + "norm + fc1 d->4d, gelu", us([&] { be.linear_fused(xr, &g, &b, h_fc1, &b_fc1, Epi::gelu, yr4); }),
            8.0 * d * d, 8.0 * rows * d * d, per);
        add(tag + "fc2 4d->d, add", us([&] { be.linear_fused(xr4, nullptr, nullptr, h_fc2, &b, Epi::add, yr); }),
            8.0 * d * d, 8.0 * rows * d * d, per);
        add(tag + "norm + logits", us([&] { be.linear_fused(xr, &g, &b, h_emb, nullptr, Epi::none, lr); }),
            2.0 * h.n_vocab * d, 2.0 * rows * h.n_vocab * d, pass == 5 ? 1 : 0);
        {
          const bool once0 = be.norm_once();
          be.set_norm_once(!once0);
          add(tag + "norm + logits, norm once " + (once0 ? "off" : "on"), us([&] {
                be.linear_fused(xr, &g, &b, h_emb, nullptr, Epi::none, lr);
              }), 2.0 * h.n_vocab * d, 2.0 * rows * h.n_vocab * d, 0);
          be.set_norm_once(once0);
        }
        std::vector<Mat> ks, vs;
        for (int r = 0; r < rows; ++r) ks.push_back(rnd(h.n_text_ctx, d)), vs.push_back(rnd(h.n_text_ctx, d));
        std::vector<Mat*> kp, vp;
        for (int r = 0; r < rows; ++r) kp.push_back(&ks[r]), vp.push_back(&vs[r]);
        std::vector<int> pos(rows, 100);
        Mat qkv_r = rnd(rows, 3 * d);
        add(tag + "self-attention (101 keys each)", us([&] {
              be.step_self_attention(qkv_r, kp, vp, pos, yr, h.n_text_head);
            }), 4.0 * 2 * rows * 101 * d, 4.0 * rows * 101 * d, per);
        add(tag + "cross-attention (1500 keys)", us([&] {
              be.cross_attention(qr, cross.cols_view(0, d), cross.cols_view(d, d), yr, h.n_text_head);
            }), 4.0 * 2 * t * d, 4.0 * rows * t * d, per);
      }
      be.set_gemv_chunks(chunks_default);
      be.set_gemv_norm_by_warp(warp_norm_default);
      be.set_shared_kv(shared_default);
      be.set_small_self(small_default);
      be.set_tensor_rows(tensor_default);
    }
    add("f16 enc linear qkv", us([&] { be.linear(xe, h_qkv, &b_qkv, ye3); }), 2.0 * 3 * d * d + 4.0 * 4 * t * d, 2.0 * t * 3 * d * d, 0);
    add("f16 enc linear fc1", us([&] { be.linear(xe, h_fc1, &b_fc1, ye4); }), 2.0 * 4 * d * d + 4.0 * 5 * t * d, 8.0 * t * d * d, 0);
    add("f16 enc linear fc2", us([&] { be.linear(ye4, h_fc2, &b, ye); }), 2.0 * 4 * d * d + 4.0 * 5 * t * d, 8.0 * t * d * d, 0);
    add("f16 enc flash attention 1500x1500", us([&] {
          be.attention(qkv.cols_view(0, d), qkv.cols_view(d, d), qkv.cols_view(2 * d, d), ye, h.n_audio_head, -1);
        }), 4.0 * 4 * t * d, 4.0 * t * t * d, 0);
    {
      // The encoder's half-activation path (encoder_blocks.cu), op by op; their sum is a layer of it.
      std::vector<uint16_t> hr(static_cast<size_t>(t) * 4 * d);
      Rng r(5);
      for (auto& e : hr) e = float_to_half(r.uniform(0.5f));
      auto half_buf = [&](size_t n) {
        std::shared_ptr<void> p = be.alloc_bytes(n * 2);
        WST_CUDA_CHECK(cudaMemcpyAsync(p.get(), hr.data(), n * 2, cudaMemcpyHostToDevice, be.stream()));
        return p;
      };
      std::shared_ptr<void> hn = half_buf(static_cast<size_t>(t) * d), hq = half_buf(static_cast<size_t>(t) * 3 * d),
                            ha = half_buf(static_cast<size_t>(t) * d), hm = half_buf(static_cast<size_t>(t) * 4 * d);
      __half* n_ = static_cast<__half*>(hn.get());
      __half* q_ = static_cast<__half*>(hq.get());
      __half* a_ = static_cast<__half*>(ha.get());
      __half* m_ = static_cast<__half*>(hm.get());
      int n_sm = 0;
      WST_CUDA_CHECK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, 0));
      cudaStream_t st = be.stream();
      add("f16 half-enc layer_norm (+ owed biases) -> half", us([&] {
            engine::cuda::layer_norm_half<__half>(xe, b.data, g.data, b.data, n_, d, st);
          }), 4.0 * t * d + 2.0 * t * d, 0, -2 * LE);
      add("f16 half-enc qkv product -> half", us([&] {
            engine::cuda::half_product(be.blas(), h_qkv, n_, d, t, q_, CUDA_R_16F, 3 * d, 0.0f);
          }), 2.0 * (3 * d * d + 4 * t * d), 2.0 * t * 3 * d * d, -LE);
      add("f16 half-enc flash attention", us([&] {
            engine::cuda::flash_attention_half<__half>(q_, 3 * d, t, d, b_qkv.data, a_, d, n_sm, st,
                                                       be.flash_shape_for(h.n_audio_head));
          }), 2.0 * 4 * t * d, 4.0 * t * t * d, -LE);
      for (int sh = 0; sh < engine::cuda::kFlashShapes; ++sh) {
        const auto shape = static_cast<engine::cuda::FlashShape>(sh);
        if (shape == be.flash_shape_for(h.n_audio_head)) continue;  // the line above
        if (engine::cuda::is_wgmma(shape) && !engine::cuda::flash_wgmma_available()) continue;
        add("f16 half-enc flash attention shape " + std::to_string(sh) + " (informational)", us([&] {
              engine::cuda::flash_attention_half<__half>(q_, 3 * d, t, d, b_qkv.data, a_, d, n_sm, st, shape);
            }), 2.0 * 4 * t * d, 4.0 * t * t * d, 0);
      }
      add("f16 half-enc out product onto x", us([&] {
            engine::cuda::half_product(be.blas(), h_dd, a_, d, t, xe.data, CUDA_R_32F, d, 1.0f);
          }), 2.0 * (d * d + t * d) + 8.0 * t * d, 2.0 * t * d * d, -LE);
      // fc1 with its bias and GELU in cuBLASLt's epilogue (the default since run 40), or the product and a pass.
      bool epilogue_ran = true;
      const double epilogue_us = us([&] { epilogue_ran = be.product_bias_gelu(h_fc1, n_, d, t, m_, 4 * d, b_fc1.data); });
      if (epilogue_ran)
        add("f16 half-enc fc1 + bias + gelu (tanh) in cuBLASLt's epilogue", epilogue_us,
            2.0 * (4 * d * d + 5 * t * d), 8.0 * t * d * d, -LE);
      else
        std::printf("fc1 in cuBLASLt's epilogue: no algorithm for this shape (the product and a pass instead)\n");
      add(epilogue_ran ? "f16 half-enc fc1 product -> half (informational)" : "f16 half-enc fc1 product -> half",
          us([&] { engine::cuda::half_product(be.blas(), h_fc1, n_, d, t, m_, CUDA_R_16F, 4 * d, 0.0f); }),
          2.0 * (4 * d * d + 5 * t * d), 8.0 * t * d * d, epilogue_ran ? 0 : -LE);
      add(epilogue_ran ? "f16 half-enc bias + gelu [1500,4d] (informational)" : "f16 half-enc bias + gelu [1500,4d]",
          us([&] { engine::cuda::bias_gelu_half<__half>(m_, t, 4 * d, b_fc1.data, st); }), 2.0 * 8 * t * d, 0,
          epilogue_ran ? 0 : -LE);
      add("f16 half-enc fc2 product onto x", us([&] {
            engine::cuda::half_product(be.blas(), h_fc2, m_, 4 * d, t, xe.data, CUDA_R_32F, d, 1.0f);
          }), 2.0 * (4 * d * d + 4 * t * d) + 8.0 * t * d, 8.0 * t * d * d, -LE);
      // cuBLASLt's other algorithms for the four products (informational): the fastest of its first 8.
      struct LtCase { const char* what; const engine::Weights& w; const void* x; void* y; cudaDataType_t yt; int ldy;
                      float beta; double bytes, flops; };
      for (const LtCase& lc : {LtCase{"qkv product -> half", h_qkv, n_, q_, CUDA_R_16F, 3 * d, 0.0f,
                                      2.0 * (3 * d * d + 4 * t * d), 2.0 * t * 3 * d * d},
                               LtCase{"out product onto x", h_dd, a_, xe.data, CUDA_R_32F, d, 1.0f,
                                      2.0 * (d * d + t * d) + 8.0 * t * d, 2.0 * t * d * d},
                               LtCase{"fc1 product -> half", h_fc1, n_, m_, CUDA_R_16F, 4 * d, 0.0f,
                                      2.0 * (4 * d * d + 5 * t * d), 8.0 * t * d * d},
                               LtCase{"fc2 product onto x", h_fc2, m_, xe.data, CUDA_R_32F, d, 1.0f,
                                      2.0 * (4 * d * d + 4 * t * d) + 8.0 * t * d, 8.0 * t * d * d}}) {
        const LtBest lb = fastest_lt_algorithm(be, lc.w, lc.x, t, lc.y, lc.yt, lc.ldy, lc.beta, us);
        add("f16 half-enc " + std::string(lc.what) + ", cuBLASLt's fastest: #" + std::to_string(lb.rank) + " of " +
                std::to_string(lb.n) + " (informational)",
            lb.us, lc.bytes, lc.flops, 0);
      }
      add("f16 half-enc conv1 + gelu", us([&] { be.conv1d_gelu(mel, c1w, b, 1, c1); }),
          4.0 * (2 * t * h.n_mels + 2 * t * d), 2.0 * 2 * t * d * 3 * h.n_mels, -1);
      add("f16 half-enc conv2 + gelu", us([&] { be.conv1d_gelu(c1, c2w, b, 2, ye); }), 4.0 * (3 * t * d + 3 * d * d),
          2.0 * t * d * 3 * d, -1);
      // Re-fill the rows the timed ops rounded, grew or overwrote, for the ops below.
      be.copy(rnd(t, d), xe);
    }
    be.set_precision(engine::cuda::Precision::bf16);
    add("bf16 enc flash attention 1500x1500", us([&] {
          be.attention(qkv.cols_view(0, d), qkv.cols_view(d, d), qkv.cols_view(2 * d, d), ye, h.n_audio_head, -1);
        }), 4.0 * 4 * t * d, 4.0 * t * t * d, 0);
    be.set_precision(engine::cuda::Precision::f32);
  }
  add("enc gelu [1500,4d]", us([&] { be.gelu(ye4); }), 32.0 * t * d, 0, -LE);
  add("enc add [1500,d]", us([&] { be.add(ye, xe); }), 12.0 * t * d, 0, -2 * LE);
  std::printf("\n%s: per-op times (per_step > 0: count in one decoder step; < 0: count in one encoder window)\n",
              arch.c_str());
  std::printf("%-44s %10s %9s %9s %9s\n", "op", "us", "GB/s", "TFLOP/s", "per_step");
  double step_sum = 0, enc_sum = 0, half_enc_sum = 0, beam_sum = 0;
  for (const Line& l : lines) {
    std::printf("%-44s %10.1f %9.0f %9.2f %9d\n", l.what.c_str(), l.us, l.bytes / (l.us * 1e3), l.flops / (l.us * 1e6),
                l.per_step);
    if (l.per_step > 0 && l.what.rfind("f16 beam5 ", 0) != 0) step_sum += l.us * l.per_step;
    if (l.what.rfind("f16 beam5 ", 0) == 0) beam_sum += l.us * l.per_step;
    else if (l.per_step < 0 && l.what.rfind("f16 half-enc", 0) == 0) half_enc_sum -= l.us * l.per_step;
    else if (l.per_step < 0) enc_sum -= l.us * l.per_step;
  }
  std::printf("%s: sum of parts: decoder step %.3f ms, encoder window (fp32) %.2f ms, float16 encoder "
              "(half activations, convolutions and blocks) %.2f ms, float16 5-beam step (no embeddings or choice) "
              "%.3f ms\n", arch.c_str(), step_sum / 1e3, enc_sum / 1e3, half_enc_sum / 1e3, beam_sum / 1e3);
}

}  // namespace

int run_benchmarks(CudaBackend& be, const std::vector<std::string>& archs, int n_reps) {
  // WST_BENCH_OPS_ONLY=1: only the per-op breakdown, of the models named (tools/cuda/profile_on_device.sh).
  if (const char* ops_only = std::getenv("WST_BENCH_OPS_ONLY"); ops_only && std::string(ops_only) == "1") {
    int rc = 0;
    for (const auto& a : archs) {
      try {
        op_breakdown(be, a, n_reps);
      } catch (const std::exception& e) {
        std::printf("%s: breakdown FAILED: %s\n", a.c_str(), e.what());
        rc = 1;
      }
    }
    return rc;
  }
  // WST_BENCH_RELEASE=1: the release probe alone (probes.cu), nothing else.
  if (const char* r = std::getenv("WST_BENCH_RELEASE"); r && std::strcmp(r, "1") == 0) {
    int device = 0;
    WST_CUDA_CHECK(cudaGetDevice(&device));
    print_release_probe(device, be.stream());
    return 0;
  }
  Ceilings c = measure_ceilings(be);
  std::printf("\nceilings: device copy %.0f GB/s (read + write), sgemm fp32 %.1f TFLOP/s, TF32 %.1f TFLOP/s, "
              "float16 weights (x rounded + GemmEx) %.1f TFLOP/s\n", c.copy_gbs, c.sgemm_tflops, c.tf32_tflops,
              c.hgemm_tflops);
  try {  // a probe that fails (a launch the device refuses) costs its lines, not the models' timings
    int device = 0;
    WST_CUDA_CHECK(cudaGetDevice(&device));
    print_probes(device, be.stream(), c.copy_gbs);
  } catch (const std::exception& e) {
    std::printf("probes FAILED: %s\n", e.what());
    cudaGetLastError();
  }
  std::vector<Row> rows;
  int rc = 0;
  const char* only = std::getenv("WST_BENCH_PRECISIONS");  // e.g. "float16,bfloat16"; default all three
  for (auto p : {engine::cuda::Precision::f32, engine::cuda::Precision::f16, engine::cuda::Precision::bf16}) {
    if (only && !std::strstr(only, precision_name(p))) continue;
    for (const auto& a : archs) {
      try {
        rows.push_back(bench_arch(be, a, n_reps, p));
      } catch (const std::exception& e) {
        std::printf("%s %s: FAILED: %s\n", a.c_str(), precision_name(p), e.what());
        be.set_precision(engine::cuda::Precision::f32);
        rc = 1;
        continue;
      }
      const Row& r = rows.back();
      std::printf("%s %s: encoder %.2f ms (timed again later %.2f, then with the mel uploaded %s %.2f; its blocks %.2f, recorded %.2f; op by op %.2f; "
                  "TF32 %.2f), step %.3f ms (eager body %.3f, graph %.3f; graph vs eager rel %.1e), pool peak %.2f "
                  "GiB\n",
                  a.c_str(), precision_name(p), r.enc_ms, r.enc_again_ms,
                  be.precision() != engine::cuda::Precision::f16 ? "(no float16 mel outside float16)" : be.half_mel() ? "in float32" : "rounded to float16 by the host", r.enc_mel_other_ms, r.enc_blocks_ms, r.enc_blocks_graph_ms, r.enc_ops_ms,
                  r.enc_tf32_ms, r.dec_ms, r.dec_body_ms, r.dec_graph_ms, r.graph_rel, r.peak_gib);
      std::printf("%s %s: window with its cross K/V (encode, then the decoder's set_audio: every layer's K/V, as "
                  "whisper.cpp's encode time counts it) %.2f ms: encoder %.2f + set_audio %.3f (%s; %s %.3f; layer by "
                  "layer through linear: bias written first %.3f, in cuBLASLt's epilogue %.3f); the encoder outside its "
                  "blocks, each step alone: mel upload %.3f (%s %.3f), conv1 + GELU %.3f, conv2 + GELU %.3f, positional "
                  "add %.3f, the stem (both convolutions and the add) %.3f (%s %.3f), final norm %.3f\n",
                  a.c_str(), precision_name(p), r.enc_ms + r.cross_kv_ms, r.enc_ms, r.cross_kv_ms,
                  r.cross_kv_direct_ran ? "the shadows written directly" : "the float32 K/V, then their shadows",
                  be.half_direct_kv() ? "the float32 K/V, then their shadows" : "the shadows written directly",
                  r.cross_kv_direct_other_ms, r.cross_kv_each_ms, r.cross_kv_each_lt_ms, r.part_upload_ms,
                  be.precision() != engine::cuda::Precision::f16 ? "(no float16 mel outside float16)" : be.half_mel() ? "in float32" : "rounded to float16 by the host", r.part_upload_other_ms, r.part_conv1_ms, r.part_conv2_ms, r.part_pos_ms, r.part_stem_ms, be.stem_fused() ? "the ops in turn" : "fused",
                  r.part_stem_other_ms, r.part_norm_ms);
      std::printf("%s %s: the encoder's phases back to back (an event after each; GPU intervals, then the host's time "
                  "in each call): %.3f ms = upload %.3f + stem %.3f + blocks %.3f + final norm %.3f; host: upload %.3f, "
                  "stem %.3f, blocks %.3f, final norm %.3f\n",
                  a.c_str(), precision_name(p), r.timeline_total, r.timeline_gpu[0], r.timeline_gpu[1],
                  r.timeline_gpu[2], r.timeline_gpu[3], r.timeline_host[0], r.timeline_host[1], r.timeline_host[2],
                  r.timeline_host[3]);
      if (!std::isnan(r.enc_blocks_flash_ms[0])) {
        static const char* const names[] = {"words16",     "ldmatrix16",  "ldmatrix32",
                                            "wgmma 64x64", "wgmma 128x64", "wgmma 128x128",
                                            "wgmma 128x64 pipelined"};
        static_assert(sizeof names / sizeof names[0] == engine::cuda::kFlashShapes);
        std::string line;
        for (int sh = 0; sh < engine::cuda::kFlashShapes; ++sh) {
          char part[160];
          const bool mma = !engine::cuda::is_wgmma(static_cast<engine::cuda::FlashShape>(sh));
          if (std::isnan(r.enc_blocks_flash_ms[sh]))
            std::snprintf(part, sizeof part, "%s%d (%s) DID NOT RUN (no wgmma here)", sh ? ", " : "", sh, names[sh]);
          else if (sh == 0)
            std::snprintf(part, sizeof part, "0 (%s) %.3f ms", names[0], r.enc_blocks_flash_ms[0]);
          else if (mma)
            std::snprintf(part, sizeof part, ", %d (%s) %.3f ms (%s)", sh, names[sh], r.enc_blocks_flash_ms[sh],
                          r.flash_rel[sh] == 0.0 ? "same bits" : "DIFFER");
          else
            std::snprintf(part, sizeof part, ", %d (%s) %.3f ms (rel %.1e against shape 0%s)", sh, names[sh],
                          r.enc_blocks_flash_ms[sh], r.flash_rel[sh],
                          sh != static_cast<int>(engine::cuda::FlashShape::wgmma128x64p) ? ""
                          : r.pipelined_same_bits ? "; shape 4's bits"
                                                  : "; NOT shape 4's bits");
          line += part;
        }
        std::printf("%s %s: encoder blocks recorded by flash shape: %s; %s %.3f ms (rel %.1e against shape 0)%s\n",
                    a.c_str(), precision_name(p), line.c_str(),
                    r.fc1_other_on ? "with fc1's bias and GELU (tanh) in cuBLASLt's epilogue"
                                   : "without fc1's cuBLASLt epilogue (the product, then a bias + exact GELU pass)",
                    r.enc_blocks_fc1_ms, r.fc1_rel, r.fc1_rounded ? "; fc1's biases rounded to half" : "");
      }
      std::printf("%s %s: engine greedy step (forward_and_pick) eager %.3f ms, recorded %.3f ms; 40 picks %s; "
                  "recorded with the cross query fused %.3f ms (%s), the self q|k|v fused %.3f ms (%s), both %.3f ms "
                  "(%s); 5-beam step %.3f ms with the logits to the host (filters not included), %.3f ms with the GPU's "
                  "candidates; batch-16 step (one window, forked) %.3f ms (%.3f ms a token); 16 windows %.3f ms "
                  "(%.3f ms a token); picks hash %016llx\n",
                  a.c_str(), precision_name(p), r.pick_eager_ms, r.pick_graph_ms,
                  r.pick_same ? "identical" : "DIFFER", r.pick_fused_ms[0], r.fused_same[0] ? "same picks" : "DIFFER",
                  r.pick_fused_ms[1], r.fused_same[1] ? "same picks" : "DIFFER", r.pick_fused_ms[2],
                  r.fused_same[2] ? "same picks" : "DIFFER",
                  r.beam5_host_ms, r.beam5_top_ms, r.batch16_ms, r.batch16_ms / 16,
                  r.windows16_ms, r.windows16_ms / 16, r.picks_hash);
      std::printf("%s %s: 5-beam step recorded %.4f ms, eager (WST_CUDA_RECORD_BEAMS=0) %.4f ms (candidates %s); "
                  "%d beam steps from position %d, 5 beams then 4, recorded against eager: %zu candidates %s\n",
                  a.c_str(), precision_name(p), r.beam5_top_ms, r.beam5_eager_ms,
                  r.beam5_eager_same ? "identical" : "DIFFER", r.walk_steps, r.walk_from, r.walk_candidates,
                  r.walk_same ? "identical" : "DIFFER");
      if (!r.beam5_eager_same || !r.walk_same) rc = 1;
      print_chain(a + " " + precision_name(p), r.chain, r.chain_layers, r.chain_tail);
      if (!r.cluster_pick_ran) {
        std::printf("%s %s: the picks a cluster of blocks a row: DID NOT RUN (no sm_90 code "
                    "running, or WST_CUDA_CLUSTERS=0)\n", a.c_str(), precision_name(p));
      } else {
        std::printf("%s %s: the picks a cluster of blocks a row against one block (WST_CUDA_PICK_CLUSTER=0): recorded "
                    "greedy step %.4f against %.4f ms (tokens %s, %d of 40 log-probabilities bit for bit, largest "
                    "difference %.1e); recorded 5-beam step %.4f against %.4f ms (candidates' tokens %s)\n",
                    a.c_str(), precision_name(p), r.pick_cluster_ms, r.pick_one_block_ms,
                    r.one_block_tokens_same ? "identical" : "DIFFER", r.one_block_bits_same, r.one_block_dlogprob,
                    r.beam5_cluster_ms, r.beam5_one_block_ms, r.beam5_one_block_tokens_same ? "identical" : "DIFFER");
        if (!r.one_block_tokens_same || !r.beam5_one_block_tokens_same || !(r.one_block_dlogprob < 1e-5)) rc = 1;
      }
      std::printf("%s %s: recorded greedy step run ahead %.4f ms against not (WST_CUDA_STEP_AHEAD=0) %.4f ms, 40 "
                  "steps under decoding's timestamp rules (picks %s; %lld steps as predicted, %lld not, %lld unused)\n",
                  a.c_str(), precision_name(p), r.ahead_on_ms, r.ahead_off_ms,
                  r.ahead_same ? "identical" : "DIFFER", r.ahead_hits, r.ahead_misses, r.ahead_unused);
      if (!r.ahead_same) rc = 1;
      std::printf("%s %s: the step run ahead over a harder walk (to the context's end, every 7th step's rules not "
                  "decoding's, another suppress list from step 60, two decoders taking turns): %d steps, %lld as "
                  "predicted, picks %s\n",
                  a.c_str(), precision_name(p), r.ahead_walk_steps, r.ahead_walk_hits,
                  r.ahead_walk_same ? "identical to not running ahead" : "DIFFER");
      if (!r.ahead_walk_same) rc = 1;
      std::printf("%s %s: 16 windows' greedy step as batched transcription takes it (forward_step_and_pick), every row "
                  "picked in one launch %.3f ms, row by row (WST_CUDA_PICK_ROWS=0) %.3f ms (picks %s)\n",
                  a.c_str(), precision_name(p), r.windows16_pick_ms, r.windows16_pick_by_row_ms,
                  r.windows16_pick_same ? "identical" : "DIFFER");
      if (!r.windows16_pick_same) rc = 1;
      std::printf("%s %s: batch-16 steps with the tensor-core row kernel turned %s (WST_CUDA_TENSOR_ROWS): forked "
                  "%.3f ms, 16 windows %.3f ms; forked at %s an SM (WST_CUDA_TENSOR_ROWS_OCCUPANCY) %.3f ms\n",
                  a.c_str(), precision_name(p), be.tensor_rows_on() ? "off" : "on", r.batch16_tensor_ms,
                  r.windows16_tensor_ms, be.tensor_rows_occupancy() == 2 ? "1 block" : "2 blocks", r.batch16_occupancy_ms);
      std::printf("%s %s: recorded step with both fused and the output products folded in (WST_CUDA_FUSED_OUT) "
                  "%.4f ms against both %.4f ms (%s; %zu of 40 tokens agree before the first difference, largest "
                  "log-probability difference %.1e)\n",
                  a.c_str(), precision_name(p), r.pick_fold_ms, r.pick_fused_ms[2], r.fold_ran ? "ran" : "DID NOT RUN",
                  r.fold_agree, r.fold_dlogprob);
      // (f16 and bf16 record the fused kernels; the fold must have run there, agree on the first picks at least
      // and stay near in log-probability: a NaN or a lost head would not)
      if (r.precision != engine::cuda::Precision::f32 &&
          (!r.fold_ran || r.fold_agree < 5 || !(r.fold_dlogprob < 1e-2)))
        rc = 1;
      std::printf("%s %s: recorded step without the attention kernels' row prefetches (WST_CUDA_PREFETCH_ROWS=0) %.3f "
                  "ms against %.3f ms with them (%s)\n",
                  a.c_str(), precision_name(p), r.pick_no_prefetch_ms, r.pick_fused_ms[r.default_variant],
                  r.no_prefetch_same ? "same picks" : "PICKS DIFFER");
      std::printf("%s %s: recorded step with the norms' gains and biases staged in shared memory (the default)"
                  " %.4f / %.4f ms against not (WST_CUDA_NORM_STAGED=0) %.4f / %.4f ms, two rounds alternating (%s)\n",
                  a.c_str(), precision_name(p), r.norm_staged_ms[0], r.norm_staged_ms[1], r.norm_not_staged_ms[0],
                  r.norm_not_staged_ms[1], r.norm_staged_same ? "same picks" : "PICKS DIFFER");
      if (r.precision != engine::cuda::Precision::f32) {
        for (int variant = 0; variant < 2; ++variant) {
          const auto& nf = r.norm_fold[variant];
          std::printf("%s %s: recorded step with the layer norm folded into %s %.4f / %.4f ms against not %.4f / "
                      "%.4f ms, two rounds alternating (%s; %zu of 40 tokens agree before the first difference, "
                      "largest log-probability difference %.1e; rounds %s; eager with the fold %s)\n",
                      a.c_str(), precision_name(p),
                      variant == 0 ? "fc1 (WST_CUDA_NORM_FOLD=1)"
                                   : "fc1, q|k|v and the cross query (WST_CUDA_NORM_FOLD=1 WST_CUDA_NORM_FOLD_ATTENTION=1)",
                      nf.fold_ms[0], nf.fold_ms[1], nf.unfolded_ms[0], nf.unfolded_ms[1],
                      nf.ran ? "ran" : "DID NOT RUN", nf.agree, nf.dlogprob, nf.repeats ? "the same picks" : "DIFFER",
                      nf.eager_same ? "the same picks" : "DIFFERS");
          if (!nf.ran || !nf.repeats || !nf.eager_same || nf.agree < 5 || !(nf.dlogprob < 1e-2)) rc = 1;
        }
      }
      if (!r.pick_same || !r.fused_same[0] || !r.fused_same[1] || !r.fused_same[2] || !r.no_prefetch_same ||
          !r.norm_once_same || !r.norm_staged_same)
        rc = 1;
      // Where the persistent kernel (an experiment) ran, it must agree with the recorded step at least on the first
      // picks (later ones may part at a near-tie: other summation orders), its 5-beam logits within 1e-4, and its
      // builds among themselves bit for bit. (Where its
      // block does not fit the device the ops run in turn: "DID NOT RUN" below; cuda_check says which.)
      if (r.precision != engine::cuda::Precision::f32 &&
          ((r.persistent_ran && (r.persistent_same < 5 || !r.persistent_late_same ||
                                  (r.persistent_compact_ran && !r.persistent_compact_same))) ||
           (r.beam5_persistent_ran && !(r.beam5_persistent_rel < 1e-4))))
        rc = 1;
      if (r.precision != engine::cuda::Precision::f32)
        std::printf("%s %s: recorded step with the decoder layers in one persistent kernel %.3f ms (%s; %d of 40 "
                    "picks as the recorded step before the first difference, largest log-probability difference "
                    "%.2e); without the early weight loads %.3f ms (%s)\n",
                    a.c_str(), precision_name(p), r.pick_persistent_ms, r.persistent_ran ? "ran" : "DID NOT RUN",
                    r.persistent_same, r.persistent_dlogprob, r.pick_persistent_late_ms,
                    r.persistent_late_same ? "same picks" : "DIFFER");
      if (!r.persistent_compact_phases.empty())
        std::printf("%s %s: the persistent kernel's compact build (WST_CUDA_PERSISTENT_COMPACT=1) %.3f ms (%s); its "
                    "phases: %s\n",
                    a.c_str(), precision_name(p), r.pick_persistent_compact_ms,
                    !r.persistent_compact_ran     ? "DID NOT RUN"
                    : r.persistent_compact_same ? "same picks as the inline build without early loads"
                                                : "PICKS DIFFER from the inline build without early loads",
                    r.persistent_compact_phases.c_str());
      if (!r.persistent_phases.empty())
        std::printf("%s %s: persistent kernel's phases, block 0's prologue (residual, norm or merge) + body "
                    "(products or attention) / barrier wait in us (means over layers): %s\n",
                    a.c_str(), precision_name(p), r.persistent_phases.c_str());
      if (r.precision != engine::cuda::Precision::f32)
        std::printf("%s %s: 5-beam step with the decoder layers in one persistent kernel %.3f ms (%s; logits against "
                    "the op-by-op step's rel %.2e)\n",
                    a.c_str(), precision_name(p), r.beam5_persistent_ms,
                    r.beam5_persistent_ran ? "ran" : "DID NOT RUN", r.beam5_persistent_rel);
      if (r.precision == engine::cuda::Precision::f16)
        std::printf("%s %s: 5-beam step over the cross K/V in float32 (WST_CUDA_HALF_CROSS_KV=0) %.4f ms against %.4f "
                    "ms (%s; logits against the default's rel %.2e)\n",
                    a.c_str(), precision_name(p), r.beam5_float_kv_ms, r.beam5_top_ms,
                    r.beam5_float_kv_ran ? "ran" : "A SHADOW WAS READ", r.beam5_float_kv_rel);
      if (r.precision != engine::cuda::Precision::f32)
        std::printf("%s %s: 16 windows' step with the persistent kernel (two launches of 8) %.3f ms (%.3f ms a token; "
                    "%s)\n",
                    a.c_str(), precision_name(p), r.windows16_persistent_ms, r.windows16_persistent_ms / 16,
                    r.windows16_persistent_ran ? "ran" : "DID NOT RUN: the ops in turn");
      std::fflush(stdout);
    }
  }
  std::printf("\nmedians of %d (TF32 column: float32 model, matrix products in TF32); floors: flops at the sgemm rate "
              "(float32) or the float16 rate (half), bytes at the copy rate\n", n_reps);
  std::printf("%-15s %-8s %9s %9s %9s %9s %8s | %9s %9s %9s %9s %9s\n", "model", "type", "enc ms", "enc tf32",
              "floor fl", "floor B", "w.cpp", "step ms", "graph ms", "floor fl", "floor B", "w.cpp");
  for (const Row& r : rows) {
    double we, wt;
    whisper_cpp_reference(r.arch, &we, &wt);
    const double rate = r.precision == engine::cuda::Precision::f32 ? c.sgemm_tflops : c.hgemm_tflops;
    std::printf("%-15s %-8s %9.2f %9.2f %9.2f %9.3f %8.1f | %9.3f %9.3f %9.3f %9.3f %9.2f\n", r.arch.c_str(),
                precision_name(r.precision), r.enc_ms, r.enc_tf32_ms, r.fl.enc_gflop / rate, r.fl.enc_mb / c.copy_gbs,
                we, r.dec_ms, r.dec_graph_ms, r.fl.dec_gflop / rate, r.fl.dec_mb / c.copy_gbs, wt);
  }
  for (const char* a : {"tiny", "large-v3"}) {
    try {
      op_breakdown(be, a, n_reps);
    } catch (const std::exception& e) {
      std::printf("%s: breakdown FAILED: %s\n", a, e.what());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace wst::cuda_tool
