#include "engine/decoder.h"

#include "util/errors.h"

namespace wst::engine {

Decoder::Decoder(const WhisperModel& model, Backend& backend) : m_(model), be_(backend) {
  const ModelInfo& h = m_.info;
  for (int i = 0; i < h.n_text_layer; ++i) {
    self_k_.push_back(be_.alloc(h.n_text_ctx, h.n_text_state));
    self_v_.push_back(be_.alloc(h.n_text_ctx, h.n_text_state));
    cross_kv_.push_back(be_.alloc(h.n_audio_ctx, 2 * h.n_text_state));
  }
}

void Decoder::set_audio(const Mat& enc) {
  for (size_t i = 0; i < m_.decoder_layers.size(); ++i) {
    const auto& l = m_.decoder_layers[i];
    be_.linear(enc, l.cross_kv.w, &l.cross_kv.b, cross_kv_[i]);
  }
  n_past_ = 0;
}

void Decoder::truncate(int n_keep) {
  if (n_keep < 0 || n_keep > n_past_) throw Error("decoder: cannot keep " + std::to_string(n_keep) + " positions");
  n_past_ = n_keep;
}

void Decoder::forward(const std::vector<int>& tokens, const std::vector<int>& logit_rows, std::vector<float>& logits_out) {
  const ModelInfo& h = m_.info;
  const int n = static_cast<int>(tokens.size()), d = h.n_text_state;
  if (n == 0) throw Error("decoder: no tokens to run");
  if (n_past_ + n > h.n_text_ctx)
    throw Error("decoder: " + std::to_string(n_past_ + n) + " tokens exceed the text context of " +
                std::to_string(h.n_text_ctx));
  Mat x = be_.alloc(n, d);  // [n, d]
  be_.embed(m_.token_embedding, tokens.data(), n, m_.decoder_pos, n_past_, x);

  Mat hbuf = be_.alloc(n, d);
  Mat qkv = be_.alloc(n, 3 * d);
  Mat attn = be_.alloc(n, d);
  Mat proj = be_.alloc(n, d);
  for (size_t i = 0; i < m_.decoder_layers.size(); ++i) {
    const auto& l = m_.decoder_layers[i];
    // Self-attention over the cache plus these tokens, causal.
    be_.layer_norm(x, l.attn_ln.gamma, l.attn_ln.beta, hbuf);
    be_.linear(hbuf, l.qkv.w, &l.qkv.b, qkv);
    Mat k_dst = self_k_[i].rows_view(n_past_, n), v_dst = self_v_[i].rows_view(n_past_, n);
    be_.copy(qkv.cols_view(d, d), k_dst);
    be_.copy(qkv.cols_view(2 * d, d), v_dst);
    be_.attention(qkv.cols_view(0, d), self_k_[i].rows_view(0, n_past_ + n), self_v_[i].rows_view(0, n_past_ + n),
                  attn, h.n_text_head, n_past_);
    be_.linear(attn, l.attn_out.w, &l.attn_out.b, proj);
    be_.add(x, proj);

    // Cross-attention to the audio.
    be_.layer_norm(x, l.cross_ln.gamma, l.cross_ln.beta, hbuf);
    Mat q = be_.alloc(n, d);
    be_.linear(hbuf, l.cross_q.w, &l.cross_q.b, q);
    be_.attention(q, cross_kv_[i].cols_view(0, d), cross_kv_[i].cols_view(d, d), attn, h.n_text_head, -1);
    be_.linear(attn, l.cross_out.w, &l.cross_out.b, proj);
    be_.add(x, proj);

    be_.layer_norm(x, l.mlp_ln.gamma, l.mlp_ln.beta, hbuf);
    Mat mlp = be_.alloc(n, l.fc1.w.rows);
    be_.linear(hbuf, l.fc1.w, &l.fc1.b, mlp);
    be_.gelu(mlp);
    be_.linear(mlp, l.fc2.w, &l.fc2.b, proj);
    be_.add(x, proj);
  }
  n_past_ += n;

  // Final norm and the tied output projection, only for the rows asked for.
  logits_out.resize(logit_rows.size() * static_cast<size_t>(h.n_vocab));
  Mat logits = be_.alloc(1, h.n_vocab);
  Mat row_norm = be_.alloc(1, d);
  for (size_t r = 0; r < logit_rows.size(); ++r) {
    if (logit_rows[r] < 0 || logit_rows[r] >= n) throw Error("decoder: logit row out of range");
    be_.layer_norm(x.rows_view(logit_rows[r], 1), m_.decoder_ln.gamma, m_.decoder_ln.beta, row_norm);
    be_.linear(row_norm, m_.token_embedding, nullptr, logits);
    be_.download(logits, logits_out.data() + r * h.n_vocab);
  }
}

}  // namespace wst::engine
