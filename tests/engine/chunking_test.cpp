// Cutting one recording at silences (engine/chunking.h) and Engine::transcribe_chunked.
//
// The cuts on made-up signals (noise bursts and gaps): in the gap nearest the 30 s limit, never past it, the
// whole recording covered. With the real tiny.en weights: chunked transcripts lose at most 3 WER points to
// transcribe()'s, on ted_60.wav (against openai-whisper's transcript, tests/reference/openai_whisper_tiny_en.json:
// there is no human one) and on twelve LibriSpeech utterances joined into one recording (against their
// official transcripts).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <random>

#include "audio/decode.h"
#include "bench/text_normalizer.h"
#include "bench/wer.h"
#include "engine/chunking.h"
#include "support/paths.h"
#include "util/errors.h"
#include "wst/engine.h"

namespace wst {
namespace {

constexpr int kRate = 16000;
// The most WER a chunked transcript may lose to the sequential one (chunks know nothing of the text before
// them and a cut may split a word; the bound).
constexpr double kMaxWerLoss = 0.03;

// Noise at speech level for `seconds`, except silence (1e-4 noise) in [gap.first, gap.second) seconds.
std::vector<float> bursts(double seconds, const std::vector<std::pair<double, double>>& gaps) {
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> pcm(static_cast<size_t>(seconds * kRate));
  for (size_t i = 0; i < pcm.size(); ++i) {
    const double t = static_cast<double>(i) / kRate;
    bool quiet = false;
    for (const auto& g : gaps) quiet |= t >= g.first && t < g.second;
    pcm[i] = noise(rng) * (quiet ? 1e-4f : 0.1f);
  }
  return pcm;
}

void expect_covering(const std::vector<engine::Chunk>& chunks, size_t n) {
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.front().start, 0u);
  EXPECT_EQ(chunks.back().end, n);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LT(chunks[i].start, chunks[i].end) << "chunk " << i;
    EXPECT_LE(chunks[i].end - chunks[i].start, engine::kMaxChunkSamples) << "chunk " << i;
    EXPECT_EQ(chunks[i].start % 160, 0u) << "chunk " << i << " does not start on a mel hop";
    if (i > 0) {
      EXPECT_EQ(chunks[i].start, chunks[i - 1].end) << "chunk " << i;
    }
  }
}

TEST(Chunking, CutsInTheGapNearestTheLimit) {
  // Gaps at 12 s and 26 s (both before the first limit; the later one is taken) and at 50 s.
  const std::vector<float> pcm = bursts(70.0, {{12.0, 12.5}, {26.0, 26.6}, {50.0, 50.4}});
  const auto chunks = engine::cut_at_silences(pcm);
  expect_covering(chunks, pcm.size());
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_GE(chunks[0].end, 26.0 * kRate);
  EXPECT_LE(chunks[0].end, 26.6 * kRate);
  EXPECT_GE(chunks[1].end, 50.0 * kRate);
  EXPECT_LE(chunks[1].end, 50.4 * kRate);
}

TEST(Chunking, WithoutSilenceCutsWithinTheLimit) {
  const std::vector<float> pcm = bursts(75.0, {});
  const auto chunks = engine::cut_at_silences(pcm);
  expect_covering(chunks, pcm.size());
  EXPECT_EQ(chunks.size(), 3u);
}

TEST(Chunking, ShortAudioIsOneChunkAndEmptyAudioNone) {
  const std::vector<float> pcm = bursts(29.9, {{10.0, 11.0}});
  const auto chunks = engine::cut_at_silences(pcm);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].end, pcm.size());
  EXPECT_TRUE(engine::cut_at_silences({}).empty());
}

TEST(Chunking, JoinMovesSegmentsByTheirChunksStart) {
  Transcript a, b;
  a.language = "en";
  a.text = " one";
  a.segments.push_back({0, 0, 0.0, 2.0, " one", {50364}, 0, 0, 0, 0});
  b.text = " two three";
  b.segments.push_back({0, 0, 1.0, 3.0, " two", {}, 0, 0, 0, 0});
  b.segments.push_back({1, 300, 6.0, 7.5, " three", {}, 0, 0, 0, 0});
  const Transcript t = engine::join_chunks({{0, 20 * 16000}, {20 * 16000, 31 * 16000}}, {a, b});
  EXPECT_EQ(t.text, " one two three");
  EXPECT_EQ(t.language, "en");
  ASSERT_EQ(t.segments.size(), 3u);
  EXPECT_EQ(t.segments[2].id, 2);
  EXPECT_EQ(t.segments[1].seek, 2000);
  EXPECT_EQ(t.segments[2].seek, 2300);
  EXPECT_DOUBLE_EQ(t.segments[1].start_s, 21.0);
  EXPECT_DOUBLE_EQ(t.segments[2].end_s, 27.5);
  EXPECT_THROW(engine::join_chunks({{0, 1}}, {a, b}), Error);
}

double wer(const std::vector<std::string>& refs, const std::vector<std::string>& hyps) {
  std::vector<std::string> r, h;
  for (const auto& s : refs) r.push_back(bench::normalize_english(s));
  for (const auto& s : hyps) h.push_back(bench::normalize_english(s));
  return bench::corpus_word_errors(r, h).wer();
}

TEST(ChunkedTranscripts, Ted60LosesAtMostThreeWerPoints) {
  WST_REQUIRE_TINY_EN();
  auto engine = Engine::load(test::tiny_en_dir().string(), {});
  const std::vector<float> pcm = audio::load_audio(test::speech_path("ted_60").string());
  std::ifstream in(test::source_dir() / "tests/reference/openai_whisper_tiny_en.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  std::string truth;
  for (const auto& f : ref["files"])
    if (f["id"] == "ted_60") truth = f["text"];
  ASSERT_FALSE(truth.empty());

  const Transcript seq = engine->transcribe(pcm, {});
  const Transcript chunked = engine->transcribe_chunked(pcm, {});
  const double w_seq = wer({truth}, {seq.text}), w_chunked = wer({truth}, {chunked.text});
  std::printf("ted_60 WER against openai-whisper's transcript: sequential %.2f%%, chunked %.2f%% (%zu chunks)\n",
              100 * w_seq, 100 * w_chunked, engine::cut_at_silences(pcm).size());
  EXPECT_LE(w_chunked, w_seq + kMaxWerLoss) << "chunked: " << chunked.text;
  ASSERT_FALSE(chunked.segments.empty());
  EXPECT_GT(chunked.segments.back().end_s, 50.0);  // the later chunks' segments were moved by their start
  for (size_t i = 1; i < chunked.segments.size(); ++i)
    EXPECT_GE(chunked.segments[i].start_s, chunked.segments[i - 1].start_s) << "segment " << i;
}

TEST(ChunkedTranscripts, JoinedLibriSpeechLosesAtMostThreeWerPoints) {
  WST_REQUIRE_TINY_EN();
  auto engine = Engine::load(test::tiny_en_dir().string(), {});
  // The official transcripts of the first twelve utterances (id \t duration \t text), the audio joined.
  std::ifstream in(test::shared_audio_dir() / "librispeech" / "transcripts.tsv");
  std::string line, truth;
  std::getline(in, line);  // header
  std::vector<float> pcm;
  for (int n = 0; n < 12 && std::getline(in, line); ++n) {
    const auto a = line.find('\t'), b = line.find('\t', a + 1);
    ASSERT_NE(b, std::string::npos) << line;
    truth += " " + line.substr(b + 1);
    const std::vector<float> u = audio::load_audio(test::speech_path(line.substr(0, a)).string());
    pcm.insert(pcm.end(), u.begin(), u.end());
  }
  ASSERT_GT(pcm.size(), 60u * kRate);
  const double w_seq = wer({truth}, {engine->transcribe(pcm, {}).text});
  const double w_chunked = wer({truth}, {engine->transcribe_chunked(pcm, {}).text});
  std::printf("12 LibriSpeech utterances joined (%.0f s): WER sequential %.2f%%, chunked %.2f%% (%zu chunks)\n",
              static_cast<double>(pcm.size()) / kRate, 100 * w_seq, 100 * w_chunked, engine::cut_at_silences(pcm).size());
  EXPECT_LE(w_chunked, w_seq + kMaxWerLoss);
}

TEST(ChunkedTranscripts, EmptyAudioIsRefused) {
  WST_REQUIRE_TINY_EN();
  auto engine = Engine::load(test::tiny_en_dir().string(), {});
  try {
    engine->transcribe_chunked({}, {});
    ADD_FAILURE() << "empty audio was taken";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "audio: empty (0 samples)");
  }
}

}  // namespace
}  // namespace wst
