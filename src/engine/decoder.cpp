#include "engine/decoder.h"

#include <algorithm>

#include "util/errors.h"

namespace wst::engine {

Decoder::Decoder(const WhisperModel& model, Backend& backend) : m_(model), be_(backend) {
  be_.prepare_decoder(m_.decoder_layers);
  ensure_windows(1);
  ensure_slots(1);
  seqs_ = {Sequence{}};
}

void Decoder::ensure_slots(int n) {
  const ModelInfo& h = m_.info;
  while (static_cast<int>(slots_.size()) < n) {
    Cache c;
    for (int i = 0; i < h.n_text_layer; ++i) {
      c.k.push_back(be_.alloc(h.n_text_ctx, h.n_text_state));
      c.v.push_back(be_.alloc(h.n_text_ctx, h.n_text_state));
    }
    slots_.push_back(std::move(c));
  }
}

void Decoder::ensure_windows(int n) {
  const ModelInfo& h = m_.info;
  while (static_cast<int>(cross_kv_.size()) < n) {
    std::vector<Mat> kv;
    for (int i = 0; i < h.n_text_layer; ++i) kv.push_back(be_.alloc(h.n_audio_ctx, 2 * h.n_text_state));
    cross_kv_.push_back(std::move(kv));
  }
}

void Decoder::copy_rows(int from, int to, int r0, int r1) {
  if (r0 >= r1) return;
  for (size_t i = 0; i < slots_[from].k.size(); ++i) {
    Mat kd = slots_[to].k[i].rows_view(r0, r1 - r0), vd = slots_[to].v[i].rows_view(r0, r1 - r0);
    be_.copy(slots_[from].k[i].rows_view(r0, r1 - r0), kd);
    be_.copy(slots_[from].v[i].rows_view(r0, r1 - r0), vd);
  }
}

void Decoder::compute_cross_kv(const Mat& enc, int w, bool sole_window) {
  // Every layer's product over the same window: one call, so that a backend prepares the window once.
  std::vector<const Weights*> ws;
  std::vector<const Mat*> bs;
  std::vector<Mat*> ys;
  for (size_t i = 0; i < m_.decoder_layers.size(); ++i) {
    ws.push_back(&m_.decoder_layers[i].cross_kv.w);
    bs.push_back(&m_.decoder_layers[i].cross_kv.b);
    ys.push_back(&cross_kv_[w][i]);
  }
  be_.cross_kv(enc, ws, bs, ys, sole_window);
}

void Decoder::set_audio(const Mat& enc) {
  be_.forget_step_ahead();
  compute_cross_kv(enc, 0, true);
  seqs_ = {Sequence{seqs_[0].slot, 0, 0}};
  n_shared_ = 0;
}

void Decoder::set_audios(const std::vector<Mat>& encs) {
  be_.forget_step_ahead();
  const int n = static_cast<int>(encs.size());
  if (n < 1) throw Error("decoder: no window to attend to");
  ensure_windows(n);
  ensure_slots(n);
  seqs_.clear();
  for (int w = 0; w < n; ++w) {
    compute_cross_kv(encs[w], w, n == 1);
    seqs_.push_back(Sequence{w, 0, w});
  }
  n_shared_ = 0;
}

void Decoder::truncate(int n_keep) {
  be_.forget_step_ahead();
  for (const Sequence& s : seqs_)
    if (n_keep < 0 || n_keep > s.n_past)
      throw Error("decoder: cannot keep " + std::to_string(n_keep) + " positions");
  for (Sequence& s : seqs_) s.n_past = n_keep;
  n_shared_ = std::min(n_shared_, n_keep);
}

void Decoder::fork(int n) {
  be_.forget_step_ahead();
  if (n_seq() != 1) throw Error("decoder: fork needs one sequence, there are " + std::to_string(n_seq()));
  if (n < 1) throw Error("decoder: cannot fork into " + std::to_string(n) + " sequences");
  ensure_slots(n);
  const Sequence s0 = seqs_[0];
  for (int s = 0; s < static_cast<int>(slots_.size()) && n_seq() < n; ++s) {
    if (s == s0.slot) continue;
    copy_rows(s0.slot, s, 0, s0.n_past);
    seqs_.push_back(Sequence{s, s0.n_past, s0.audio});
  }
  n_shared_ = s0.n_past;
}

void Decoder::reorder(const std::vector<int>& src) {
  be_.forget_step_ahead();
  const int n_old = n_seq(), n_new = static_cast<int>(src.size());
  if (n_new < 1) throw Error("decoder: reorder to no sequence");
  for (int s : src)
    if (s < 0 || s >= n_old) throw Error("decoder: reorder from sequence " + std::to_string(s) + " of " + std::to_string(n_old));
  ensure_slots(n_new);
  std::vector<bool> taken(slots_.size(), false), was_used(slots_.size(), false);
  for (const Sequence& s : seqs_) was_used[s.slot] = true;
  // A sequence continued once (the first continuation of each) keeps its cache without copying.
  std::vector<Sequence> next(n_new);
  std::vector<bool> placed(n_new, false);
  for (int i = 0; i < n_new; ++i) {
    next[i] = seqs_[src[i]];
    if (!taken[next[i].slot]) {
      taken[next[i].slot] = true;
      placed[i] = true;
    }
  }
  // The others get a free cache: first one that was in use (its rows before the fork are the shared prompt,
  // so only later rows are copied), else any other (copied whole).
  for (int i = 0; i < n_new; ++i) {
    if (placed[i]) continue;
    int f = -1;
    for (int s = 0; s < static_cast<int>(slots_.size()) && f < 0; ++s)
      if (!taken[s] && was_used[s]) f = s;
    for (int s = 0; s < static_cast<int>(slots_.size()) && f < 0; ++s)
      if (!taken[s]) f = s;
    taken[f] = true;
    copy_rows(next[i].slot, f, was_used[f] ? n_shared_ : 0, next[i].n_past);
    next[i].slot = f;
  }
  seqs_ = std::move(next);
}

void Decoder::forward(const std::vector<int>& tokens, const std::vector<int>& logit_rows,
                      std::vector<float>& logits_out, int seq) {
  be_.forget_step_ahead();
  const ModelInfo& h = m_.info;
  const int n = static_cast<int>(tokens.size());
  Mat x = run_layers(tokens, seq);
  // Final norm and the tied output projection, only for the rows asked for.
  logits_out.resize(logit_rows.size() * static_cast<size_t>(h.n_vocab));
  Mat logits = be_.alloc(1, h.n_vocab);
  for (size_t r = 0; r < logit_rows.size(); ++r) {
    if (logit_rows[r] < 0 || logit_rows[r] >= n) throw Error("decoder: logit row out of range");
    project(x.rows_view(logit_rows[r], 1), logits);
    be_.download(logits, logits_out.data() + r * h.n_vocab);
  }
}

GreedyPick Decoder::forward_and_pick(int token, const StepRules& rules) {
  const ModelInfo& h = m_.info;
  if (n_seq() != 1) throw Error("decoder: forward_and_pick runs one sequence, there are " + std::to_string(n_seq()));
  if (token < 0 || token >= h.n_vocab) throw Error("decoder: token " + std::to_string(token) + " out of range");
  Sequence& s = seqs_[0];
  if (s.n_past + 1 > h.n_text_ctx)
    throw Error("decoder: " + std::to_string(s.n_past + 1) + " tokens exceed the text context of " +
                std::to_string(h.n_text_ctx));
  if (pick_logits_.empty()) pick_logits_ = be_.alloc(1, h.n_vocab);
  if (!be_.records_steps()) {
    be_.forget_step_ahead();
    Mat x = run_layers({token}, 0);
    project(x, pick_logits_);
    return be_.pick_greedy(pick_logits_, rules);
  }
  be_.set_step(token, s.n_past, rules, h.n_vocab);
  // The recording holds the cache of the slot and the cross-attention K/V of the window it was made with:
  // another slot (after a beam search) or window (after batched decoding) records anew.
  if (!step_recording_ || step_recording_slot_ != s.slot || step_recording_audio_ != s.audio) {
    be_.forget_step_ahead();  // it replays the recording about to go
    step_recording_.reset();
    be_.begin_step_recording();
    try {
      record_step();
    } catch (...) {
      be_.abort_step_recording();
      throw;
    }
    step_recording_ = be_.end_step_recording();
    step_recording_slot_ = s.slot;
    step_recording_audio_ = s.audio;
  }
  const GreedyPick p = be_.replay_step(step_recording_);
  s.n_past += 1;
  return p;
}

void Decoder::record_step() {
  const ModelInfo& h = m_.info;
  const int d = h.n_text_state;
  if (step_x_.empty()) {
    step_x_ = be_.alloc(1, d);
    step_qkv_ = be_.alloc(1, 3 * d);
    step_attn_ = be_.alloc(1, d);
    step_q_ = be_.alloc(1, d);
    step_mlp_ = be_.alloc(1, mlp_width());
  }
  Cache& c = cache_of(0);
  be_.embed_at(m_.token_embedding, m_.decoder_pos, step_x_);
  // As run_layers, with the step's position read where the backend keeps it.
  be_.decoder_layers_at(m_.decoder_layers, c.k, c.v, cross_kv_[seqs_[0].audio], h.n_text_head, step_x_, step_qkv_,
                        step_attn_, step_q_, step_mlp_);
  project(step_x_, pick_logits_);
  be_.pick_greedy_at(pick_logits_);
}

int Decoder::mlp_width() const {
  return m_.decoder_layers.empty() ? 4 * m_.info.n_text_state : m_.decoder_layers[0].fc1.w.rows;
}

void Decoder::project(const Mat& x, Mat& logits) {
  be_.linear_fused(x, &m_.decoder_ln.gamma, &m_.decoder_ln.beta, m_.token_embedding, nullptr,
                   Backend::Epilogue::none, logits);
}

Mat Decoder::run_layers(const std::vector<int>& tokens, int seq) {
  const ModelInfo& h = m_.info;
  const int n = static_cast<int>(tokens.size()), d = h.n_text_state;
  if (n == 0) throw Error("decoder: no tokens to run");
  if (seq < 0 || seq >= n_seq())
    throw Error("decoder: no sequence " + std::to_string(seq) + " (there are " + std::to_string(n_seq()) + ")");
  const int n_past = seqs_[seq].n_past;
  if (n_past + n > h.n_text_ctx)
    throw Error("decoder: " + std::to_string(n_past + n) + " tokens exceed the text context of " +
                std::to_string(h.n_text_ctx));
  Cache& c = cache_of(seq);
  const std::vector<Mat>& cross_kv = cross_kv_[seqs_[seq].audio];
  Mat x = be_.alloc(n, d);  // [n, d]
  be_.embed(m_.token_embedding, tokens.data(), n, m_.decoder_pos, n_past, x);

  using Epi = Backend::Epilogue;
  Mat qkv = be_.alloc(n, 3 * d);
  Mat attn = be_.alloc(n, d);
  for (size_t i = 0; i < m_.decoder_layers.size(); ++i) {
    const auto& l = m_.decoder_layers[i];
    // Self-attention over the cache, this step's keys and values appended to it.
    be_.linear_fused(x, &l.attn_ln.gamma, &l.attn_ln.beta, l.qkv.w, &l.qkv.b, Epi::none, qkv);
    Mat k_dst = c.k[i].rows_view(n_past, n), v_dst = c.v[i].rows_view(n_past, n);
    be_.copy(qkv.cols_view(d, d), k_dst);
    be_.copy(qkv.cols_view(2 * d, d), v_dst);
    be_.attention(qkv.cols_view(0, d), c.k[i].rows_view(0, n_past + n), c.v[i].rows_view(0, n_past + n), attn,
                  h.n_text_head, n_past);
    be_.linear_fused(attn, nullptr, nullptr, l.attn_out.w, &l.attn_out.b, Epi::add, x);

    // Cross-attention over the window's audio (K/V computed once in set_audio).
    Mat q = be_.alloc(n, d);
    be_.linear_fused(x, &l.cross_ln.gamma, &l.cross_ln.beta, l.cross_q.w, &l.cross_q.b, Epi::none, q);
    be_.cross_attention(q, cross_kv[i].cols_view(0, d), cross_kv[i].cols_view(d, d), attn, h.n_text_head);
    be_.linear_fused(attn, nullptr, nullptr, l.cross_out.w, &l.cross_out.b, Epi::add, x);

    Mat mlp = be_.alloc(n, l.fc1.w.rows);
    be_.linear_fused(x, &l.mlp_ln.gamma, &l.mlp_ln.beta, l.fc1.w, &l.fc1.b, Epi::gelu, mlp);
    be_.linear_fused(mlp, nullptr, nullptr, l.fc2.w, &l.fc2.b, Epi::add, x);
  }
  seqs_[seq].n_past += n;
  return x;
}

void Decoder::forward_step(const std::vector<int>& tokens, std::vector<float>& logits_out) {
  be_.forget_step_ahead();
  const Mat logits = step_logits(tokens);
  logits_out.resize(static_cast<size_t>(logits.rows) * logits.cols);
  be_.download(logits, logits_out.data());
}

std::vector<BeamCandidate> Decoder::forward_step_top(const std::vector<int>& tokens, const std::vector<StepRules>& rules,
                                                     const std::vector<float>& beam_scores, int k) {
  be_.forget_step_ahead();
  if (rules.size() != tokens.size() || beam_scores.size() != tokens.size())
    throw Error("decoder: forward_step_top needs rules and a score for each of the " + std::to_string(tokens.size()) +
                " sequences");
  const int n = static_cast<int>(tokens.size());
  bool one_window = be_.records_steps() && n == n_seq();
  for (int b = 0; one_window && b < n; ++b) one_window = seqs_[b].audio == seqs_[0].audio;
  if (!one_window) return be_.top_candidates(step_logits(tokens), rules, beam_scores, k);
  const StepRows r = step_rows(tokens);
  be_.set_rows_step(tokens, r.positions, r.k_caches, r.v_caches, rules, beam_scores, m_.info.n_vocab, k);
  const int kind = be_.rows_step_kind();
  if (kind < 0) return be_.top_candidates(step_logits(tokens), rules, beam_scores, k);
  // The recording holds its rows' buffers and the window's cross-attention K/V; the caches, positions, tokens,
  // rules and scores it reads from set_rows_step.
  const int audio = seqs_[0].audio;
  auto it = std::find_if(rows_recordings_.begin(), rows_recordings_.end(), [&](const RowsRecording& rr) {
    return rr.n == n && rr.kind == kind && rr.k == k && rr.audio == audio;
  });
  if (it == rows_recordings_.end()) {
    if (n > rows_capacity_) {  // larger buffers: the recordings made over the old ones go
      rows_recordings_.clear();
      const int d = m_.info.n_text_state;
      rows_x_ = be_.alloc(n, d);
      rows_qkv_ = be_.alloc(n, 3 * d);
      rows_attn_ = be_.alloc(n, d);
      rows_q_ = be_.alloc(n, d);
      rows_mlp_ = be_.alloc(n, mlp_width());
      rows_logits_ = be_.alloc(n, m_.info.n_vocab);
      rows_capacity_ = n;
    }
    be_.begin_rows_recording();
    try {
      record_rows_step(n);
    } catch (...) {
      be_.abort_step_recording();
      throw;
    }
    rows_recordings_.push_back({n, kind, k, audio, be_.end_step_recording()});
    it = rows_recordings_.end() - 1;
  }
  std::vector<BeamCandidate> out = be_.replay_rows_step(it->recording);
  for (Sequence& s : seqs_) s.n_past += 1;
  return out;
}

void Decoder::record_rows_step(int n) {
  const ModelInfo& h = m_.info;
  Mat x = rows_x_.rows_view(0, n), qkv = rows_qkv_.rows_view(0, n), attn = rows_attn_.rows_view(0, n),
      q = rows_q_.rows_view(0, n), mlp = rows_mlp_.rows_view(0, n), logits = rows_logits_.rows_view(0, n);
  be_.embed_rows_at(m_.token_embedding, m_.decoder_pos, x);
  be_.decoder_layers_rows_at(m_.decoder_layers, cross_kv_[seqs_[0].audio], h.n_text_head, x, qkv, attn, q, mlp);
  project(x, logits);
  be_.top_candidates_at(logits);
}

std::vector<GreedyPick> Decoder::forward_step_and_pick(const std::vector<int>& tokens,
                                                       const std::vector<StepRules>& rules) {
  be_.forget_step_ahead();
  if (rules.size() != tokens.size())
    throw Error("decoder: " + std::to_string(rules.size()) + " rules for " + std::to_string(tokens.size()) +
                " sequences");
  return be_.pick_greedy_rows(step_logits(tokens), rules);
}

Decoder::StepRows Decoder::step_rows(const std::vector<int>& tokens) {
  const ModelInfo& h = m_.info;
  const int n = static_cast<int>(tokens.size());
  if (n != n_seq())
    throw Error("decoder: forward_step expects one token per sequence (" + std::to_string(n_seq()) + "), got " +
                std::to_string(n));
  for (const Sequence& s : seqs_)
    if (s.n_past + 1 > h.n_text_ctx)
      throw Error("decoder: " + std::to_string(s.n_past + 1) + " tokens exceed the text context of " +
                  std::to_string(h.n_text_ctx));
  const size_t n_layer = m_.decoder_layers.size();
  StepRows r{std::vector<int>(n), std::vector<std::vector<Mat*>>(n_layer, std::vector<Mat*>(n)),
             std::vector<std::vector<Mat*>>(n_layer, std::vector<Mat*>(n))};
  for (int b = 0; b < n; ++b) r.positions[b] = seqs_[b].n_past;
  for (size_t i = 0; i < n_layer; ++i)
    for (int b = 0; b < n; ++b) {
      r.k_caches[i][b] = &cache_of(b).k[i];
      r.v_caches[i][b] = &cache_of(b).v[i];
    }
  return r;
}

Mat Decoder::step_logits(const std::vector<int>& tokens) {
  const ModelInfo& h = m_.info;
  const int n = static_cast<int>(tokens.size()), d = h.n_text_state;
  const StepRows r = step_rows(tokens);
  Mat x = be_.alloc(n, d);  // [n_seq, d]: sequence b at position n_past(b)
  be_.embed_rows(m_.token_embedding, tokens.data(), r.positions.data(), n, m_.decoder_pos, x);

  Mat qkv = be_.alloc(n, 3 * d);
  Mat attn = be_.alloc(n, d);
  Mat q = be_.alloc(n, d);
  Mat mlp = be_.alloc(n, mlp_width());
  // Each layer's cross-attention K/V, sequence by sequence.
  const size_t n_layer = m_.decoder_layers.size();
  std::vector<std::vector<const Mat*>> cross(n_layer, std::vector<const Mat*>(n));
  for (size_t i = 0; i < n_layer; ++i)
    for (int b = 0; b < n; ++b) cross[i][b] = &cross_kv_[seqs_[b].audio][i];
  be_.decoder_layers_rows(m_.decoder_layers, r.k_caches, r.v_caches, r.positions, cross, h.n_text_head, x, qkv, attn,
                          q, mlp);
  for (Sequence& s : seqs_) s.n_past += 1;

  Mat logits = be_.alloc(n, h.n_vocab);  // [n_seq, n_vocab]
  project(x, logits);
  return logits;
}

}  // namespace wst::engine
