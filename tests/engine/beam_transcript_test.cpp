// Beam search and best_of with the real tiny.en weights.
//
// Against faster-whisper with beam_size 5 (tests/reference/faster_whisper_beam_tiny_en.json, made by
// make_faster_whisper_beam_reference.py): jfk and ted_60 must give identical text, and at least 90% of the
// 40 LibriSpeech utterances. For each difference the test prints both texts and, for the first window that
// differs, the two best hypotheses' ranker scores on each side and faster-whisper's best re-scored by our
// model, so a near-tie reads as one.
//
// The batched decoder (fork, reorder, forward_step) against one-sequence forward passes, sequences on
// different windows (set_audios) against one decoder per window, and best_of on a forced temperature fallback.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "audio/decode.h"
#include "engine/backend.h"
#include "engine/decoder.h"
#include "engine/decoding.h"
#include "engine/encoder.h"
#include "engine/mel.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "support/paths.h"
#include "wst/engine.h"

namespace wst {
namespace {

// Logits of a batched step vs a one-sequence step: the same sums over the same weights, but sgemm with
// several rows takes other kernels than one row, so float32 rounding differs (seen: a few 1e-5).
constexpr float kBatchLogitTolerance = 2e-3f;

nlohmann::json load_beam_reference() {
  std::ifstream in(test::source_dir() / "tests/reference/faster_whisper_beam_tiny_en.json");
  return nlohmann::json::parse(in);
}

struct Model {
  std::unique_ptr<engine::Backend> backend = engine::make_cpu_backend(0);
  engine::WhisperModel m;
  engine::Tokenizer tok;
  explicit Model(const std::string& dir, const engine::WeightPolicy& policy = {})
      : m(engine::load_model_files(dir, *backend, policy)),
        tok(engine::Tokenizer::from_model_dir(dir, m.info.n_vocab)) {}

  // The encoder output of the window at `seek` (mel frames) of `pcm`.
  engine::Mat encode_window(const std::vector<float>& pcm, int seek) {
    int n_frames = 0;
    std::vector<float> mel = engine::log_mel_spectrogram(pcm.data(), pcm.size(), m.info.n_mels, 480000, 1, &n_frames);
    const int content = n_frames - 3000, size = std::min(3000, content - seek);
    std::vector<float> w = engine::mel_window(mel, m.info.n_mels, n_frames, seek, size, 3000);
    return engine::encode(m, *backend, w.data());
  }
};

// For the first window where our segments leave faster-whisper's: prints both sides' best hypotheses and
// faster-whisper's best scored by our model.
void explain_first_difference(Model& model, const std::vector<float>& pcm, const Transcript& t,
                              const nlohmann::json& ref) {
  // Our prompt for each window is <|startofprev|> + earlier text tokens + the sot sequence; find the first
  // segment that differs and the reference window with that prompt.
  std::vector<int> previous;
  const auto& rs = ref["segments"];
  size_t i = 0;
  while (i < t.segments.size() && i < rs.size() && t.segments[i].tokens == rs[i]["tokens"].get<std::vector<int>>())
    previous.insert(previous.end(), t.segments[i].tokens.begin(), t.segments[i].tokens.end()), ++i;
  const int seek = i < t.segments.size() ? t.segments[i].seek : i < rs.size() ? rs[i]["seek"].get<int>() : -1;
  if (seek < 0) return;
  for (size_t j = i; j-- > 0 && t.segments[j].seek == seek;) previous.resize(previous.size() - t.segments[j].tokens.size());
  std::vector<int> prompt;
  if (!previous.empty()) {
    prompt.push_back(model.tok.sot_prev());
    const size_t from = previous.size() > 223 ? previous.size() - 223 : 0;
    prompt.insert(prompt.end(), previous.begin() + from, previous.end());
  }
  for (int tk : model.tok.sot_sequence("en", "transcribe")) prompt.push_back(tk);
  const nlohmann::json* window = nullptr;
  for (const auto& w : ref["windows"])
    if (w["prompt"].get<std::vector<int>>() == prompt) window = &w;
  if (!window) {
    std::cout << "  (no faster-whisper window with our prompt at seek " << seek << ")\n";
    return;
  }
  engine::Decoder dec(model.m, *model.backend);
  dec.set_audio(model.encode_window(pcm, seek));
  TranscribeOptions opt;
  opt.beam_size = 5;
  engine::WindowDecoder wd(model.m, model.tok, dec, opt);
  std::mt19937_64 rng(0);
  engine::WindowResult ours = wd.decode(prompt, 0.0f, rng);
  std::vector<float> our_scores;
  for (const auto& h : ours.candidates) our_scores.push_back(engine::ranker_score(h.sum_logprob, h.tokens.size(), {}));
  std::sort(our_scores.begin(), our_scores.end(), std::greater<>());
  const std::vector<int> theirs = (*window)["hypotheses"][0].get<std::vector<int>>();
  const float theirs_here = engine::ranker_score(wd.score_tokens(prompt, theirs), theirs.size(), {});
  const auto& fs = (*window)["scores"];
  std::printf("  window at seek %d: our best two %.5f, %.5f; faster-whisper's best two %.5f, %.5f;\n"
              "  faster-whisper's best scored by us %.5f (margin to our best %.5f)\n",
              seek, our_scores[0], our_scores.size() > 1 ? our_scores[1] : NAN, fs[0].get<float>(),
              fs.size() > 1 ? fs[1].get<float>() : NAN, theirs_here, our_scores[0] - theirs_here);
}

class BeamTranscripts : public ::testing::Test {
 protected:
  void check(const std::vector<std::string>& ids, double min_identical_fraction) {
    WST_REQUIRE_TINY_EN();
    const nlohmann::json ref = load_beam_reference();
    ASSERT_EQ(ref["header"]["options"]["beam_size"], 5);
    auto engine = Engine::load(test::tiny_en_dir().string(), {});
    std::unique_ptr<Model> model;
    TranscribeOptions opt;
    opt.beam_size = 5;
    int identical = 0;
    for (const auto& id : ids) {
      auto it = std::find_if(ref["files"].begin(), ref["files"].end(), [&](const auto& f) { return f["id"] == id; });
      ASSERT_NE(it, ref["files"].end()) << "no reference for " << id;
      std::vector<float> pcm = audio::load_audio(test::speech_path(id).string());
      Transcript t = engine->transcribe(pcm, opt);
      if (t.text == (*it)["text"].get<std::string>()) {
        ++identical;
        continue;
      }
      std::cout << id << ": differs\n  ours:   " << t.text << "\n  theirs: " << (*it)["text"].get<std::string>() << "\n";
      if (!model) model = std::make_unique<Model>(test::tiny_en_dir().string());
      explain_first_difference(*model, pcm, t, *it);
    }
    std::cout << identical << " of " << ids.size() << " beam-5 transcripts identical to faster-whisper's\n";
    EXPECT_GE(identical, min_identical_fraction * ids.size());
  }
};

TEST_F(BeamTranscripts, JfkMatchesFasterWhisper) { check({"jfk"}, 1.0); }

TEST_F(BeamTranscripts, Ted60MatchesFasterWhisper) { check({"ted_60"}, 1.0); }

TEST_F(BeamTranscripts, LibriSpeechMatchesFasterWhisper) {
  std::vector<std::string> ids;
  const nlohmann::json ref = load_beam_reference();
  for (const auto& f : ref["files"])
    if (f["id"] != "jfk" && f["id"] != "ted_60") ids.push_back(f["id"]);
  ASSERT_EQ(ids.size(), 40u);
  check(ids, 0.90);
}

TEST(BatchedDecoder, ForkReorderAndStepMatchOneSequenceRuns) {
  WST_REQUIRE_TINY_EN();
  Model model(test::tiny_en_dir().string());
  const int n_vocab = model.m.info.n_vocab;
  engine::Mat enc = model.encode_window(audio::load_audio(test::speech_path("jfk").string()), 0);
  const std::vector<int> prompt = model.tok.sot_sequence("en", "transcribe");
  const int ts0 = model.tok.timestamp_begin();
  // Three histories after the prompt; after one step they are reordered to continue {2, 2, 0}.
  const std::vector<int> first = {ts0, ts0 + 1, ts0 + 2}, second = {220, 843, 50};
  const std::vector<int> src = {2, 2, 0};

  engine::Decoder batch(model.m, *model.backend);
  batch.set_audio(enc);
  std::vector<float> logits;
  batch.forward(prompt, {static_cast<int>(prompt.size()) - 1}, logits);
  batch.fork(3);
  ASSERT_EQ(batch.n_seq(), 3);
  std::vector<float> step1, step2;
  batch.forward_step(first, step1);
  batch.reorder(src);
  batch.forward_step(second, step2);

  engine::Decoder one(model.m, *model.backend);
  one.set_audio(enc);
  for (int b = 0; b < 3; ++b) {
    std::vector<int> seq = prompt;
    seq.push_back(first[src[b]]);
    seq.push_back(second[b]);
    std::vector<float> want;
    one.truncate(0);
    one.forward(seq, {static_cast<int>(prompt.size()), static_cast<int>(prompt.size()) + 1}, want);
    float max1 = 0, max2 = 0;
    for (int v = 0; v < n_vocab; ++v) {
      max1 = std::max(max1, std::abs(step1[static_cast<size_t>(src[b]) * n_vocab + v] - want[v]));
      max2 = std::max(max2, std::abs(step2[static_cast<size_t>(b) * n_vocab + v] - want[n_vocab + v]));
    }
    EXPECT_LT(max1, kBatchLogitTolerance) << "step 1, sequence " << src[b];
    EXPECT_LT(max2, kBatchLogitTolerance) << "step 2, sequence " << b << " (continuing " << src[b] << ")";
  }
}

// Sequences that attend to different windows, with prompts of different lengths, stepped as one batch (one
// finished and dropped midway): the logits are exactly those of one decoder per window run token by token, as
// transcribe() runs it. Exact because, with the engine's float32 policy on this float16 file, the decoder's
// products go through the CPU's matrix-vector kernels, which compute each row as they compute one row alone.
TEST(BatchedDecoder, SequencesOnDifferentWindowsMatchOneWindowRuns) {
  WST_REQUIRE_TINY_EN();
  Model model(test::tiny_en_dir().string(), engine::weight_policy("float32"));
  const int n_vocab = model.m.info.n_vocab;
  const std::vector<float> jfk = audio::load_audio(test::speech_path("jfk").string());
  const std::vector<float> ted = audio::load_audio(test::speech_path("ted_60").string());
  const std::vector<engine::Mat> encs = {model.encode_window(jfk, 0), model.encode_window(ted, 0),
                                         model.encode_window(ted, 3000)};
  const std::vector<int> sot = model.tok.sot_sequence("en", "transcribe");
  const int ts0 = model.tok.timestamp_begin();
  std::vector<std::vector<int>> prompts = {sot, {model.tok.sot_prev()}, sot};
  for (int t : model.tok.encode(" And so my fellow Americans")) prompts[1].push_back(t);
  prompts[1].insert(prompts[1].end(), sot.begin(), sot.end());
  prompts[2].push_back(ts0);
  // Step 1 runs the three sequences; then sequence 1 leaves and the other two go on in the order {2, 0}.
  const std::vector<int> step1 = {ts0, ts0 + 3, 843}, step2 = {220, 50};
  const std::vector<int> order2 = {2, 0};

  engine::Decoder batch(model.m, *model.backend);
  batch.set_audios(encs);
  ASSERT_EQ(batch.n_seq(), 3);
  std::vector<std::vector<float>> got(3);  // per window: prompt logits, step 1, step 2 (where run)
  for (int i = 0; i < 3; ++i) {
    batch.forward(prompts[i], {static_cast<int>(prompts[i].size()) - 1}, got[i], i);
    EXPECT_EQ(batch.n_past(i), static_cast<int>(prompts[i].size()));
  }
  std::vector<float> l1, l2;
  batch.forward_step(step1, l1);
  for (int i = 0; i < 3; ++i) got[i].insert(got[i].end(), l1.begin() + i * n_vocab, l1.begin() + (i + 1) * n_vocab);
  batch.reorder(order2);
  ASSERT_EQ(batch.n_seq(), 2);
  EXPECT_EQ(batch.n_past(0), static_cast<int>(prompts[2].size()) + 1);
  batch.forward_step(step2, l2);
  for (int b = 0; b < 2; ++b)
    got[order2[b]].insert(got[order2[b]].end(), l2.begin() + b * n_vocab, l2.begin() + (b + 1) * n_vocab);

  engine::Decoder one(model.m, *model.backend);
  for (int i = 0; i < 3; ++i) {
    one.set_audio(encs[i]);
    std::vector<float> want, step;
    one.forward(prompts[i], {static_cast<int>(prompts[i].size()) - 1}, want);
    one.forward({step1[i]}, {0}, step);
    want.insert(want.end(), step.begin(), step.end());
    if (i != 1) {
      one.forward({step2[i == 2 ? 0 : 1]}, {0}, step);
      want.insert(want.end(), step.begin(), step.end());
    }
    ASSERT_EQ(got[i].size(), want.size()) << "window " << i;
    for (size_t v = 0; v < want.size(); ++v)
      if (got[i][v] != want[v]) {
        ADD_FAILURE() << "window " << i << ", step " << v / n_vocab << ", token " << v % n_vocab << ": batched "
                      << got[i][v] << ", alone " << want[v];
        break;
      }
  }
}

TEST(BestOf, KeepsTheCandidateTheRankerPrefers) {
  WST_REQUIRE_TINY_EN();
  Model model(test::tiny_en_dir().string());
  engine::Decoder dec(model.m, *model.backend);
  dec.set_audio(model.encode_window(audio::load_audio(test::speech_path("jfk").string()), 0));
  TranscribeOptions opt;
  opt.best_of = 5;
  engine::WindowDecoder wd(model.m, model.tok, dec, opt);
  const std::vector<int> prompt = model.tok.sot_sequence("en", "transcribe");
  bool best_not_first = false, lengths_differ = false;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    std::mt19937_64 rng(seed);
    engine::WindowResult r = wd.decode(prompt, 1.0f, rng);
    ASSERT_EQ(r.candidates.size(), 5u);
    int best = 0;
    for (int i = 0; i < 5; ++i) {
      const auto& c = r.candidates[i];
      // Each candidate's summed log-probability is what our model gives its tokens (sampled at T = 1 from
      // the same filtered distributions).
      EXPECT_NEAR(c.sum_logprob, wd.score_tokens(prompt, c.tokens), 2e-2 + 1e-3 * std::abs(c.sum_logprob));
      if (engine::ranker_score(c.sum_logprob, c.tokens.size(), {}) >
          engine::ranker_score(r.candidates[best].sum_logprob, r.candidates[best].tokens.size(), {}))
        best = i;
      lengths_differ |= c.tokens.size() != r.candidates[0].tokens.size();
    }
    EXPECT_EQ(r.tokens, r.candidates[best].tokens) << "seed " << seed;
    EXPECT_NEAR(r.avg_logprob, r.candidates[best].sum_logprob / (r.tokens.size() + 1.0), 1e-5);
    best_not_first |= best != 0;
  }
  EXPECT_TRUE(best_not_first) << "with four seeds the first sample was always the best: the pick is untested";
  EXPECT_TRUE(lengths_differ);
}

TEST(BestOf, FallbackKeepsTheBestOfNSamples) {
  WST_REQUIRE_TINY_EN();
  const std::string dir = test::tiny_en_dir().string();
  auto engine = Engine::load(dir, {});
  auto pcm = audio::load_audio(test::speech_path("jfk").string());
  TranscribeOptions opt;
  opt.logprob_threshold = 0.0f;  // nothing is that probable: every temperature falls back, the last is kept
  opt.no_speech_threshold = 1.0f;
  opt.temperatures = {0.0f, 1.0f};
  opt.beam_size = 5;  // temperature 0 runs beam search, which draws nothing from the sampler
  opt.best_of = 5;
  opt.seed = 3;
  Transcript t = engine->transcribe(pcm, opt);
  ASSERT_FALSE(t.segments.empty());
  EXPECT_EQ(t.segments[0].temperature, 1.0f);
  EXPECT_EQ(engine->transcribe(pcm, opt).text, t.text) << "same seed, same samples";

  // The same window decoded by hand with a sampler seeded alike: the engine kept the candidate the ranker
  // prefers among the five.
  Model model(dir);
  engine::Decoder dec(model.m, *model.backend);
  dec.set_audio(model.encode_window(pcm, 0));
  engine::WindowDecoder wd(model.m, model.tok, dec, opt);
  std::mt19937_64 rng(opt.seed);
  engine::WindowResult r = wd.decode(model.tok.sot_sequence("en", "transcribe"), 1.0f, rng);
  ASSERT_EQ(r.candidates.size(), 5u);
  const int best = engine::best_hypothesis(r.candidates, {});
  EXPECT_EQ(r.tokens, r.candidates[best].tokens);
  EXPECT_NEAR(t.segments[0].avg_logprob, r.avg_logprob, 1e-6);
  ASSERT_LE(t.segments[0].tokens.size(), r.tokens.size());
  EXPECT_TRUE(std::equal(t.segments[0].tokens.begin(), t.segments[0].tokens.end(), r.tokens.begin()));
}

}  // namespace
}  // namespace wst
