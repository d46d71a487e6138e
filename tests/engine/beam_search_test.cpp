// The beam-search bookkeeping (src/engine/beam_search.h) on made-up log-probabilities over a 6-token
// vocabulary whose EOT is token 0: which candidates finish, what replaces them, when patience ends the
// search, and how the ranker orders finished sequences.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cmath>
#include <limits>

#include "engine/beam_search.h"

namespace wst::engine {
namespace {

constexpr int kEot = 0, kVocab = 6;
constexpr float kNo = -std::numeric_limits<float>::infinity();

// One row per beam: log-probabilities of tokens 0..5.
std::vector<float> rows(std::initializer_list<std::array<float, kVocab>> r) {
  std::vector<float> out;
  for (const auto& row : r) out.insert(out.end(), row.begin(), row.end());
  return out;
}

TEST(Ranker, DividesBySumByLengthUnlessAPenaltyIsSet) {
  EXPECT_FLOAT_EQ(ranker_score(-6.0f, 3, std::nullopt), -2.0f);
  EXPECT_FLOAT_EQ(ranker_score(-6.0f, 3, 1.0f), -6.0f / (8.0f / 6.0f));  // openai: ((5 + 3) / 6) ^ 1
  EXPECT_FLOAT_EQ(ranker_score(-6.0f, 3, 0.0f), -6.0f);                  // alpha 0: the plain sum
  EXPECT_FLOAT_EQ(ranker_score(-2.0f, 0, std::nullopt), -2.0f);          // empty counts as length 1
}

TEST(Ranker, PicksByAverageNotBySum) {
  // A long sequence with a lower sum but a better average beats a short one, unless alpha = 0.
  const std::vector<Hypothesis> h = {{{1}, -1.5f}, {{1, 2, 3, 4}, -4.0f}, {{2}, -1.6f}};
  EXPECT_EQ(best_hypothesis(h, std::nullopt), 1);
  EXPECT_EQ(best_hypothesis(h, 0.0f), 0);
  EXPECT_EQ(best_hypothesis({}, std::nullopt), -1);
}

TEST(BeamSearch, MaxCandidatesIsRoundedBeamTimesPatience) {
  EXPECT_EQ(BeamSearch(5, 1.0f, kEot).max_candidates(), 5);
  EXPECT_EQ(BeamSearch(5, 1.5f, kEot).max_candidates(), 8);  // 7.5 rounds up
  EXPECT_EQ(BeamSearch(5, 2.0f, kEot).max_candidates(), 10);
  EXPECT_EQ(BeamSearch(2, 0.2f, kEot).max_candidates(), 1);  // never 0
  EXPECT_THROW(BeamSearch(0, 1.0f, kEot), std::exception);
  EXPECT_THROW(BeamSearch(2, 0.0f, kEot), std::exception);
}

TEST(BeamSearch, FirstStepExpandsTheOneBeam) {
  BeamSearch bs(2, 1.0f, kEot);
  std::vector<int> src = bs.step(rows({{kNo, -0.1f, -0.5f, -3.0f, -4.0f, kNo}}), kVocab, false);
  EXPECT_EQ(src, (std::vector<int>{0, 0}));
  EXPECT_EQ(bs.beams(), (std::vector<std::vector<int>>{{1}, {2}}));
  EXPECT_FLOAT_EQ(bs.beam_logprobs()[1], -0.5f);
  EXPECT_TRUE(bs.finished().empty());
}

TEST(BeamSearch, FinishedBeamIsReplacedByTheNextUnfinishedCandidate) {
  BeamSearch bs(2, 1.0f, kEot);
  bs.step(rows({{kNo, -0.1f, -0.5f, kNo, kNo, kNo}}), kVocab, false);  // beams [1] -0.1, [2] -0.5
  // Candidates by score: [1]+EOT -0.15, [2,4] -0.8, [2,3] -1.5, [1,3] -2.1, [2]+EOT -5.5 (6th, not kept).
  std::vector<int> src = bs.step(rows({{-0.05f, kNo, kNo, -2.0f, kNo, kNo}, {-5.0f, kNo, kNo, -1.0f, -0.3f, kNo}}),
                                 kVocab, false);
  ASSERT_EQ(bs.finished().size(), 1u);
  EXPECT_EQ(bs.finished()[0].tokens, (std::vector<int>{1}));  // EOT is not part of the hypothesis
  EXPECT_FLOAT_EQ(bs.finished()[0].sum_logprob, -0.15f);      // but its log-probability is
  // The finished place (rank 0) goes to rank 2, the first unfinished candidate after the beam_size best.
  EXPECT_EQ(bs.beams(), (std::vector<std::vector<int>>{{2, 3}, {2, 4}}));
  EXPECT_EQ(src, (std::vector<int>{1, 1}));
  EXPECT_FALSE(bs.done());  // 1 of max_candidates 2
}

TEST(BeamSearch, EotBelowTheBeamSizeBestDoesNotFinish) {
  BeamSearch bs(2, 1.0f, kEot);
  bs.step(rows({{kNo, -0.1f, -0.2f, kNo, kNo, kNo}}), kVocab, false);
  // [1,3] -0.2, [2,3] -0.3, then [1]+EOT -1.1: third, so it is dropped rather than finished.
  bs.step(rows({{-1.0f, kNo, kNo, -0.1f, kNo, kNo}, {-2.0f, kNo, kNo, -0.1f, kNo, kNo}}), kVocab, false);
  EXPECT_TRUE(bs.finished().empty());
  EXPECT_EQ(bs.beams(), (std::vector<std::vector<int>>{{1, 3}, {2, 3}}));
}

TEST(BeamSearch, PatienceKeepsSearchingAfterBeamSizeHypotheses) {
  const auto step0 = rows({{kNo, -0.1f, -0.2f, -3.0f, kNo, kNo}});
  // Both beams' best continuation is EOT: two hypotheses finish, [1,3] and [2,3] take their places.
  const auto step1 = rows({{-0.01f, kNo, kNo, -1.0f, -2.0f, kNo}, {-0.01f, kNo, kNo, -1.0f, -2.0f, kNo}});
  BeamSearch one(2, 1.0f, kEot), two(2, 2.0f, kEot);
  for (BeamSearch* bs : {&one, &two}) {
    bs->step(step0, kVocab, false);
    bs->step(step1, kVocab, false);
    EXPECT_EQ(bs->finished().size(), 2u);
  }
  EXPECT_TRUE(one.done());
  EXPECT_FALSE(two.done());
  EXPECT_EQ(two.beams(), (std::vector<std::vector<int>>{{1, 3}, {2, 3}}));
  EXPECT_THROW(one.step(step1, kVocab, false), std::exception);
  // Two more finish: max_candidates 4 reached.
  two.step(step1, kVocab, false);
  EXPECT_TRUE(two.done());
  EXPECT_EQ(two.finished().size(), 4u);
  EXPECT_EQ(two.finished()[2].tokens, (std::vector<int>{1, 3}));
}

TEST(BeamSearch, LastStepFinishesEveryBeamWithItsToken) {
  BeamSearch bs(2, 1.0f, kEot);
  bs.step(rows({{kNo, -0.1f, -0.2f, kNo, kNo, kNo}}), kVocab, false);
  bs.step(rows({{kNo, kNo, kNo, -0.5f, -0.6f, kNo}, {kNo, kNo, kNo, kNo, -0.1f, kNo}}), kVocab, true);
  EXPECT_TRUE(bs.done());
  ASSERT_EQ(bs.finished().size(), 2u);
  EXPECT_EQ(bs.finished()[0].tokens, (std::vector<int>{2, 4}));  // -0.3
  EXPECT_EQ(bs.finished()[1].tokens, (std::vector<int>{1, 3}));  // -0.6
  EXPECT_EQ(best_hypothesis(bs.finished(), std::nullopt), 0);
}

TEST(BeamSearch, RejectsRowsOfTheWrongShape) {
  BeamSearch bs(2, 1.0f, kEot);
  EXPECT_THROW(bs.step(std::vector<float>(2 * kVocab, -1.0f), kVocab, false), std::exception);
}

// The GPU's beam step hands over each beam's 2 * beam_size best continuations instead of whole rows
// (Backend::top_candidates); the search must go exactly as from the rows: the same beams, sources and finished
// hypotheses at every step, over random rows with ties (coarse values) and masked tokens, 60 steps, 5 beams.
TEST(BeamSearch, StepFromEachBeamsBestCandidatesEqualsTheStepFromWholeRows) {
  constexpr int kBig = 300, kBeams = 5;
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  BeamSearch full(kBeams, 1.0f, kEot), part(kBeams, 1.0f, kEot);
  int steps = 0;
  for (; steps < 60 && !full.done(); ++steps) {
    ASSERT_EQ(full.beams(), part.beams());
    ASSERT_EQ(full.beam_logprobs(), part.beam_logprobs());
    const int n = static_cast<int>(full.beams().size());
    std::vector<float> lp(static_cast<size_t>(n) * kBig);
    for (auto& v : lp) v = (next() % 7 == 0) ? kNo : -0.25f * static_cast<float>(next() % 40);  // ties on purpose
    for (int b = 0; b < n; ++b) lp[static_cast<size_t>(b) * kBig + kEot] = steps < 20 ? kNo : -0.5f;  // EOT late
    // Each beam's 2 * kBeams best by score, then the lower token: what top_candidates returns.
    std::vector<BeamCandidate> cands;
    for (int b = 0; b < n; ++b) {
      std::vector<BeamCandidate> row;
      for (int t = 0; t < kBig; ++t)
        if (lp[static_cast<size_t>(b) * kBig + t] != kNo)
          row.push_back({full.beam_logprobs()[b] + lp[static_cast<size_t>(b) * kBig + t], b, t});
      std::sort(row.begin(), row.end(), [](const BeamCandidate& x, const BeamCandidate& y) {
        return x.score != y.score ? x.score > y.score : x.token < y.token;
      });
      if (row.size() > 2 * kBeams) row.resize(2 * kBeams);
      std::reverse(row.begin(), row.end());  // any order: the search sorts them
      cands.insert(cands.end(), row.begin(), row.end());
    }
    const bool last = steps == 59;
    EXPECT_EQ(full.step(lp, kBig, last), part.step_from_candidates(cands, last)) << "step " << steps;
  }
  EXPECT_GT(steps, 20);
  ASSERT_EQ(full.finished().size(), part.finished().size());
  for (size_t i = 0; i < full.finished().size(); ++i) {
    EXPECT_EQ(full.finished()[i].tokens, part.finished()[i].tokens);
    EXPECT_EQ(full.finished()[i].sum_logprob, part.finished()[i].sum_logprob);
  }
}

TEST(BeamSearch, CandidatesOfABeamThatDoesNotExistAreRefused) {
  BeamSearch bs(2, 1.0f, kEot);
  EXPECT_THROW(bs.step_from_candidates({{-1.0f, 1, 3}}, false), std::exception);
}

}  // namespace
}  // namespace wst::engine
