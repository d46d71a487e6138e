#include "engine/encoder.h"

#include <vector>

namespace wst::engine {

Mat encode(const WhisperModel& m, Backend& be, const float* mel) {
  const ModelInfo& h = m.info;
  const int n_frames = 2 * h.n_audio_ctx, d = h.n_audio_state, t = h.n_audio_ctx;
  // The convolutions read time-major input: [n_mels, n_frames] -> [n_frames, n_mels] (on a GPU, on the device,
  // so that the host neither does it nor waits).
  Mat x_in = be.upload_mel(mel, h.n_mels, n_frames);

  Mat x = be.alloc(t, d);  // [1500, d]
  be.encoder_stem(x_in, m.conv1_w, m.conv1_b, m.conv2_w, m.conv2_b, m.encoder_pos, x);

  be.encoder_blocks(m.encoder_layers, h.n_audio_head, x);
  Mat out = be.alloc(t, d);
  be.layer_norm(x, m.encoder_ln.gamma, m.encoder_ln.beta, out);
  return out;
}

void Backend::encoder_stem(const Mat& mel_t, const Mat& conv1_w, const Mat& conv1_b, const Mat& conv2_w,
                           const Mat& conv2_b, const Mat& pos, Mat& x) {
  Mat c1 = alloc(mel_t.rows, conv1_w.rows);  // [3000, d]
  conv1d_gelu(mel_t, conv1_w, conv1_b, 1, c1);
  conv1d_gelu(c1, conv2_w, conv2_b, 2, x);
  add(x, pos);
}

void Backend::encoder_blocks(const std::vector<EncoderLayerWeights>& layers, int n_head, Mat& x) {
  if (layers.empty()) return;
  const int t = x.rows, d = x.cols;
  Mat hbuf = alloc(t, d);
  Mat qkv = alloc(t, 3 * d);
  Mat attn = alloc(t, d);
  Mat proj = alloc(t, d);
  // One [t, 4d] buffer for every layer's MLP (a fresh 9 MiB one per layer was page-faulted in each time).
  Mat mlp_buf = alloc(t, layers.front().fc1.w.rows);
  for (const auto& l : layers) {
    layer_norm(x, l.attn_ln.gamma, l.attn_ln.beta, hbuf);
    linear(hbuf, l.qkv.w, &l.qkv.b, qkv);
    attention(qkv.cols_view(0, d), qkv.cols_view(d, d), qkv.cols_view(2 * d, d), attn, n_head, -1);
    linear(attn, l.attn_out.w, &l.attn_out.b, proj);
    add(x, proj);

    layer_norm(x, l.mlp_ln.gamma, l.mlp_ln.beta, hbuf);
    Mat mlp = l.fc1.w.rows == mlp_buf.cols ? mlp_buf : alloc(t, l.fc1.w.rows);  // [t, 4d]
    linear(hbuf, l.fc1.w, &l.fc1.b, mlp);
    gelu(mlp);
    linear(mlp, l.fc2.w, &l.fc2.b, proj);
    add(x, proj);
  }
}

}  // namespace wst::engine
