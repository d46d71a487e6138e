// word_errors / corpus_word_errors against jiwer 4.0 (tests/reference/wer_jiwer.json): the same substitution,
// deletion, insertion and hit counts, not only the same WER.
#include "bench/wer.h"

#include <gtest/gtest.h>

#include <vector>

#include "bench/reference_json.h"
#include "util/errors.h"

namespace wst::bench {

namespace {

const nlohmann::json& reference() {
  static const nlohmann::json j = test::load_normalizer_reference("wer_jiwer.json");
  return j;
}

}  // namespace

TEST(Wer, MatchesJiwerCountsPerPair) {
  const auto& pairs = reference().at("pairs");
  ASSERT_GE(pairs.size(), 20u);
  for (const auto& p : pairs) {
    std::string ref = p.at("reference"), hyp = p.at("hypothesis");
    WerCounts c = word_errors(ref, hyp);
    SCOPED_TRACE("reference " + test::quoted(ref) + " hypothesis " + test::quoted(hyp));
    EXPECT_EQ(c.substitutions, p.at("substitutions").get<size_t>());
    EXPECT_EQ(c.deletions, p.at("deletions").get<size_t>());
    EXPECT_EQ(c.insertions, p.at("insertions").get<size_t>());
    EXPECT_EQ(c.hits, p.at("hits").get<size_t>());
    EXPECT_EQ(c.n_ref_words, c.hits + c.substitutions + c.deletions);
    EXPECT_DOUBLE_EQ(c.wer(), p.at("wer").get<double>());
  }
}

TEST(Wer, CorpusSumsCountsLikeJiwerOnLists) {
  std::vector<std::string> refs, hyps;
  for (const auto& p : reference().at("pairs")) {
    refs.push_back(p.at("reference"));
    hyps.push_back(p.at("hypothesis"));
  }
  const auto& expected = reference().at("corpus");
  WerCounts c = corpus_word_errors(refs, hyps);
  EXPECT_EQ(c.substitutions, expected.at("substitutions").get<size_t>());
  EXPECT_EQ(c.deletions, expected.at("deletions").get<size_t>());
  EXPECT_EQ(c.insertions, expected.at("insertions").get<size_t>());
  EXPECT_EQ(c.hits, expected.at("hits").get<size_t>());
  EXPECT_DOUBLE_EQ(c.wer(), expected.at("jiwer_wer").get<double>());
}

TEST(Wer, ReadableExamples) {
  WerCounts c = word_errors("the cat sat", "the cat sat down");
  EXPECT_EQ(c.hits, 3u);
  EXPECT_EQ(c.insertions, 1u);
  EXPECT_DOUBLE_EQ(c.wer(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(word_errors("", "").wer(), 0.0);
  EXPECT_DOUBLE_EQ(word_errors("", "two words").wer(), 2.0);  // jiwer: the insertion count, not a rate
  EXPECT_EQ(split_words("  a  b\tc "), (std::vector<std::string>{"a", "b\tc"}));
}

TEST(Wer, CorpusRefusesListsOfDifferentLengths) {
  std::vector<std::string> refs = {"a", "b"}, hyps = {"a"};
  try {
    corpus_word_errors(refs, hyps);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "corpus WER: 2 references but 1 hypotheses");
  }
}

}  // namespace wst::bench
