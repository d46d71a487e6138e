// Engine::transcribe_batch with the real tiny.en weights against transcribe() run on each recording alone:
// jfk, ted_60 (two windows) and six LibriSpeech utterances at batch sizes 1, 3 (recordings wait for a place)
// and 8, the int8 compute type, the same recording twice, an empty list, silence, empty audio, temperature
// fallback (some windows redone alone, sampling with best_of) and beam search (one recording after another).
// Transcripts must agree token for token, with the same segments, timestamps and scores (docs/BATCHING.md says
// why exactly).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "audio/decode.h"
#include "engine/batch_size.h"
#include "support/paths.h"
#include "util/errors.h"
#include "wst/engine.h"

namespace wst {
namespace {

// jfk, ted_60 and the first six LibriSpeech utterances by name.
std::vector<std::string> recording_ids() {
  std::vector<std::string> librispeech;
  for (const auto& e : std::filesystem::directory_iterator(test::shared_audio_dir() / "librispeech"))
    if (e.path().extension() == ".wav") librispeech.push_back(e.path().stem().string());
  std::sort(librispeech.begin(), librispeech.end());
  std::vector<std::string> ids = {"jfk", "ted_60"};
  for (size_t i = 0; i < librispeech.size() && i < 6; ++i) ids.push_back(librispeech[i]);
  return ids;
}

// Fails with the first difference: text, segment count, or the first segment whose seek, times, scores or
// tokens differ (and there the first differing token).
void expect_same_transcript(const Transcript& want, const Transcript& got, const std::string& what) {
  EXPECT_EQ(got.language, want.language) << what;
  ASSERT_EQ(got.segments.size(), want.segments.size()) << what << "\n  alone:   " << want.text << "\n  batched: " << got.text;
  for (size_t i = 0; i < want.segments.size(); ++i) {
    const Segment &a = want.segments[i], &b = got.segments[i];
    if (a.tokens != b.tokens) {
      size_t k = 0;
      while (k < a.tokens.size() && k < b.tokens.size() && a.tokens[k] == b.tokens[k]) ++k;
      ADD_FAILURE() << what << ": segment " << i << " (seek " << a.seek << ") differs at token " << k << ": alone "
                    << (k < a.tokens.size() ? a.tokens[k] : -1) << ", batched " << (k < b.tokens.size() ? b.tokens[k] : -1);
      return;
    }
    EXPECT_EQ(b.id, a.id) << what << ", segment " << i;
    EXPECT_EQ(b.seek, a.seek) << what << ", segment " << i;
    EXPECT_EQ(b.start_s, a.start_s) << what << ", segment " << i;
    EXPECT_EQ(b.end_s, a.end_s) << what << ", segment " << i;
    EXPECT_EQ(b.text, a.text) << what << ", segment " << i;
    EXPECT_EQ(b.temperature, a.temperature) << what << ", segment " << i;
    EXPECT_EQ(b.avg_logprob, a.avg_logprob) << what << ", segment " << i;
    EXPECT_EQ(b.compression_ratio, a.compression_ratio) << what << ", segment " << i;
    EXPECT_EQ(b.no_speech_prob, a.no_speech_prob) << what << ", segment " << i;
  }
  EXPECT_EQ(got.text, want.text) << what;
}

// One engine and the recordings for every test here; each recording's transcript from transcribe() made when
// first asked for (ctest runs each test in a process of its own).
class BatchTranscripts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (test::tiny_en_dir().empty() || !std::filesystem::exists(test::tiny_en_dir() / "model.bin")) return;
    engine_ = Engine::load(test::tiny_en_dir().string(), {}).release();
    ids_ = new std::vector<std::string>(recording_ids());
    pcms_ = new std::vector<std::vector<float>>;
    for (const auto& id : *ids_) pcms_->push_back(audio::load_audio(test::speech_path(id).string()));
    alone_ = new std::vector<std::optional<Transcript>>(ids_->size());
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete ids_;
    delete pcms_;
    delete alone_;
  }

  void SetUp() override { WST_REQUIRE_TINY_EN(); }

  // transcribe() of recording i with the default options.
  static const Transcript& alone(size_t i) {
    std::optional<Transcript>& t = (*alone_)[i];
    if (!t) t = engine_->transcribe((*pcms_)[i], {});
    return *t;
  }

  // transcribe_batch of every recording at `batch_size` against transcribe() of each.
  void check_all(int batch_size) {
    ASSERT_EQ(ids_->size(), 8u) << "expected jfk, ted_60 and six LibriSpeech utterances";
    TranscribeOptions opt;
    opt.batch_size = batch_size;
    const std::vector<Transcript> got = engine_->transcribe_batch(*pcms_, opt);
    ASSERT_EQ(got.size(), pcms_->size());
    for (size_t i = 0; i < got.size(); ++i)
      expect_same_transcript(alone(i), got[i], (*ids_)[i] + " at batch size " + std::to_string(batch_size));
  }

  static Engine* engine_;
  static std::vector<std::string>* ids_;
  static std::vector<std::vector<float>>* pcms_;
  static std::vector<std::optional<Transcript>>* alone_;
};

Engine* BatchTranscripts::engine_ = nullptr;
std::vector<std::string>* BatchTranscripts::ids_ = nullptr;
std::vector<std::vector<float>>* BatchTranscripts::pcms_ = nullptr;
std::vector<std::optional<Transcript>>* BatchTranscripts::alone_ = nullptr;

TEST_F(BatchTranscripts, BatchOfOneMatchesTranscribe) { check_all(1); }

TEST_F(BatchTranscripts, BatchOfThreeMatchesTranscribe) { check_all(3); }

TEST_F(BatchTranscripts, BatchOfEightMatchesTranscribe) {
  check_all(8);
  // ted_60 has two windows, the others one: the batch shrank to one window in its second round.
  EXPECT_GE(alone(1).segments.back().seek, 1) << "ted_60 was expected to need a second window";
}

// int8 weights go through the CPU's int8 matrix-vector kernels, which also compute each row as one row alone.
TEST_F(BatchTranscripts, Int8ComputeTypeMatchesTranscribeToo) {
  EngineOptions eo;
  eo.compute_type = "int8";
  auto int8 = Engine::load(test::tiny_en_dir().string(), eo);
  const std::vector<std::vector<float>> pcms = {(*pcms_)[0], (*pcms_)[1], (*pcms_)[2]};
  TranscribeOptions opt;
  opt.batch_size = 3;
  const std::vector<Transcript> got = int8->transcribe_batch(pcms, opt);
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < 3; ++i) expect_same_transcript(int8->transcribe(pcms[i], {}), got[i], (*ids_)[i] + ", int8");
}

TEST_F(BatchTranscripts, DefaultBatchSizeOnTheCpuIsEight) {
  EXPECT_EQ(engine_->default_batch_size(), engine::kCpuBatchSize);
  const std::vector<Transcript> got = engine_->transcribe_batch({(*pcms_)[0], (*pcms_)[2]}, {});
  ASSERT_EQ(got.size(), 2u);
  expect_same_transcript(alone(0), got[0], "jfk, default batch size");
  expect_same_transcript(alone(2), got[1], (*ids_)[2] + ", default batch size");
}

TEST_F(BatchTranscripts, SameRecordingTwice) {
  TranscribeOptions opt;
  opt.batch_size = 3;
  const std::vector<Transcript> got = engine_->transcribe_batch({(*pcms_)[0], (*pcms_)[1], (*pcms_)[0]}, opt);
  ASSERT_EQ(got.size(), 3u);
  expect_same_transcript(alone(0), got[0], "jfk, first");
  expect_same_transcript(alone(1), got[1], "ted_60");
  expect_same_transcript(alone(0), got[2], "jfk, second");
}

TEST_F(BatchTranscripts, EmptyListGivesNoTranscript) {
  EXPECT_TRUE(engine_->transcribe_batch({}, {}).empty());
}

TEST_F(BatchTranscripts, SilenceAsTranscribeGivesIt) {
  const std::vector<float> silence(5 * 16000, 0.0f), click(1, 0.5f);
  TranscribeOptions opt;
  opt.batch_size = 4;
  const std::vector<Transcript> got = engine_->transcribe_batch({silence, (*pcms_)[0], click}, opt);
  ASSERT_EQ(got.size(), 3u);
  expect_same_transcript(engine_->transcribe(silence, {}), got[0], "5 s of silence");
  expect_same_transcript(alone(0), got[1], "jfk after silence");
  expect_same_transcript(engine_->transcribe(click, {}), got[2], "one sample");
}

TEST_F(BatchTranscripts, EmptyAudioIsRefusedAsTranscribeRefusesIt) {
  try {
    engine_->transcribe({}, {});
    ADD_FAILURE() << "transcribe took empty audio";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "audio: empty (0 samples)");
  }
  try {
    engine_->transcribe_batch({(*pcms_)[0], {}}, {});
    ADD_FAILURE() << "transcribe_batch took empty audio";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "audio 2 of 2: empty (0 samples)");
  }
}

TEST_F(BatchTranscripts, BatchSizeBelowOneIsRefused) {
  TranscribeOptions opt;
  opt.batch_size = 0;
  try {
    engine_->transcribe_batch({(*pcms_)[0]}, opt);
    ADD_FAILURE() << "batch size 0 was taken";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "batch size 0 (must be 1 or more)");
  }
}

// A log-probability threshold that some windows miss at temperature 0: those are redone alone at the next
// temperatures (best_of 2 samples each, from each recording's own sampler), the others keep the batch's result.
TEST_F(BatchTranscripts, FallbackWindowsAreRedoneAloneAsTranscribeDoesThem) {
  TranscribeOptions opt;
  opt.logprob_threshold = -0.3f;
  opt.no_speech_threshold = 1.0f;  // no window is taken for silence
  opt.temperatures = {0.0f, 0.5f, 1.0f};
  opt.best_of = 2;
  opt.seed = 7;
  bool fell_back = false, kept_zero = false;
  std::vector<Transcript> alone;
  for (const auto& pcm : *pcms_) {
    alone.push_back(engine_->transcribe(pcm, opt));
    for (const auto& s : alone.back().segments) (s.temperature > 0 ? fell_back : kept_zero) = true;
  }
  ASSERT_TRUE(fell_back && kept_zero) << "the threshold should make some windows fall back and not others";
  opt.batch_size = 8;
  const std::vector<Transcript> got = engine_->transcribe_batch(*pcms_, opt);
  ASSERT_EQ(got.size(), alone.size());
  for (size_t i = 0; i < got.size(); ++i) expect_same_transcript(alone[i], got[i], (*ids_)[i] + " with fallback");
}

TEST_F(BatchTranscripts, BeamSearchRunsOneRecordingAfterAnother) {
  TranscribeOptions opt;
  opt.beam_size = 3;
  opt.batch_size = 2;
  const std::vector<Transcript> got = engine_->transcribe_batch({(*pcms_)[0], (*pcms_)[2]}, opt);
  ASSERT_EQ(got.size(), 2u);
  expect_same_transcript(engine_->transcribe((*pcms_)[0], opt), got[0], "jfk, beam 3");
  expect_same_transcript(engine_->transcribe((*pcms_)[2], opt), got[1], (*ids_)[2] + ", beam 3");
}

}  // namespace
}  // namespace wst
