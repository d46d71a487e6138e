// Tests for src/bench/compare.cpp: the side-by-side report and the SVG plot's structure (well-formed, one
// point per implementation and machine, escaped text).
#include "bench/compare.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "sample_results.h"

namespace wst::bench {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

TEST(Compare, SideBySideHasAColumnGroupPerFile) {
  std::vector<LabelledResult> files = {{"a.json", test::sample_result("box-a")}, {"b.json", test::sample_result("box-b")}};
  files[1].result.results.erase(files[1].result.results.begin());  // b lacks fast-impl
  std::string out = render_side_by_side(files);
  EXPECT_NE(out.find("[1] a.json"), std::string::npos) << out;
  EXPECT_NE(out.find("[2] b.json"), std::string::npos) << out;
  EXPECT_NE(out.find("box-b · Test CPU 9000 · 8 cores"), std::string::npos) << out;
  std::istringstream lines(out);
  std::string line, fast;
  while (std::getline(lines, line))
    if (line.rfind("fast-impl", 0) == 0) fast = line;
  // fast-impl: 500 ms, 22.0x, 0.0% in [1]; absent ("-") in [2].
  EXPECT_TRUE(std::regex_search(fast, std::regex("500\\.0 ms +22\\.0x +0\\.0% +- +- +-$"))) << fast;
  EXPECT_EQ(out.find("warning"), std::string::npos);  // same audio
  files[1].result.audio.sha256 = "different";
  EXPECT_NE(render_side_by_side(files).find("warning: [2] used different audio"), std::string::npos);
}

// Checks that every tag is closed in order (a small well-formedness check, no XML library needed).
bool balanced_tags(const std::string& svg, std::string* why) {
  std::vector<std::string> stack;
  std::regex tag("<(/?)([a-zA-Z]+)([^>]*?)(/?)>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tag); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    if (m[4] == "/") continue;  // self-closing
    if (m[1] == "/") {
      if (stack.empty() || stack.back() != m[2]) {
        *why = "unexpected </" + m[2].str() + ">";
        return false;
      }
      stack.pop_back();
    } else {
      stack.push_back(m[2]);
    }
  }
  if (!stack.empty()) *why = "unclosed <" + stack.back() + ">";
  return stack.empty();
}

TEST(Compare, PlotIsWellFormedWithOnePointPerImplementationAndMachine) {
  std::vector<LabelledResult> files = {{"a.json", test::sample_result("box-a")}, {"b.json", test::sample_result("box-b")}};
  files[0].result.results[0].id = "a&b<impl>";  // must be escaped
  std::string svg = render_plot_svg(files);
  std::string why;
  EXPECT_TRUE(balanced_tags(svg, &why)) << why;
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(count(svg, "class=\"point\""), 4u);  // 2 successful rows x 2 machines; the failed row has none
  EXPECT_EQ(count(svg, "data-machine=\"box-a\""), 2u);
  EXPECT_NE(svg.find("data-impl=\"a&amp;b&lt;impl&gt;\""), std::string::npos);
  EXPECT_NE(svg.find(">slow-impl @ box-b</text>"), std::string::npos);
  EXPECT_EQ(svg.find("<impl>"), std::string::npos);
  // Log axis: RTFs 22 and 5.2 lie between the decades 1x and 100x.
  EXPECT_NE(svg.find(">1x</text>"), std::string::npos);
  EXPECT_NE(svg.find(">100x</text>"), std::string::npos);
}

TEST(Compare, PlotListsRowsWithoutWer) {
  std::vector<LabelledResult> files = {{"a.json", test::sample_result()}};
  files[0].result.results[1].wer.reset();
  std::string svg = render_plot_svg(files);
  EXPECT_EQ(count(svg, "class=\"point\""), 1u);
  EXPECT_NE(svg.find("not plotted: slow-impl @ box-a"), std::string::npos);
}

}  // namespace
}  // namespace wst::bench
