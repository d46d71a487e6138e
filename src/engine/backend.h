// The compute backend interface: every op the encoder and decoder need, on 2-D float matrices that live
// wherever the backend keeps them (host memory for the CPU, device memory for CUDA). Encoder, decoder and
// decoding are written only against this interface, so a backend plugs in without touching them.
//
// Layout: row-major; a Mat is a view (rows x cols, row stride ld) into storage shared by its views.
// Every backend is checked against the CPU on random inputs (tests/engine/backend_ops_test.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wst::engine {

struct EncoderLayerWeights;  // layer_weights.h
struct DecoderLayerWeights;  // layer_weights.h

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

// How a backend keeps a matrix of weights that linear() multiplies by (and embed() looks rows up in).
//   float32  the values as a Mat.
//   float16  IEEE half precision, widened to float32 while multiplying: the same values as a half-precision
//            file holds, half the memory traffic of float32 for the decoder's matrix-vector products.
//   bfloat16 bfloat16 (float32's exponent, 8 bits of mantissa), for backends whose matrix units take it (CUDA).
//   int8     symmetric per-row quantisation (value = q * scale[row], q in [-127, 127]); the activations are
//            quantised per row on the fly and the products accumulate in int32 (CTranslate2's int8).
enum class WeightType { float32, float16, int8, bfloat16 };
const char* weight_type_name(WeightType t);  // "float32", "float16", "int8", "bfloat16"

struct Weights {
  WeightType type = WeightType::float32;
  int rows = 0, cols = 0;
  Mat f32;                               // float32: the values
  std::shared_ptr<const void> packed;    // float16, bfloat16: uint16_t [rows, cols]; int8: int8_t [rows, cols]
  std::shared_ptr<const float> scales;   // int8: [rows]
  std::shared_ptr<const int32_t> row_sums;  // int8: [rows], sum of each row's q (for unsigned activations)

  Weights() = default;
  Weights(Mat m) : rows(m.rows), cols(m.cols), f32(std::move(m)) {}  // NOLINT: a Mat is float32 weights
  // Packed weights of a type other than float32 (scales and row sums set apart, for int8).
  Weights(WeightType t, int r, int c, std::shared_ptr<const void> p) : type(t), rows(r), cols(c), packed(std::move(p)) {}
  bool empty() const { return rows == 0; }
};

// The logit filters of one greedy step after the first (openai-whisper's SuppressTokens and
// ApplyTimestampRules; decoding.cpp's step_rules() computes them from the tokens sampled so far), in a form a
// backend can apply where the logits are: every id in `suppress` and in the two ranges [begin, end) becomes
// -inf; then, when `timestamp_rule`, if the timestamps [ts_begin, n_vocab) together are more probable than the
// most probable text token, every text token [0, ts_begin) becomes -inf.
struct StepRules {
  const std::vector<int>* suppress = nullptr;
  int mask_a_begin = 0, mask_a_end = 0;
  int mask_b_begin = 0, mask_b_end = 0;
  bool timestamp_rule = false;
  int ts_begin = 0;
  int eot = 0;  // the end of text, where timestamp_rule: a backend that runs steps ahead predicts the next step's rules
};
// What Backend::pick_greedy chose: the first most probable token after the rules, and its log-probability
// under log_softmax of the filtered logits (double-precision sums, as decoding.cpp's log_softmax).
struct GreedyPick {
  int token = -1;
  float logprob = 0;
};

// A continuation of a beam: the beam's summed log-probability plus the token's (a float sum, as beam search
// scores), the beam and the token.
struct BeamCandidate {
  float score = 0;
  int beam = 0;
  int token = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  virtual Mat alloc(int rows, int cols) = 0;                         // uninitialised, contiguous
  virtual Mat upload(const float* host, int rows, int cols) = 0;     // host [rows, cols] contiguous
  // host [rows, cols] contiguous, uploaded as its transpose [cols, rows] (the mel spectrogram, channel-major, for
  // the time-major convolutions). The default transposes on the host, then uploads.
  virtual Mat upload_transposed(const float* host, int rows, int cols);
  // A window's log-mel spectrogram mel [n_mels, n_frames] contiguous, as the encoder's stem reads it: [n_frames,
  // n_mels]. A backend whose first convolution rounds its input (float16) may round it on the way, moving half the
  // bytes: the stem then computes the same values. The default is upload_transposed.
  virtual Mat upload_mel(const float* mel, int n_mels, int n_frames) { return upload_transposed(mel, n_mels, n_frames); }
  virtual void download(const Mat& m, float* host) = 0;              // to host [rows, cols] contiguous
  virtual void copy(const Mat& src, Mat& dst) = 0;                   // same shape, any strides

  // y = x @ w^T + bias. x [M, K], w [N, K], bias [1, N] or nullptr, y [M, N].
  virtual void linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) = 0;
  // Whether upload_weights and linear take weights of type t (the default: float32 only).
  virtual bool supports(WeightType t) const { return t == WeightType::float32; }
  // Whether products with many rows (the encoder's) are faster with weights of type t than with float32: true
  // for a GPU's half-precision tensor cores, false where half weights are only widened again (the CPU).
  virtual bool fast_matrix_products(WeightType t) const { return t == WeightType::float32; }
  // The same with weights in any WeightType the backend supports.
  virtual void linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y);
  // y[i] = x @ w[i]^T + bias[i] for several weights over one x (a window's cross-attention K/V: one product a decoder
  // layer), bias[i] null or [1, N_i], no y[i] the same matrix as x: a backend may prepare x once for all of them.
  // The default calls linear for each; throws wst::Error where the three lists differ in length.
  virtual void linears(const Mat& x, const std::vector<const Weights*>& w, const std::vector<const Mat*>& bias,
                       const std::vector<Mat*>& y);
  // Weights [rows, cols] from host float32 values, kept as `type` (the default: float32 only; throws wst::Error
  // naming the type otherwise).
  virtual Weights upload_weights(const float* host, int rows, int cols, WeightType type);
  // The same from IEEE half values (a float16 file's bytes, any alignment). The default widens them and calls
  // upload_weights; the CPU backend keeps float16 weights as they are, without a float32 copy at load (the
  // token embedding's was 80 MB for tiny, the peak of the load).
  virtual Weights upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type);
  // A linear layer with the work around it, as the decoder runs it: y = epilogue(norm(x) @ w^T + bias), where
  // norm is layer_norm with (gamma, beta) when gamma is given (else x as is) and the epilogue writes the result
  // (none), its GELU (gelu) or adds it to y (add: y += ...). The default composes layer_norm, linear, gelu and
  // add through temporaries (the same arithmetic as calling them in turn); a GPU fuses them into one kernel.
  enum class Epilogue { none, gelu, add };
  virtual void linear_fused(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                            Epilogue epilogue, Mat& y);
  // y = (x - mean) / sqrt(var + 1e-5) * gamma + beta over each row. gamma, beta [1, cols].
  virtual void layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) = 0;
  // x = gelu(x), the exact (erf) form Whisper uses.
  virtual void gelu(Mat& x) = 0;
  // y += x, same shape.
  virtual void add(Mat& y, const Mat& x) = 0;
  // Multi-head scaled dot-product attention. q [Tq, D], k and v [Tk, D], out [Tq, D], D = n_head * d_head.
  // causal_offset < 0: every query sees every key; otherwise query i sees keys 0 .. causal_offset + i.
  virtual void attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) = 0;
  // The decoder's cross-attention: attention(q, k, v, out, n_head, -1) over a window's K/V, which set_audio made
  // once (no op just before it writes them, so a GPU may start loading them early). The default calls attention().
  virtual void cross_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head);
  // A decoder layer's cross-attention K/V [n_audio_ctx, 2 d] (K then V) were just written for a window: a backend may
  // keep a copy in another form for the attentions that follow. sole_window: the next steps attend to this window
  // alone (set_audio, or set_audios of one window), not to several windows set together. Nothing by default.
  virtual void cross_kv_written(const Mat& kv, bool sole_window) { (void)kv, (void)sole_window; }
  // A window's cross-attention K/V for every decoder layer: kv[i] = x w[i]^T + bias[i] (as linears), each then
  // cross_kv_written(*kv[i], sole_window). A backend may keep a K/V in another form only and make kv[i]'s own values
  // when an op reads them, so kv[i] is written by no one else until the next cross_kv or cross_kv_written of it.
  virtual void cross_kv(const Mat& x, const std::vector<const Weights*>& w, const std::vector<const Mat*>& bias,
                        const std::vector<Mat*>& kv, bool sole_window);
  // Several rows' cross-attention, each over its own window's K/V (batched windows): row b of q attends over
  // *ks[b], *vs[b] into row b of out. The default calls cross_attention once for each run of consecutive rows that
  // share their K/V; a GPU does all rows in one launch.
  virtual void cross_attention_rows(const Mat& q, const std::vector<const Mat*>& ks, const std::vector<const Mat*>& vs,
                                    Mat& out, int n_head);
  // The same with the query product before it: q = norm(x) @ wq^T + bq (linear_fused with the layer norm gamma,
  // beta), then cross_attention(q, k, v, out, n_head). The default does exactly that; a GPU may do both in one
  // kernel and leave q unwritten.
  virtual void cross_attention_from(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq,
                                    Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head);
  // cross_attention_from, then its output product added onto x (linear_fused(out, wo, bo, add, x)): the default
  // does exactly that; a GPU may fold the product into the attention's kernel (q and out then left unwritten).
  virtual void cross_attention_out_from(const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq,
                                        const Weights& wo, const Mat* bo, Mat& x, Mat& q, const Mat& k, const Mat& v,
                                        Mat& out, int n_head);
  // One decoder step's self-attention for several sequences (beams, batched windows): row b of qkv [n, 3D] is
  // sequence b's q | k | v at position positions[b]; its k and v are written into that row of *k_caches[b] and
  // *v_caches[b], then its q attends over rows 0 .. positions[b] of them into out row b [n, D]. The default does
  // it row by row with copy() and attention(); a GPU does all rows in a couple of launches.
  virtual void step_self_attention(const Mat& qkv, const std::vector<Mat*>& k_caches, const std::vector<Mat*>& v_caches,
                                   const std::vector<int>& positions, Mat& out, int n_head);
  // The encoder's residual blocks over x [n_audio_ctx, D] in place (pre-norm attention, then pre-norm MLP, each
  // added to x). The default (encoder.cpp) runs them op by op through the methods above; a GPU keeps the
  // activations between its products in half precision and fuses the small ops into their neighbours.
  virtual void encoder_blocks(const std::vector<EncoderLayerWeights>& layers, int n_head, Mat& x);
  // The encoder's stem: x [T_in / 2, D] = gelu(conv1d(gelu(conv1d(mel_t, conv1_w) + conv1_b), conv2_w, stride 2) +
  // conv2_b) + pos, mel_t [T_in, n_mels] time-major, pos [T_in / 2, D]. The default (encoder.cpp) runs conv1d_gelu
  // twice and add; a GPU fuses the GELUs and the add into its neighbours.
  virtual void encoder_stem(const Mat& mel_t, const Mat& conv1_w, const Mat& conv1_b, const Mat& conv2_w,
                            const Mat& conv2_b, const Mat& pos, Mat& x);
  // y = gelu(conv1d(x, w) + b), kernel 3, padding 1. x [T_in, C_in] (time-major), w [C_out, 3 * C_in] with
  // column index k * C_in + c, b [1, C_out], y [T_out, C_out], T_out = (T_in - 1) / stride + 1.
  virtual void conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) = 0;
  // y[i] = table[ids[i]] + pos[pos_offset + i]. table [n_vocab, D], pos [n_ctx, D], y [n, D].
  virtual void embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) = 0;
  virtual void embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y);
  // y[i] = table[ids[i]] + pos[positions[i]]: a step's rows (beams, batched windows), each at its own position. The
  // default calls embed() once a row; a GPU does them in one launch.
  virtual void embed_rows(const Weights& table, const int* ids, const int* positions, int n, const Mat& pos, Mat& y);

  // Whether pick_greedy runs where the logits are (a GPU), so that a greedy step moves a few bytes to the
  // host instead of n_vocab floats. The CPU backend does not: decoding.cpp filters host logits itself.
  virtual bool picks_greedy() const { return false; }
  // The greedy choice from logits [1, n_vocab] under `rules` (see StepRules). Only where picks_greedy().
  virtual GreedyPick pick_greedy(const Mat& logits, const StepRules& rules);
  // pick_greedy for each row b of logits [n, n_vocab] under rules[b] (batched windows' steps): the default picks row
  // by row; a GPU picks every row in one launch and waits once.
  virtual std::vector<GreedyPick> pick_greedy_rows(const Mat& logits, const std::vector<StepRules>& rules);

  // Beam search's step where the logits are [n, n_vocab] (only where picks_greedy()): row b gets rules[b] (as
  // pick_greedy), its log-softmax, and its k best continuations by score = beam_scores[b] + log-probability
  // (higher first, the lower token among equals), masked tokens never; k * n candidates at most, row by row.
  virtual std::vector<BeamCandidate> top_candidates(const Mat& logits, const std::vector<StepRules>& rules,
                                                    const std::vector<float>& beam_scores, int k);

  // Greedy steps replayed from a recording (a CUDA graph): the step's ~50 kernels cost one launch. What varies
  // from step to step (the token, its position, the rules) is set by set_step() and read where the backend
  // keeps it by the *_at ops, which are only used while recording. Decoder::forward_and_pick records a step
  // once (begin_step_recording, the step's ops, end_step_recording) and replays it (replay_step) for every
  // token after; the result equals running the ops eagerly, bit for bit. records_steps() false: never used.
  virtual bool records_steps() const { return false; }
  virtual void set_step(int token, int position, const StepRules& rules, int n_vocab);
  virtual void begin_step_recording();
  virtual std::shared_ptr<void> end_step_recording();  // the recording (keeps what it uses alive)
  // Ends a recording that failed part-way, keeping nothing and throwing nothing (so the first error is the one
  // reported); nothing to do where none is in progress.
  virtual void abort_step_recording() noexcept {}
  virtual GreedyPick replay_step(const std::shared_ptr<void>& recording);
  // A backend whose replay_step runs the next step ahead forgets it (the decoder's caches or state are about to
  // change otherwise than by that step): Decoder calls it before everything but forward_and_pick. Until then the
  // step ahead goes on writing the recording's buffers (its x, the caches' next row, the logits): replay_step's
  // result is its pick alone.
  virtual void forget_step_ahead() {}
  virtual void embed_at(const Weights& table, const Mat& pos, Mat& y);  // y [1, D] = table[token] + pos[position]
  virtual void copy_to_row_at(const Mat& src, Mat& cache);             // cache row `position` = src [1, cols]
  // The step's qkv product, y [1, 3d] = layer_norm(x) @ w^T + bias, its K and V thirds also written to row
  // `position` of the caches [n_ctx, d]. The default: linear_fused, then copy_to_row_at twice.
  virtual void linear_fused_kv_at(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                                  Mat& y, Mat& k_cache, Mat& v_cache);
  // One query over keys [0, position] of k and v (the self-attention of the step at `position`).
  virtual void attention_at(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head);
  // linear_fused_kv_at(x, gamma, beta, w, bias, qkv, k_cache, v_cache), then attention_at(q of qkv, k_cache,
  // v_cache, out, n_head): the default does exactly that; a GPU may do it in one kernel and leave qkv unwritten.
  virtual void self_attention_at_from(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& w,
                                      const Mat* bias, Mat& qkv, Mat& k_cache, Mat& v_cache, Mat& out, int n_head);
  // self_attention_at_from, then its output product added onto x (linear_fused(out, wo, bo, add, x)): the default
  // does exactly that; a GPU may fold the product into the attention's kernel (out then left unwritten).
  virtual void self_attention_out_at_from(const Mat& gamma, const Mat& beta, const Weights& w, const Mat* bias,
                                          const Weights& wo, const Mat* bo, Mat& x, Mat& qkv, Mat& k_cache,
                                          Mat& v_cache, Mat& out, int n_head);
  virtual void pick_greedy_at(const Mat& logits);  // pick_greedy under set_step's rules; replay_step returns it
  // Called by Decoder's constructor, before any step over these layers: a backend may derive what its step kernels
  // read from the weights (the CUDA backend's layer norms folded into fc1, CudaBackend::NormFold). Nothing here.
  virtual void prepare_decoder(const std::vector<DecoderLayerWeights>& layers) { (void)layers; }
  // A recorded step's decoder layers over x [1, d] in place: for each layer, self_attention_at_from over its caches,
  // the output product added to x, cross_attention_from over its window's K/V (cross_kv [n_audio_ctx, 2d]: K | V),
  // its output product added, fc1 with GELU, fc2 added. qkv [1, 3d], attn [1, d], q [1, d] and mlp [1, 4d] are the
  // step's scratch rows. The default does exactly those ops; a GPU may run every layer in one kernel.
  virtual void decoder_layers_at(const std::vector<DecoderLayerWeights>& layers, std::vector<Mat>& k_caches,
                                 std::vector<Mat>& v_caches, const std::vector<Mat>& cross_kv, int n_head, Mat& x,
                                 Mat& qkv, Mat& attn, Mat& q, Mat& mlp);
  // One decoder step of n sequences (beams, batched windows) through every layer, eagerly: row b of x [n, d] is
  // sequence b at position positions[b]; layer i's self-attention runs over *k_caches[i][b], *v_caches[i][b] (its new
  // K/V row written there, as step_self_attention), its cross-attention over *cross_kv[i][b] ([n_audio_ctx, 2d]:
  // K | V; rows that share one window share the pointer). qkv [n, 3d], attn [n, d], q [n, d], mlp [n, 4d] are
  // scratch. The default runs the ops one after another (linear_fused, step_self_attention, cross_attention_rows);
  // a GPU may run all layers in one kernel.
  virtual void decoder_layers_rows(const std::vector<DecoderLayerWeights>& layers,
                                   const std::vector<std::vector<Mat*>>& k_caches,
                                   const std::vector<std::vector<Mat*>>& v_caches, const std::vector<int>& positions,
                                   const std::vector<std::vector<const Mat*>>& cross_kv, int n_head, Mat& x, Mat& qkv,
                                   Mat& attn, Mat& q, Mat& mlp);

  // Beam steps (several rows that step together over one window) replayed from recordings, as greedy steps are:
  // set_rows_step gives each row its token, position, caches (per layer), rules and beam score; the recorded ops
  // (embed_rows_at, decoder_layers_rows_at, top_candidates_at) read them where the backend keeps them, and
  // replay_rows_step returns the k best candidates a row, as top_candidates does. Decoder::forward_step_top records
  // one step per number of rows and rows_step_kind(), and replays it while those stay the same.
  virtual void set_rows_step(const std::vector<int>& tokens, const std::vector<int>& positions,
                             const std::vector<std::vector<Mat*>>& k_caches,
                             const std::vector<std::vector<Mat*>>& v_caches, const std::vector<StepRules>& rules,
                             const std::vector<float>& beam_scores, int n_vocab, int k);
  // After set_rows_step: -1 where this step cannot be recorded (it runs eagerly), else which recording it needs
  // beside its number of rows (a GPU may pick its kernels by the caches' length).
  virtual int rows_step_kind() const { return -1; }
  virtual void begin_rows_recording();  // end_step_recording ends it
  virtual std::vector<BeamCandidate> replay_rows_step(const std::shared_ptr<void>& recording);
  virtual void embed_rows_at(const Weights& table, const Mat& pos, Mat& y);  // y [n, D]: row b's token at its position
  // step_self_attention over set_rows_step's caches of `layer` at its positions.
  virtual void step_self_attention_at(int layer, const Mat& qkv, Mat& out, int n_head);
  // decoder_layers_rows over set_rows_step's caches and positions, every row over one window's cross_kv (per layer).
  // The default runs the same ops, with step_self_attention_at.
  virtual void decoder_layers_rows_at(const std::vector<DecoderLayerWeights>& layers, const std::vector<Mat>& cross_kv,
                                      int n_head, Mat& x, Mat& qkv, Mat& attn, Mat& q, Mat& mlp);
  virtual void top_candidates_at(const Mat& logits);  // top_candidates under set_rows_step's rules, scores and k

  // The most device memory this backend has held at once, in bytes (a GPU backend's pool high-water mark:
  // weights, activations, workspaces); -1 for a backend that computes in host memory.
  virtual long long peak_device_bytes() const { return -1; }
  // Device memory free for this backend now, in bytes (a GPU's free memory plus the blocks its pool keeps for
  // reuse): what sizes a batch (Engine::default_batch_size); -1 for a backend that computes in host memory.
  virtual long long free_device_bytes() const { return -1; }
};

// The CPU backend (OpenBLAS and oneDNN for matrix products, own kernels for matrix-vector products of
// float16 and int8 weights). n_threads 0 = all cores. tiled_attention: the encoder's attention through the
// register-tiled kernel (cpu/attention_tiled.h) rather than sgemm; the engine turns it off for the int8
// compute type, whose LibriSpeech WER it moved from 1.85% to 2.25% (the kernel's float rounding, amplified by
// the next product's per-row activation quantisation; float32 stays token-exact with it).
std::unique_ptr<Backend> make_cpu_backend(int n_threads, bool tiled_attention = true);

// The CUDA backend (engine/cuda/, cuBLAS for matrix products) on GPU `device`. compute_type "float32": float32
// throughout (the checking path); "float16" / "bfloat16": products on the tensor cores with half-precision
// operands and float32 accumulation (weights stored half, activations rounded to half as they enter a
// product or the encoder's attention; layer norms, softmax and the residual stream in float32). Defined only
// in builds with CUDA (WST_HAVE_CUDA), by engine/cuda_loader.cpp, which loads the backend's module
// (libwst_cuda.so) on first use; throws wst::Error when the device (or the module) cannot be used.
std::unique_ptr<Backend> make_cuda_backend(int device, const std::string& compute_type = "float32");
// "" when a CUDA device can be used here, else why not: "no CUDA device: <the CUDA runtime's reason>", or
// "cannot load the CUDA backend: <path>: <dlerror()>" where the module cannot be loaded. Defined only in
// builds with CUDA.
std::string cuda_unavailable_reason();

}  // namespace wst::engine
