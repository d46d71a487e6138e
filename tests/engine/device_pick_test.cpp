// The decoding side of the GPU's greedy pick and beam candidates, without a GPU: a backend that computes on the
// CPU but, like the CUDA backend, says picks_greedy() and so receives each step's rules (StepRules) instead of
// filtering host logits itself. Its pick_greedy / top_candidates apply the rules as their documentation in
// engine/backend.h states them, written here independently of decoding.cpp's apply_filters. Transcribing real
// speech through it must give exactly the tokens of the ordinary CPU path: that pins decoding.cpp's step_rules
// (the same filters as apply_filters), Decoder::forward_and_pick / forward_step_top and
// BeamSearch::step_from_candidates on real data. (The CUDA kernels themselves are checked against the same
// semantics on the GPU machine: tools/cuda/cuda_check.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "engine/backend.h"
#include "engine/cuda/step_state.h"
#include "engine/decoder.h"
#include "engine/decoding.h"
#include "engine/encoder.h"
#include "engine/mel.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "formats/weight_io.h"
#include "util/errors.h"
#include "support/error_of.h"
#include "support/paths.h"
#include "wst/engine.h"

namespace wst::engine {
namespace {

constexpr float kNegInf = -INFINITY;

// The rules of backend.h's StepRules on one row: masks, then the timestamp rule on log_softmax (double sums),
// then the log_softmax of what is left. Returns the filtered logits; `lp` their log-probabilities.
std::vector<float> apply_rules(const float* logits, int n_vocab, const StepRules& r, std::vector<float>& lp) {
  std::vector<float> v(logits, logits + n_vocab);
  if (r.suppress)
    for (int t : *r.suppress) v[t] = kNegInf;
  for (int t = r.mask_a_begin; t < r.mask_a_end; ++t) v[t] = kNegInf;
  for (int t = r.mask_b_begin; t < r.mask_b_end; ++t) v[t] = kNegInf;
  auto log_softmax = [](const std::vector<float>& x) {
    float mx = kNegInf;
    for (float f : x) mx = std::max(mx, f);
    double sum = 0;
    for (float f : x)
      if (f != kNegInf) sum += std::exp(static_cast<double>(f) - mx);
    const double lse = mx + std::log(sum);
    std::vector<float> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] == kNegInf ? kNegInf : static_cast<float>(x[i] - lse);
    return out;
  };
  if (r.timestamp_rule) {
    const std::vector<float> l = log_softmax(v);
    float max_text = kNegInf, mx = kNegInf;
    for (int t = 0; t < r.ts_begin; ++t) max_text = std::max(max_text, l[t]);
    for (int t = r.ts_begin; t < n_vocab; ++t) mx = std::max(mx, l[t]);
    if (mx != kNegInf) {
      double s = 0;
      for (int t = r.ts_begin; t < n_vocab; ++t)
        if (l[t] != kNegInf) s += std::exp(static_cast<double>(l[t]) - mx);
      if (mx + std::log(s) > max_text) std::fill(v.begin(), v.begin() + r.ts_begin, kNegInf);
    }
  }
  lp = log_softmax(v);
  return v;
}

// The CPU backend, but picking "where the logits are" as the CUDA backend does.
class PickingCpuBackend final : public Backend {
 public:
  PickingCpuBackend() : cpu_(make_cpu_backend(2)) {}
  int picks = 0, beam_steps = 0;

  std::string name() const override { return "picking-cpu"; }
  Mat alloc(int rows, int cols) override { return cpu_->alloc(rows, cols); }
  Mat upload(const float* host, int rows, int cols) override { return cpu_->upload(host, rows, cols); }
  void download(const Mat& m, float* host) override { cpu_->download(m, host); }
  void copy(const Mat& src, Mat& dst) override { cpu_->copy(src, dst); }
  void linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) override { cpu_->linear(x, w, bias, y); }
  bool supports(WeightType t) const override { return cpu_->supports(t); }
  bool fast_matrix_products(WeightType t) const override { return cpu_->fast_matrix_products(t); }
  void linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) override { cpu_->linear(x, w, bias, y); }
  Weights upload_weights(const float* host, int rows, int cols, WeightType type) override {
    return cpu_->upload_weights(host, rows, cols, type);
  }
  Weights upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type) override {
    return cpu_->upload_weights_f16(host, rows, cols, type);
  }
  void linear_fused(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                    Epilogue epilogue, Mat& y) override {
    cpu_->linear_fused(x, gamma, beta, w, bias, epilogue, y);
  }
  void layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) override { cpu_->layer_norm(x, gamma, beta, y); }
  void gelu(Mat& x) override { cpu_->gelu(x); }
  void add(Mat& y, const Mat& x) override { cpu_->add(y, x); }
  void attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) override {
    cpu_->attention(q, k, v, out, n_head, causal_offset);
  }
  void conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) override {
    cpu_->conv1d_gelu(x, w, b, stride, y);
  }
  void embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) override {
    cpu_->embed(table, ids, n, pos, pos_offset, y);
  }
  void embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) override {
    cpu_->embed(table, ids, n, pos, pos_offset, y);
  }

  bool picks_greedy() const override { return true; }
  GreedyPick pick_greedy(const Mat& logits, const StepRules& rules) override {
    ++picks;
    std::vector<float> host(static_cast<size_t>(logits.cols)), lp;
    cpu_->download(logits, host.data());
    const std::vector<float> v = apply_rules(host.data(), logits.cols, rules, lp);
    const int t = static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
    return {t, lp[t]};
  }
  std::vector<BeamCandidate> top_candidates(const Mat& logits, const std::vector<StepRules>& rules,
                                            const std::vector<float>& beam_scores, int k) override {
    ++beam_steps;
    std::vector<float> host(static_cast<size_t>(logits.rows) * logits.cols), lp;
    cpu_->download(logits, host.data());
    std::vector<BeamCandidate> out;
    for (int b = 0; b < logits.rows; ++b) {
      apply_rules(host.data() + static_cast<size_t>(b) * logits.cols, logits.cols, rules[b], lp);
      std::vector<BeamCandidate> row;
      for (int t = 0; t < logits.cols; ++t)
        if (lp[t] != kNegInf) row.push_back({beam_scores[b] + lp[t], b, t});
      std::sort(row.begin(), row.end(), [](const BeamCandidate& x, const BeamCandidate& y) {
        return x.score != y.score ? x.score > y.score : x.token < y.token;
      });
      if (static_cast<int>(row.size()) > k) row.resize(k);
      out.insert(out.end(), row.begin(), row.end());
    }
    return out;
  }

 private:
  std::unique_ptr<Backend> cpu_;
};

// A backend that records greedy steps as the CUDA backend does (records_steps): while recording, every op is kept
// as a closure over the same buffers instead of run, the *_at ops read the step's token and position when replayed,
// and replay_step runs the closures in order. On the CPU's arithmetic, so a recorded step must give the eager
// step's tokens exactly: this pins Decoder::record_step and the Backend defaults it goes through
// (decoder_layers_at, self_attention_at_from, linear_fused_kv_at, cross_attention_from) without a GPU.
class RecordingCpuBackend final : public Backend {
 public:
  int recordings = 0, replays = 0;
  // Greedy steps whose state (token, position, rules) the step before predicted (cuda::next_step_state), or not.
  int ahead_hits = 0, ahead_misses = 0;

  std::string name() const override { return "recording-cpu"; }
  Mat alloc(int rows, int cols) override { return in_.alloc(rows, cols); }
  Mat upload(const float* host, int rows, int cols) override { return in_.upload(host, rows, cols); }
  void download(const Mat& m, float* host) override { in_.download(m, host); }
  void copy(const Mat& src, Mat& dst) override {
    run([this, src, dst]() mutable { in_.copy(src, dst); });
  }
  bool supports(WeightType t) const override { return in_.supports(t); }
  bool fast_matrix_products(WeightType t) const override { return in_.fast_matrix_products(t); }
  Weights upload_weights(const float* host, int rows, int cols, WeightType type) override {
    return in_.upload_weights(host, rows, cols, type);
  }
  Weights upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type) override {
    return in_.upload_weights_f16(host, rows, cols, type);
  }
  void linear(const Mat& x, const Mat& w, const Mat* bias, Mat& y) override {
    run([this, x, w, bias, y]() mutable { in_.linear(x, w, bias, y); });
  }
  void linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) override {
    run([this, x, w, bias, y]() mutable { in_.linear(x, w, bias, y); });
  }
  void linear_fused(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                    Epilogue epilogue, Mat& y) override {
    run([=, this]() mutable { in_.linear_fused(x, gamma, beta, w, bias, epilogue, y); });
  }
  void layer_norm(const Mat& x, const Mat& gamma, const Mat& beta, Mat& y) override {
    run([=, this]() mutable { in_.layer_norm(x, gamma, beta, y); });
  }
  void gelu(Mat& x) override {
    run([this, x]() mutable { in_.gelu(x); });
  }
  void add(Mat& y, const Mat& x) override {
    run([this, x, y]() mutable { in_.add(y, x); });
  }
  void attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int causal_offset) override {
    run([=, this]() mutable { in_.attention(q, k, v, out, n_head, causal_offset); });
  }
  void cross_attention(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) override {
    run([=, this]() mutable { in_.cross_attention(q, k, v, out, n_head); });
  }
  void conv1d_gelu(const Mat& x, const Mat& w, const Mat& b, int stride, Mat& y) override {
    run([=, this]() mutable { in_.conv1d_gelu(x, w, b, stride, y); });
  }
  void embed(const Mat& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) override {
    if (recording_) throw Error("recording-cpu: embed with host ids while recording");
    in_.embed(table, ids, n, pos, pos_offset, y);
  }
  void embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) override {
    if (recording_) throw Error("recording-cpu: embed with host ids while recording");
    in_.embed(table, ids, n, pos, pos_offset, y);
  }
  bool picks_greedy() const override { return true; }
  GreedyPick pick_greedy(const Mat& logits, const StepRules& rules) override { return in_.pick_greedy(logits, rules); }
  std::vector<BeamCandidate> top_candidates(const Mat& logits, const std::vector<StepRules>& rules,
                                            const std::vector<float>& beam_scores, int k) override {
    return in_.top_candidates(logits, rules, beam_scores, k);
  }

  bool records_steps() const override { return true; }
  void set_step(int token, int position, const StepRules& rules, int n_vocab) override {
    if (recording_) throw Error("recording-cpu: set_step while recording");
    token_ = token;
    position_ = position;
    suppress_ = rules.suppress ? *rules.suppress : std::vector<int>{};
    rules_ = rules;
    rules_.suppress = &suppress_;
    // The CUDA backend's step run ahead (cuda/step_state.h): the state the last pick predicted against the host's.
    cuda::StepState st;
    st.token = token;
    st.position = position;
    cuda::set_rules(st, rules, n_vocab);
    if (predicted_) ++(cuda::same_state(*predicted_, st) ? ahead_hits : ahead_misses);
    state_ = st;
    predicted_.reset();
  }
  void forget_step_ahead() override { predicted_.reset(); }
  void begin_step_recording() override {
    if (recording_) throw Error("recording-cpu: already recording");
    recording_ = true;
    ops_ = std::make_shared<std::vector<std::function<void()>>>();
  }
  void abort_step_recording() noexcept override {
    recording_ = false;
    ops_.reset();
  }
  std::shared_ptr<void> end_step_recording() override {
    recording_ = false;
    ++recordings;
    return std::move(ops_);
  }
  GreedyPick replay_step(const std::shared_ptr<void>& recording) override {
    ++replays;
    for (auto& op : *static_cast<std::vector<std::function<void()>>*>(recording.get())) op();
    predicted_ = cuda::next_step_state(state_, pick_.token);
    return pick_;
  }
  void embed_at(const Weights& table, const Mat& pos, Mat& y) override {
    need_recording("embed_at");
    ops_->push_back([=, this]() mutable { in_.embed(table, &token_, 1, pos, position_, y); });
  }
  void copy_to_row_at(const Mat& src, Mat& cache) override {
    need_recording("copy_to_row_at");
    ops_->push_back([=, this]() mutable {
      Mat row = cache.rows_view(position_, 1);
      in_.copy(src, row);
    });
  }
  void attention_at(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head) override {
    need_recording("attention_at");
    ops_->push_back([=, this]() mutable {
      in_.attention(q, k.rows_view(0, position_ + 1), v.rows_view(0, position_ + 1), out, n_head, position_);
    });
  }
  void pick_greedy_at(const Mat& logits) override {
    need_recording("pick_greedy_at");
    ops_->push_back([=, this]() { pick_ = in_.pick_greedy(logits, rules_); });
  }

  // Beam steps: set_rows_step's values kept here and read by the rows ops when replayed. The kind changes where the
  // steps' position reaches kind_from, so that a transcription records a row count more than once.
  int kind_from = 1 << 30;
  int rows_recordings = 0, rows_replays = 0;
  void set_rows_step(const std::vector<int>& tokens, const std::vector<int>& positions,
                     const std::vector<std::vector<Mat*>>& k_caches, const std::vector<std::vector<Mat*>>& v_caches,
                     const std::vector<StepRules>& rules, const std::vector<float>& beam_scores, int,
                     int k) override {
    if (recording_) throw Error("recording-cpu: set_rows_step while recording");
    tokens_ = tokens;
    positions_ = positions;
    k_caches_ = k_caches;
    v_caches_ = v_caches;
    row_suppress_.clear();
    for (const StepRules& r : rules) row_suppress_.push_back(r.suppress ? *r.suppress : std::vector<int>{});
    row_rules_ = rules;
    for (size_t b = 0; b < rules.size(); ++b) row_rules_[b].suppress = &row_suppress_[b];
    scores_ = beam_scores;
    k_ = k;
  }
  int rows_step_kind() const override { return positions_.at(0) >= kind_from ? 1 : 0; }
  void begin_rows_recording() override {
    begin_step_recording();
    ++rows_recordings;
    // What a GPU fixes in its kernels when it records (the rows, candidates a row, the kind): a replay for another
    // step is the Decoder's mistake, and fails here as it would give wrong values there.
    ops_->push_back([this, n = tokens_.size(), k = k_, kind = rows_step_kind()] {
      if (tokens_.size() != n || k_ != k || rows_step_kind() != kind)
        throw Error("recording-cpu: a beam step recording replayed for another step");
    });
  }
  std::vector<BeamCandidate> replay_rows_step(const std::shared_ptr<void>& recording) override {
    ++rows_replays;
    for (auto& op : *static_cast<std::vector<std::function<void()>>*>(recording.get())) op();
    return candidates_;
  }
  int fail_rows_recordings = 0;  // beam step recordings to fail part-way (a planted error)
  void embed_rows_at(const Weights& table, const Mat& pos, Mat& y) override {
    need_recording("embed_rows_at");
    if (fail_rows_recordings > 0) {
      --fail_rows_recordings;
      throw Error("recording-cpu: a planted failure while recording");
    }
    ops_->push_back([=, this]() mutable {
      in_.embed_rows(table, tokens_.data(), positions_.data(), static_cast<int>(tokens_.size()), pos, y);
    });
  }
  void step_self_attention_at(int layer, const Mat& qkv, Mat& out, int n_head) override {
    need_recording("step_self_attention_at");
    ops_->push_back([=, this]() mutable {
      in_.step_self_attention(qkv, k_caches_.at(layer), v_caches_.at(layer), positions_, out, n_head);
    });
  }
  void top_candidates_at(const Mat& logits) override {
    need_recording("top_candidates_at");
    ops_->push_back([=, this, k = k_]() { candidates_ = in_.top_candidates(logits, row_rules_, scores_, k); });
  }

 private:
  PickingCpuBackend in_;
  bool recording_ = false;
  std::shared_ptr<std::vector<std::function<void()>>> ops_;
  int token_ = 0, position_ = 0;
  std::vector<int> suppress_;
  StepRules rules_;
  GreedyPick pick_;
  cuda::StepState state_;
  std::optional<cuda::StepState> predicted_;
  std::vector<int> tokens_, positions_;
  std::vector<std::vector<Mat*>> k_caches_, v_caches_;
  std::vector<std::vector<int>> row_suppress_;
  std::vector<StepRules> row_rules_;
  std::vector<float> scores_;
  int k_ = 0;
  std::vector<BeamCandidate> candidates_;

  void run(std::function<void()> op) {
    if (recording_) ops_->push_back(std::move(op));
    else op();
  }
  void need_recording(const char* what) const {
    if (!recording_) throw Error(std::string("recording-cpu: ") + what + " outside a recording");
  }
};

struct Loaded {
  std::unique_ptr<Backend> backend;
  WhisperModel model;
  std::unique_ptr<Tokenizer> tok;
  Timings timings;
};

std::unique_ptr<Loaded> load(std::unique_ptr<Backend> backend) {
  auto l = std::make_unique<Loaded>();
  l->backend = std::move(backend);
  const std::string dir = test::tiny_en_dir().string();
  const formats::WhisperWeights w = formats::read_weights(dir);
  l->model = load_whisper(w, *l->backend, weight_policy("float32"));
  l->tok = std::make_unique<Tokenizer>(Tokenizer::from_file(w.tokenizer_json, w.dims.n_vocab));
  return l;
}

// The host's CPU transcriber beside one over `device` (a picking or recording backend), the same weights.
struct SideBySide {
  std::unique_ptr<Loaded> host, dev;
  std::unique_ptr<Transcriber> host_tr, dev_tr;
};
SideBySide side_by_side(Backend* device) {
  SideBySide s;
  s.host = load(make_cpu_backend(2));
  s.dev = load(std::unique_ptr<Backend>(device));
  s.host_tr = std::make_unique<Transcriber>(s.host->model, *s.host->backend, *s.host->tok, s.host->timings, 2);
  s.dev_tr = std::make_unique<Transcriber>(s.dev->model, *s.dev->backend, *s.dev->tok, s.dev->timings, 2);
  return s;
}

std::vector<std::vector<int>> tokens_of(const Transcript& t) {
  std::vector<std::vector<int>> out;
  for (const auto& s : t.segments) out.push_back(s.tokens);
  return out;
}

TEST(DevicePick, GreedyAndBeamTokensEqualTheHostFiltersOnRealSpeech) {
  WST_REQUIRE_TINY_EN();
  auto* picking_be = new PickingCpuBackend();
  SideBySide s = side_by_side(picking_be);
  Transcriber &host_tr = *s.host_tr, &dev_tr = *s.dev_tr;
  for (const char* file : {"jfk", "ted_60"}) {
    const std::vector<float> pcm = audio::load_audio(test::speech_path(file).string());
    for (int beams : {1, 5}) {
      TranscribeOptions o;
      o.beam_size = beams;
      const Transcript want = host_tr.run(pcm, o), got = dev_tr.run(pcm, o);
      EXPECT_EQ(tokens_of(got), tokens_of(want)) << file << ", beam " << beams;
      EXPECT_EQ(got.text, want.text) << file << ", beam " << beams;
      ASSERT_EQ(got.segments.size(), want.segments.size());
      for (size_t i = 0; i < got.segments.size(); ++i)
        EXPECT_FLOAT_EQ(got.segments[i].avg_logprob, want.segments[i].avg_logprob) << file << " segment " << i;
    }
  }
  // The picking paths really ran: every greedy token after a window's first, every beam step after the prompt.
  EXPECT_GT(picking_be->picks, 200);
  EXPECT_GT(picking_be->beam_steps, 100);
}

// Greedy steps recorded once and replayed (Decoder::forward_and_pick's path on the GPU) give the eager steps' tokens
// and log-probabilities exactly, on real speech.
TEST(DevicePick, RecordedGreedyStepsGiveTheEagerTokensOnRealSpeech) {
  WST_REQUIRE_TINY_EN();
  auto* recording_be = new RecordingCpuBackend();
  SideBySide s = side_by_side(recording_be);
  Transcriber &host_tr = *s.host_tr, &dev_tr = *s.dev_tr;
  for (const char* file : {"jfk", "ted_60"}) {
    const std::vector<float> pcm = audio::load_audio(test::speech_path(file).string());
    const Transcript want = host_tr.run(pcm, {}), got = dev_tr.run(pcm, {});
    EXPECT_EQ(tokens_of(got), tokens_of(want)) << file;
    ASSERT_EQ(got.segments.size(), want.segments.size()) << file;
    for (size_t i = 0; i < got.segments.size(); ++i)
      EXPECT_FLOAT_EQ(got.segments[i].avg_logprob, want.segments[i].avg_logprob) << file << " segment " << i;
  }
  // Recorded once a window (the recording holds its cross-attention K/V's buffers, the same each window), replayed
  // for every token after the first.
  EXPECT_GE(recording_be->recordings, 1);
  EXPECT_GT(recording_be->replays, 200);
  // Each step after a window's first greedy one is the one its predecessor's pick predicted, timestamp rules and
  // all (what the CUDA backend's step run ahead relies on): none differs, and the windows' first steps (after the
  // prompt's eager step) are the only ones not predicted.
  EXPECT_EQ(recording_be->ahead_misses, 0);
  EXPECT_GT(recording_be->ahead_hits, 200);
}

// The prediction follows the timestamp rules through every kind of step: text, an opening timestamp, a closing
// one, a pair, timestamps at ts_begin (where the open segment's range b is empty) and at the vocabulary's end.
TEST(DevicePick, TheNextStepStateIsTheRulesAfterThePick) {
  const int ts_begin = 100, eot = 90, n_vocab = 140;
  const std::vector<std::vector<int>> runs = {
      {100, 5, 6, 110, 110, 7, 8, 120, 139},  // opens at ts_begin, a pair, text, a close at the end
      {5, 100, 100, 100, 6, 101},             // text first, timestamps at ts_begin in a row
      {120, 121, 9, 9, 130, 131, 132},        // a pair at the start, more timestamps than pairs
      {1, 2, 3}};                             // no timestamp at all
  for (const std::vector<int>& run : runs)
    for (size_t n = 1; n < run.size(); ++n) {
      const std::vector<int> before(run.begin(), run.begin() + n), after(run.begin(), run.begin() + n + 1);
      cuda::StepState s, want;
      s.token = before.back();
      s.position = 7 + static_cast<int>(n);
      cuda::set_rules(s, timestamp_step_rules(before, ts_begin, eot, n_vocab), n_vocab);
      want.token = after.back();
      want.position = s.position + 1;
      cuda::set_rules(want, timestamp_step_rules(after, ts_begin, eot, n_vocab), n_vocab);
      const cuda::StepState got = cuda::next_step_state(s, after.back());
      EXPECT_TRUE(cuda::same_state(got, want))
          << "after " << n << " tokens of run " << run.front() << "...: a [" << got.a0 << ", " << got.a1 << ") b ["
          << got.b0 << ", " << got.b1 << "), want a [" << want.a0 << ", " << want.a1 << ") b [" << want.b0 << ", "
          << want.b1 << ")";
    }
  // Without the timestamp rule only the token and position move.
  cuda::StepState s;
  cuda::set_rules(s, StepRules{}, n_vocab);
  const cuda::StepState n = cuda::next_step_state(s, 120);
  EXPECT_EQ(n.token, 120);
  EXPECT_EQ(n.position, 1);
  EXPECT_EQ(n.a1, 0);
  EXPECT_EQ(n.b1, 0);
}

// Beam steps recorded once for each number of beams (and kind) and replayed (Decoder::forward_step_top's path on the
// GPU) give the eager steps' tokens and log-probabilities exactly, on real speech: the rows' caches move between
// slots as beams are reordered, and finished beams leave fewer rows.
TEST(DevicePick, RecordedBeamStepsGiveTheEagerTokensOnRealSpeech) {
  WST_REQUIRE_TINY_EN();
  auto* recording_be = new RecordingCpuBackend();
  recording_be->kind_from = 40;
  SideBySide s = side_by_side(recording_be);
  Transcriber &host_tr = *s.host_tr, &dev_tr = *s.dev_tr;
  for (const char* file : {"jfk", "ted_60"}) {
    const std::vector<float> pcm = audio::load_audio(test::speech_path(file).string());
    TranscribeOptions o;
    o.beam_size = 5;
    const Transcript want = host_tr.run(pcm, o), got = dev_tr.run(pcm, o);
    EXPECT_EQ(tokens_of(got), tokens_of(want)) << file;
    EXPECT_EQ(got.text, want.text) << file;
    ASSERT_EQ(got.segments.size(), want.segments.size()) << file;
    for (size_t i = 0; i < got.segments.size(); ++i)
      EXPECT_EQ(got.segments[i].avg_logprob, want.segments[i].avg_logprob) << file << " segment " << i;
  }
  // Recorded for 5 rows in both kinds, and for fewer rows where beams finished; replayed for every other step.
  EXPECT_GE(recording_be->rows_recordings, 2);
  EXPECT_GT(recording_be->rows_replays, 10 * recording_be->rows_recordings);
}

// pick_greedy_rows' default (row by row) needs a rule for each row, and names both counts otherwise.
TEST(DevicePick, RowPicksNeedARuleEachRow) {
  PickingCpuBackend be;
  const std::vector<float> host(2 * 10, 0.0f);
  const Mat logits = be.upload(host.data(), 2, 10);
  const std::vector<int> none;
  StepRules rules;
  rules.suppress = &none;
  EXPECT_EQ(test::error_of([&] { be.pick_greedy_rows(logits, {rules}); }),
            "pick_greedy_rows: 2 rows need as many rules, got 1");
  EXPECT_EQ(be.pick_greedy_rows(logits, {rules, rules}).size(), 2u);
}

// Beams over one window, then over another set beside it, then over the first again (Decoder::set_audios, then
// reorder to one sequence and fork): the recorded steps give the eager steps' candidates bit for bit each time, so a
// recording made over one window is not replayed over another.
TEST(DevicePick, RecordedBeamStepsFollowTheirWindow) {
  WST_REQUIRE_TINY_EN();
  auto* recording_be = new RecordingCpuBackend();
  auto dev = load(std::unique_ptr<Backend>(recording_be));
  auto eager = load(std::unique_ptr<Backend>(new PickingCpuBackend()));
  auto windows = [](Loaded& l) {
    std::vector<Mat> encs;
    for (const char* id : {"jfk", "1089-134686-0000"}) {
      const std::vector<float> pcm = audio::load_audio(test::speech_path(id).string());
      const int n_mels = l.model.info.n_mels;
      int n_frames = 0;
      const std::vector<float> mel = log_mel_spectrogram(pcm.data(), pcm.size(), n_mels, 480000, 1, &n_frames);
      const std::vector<float> w = mel_window(mel, n_mels, n_frames, 0, std::min(3000, n_frames - 3000), 3000);
      encs.push_back(encode(l.model, *l.backend, w.data()));
    }
    return encs;
  };
  const std::vector<int> none;
  StepRules rules;
  rules.suppress = &none;
  // Three steps of 5 beams from the start of transcript on window w (of the two), every candidate in order.
  auto beams_on = [&](Loaded& l, Decoder& d, const std::vector<Mat>& encs, int w) {
    d.set_audios(encs);
    std::vector<float> unused;
    d.forward(l.tok->sot_sequence("en", "transcribe"), {}, unused, w);
    d.reorder({w});
    d.fork(5);
    std::vector<int> tokens = {220, 221, 222, 223, 224};
    std::vector<float> scores(5, 0.0f);
    std::vector<BeamCandidate> all;
    for (int step = 0; step < 3; ++step) {
      std::vector<BeamCandidate> c = d.forward_step_top(tokens, std::vector<StepRules>(5, rules), scores, 10);
      all.insert(all.end(), c.begin(), c.end());
      std::stable_sort(c.begin(), c.end(), [](const BeamCandidate& a, const BeamCandidate& b) { return a.score > b.score; });
      std::vector<int> src;
      for (int b = 0; b < 5; ++b) {
        src.push_back(c.at(b).beam);
        tokens[b] = c[b].token;
        scores[b] = c[b].score;
      }
      d.reorder(src);
    }
    return all;
  };
  const std::vector<Mat> dev_encs = windows(*dev), eager_encs = windows(*eager);
  Decoder dev_dec(dev->model, *dev->backend), eager_dec(eager->model, *eager->backend);
  for (int w : {0, 1, 0}) {
    const std::vector<BeamCandidate> got = beams_on(*dev, dev_dec, dev_encs, w);
    const std::vector<BeamCandidate> want = beams_on(*eager, eager_dec, eager_encs, w);
    ASSERT_EQ(got.size(), want.size()) << "window " << w;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].score, want[i].score) << "window " << w << ", candidate " << i;
      EXPECT_EQ(got[i].beam, want[i].beam) << "window " << w << ", candidate " << i;
      EXPECT_EQ(got[i].token, want[i].token) << "window " << w << ", candidate " << i;
    }
  }
  // One recording a window (5 rows, one kind), replayed for the other steps: the third pass recorded nothing.
  EXPECT_EQ(recording_be->rows_recordings, 2);
  EXPECT_EQ(recording_be->rows_replays, 9);
}

// A beam step whose recording fails part-way reports that error, and the decoder goes on: the backend is no longer
// recording, and the next transcription records anew and gives the host's tokens.
TEST(DevicePick, AFailedBeamStepRecordingLeavesTheDecoderUsable) {
  WST_REQUIRE_TINY_EN();
  auto* recording_be = new RecordingCpuBackend();
  SideBySide s = side_by_side(recording_be);
  Transcriber &host_tr = *s.host_tr, &dev_tr = *s.dev_tr;
  const std::vector<float> pcm = audio::load_audio(test::speech_path("jfk").string());
  TranscribeOptions o;
  o.beam_size = 5;
  recording_be->fail_rows_recordings = 1;
  try {
    dev_tr.run(pcm, o);
    ADD_FAILURE() << "the planted failure did not surface";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a planted failure while recording"), std::string::npos) << e.what();
  }
  EXPECT_EQ(tokens_of(dev_tr.run(pcm, o)), tokens_of(host_tr.run(pcm, o)));
  EXPECT_GE(recording_be->rows_recordings, 2);
}

// Batched transcription on a backend that picks: the batched steps pick each window's token there
// (Decoder::forward_step_and_pick), and every transcript is the one-recording path's, token for token.
TEST(DevicePick, BatchedGreedyStepsPickAsTranscribeDoes) {
  WST_REQUIRE_TINY_EN();
  auto* picking_be = new PickingCpuBackend();
  auto dev = load(std::unique_ptr<Backend>(picking_be));
  Transcriber tr(dev->model, *dev->backend, *dev->tok, dev->timings, 2);
  std::vector<std::vector<float>> pcms;
  for (const char* id : {"jfk", "ted_60", "1089-134686-0000"})
    pcms.push_back(audio::load_audio(test::speech_path(id).string()));
  std::vector<Transcript> alone;
  for (const auto& pcm : pcms) alone.push_back(tr.run(pcm, {}));
  const int picks_alone = picking_be->picks;
  const std::vector<Transcript> batched = tr.run_batch(pcms, {}, 3);
  ASSERT_EQ(batched.size(), pcms.size());
  for (size_t i = 0; i < pcms.size(); ++i) {
    EXPECT_EQ(tokens_of(batched[i]), tokens_of(alone[i])) << "recording " << i;
    ASSERT_EQ(batched[i].segments.size(), alone[i].segments.size()) << "recording " << i;
    for (size_t k = 0; k < alone[i].segments.size(); ++k)
      EXPECT_EQ(batched[i].segments[k].avg_logprob, alone[i].segments[k].avg_logprob) << i << " segment " << k;
  }
  // The batch picked every token after each window's first: as many picks as the windows alone took.
  EXPECT_EQ(picking_be->picks - picks_alone, picks_alone);
}

}  // namespace
}  // namespace wst::engine
