// The Backend interface's defaults for weights other than float32: a backend that keeps only float32 says so.
#include "engine/backend.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "engine/layer_weights.h"

#include "util/half.h"

#include "util/errors.h"

namespace wst::engine {

const char* weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::float32: return "float32";
    case WeightType::float16: return "float16";
    case WeightType::int8: return "int8";
    case WeightType::bfloat16: return "bfloat16";
  }
  return "?";
}

Mat Backend::upload_transposed(const float* host, int rows, int cols) {
  if (rows == 0 || cols == 0) return alloc(cols, rows);
  // In 32 x 32 tiles: row by row, every write would land in another cache line.
  std::vector<float> t(static_cast<size_t>(rows) * cols);
  constexpr int kTile = 32;
  for (int r0 = 0; r0 < rows; r0 += kTile)
    for (int c0 = 0; c0 < cols; c0 += kTile)
      for (int r = r0; r < std::min(r0 + kTile, rows); ++r)
        for (int c = c0; c < std::min(c0 + kTile, cols); ++c)
          t[static_cast<size_t>(c) * rows + r] = host[static_cast<size_t>(r) * cols + c];
  return upload(t.data(), cols, rows);
}

namespace {
void require_float32(const Backend& be, const Weights& w) {
  if (w.type != WeightType::float32)
    throw Error(be.name() + " backend: " + weight_type_name(w.type) + " weights are not supported (float32 only)");
}
}  // namespace

void Backend::linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) {
  require_float32(*this, w);
  linear(x, w.f32, bias, y);
}

void Backend::linears(const Mat& x, const std::vector<const Weights*>& w, const std::vector<const Mat*>& bias,
                      const std::vector<Mat*>& y) {
  if (bias.size() != w.size() || y.size() != w.size())
    throw Error("linears: " + std::to_string(w.size()) + " weights, " + std::to_string(bias.size()) + " biases and " +
                std::to_string(y.size()) + " outputs");
  for (size_t i = 0; i < w.size(); ++i) linear(x, *w[i], bias[i], *y[i]);
}

void Backend::cross_kv(const Mat& x, const std::vector<const Weights*>& w, const std::vector<const Mat*>& bias,
                       const std::vector<Mat*>& kv, bool sole_window) {
  linears(x, w, bias, kv);
  for (Mat* m : kv) cross_kv_written(*m, sole_window);
}

Weights Backend::upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type) {
  std::vector<float> f(static_cast<size_t>(rows) * cols);
  half_to_float_n(reinterpret_cast<const uint8_t*>(host), f.data(), f.size());
  return upload_weights(f.data(), rows, cols, type);
}

Weights Backend::upload_weights(const float* host, int rows, int cols, WeightType type) {
  Weights w;
  w.type = type;
  require_float32(*this, w);
  return Weights(upload(host, rows, cols));
}

void Backend::linear_fused(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                           Epilogue epilogue, Mat& y) {
  Mat normed;
  if (gamma) {
    normed = alloc(x.rows, x.cols);
    layer_norm(x, *gamma, *beta, normed);
  }
  const Mat& in = gamma ? normed : x;
  if (epilogue == Epilogue::add) {
    Mat t = alloc(y.rows, y.cols);
    linear(in, w, bias, t);
    add(y, t);
    return;
  }
  linear(in, w, bias, y);
  if (epilogue == Epilogue::gelu) gelu(y);
}

void Backend::embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) {
  require_float32(*this, table);
  embed(table.f32, ids, n, pos, pos_offset, y);
}

void Backend::embed_rows(const Weights& table, const int* ids, const int* positions, int n, const Mat& pos, Mat& y) {
  if (y.rows != n)
    throw Error("embed_rows: y has " + std::to_string(y.rows) + " rows for " + std::to_string(n) + " tokens");
  for (int i = 0; i < n; ++i) {
    if (positions[i] < 0 || positions[i] >= pos.rows)
      throw Error("embed_rows: position " + std::to_string(positions[i]) + " outside the text context of " +
                  std::to_string(pos.rows));
    Mat row = y.rows_view(i, 1);
    embed(table, ids + i, 1, pos, positions[i], row);
  }
}

GreedyPick Backend::pick_greedy(const Mat&, const StepRules&) {
  throw Error(name() + " backend: no greedy pick where the logits are (decoding filters them on the host)");
}

std::vector<GreedyPick> Backend::pick_greedy_rows(const Mat& logits, const std::vector<StepRules>& rules) {
  if (static_cast<int>(rules.size()) != logits.rows)
    throw Error("pick_greedy_rows: " + std::to_string(logits.rows) + " rows need as many rules, got " +
                std::to_string(rules.size()));
  std::vector<GreedyPick> picks;
  for (int b = 0; b < logits.rows; ++b) picks.push_back(pick_greedy(logits.rows_view(b, 1), rules[b]));
  return picks;
}

std::vector<BeamCandidate> Backend::top_candidates(const Mat&, const std::vector<StepRules>&, const std::vector<float>&,
                                                   int) {
  throw Error(name() + " backend: no beam candidates where the logits are (decoding filters them on the host)");
}

namespace {
[[noreturn]] void no_recording(const Backend& be) {
  throw Error(be.name() + " backend: decoder steps cannot be recorded here (records_steps() is false)");
}
}  // namespace

void Backend::set_step(int, int, const StepRules&, int) { no_recording(*this); }
void Backend::begin_step_recording() { no_recording(*this); }
std::shared_ptr<void> Backend::end_step_recording() { no_recording(*this); }
GreedyPick Backend::replay_step(const std::shared_ptr<void>&) { no_recording(*this); }
void Backend::embed_at(const Weights&, const Mat&, Mat&) { no_recording(*this); }
void Backend::copy_to_row_at(const Mat&, Mat&) { no_recording(*this); }
void Backend::linear_fused_kv_at(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                                 Mat& y, Mat& k_cache, Mat& v_cache) {
  linear_fused(x, gamma, beta, w, bias, Epilogue::none, y);
  const int d = k_cache.cols;
  copy_to_row_at(y.cols_view(d, d), k_cache);
  copy_to_row_at(y.cols_view(2 * d, d), v_cache);
}
void Backend::attention_at(const Mat&, const Mat&, const Mat&, Mat&, int) { no_recording(*this); }
void Backend::self_attention_at_from(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& w,
                                     const Mat* bias, Mat& qkv, Mat& k_cache, Mat& v_cache, Mat& out, int n_head) {
  linear_fused_kv_at(x, &gamma, &beta, w, bias, qkv, k_cache, v_cache);
  attention_at(qkv.cols_view(0, x.cols), k_cache, v_cache, out, n_head);
}

void Backend::self_attention_out_at_from(const Mat& gamma, const Mat& beta, const Weights& w, const Mat* bias,
                                         const Weights& wo, const Mat* bo, Mat& x, Mat& qkv, Mat& k_cache,
                                         Mat& v_cache, Mat& out, int n_head) {
  self_attention_at_from(x, gamma, beta, w, bias, qkv, k_cache, v_cache, out, n_head);
  linear_fused(out, nullptr, nullptr, wo, bo, Epilogue::add, x);
}

void Backend::cross_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) {
  attention(q, k, v, out, n_head, -1);
}

void Backend::cross_attention_rows(const Mat& q, const std::vector<const Mat*>& ks, const std::vector<const Mat*>& vs,
                                   Mat& out, int n_head) {
  const int n = q.rows;
  if (static_cast<int>(ks.size()) != n || static_cast<int>(vs.size()) != n || out.rows != n)
    throw Error("cross_attention_rows: " + std::to_string(n) + " query rows, " + std::to_string(ks.size()) + " K and " +
                std::to_string(vs.size()) + " V matrices, " + std::to_string(out.rows) + " output rows");
  for (int b0 = 0, b1 = 0; b0 < n; b0 = b1) {
    while (b1 < n && ks[b1]->data == ks[b0]->data && vs[b1]->data == vs[b0]->data) ++b1;
    Mat rows_out = out.rows_view(b0, b1 - b0);
    cross_attention(q.rows_view(b0, b1 - b0), *ks[b0], *vs[b0], rows_out, n_head);
  }
}

void Backend::cross_attention_from(const Mat& x, const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq,
                                   Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) {
  linear_fused(x, &gamma, &beta, wq, bq, Epilogue::none, q);
  cross_attention(q, k, v, out, n_head);
}

void Backend::cross_attention_out_from(const Mat& gamma, const Mat& beta, const Weights& wq, const Mat* bq,
                                       const Weights& wo, const Mat* bo, Mat& x, Mat& q, const Mat& k, const Mat& v,
                                       Mat& out, int n_head) {
  cross_attention_from(x, gamma, beta, wq, bq, q, k, v, out, n_head);
  linear_fused(out, nullptr, nullptr, wo, bo, Epilogue::add, x);
}

void Backend::step_self_attention(const Mat& qkv, const std::vector<Mat*>& k_caches, const std::vector<Mat*>& v_caches,
                                  const std::vector<int>& positions, Mat& out, int n_head) {
  const int n = qkv.rows, d = out.cols;
  if (static_cast<int>(k_caches.size()) != n || static_cast<int>(v_caches.size()) != n ||
      static_cast<int>(positions.size()) != n || out.rows != n || qkv.cols != 3 * d)
    throw Error("step_self_attention: " + std::to_string(n) + " rows of qkv [" + std::to_string(qkv.rows) + ", " +
                std::to_string(qkv.cols) + "] need as many caches and positions and out [" + std::to_string(n) + ", " +
                std::to_string(qkv.cols / 3) + "]");
  for (int b = 0; b < n; ++b) {
    const int p = positions[b];
    Mat& kc = *k_caches[b];
    Mat& vc = *v_caches[b];
    if (p < 0 || p >= kc.rows || p >= vc.rows) throw Error("step_self_attention: position " + std::to_string(p) + " outside the cache");
    const Mat row = qkv.rows_view(b, 1);
    Mat k_dst = kc.rows_view(p, 1), v_dst = vc.rows_view(p, 1);
    copy(row.cols_view(d, d), k_dst);
    copy(row.cols_view(2 * d, d), v_dst);
    Mat o = out.rows_view(b, 1);
    attention(row.cols_view(0, d), kc.rows_view(0, p + 1), vc.rows_view(0, p + 1), o, n_head, p);
  }
}
void Backend::pick_greedy_at(const Mat&) { no_recording(*this); }

namespace {
// The MLP at the end of a decoder layer: layer norm, fc1 with GELU into mlp, fc2 added onto x.
void mlp_onto(Backend& be, const DecoderLayerWeights& l, Mat& mlp, Mat& x) {
  Mat h = mlp.cols_view(0, l.fc1.w.rows);
  be.linear_fused(x, &l.mlp_ln.gamma, &l.mlp_ln.beta, l.fc1.w, &l.fc1.b, Backend::Epilogue::gelu, h);
  be.linear_fused(h, nullptr, nullptr, l.fc2.w, &l.fc2.b, Backend::Epilogue::add, x);
}
// The end of a decoder layer for the eager steps: the cross-attention's output product onto x, then the MLP.
void cross_output_and_mlp(Backend& be, const DecoderLayerWeights& l, const Mat& attn, Mat& mlp, Mat& x) {
  be.linear_fused(attn, nullptr, nullptr, l.cross_out.w, &l.cross_out.b, Backend::Epilogue::add, x);
  mlp_onto(be, l, mlp, x);
}
}  // namespace

void Backend::decoder_layers_at(const std::vector<DecoderLayerWeights>& layers, std::vector<Mat>& k_caches,
                                std::vector<Mat>& v_caches, const std::vector<Mat>& cross_kv, int n_head, Mat& x,
                                Mat& qkv, Mat& attn, Mat& q, Mat& mlp) {
  const size_t n = layers.size();
  if (k_caches.size() != n || v_caches.size() != n || cross_kv.size() != n)
    throw Error("decoder_layers_at: " + std::to_string(n) + " layers need as many caches and cross-attention K/V, got " +
                std::to_string(k_caches.size()) + ", " + std::to_string(v_caches.size()) + ", " +
                std::to_string(cross_kv.size()));
  const int d = x.cols;
  for (size_t i = 0; i < n; ++i) {
    const DecoderLayerWeights& l = layers[i];
    self_attention_out_at_from(l.attn_ln.gamma, l.attn_ln.beta, l.qkv.w, &l.qkv.b, l.attn_out.w, &l.attn_out.b, x,
                               qkv, k_caches[i], v_caches[i], attn, n_head);
    cross_attention_out_from(l.cross_ln.gamma, l.cross_ln.beta, l.cross_q.w, &l.cross_q.b, l.cross_out.w,
                             &l.cross_out.b, x, q, cross_kv[i].cols_view(0, d), cross_kv[i].cols_view(d, d), attn,
                             n_head);
    mlp_onto(*this, l, mlp, x);
  }
}

namespace {
// decoder_layers_rows' layers, each layer's self-attention (its new K/V rows written into the caches) by
// self_attention(i).
void layers_over_rows(Backend& be, const std::vector<DecoderLayerWeights>& layers,
                      const std::vector<std::vector<const Mat*>>& cross_kv, int n_head, Mat& x, Mat& qkv, Mat& attn,
                      Mat& q, Mat& mlp, const std::function<void(size_t)>& self_attention) {
  const size_t n = layers.size();
  const int d = x.cols, rows = x.rows;
  using Epi = Backend::Epilogue;
  std::vector<Mat> k_views(rows), v_views(rows);  // each row's window's cross-attention K and V
  std::vector<const Mat*> k_ptrs(rows), v_ptrs(rows);
  for (int b = 0; b < rows; ++b) {
    k_ptrs[b] = &k_views[b];
    v_ptrs[b] = &v_views[b];
  }
  for (size_t i = 0; i < n; ++i) {
    const DecoderLayerWeights& l = layers[i];
    if (static_cast<int>(cross_kv[i].size()) != rows)
      throw Error("decoder_layers_rows: " + std::to_string(rows) + " rows, " + std::to_string(cross_kv[i].size()) +
                  " cross-attention K/V");
    be.linear_fused(x, &l.attn_ln.gamma, &l.attn_ln.beta, l.qkv.w, &l.qkv.b, Epi::none, qkv);
    self_attention(i);
    be.linear_fused(attn, nullptr, nullptr, l.attn_out.w, &l.attn_out.b, Epi::add, x);
    be.linear_fused(x, &l.cross_ln.gamma, &l.cross_ln.beta, l.cross_q.w, &l.cross_q.b, Epi::none, q);
    for (int b = 0; b < rows; ++b) {
      k_views[b] = cross_kv[i][b]->cols_view(0, d);
      v_views[b] = cross_kv[i][b]->cols_view(d, d);
    }
    be.cross_attention_rows(q, k_ptrs, v_ptrs, attn, n_head);
    cross_output_and_mlp(be, l, attn, mlp, x);
  }
}
}  // namespace

void Backend::decoder_layers_rows(const std::vector<DecoderLayerWeights>& layers,
                                  const std::vector<std::vector<Mat*>>& k_caches,
                                  const std::vector<std::vector<Mat*>>& v_caches, const std::vector<int>& positions,
                                  const std::vector<std::vector<const Mat*>>& cross_kv, int n_head, Mat& x, Mat& qkv,
                                  Mat& attn, Mat& q, Mat& mlp) {
  const size_t n = layers.size();
  if (k_caches.size() != n || v_caches.size() != n || cross_kv.size() != n)
    throw Error("decoder_layers_rows: " + std::to_string(n) + " layers need as many caches and cross-attention K/V");
  layers_over_rows(*this, layers, cross_kv, n_head, x, qkv, attn, q, mlp, [&](size_t i) {
    step_self_attention(qkv, k_caches[i], v_caches[i], positions, attn, n_head);
  });
}

// Nothing to set where beam steps are not recorded: rows_step_kind() stays -1 and the step runs eagerly.
void Backend::set_rows_step(const std::vector<int>&, const std::vector<int>&, const std::vector<std::vector<Mat*>>&,
                            const std::vector<std::vector<Mat*>>&, const std::vector<StepRules>&,
                            const std::vector<float>&, int, int) {}
void Backend::begin_rows_recording() { no_recording(*this); }
std::vector<BeamCandidate> Backend::replay_rows_step(const std::shared_ptr<void>&) { no_recording(*this); }
void Backend::embed_rows_at(const Weights&, const Mat&, Mat&) { no_recording(*this); }
void Backend::step_self_attention_at(int, const Mat&, Mat&, int) { no_recording(*this); }
void Backend::top_candidates_at(const Mat&) { no_recording(*this); }

void Backend::decoder_layers_rows_at(const std::vector<DecoderLayerWeights>& layers, const std::vector<Mat>& cross_kv,
                                     int n_head, Mat& x, Mat& qkv, Mat& attn, Mat& q, Mat& mlp) {
  const size_t n = layers.size();
  if (cross_kv.size() != n)
    throw Error("decoder_layers_rows_at: " + std::to_string(n) + " layers need as many cross-attention K/V, got " +
                std::to_string(cross_kv.size()));
  std::vector<std::vector<const Mat*>> rows_kv(n, std::vector<const Mat*>(x.rows));
  for (size_t i = 0; i < n; ++i)
    for (const Mat*& m : rows_kv[i]) m = &cross_kv[i];
  layers_over_rows(*this, layers, rows_kv, n_head, x, qkv, attn, q, mlp,
                   [&](size_t i) { step_self_attention_at(static_cast<int>(i), qkv, attn, n_head); });
}

}  // namespace wst::engine
