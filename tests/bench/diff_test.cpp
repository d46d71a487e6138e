// Tests for src/bench/diff.cpp: word alignment, the difference text, the majority transcript.
#include "bench/diff.h"

#include <gtest/gtest.h>

namespace wst::bench {
namespace {

std::string kinds(const std::vector<WordOp>& ops) {
  std::string s;
  for (const auto& op : ops) s += "=SDI"[op.kind];
  return s;
}

TEST(Diff, AlignsEqualDeleteInsertAndSubstitute) {
  EXPECT_EQ(kinds(align_words({"ask", "not", "what"}, {"ask", "what", "now"})), "=D=I");
  EXPECT_EQ(kinds(align_words({"my", "fellow", "americans"}, {"my", "follow", "americans"})), "=S=");
  EXPECT_EQ(kinds(align_words({}, {"a", "b"})), "II");
  EXPECT_EQ(kinds(align_words({"a", "b"}, {})), "DD");
  EXPECT_EQ(kinds(align_words({"a"}, {"a"})), "=");
}

TEST(Diff, DescribesOnlyTheDifferencesWithContext) {
  auto ops = align_words({"and", "so", "my", "fellow", "americans", "ask", "not", "what", "your", "country"},
                         {"and", "so", "my", "follow", "americans", "ask", "not", "what", "your"});
  EXPECT_EQ(describe_differences(ops, 1), "... my [fellow -> follow] americans ... your [-country]");
  EXPECT_EQ(describe_differences(align_words({"a", "b"}, {"a", "b"})), "identical");
}

ImplResult row(const std::string& id, const std::string& text) {
  ImplResult r;
  r.id = id;
  r.text = text;
  r.runs = {{1.0, -1}};
  return r;
}

TEST(Diff, MajorityIsTheMostSharedNormalisedTranscript) {
  BenchResult b;
  b.results = {row("a", "Ask not."), row("b", "ask NOT"), row("c", "ask now")};
  EXPECT_EQ(majority_transcript(b), "ask not");
  b.results = {row("a", "ask not")};
  EXPECT_EQ(majority_transcript(b), "");  // one row: nothing to vote
}

TEST(Diff, RenderAgainstReferenceNamesEachRow) {
  BenchResult b;
  b.reference = "ask not what your country can do for you";
  b.results = {row("fast", "ask not what your country can do for you"),
               row("slow", "ask what your country can do for you too")};
  std::string out = render_diff(b);
  EXPECT_NE(out.find("against the reference"), std::string::npos) << out;
  EXPECT_NE(out.find("fast  identical"), std::string::npos) << out;
  EXPECT_NE(out.find("slow  2 differences: ask [-not] what your ... for you [+too]"), std::string::npos) << out;
}

TEST(Diff, WithoutReferenceComparesWithTheMajority) {
  BenchResult b;
  b.results = {row("a", "red green blue"), row("b", "Red, green, blue."), row("c", "red greed blue")};
  std::string out = render_diff(b);
  EXPECT_NE(out.find("against the majority"), std::string::npos) << out;
  EXPECT_NE(out.find("c  1 difference: red [green -> greed] blue"), std::string::npos) << out;
}

}  // namespace
}  // namespace wst::bench
