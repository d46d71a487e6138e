#include "engine/decoder.h"

#include <algorithm>

#include "util/errors.h"

namespace wst::engine {

Decoder::Decoder(const WhisperModel& model, Backend& backend) : m_(model), be_(backend) {
  const ModelInfo& h = m_.info;
  for (int i = 0; i < h.n_text_layer; ++i) cross_kv_.push_back(be_.alloc(h.n_audio_ctx, 2 * h.n_text_state));
  ensure_slots(1);
  seq_slot_ = {0};
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

void Decoder::copy_rows(int from, int to, int r0) {
  if (r0 >= n_past_) return;
  for (size_t i = 0; i < slots_[from].k.size(); ++i) {
    Mat kd = slots_[to].k[i].rows_view(r0, n_past_ - r0), vd = slots_[to].v[i].rows_view(r0, n_past_ - r0);
    be_.copy(slots_[from].k[i].rows_view(r0, n_past_ - r0), kd);
    be_.copy(slots_[from].v[i].rows_view(r0, n_past_ - r0), vd);
  }
}

void Decoder::set_audio(const Mat& enc) {
  for (size_t i = 0; i < m_.decoder_layers.size(); ++i) {
    const auto& l = m_.decoder_layers[i];
    be_.linear(enc, l.cross_kv.w, &l.cross_kv.b, cross_kv_[i]);
  }
  seq_slot_ = {seq_slot_[0]};
  n_past_ = 0;
  n_shared_ = 0;
}

void Decoder::truncate(int n_keep) {
  if (n_keep < 0 || n_keep > n_past_) throw Error("decoder: cannot keep " + std::to_string(n_keep) + " positions");
  n_past_ = n_keep;
  n_shared_ = std::min(n_shared_, n_keep);
}

void Decoder::fork(int n) {
  if (n_seq() != 1) throw Error("decoder: fork needs one sequence, there are " + std::to_string(n_seq()));
  if (n < 1) throw Error("decoder: cannot fork into " + std::to_string(n) + " sequences");
  ensure_slots(n);
  const int s0 = seq_slot_[0];
  for (int s = 0; s < static_cast<int>(slots_.size()) && n_seq() < n; ++s) {
    if (s == s0) continue;
    copy_rows(s0, s, 0);
    seq_slot_.push_back(s);
  }
  n_shared_ = n_past_;
}

void Decoder::reorder(const std::vector<int>& src) {
  const int n_old = n_seq(), n_new = static_cast<int>(src.size());
  if (n_new < 1) throw Error("decoder: reorder to no sequence");
  for (int s : src)
    if (s < 0 || s >= n_old) throw Error("decoder: reorder from sequence " + std::to_string(s) + " of " + std::to_string(n_old));
  ensure_slots(n_new);
  std::vector<bool> taken(slots_.size(), false), was_used(slots_.size(), false);
  for (int s : seq_slot_) was_used[s] = true;
  // A sequence continued once (the first continuation of each) keeps its cache without copying.
  std::vector<int> slot(n_new, -1);
  for (int i = 0; i < n_new; ++i) {
    const int s = seq_slot_[src[i]];
    if (!taken[s]) {
      taken[s] = true;
      slot[i] = s;
    }
  }
  // The others get a free cache: first one that was in use (its rows before the fork are the shared prompt,
  // so only later rows are copied), else any other (copied whole).
  for (int i = 0; i < n_new; ++i) {
    if (slot[i] >= 0) continue;
    int f = -1;
    for (int s = 0; s < static_cast<int>(slots_.size()) && f < 0; ++s)
      if (!taken[s] && was_used[s]) f = s;
    for (int s = 0; s < static_cast<int>(slots_.size()) && f < 0; ++s)
      if (!taken[s]) f = s;
    taken[f] = true;
    copy_rows(seq_slot_[src[i]], f, was_used[f] ? n_shared_ : 0);
    slot[i] = f;
  }
  seq_slot_ = slot;
}

void Decoder::forward(const std::vector<int>& tokens, const std::vector<int>& logit_rows, std::vector<float>& logits_out) {
  const ModelInfo& h = m_.info;
  const int n = static_cast<int>(tokens.size());
  Mat x = run_layers(tokens);
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
  if (n_past_ + 1 > h.n_text_ctx)
    throw Error("decoder: " + std::to_string(n_past_ + 1) + " tokens exceed the text context of " +
                std::to_string(h.n_text_ctx));
  if (pick_logits_.empty()) pick_logits_ = be_.alloc(1, h.n_vocab);
  if (!be_.records_steps()) {
    Mat x = run_layers({token});
    project(x, pick_logits_);
    return be_.pick_greedy(pick_logits_, rules);
  }
  be_.set_step(token, n_past_, rules, h.n_vocab);
  // The recording holds the cache of the slot it was made with: another slot (after a beam search) records anew.
  if (!step_recording_ || step_recording_slot_ != seq_slot_[0]) {
    step_recording_.reset();
    be_.begin_step_recording();
    try {
      record_step();
    } catch (...) {
      be_.end_step_recording();
      throw;
    }
    step_recording_ = be_.end_step_recording();
    step_recording_slot_ = seq_slot_[0];
  }
  const GreedyPick p = be_.replay_step(step_recording_);
  n_past_ += 1;
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
    step_mlp_ = be_.alloc(1, 4 * d);
  }
  Cache& c = cache_of(0);
  using Epi = Backend::Epilogue;
  be_.embed_at(m_.token_embedding, m_.decoder_pos, step_x_);
  for (size_t i = 0; i < m_.decoder_layers.size(); ++i) {
    const auto& l = m_.decoder_layers[i];
    // As run_layers, with the step's position read where the backend keeps it.
    be_.linear_fused_kv_at(step_x_, &l.attn_ln.gamma, &l.attn_ln.beta, l.qkv.w, &l.qkv.b, step_qkv_, c.k[i], c.v[i]);
    be_.attention_at(step_qkv_.cols_view(0, d), c.k[i], c.v[i], step_attn_, h.n_text_head);
    be_.linear_fused(step_attn_, nullptr, nullptr, l.attn_out.w, &l.attn_out.b, Epi::add, step_x_);
    be_.linear_fused(step_x_, &l.cross_ln.gamma, &l.cross_ln.beta, l.cross_q.w, &l.cross_q.b, Epi::none, step_q_);
    be_.attention(step_q_, cross_kv_[i].cols_view(0, d), cross_kv_[i].cols_view(d, d), step_attn_, h.n_text_head, -1);
    be_.linear_fused(step_attn_, nullptr, nullptr, l.cross_out.w, &l.cross_out.b, Epi::add, step_x_);
    Mat mlp = step_mlp_.cols_view(0, l.fc1.w.rows);
    be_.linear_fused(step_x_, &l.mlp_ln.gamma, &l.mlp_ln.beta, l.fc1.w, &l.fc1.b, Epi::gelu, mlp);
    be_.linear_fused(mlp, nullptr, nullptr, l.fc2.w, &l.fc2.b, Epi::add, step_x_);
  }
  project(step_x_, pick_logits_);
  be_.pick_greedy_at(pick_logits_);
}

void Decoder::project(const Mat& x, Mat& logits) {
  be_.linear_fused(x, &m_.decoder_ln.gamma, &m_.decoder_ln.beta, m_.token_embedding, nullptr,
                   Backend::Epilogue::none, logits);
}

Mat Decoder::run_layers(const std::vector<int>& tokens) {
  const ModelInfo& h = m_.info;
  const int n = static_cast<int>(tokens.size()), d = h.n_text_state;
  if (n == 0) throw Error("decoder: no tokens to run");
  if (n_seq() != 1) throw Error("decoder: forward runs one sequence, there are " + std::to_string(n_seq()));
  if (n_past_ + n > h.n_text_ctx)
    throw Error("decoder: " + std::to_string(n_past_ + n) + " tokens exceed the text context of " +
                std::to_string(h.n_text_ctx));
  Cache& c = cache_of(0);
  Mat x = be_.alloc(n, d);  // [n, d]
  be_.embed(m_.token_embedding, tokens.data(), n, m_.decoder_pos, n_past_, x);

  using Epi = Backend::Epilogue;
  Mat qkv = be_.alloc(n, 3 * d);
  Mat attn = be_.alloc(n, d);
  for (size_t i = 0; i < m_.decoder_layers.size(); ++i) {
    const auto& l = m_.decoder_layers[i];
    // Self-attention over the cache, this step's keys and values appended to it.
    be_.linear_fused(x, &l.attn_ln.gamma, &l.attn_ln.beta, l.qkv.w, &l.qkv.b, Epi::none, qkv);
    Mat k_dst = c.k[i].rows_view(n_past_, n), v_dst = c.v[i].rows_view(n_past_, n);
    be_.copy(qkv.cols_view(d, d), k_dst);
    be_.copy(qkv.cols_view(2 * d, d), v_dst);
    be_.attention(qkv.cols_view(0, d), c.k[i].rows_view(0, n_past_ + n), c.v[i].rows_view(0, n_past_ + n), attn,
                  h.n_text_head, n_past_);
    be_.linear_fused(attn, nullptr, nullptr, l.attn_out.w, &l.attn_out.b, Epi::add, x);

    // Cross-attention over the window's audio (K/V computed once in set_audio).
    Mat q = be_.alloc(n, d);
    be_.linear_fused(x, &l.cross_ln.gamma, &l.cross_ln.beta, l.cross_q.w, &l.cross_q.b, Epi::none, q);
    be_.attention(q, cross_kv_[i].cols_view(0, d), cross_kv_[i].cols_view(d, d), attn, h.n_text_head, -1);
    be_.linear_fused(attn, nullptr, nullptr, l.cross_out.w, &l.cross_out.b, Epi::add, x);

    Mat mlp = be_.alloc(n, l.fc1.w.rows);
    be_.linear_fused(x, &l.mlp_ln.gamma, &l.mlp_ln.beta, l.fc1.w, &l.fc1.b, Epi::gelu, mlp);
    be_.linear_fused(mlp, nullptr, nullptr, l.fc2.w, &l.fc2.b, Epi::add, x);
  }
  n_past_ += n;
  return x;
}

void Decoder::forward_step(const std::vector<int>& tokens, std::vector<float>& logits_out) {
  const Mat logits = step_logits(tokens);
  logits_out.resize(static_cast<size_t>(logits.rows) * logits.cols);
  be_.download(logits, logits_out.data());
}

std::vector<BeamCandidate> Decoder::forward_step_top(const std::vector<int>& tokens, const std::vector<StepRules>& rules,
                                                     const std::vector<float>& beam_scores, int k) {
  if (rules.size() != tokens.size() || beam_scores.size() != tokens.size())
    throw Error("decoder: forward_step_top needs rules and a score for each of the " + std::to_string(tokens.size()) +
                " sequences");
  return be_.top_candidates(step_logits(tokens), rules, beam_scores, k);
}

Mat Decoder::step_logits(const std::vector<int>& tokens) {
  const ModelInfo& h = m_.info;
  const int n = static_cast<int>(tokens.size()), d = h.n_text_state;
  if (n != n_seq())
    throw Error("decoder: forward_step expects one token per sequence (" + std::to_string(n_seq()) + "), got " +
                std::to_string(n));
  if (n_past_ + 1 > h.n_text_ctx)
    throw Error("decoder: " + std::to_string(n_past_ + 1) + " tokens exceed the text context of " +
                std::to_string(h.n_text_ctx));
  Mat x = be_.alloc(n, d);  // [n_seq, d]: every sequence at position n_past_
  for (int b = 0; b < n; ++b) {
    Mat row = x.rows_view(b, 1);
    be_.embed(m_.token_embedding, &tokens[b], 1, m_.decoder_pos, n_past_, row);
  }

  using Epi = Backend::Epilogue;
  Mat qkv = be_.alloc(n, 3 * d);
  Mat attn = be_.alloc(n, d);
  Mat q = be_.alloc(n, d);
  for (size_t i = 0; i < m_.decoder_layers.size(); ++i) {
    const auto& l = m_.decoder_layers[i];
    be_.linear_fused(x, &l.attn_ln.gamma, &l.attn_ln.beta, l.qkv.w, &l.qkv.b, Epi::none, qkv);  // [n_seq, 3d]
    // Self-attention: each sequence over its own cache.
    for (int b = 0; b < n; ++b) {
      Cache& c = cache_of(b);
      const Mat row = qkv.rows_view(b, 1);
      Mat k_dst = c.k[i].rows_view(n_past_, 1), v_dst = c.v[i].rows_view(n_past_, 1);
      be_.copy(row.cols_view(d, d), k_dst);
      be_.copy(row.cols_view(2 * d, d), v_dst);
      Mat out = attn.rows_view(b, 1);
      be_.attention(row.cols_view(0, d), c.k[i].rows_view(0, n_past_ + 1), c.v[i].rows_view(0, n_past_ + 1), out,
                    h.n_text_head, n_past_);
    }
    be_.linear_fused(attn, nullptr, nullptr, l.attn_out.w, &l.attn_out.b, Epi::add, x);

    // Cross-attention: the audio is shared, so all sequences are one query batch.
    be_.linear_fused(x, &l.cross_ln.gamma, &l.cross_ln.beta, l.cross_q.w, &l.cross_q.b, Epi::none, q);
    be_.attention(q, cross_kv_[i].cols_view(0, d), cross_kv_[i].cols_view(d, d), attn, h.n_text_head, -1);
    be_.linear_fused(attn, nullptr, nullptr, l.cross_out.w, &l.cross_out.b, Epi::add, x);

    Mat mlp = be_.alloc(n, l.fc1.w.rows);
    be_.linear_fused(x, &l.mlp_ln.gamma, &l.mlp_ln.beta, l.fc1.w, &l.fc1.b, Epi::gelu, mlp);
    be_.linear_fused(mlp, nullptr, nullptr, l.fc2.w, &l.fc2.b, Epi::add, x);
  }
  n_past_ += 1;

  Mat logits = be_.alloc(n, h.n_vocab);  // [n_seq, n_vocab]
  project(x, logits);
  return logits;
}

}  // namespace wst::engine
