// Tests for src/bench/report.cpp, json_io.cpp and compare.cpp on a hand-made result: table order and
// contents, failed rows, JSON round trip, CSV lines, side-by-side report and the SVG plot's structure.
#include "bench/report.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "bench/compare.h"
#include "bench/json_io.h"
#include "sample_results.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::bench {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

TEST(Report, SummaryIsSortedByMedianWithHeaderAndTranscripts) {
  BenchResult b = test::sample_result();
  std::string t = render_summary(b);
  EXPECT_NE(t.find("Audio    /audio/jfk.wav  00:11 (11.00 s)"), std::string::npos) << t;
  EXPECT_NE(t.find("Machine  Test CPU 9000 · 8 cores · 16.0 GiB RAM · GPU: none"), std::string::npos) << t;
  size_t fast = t.find("1  fast-impl"), slow = t.find("2  slow-impl"), broken = t.find("-  broken-impl");
  ASSERT_NE(fast, std::string::npos) << t;
  ASSERT_NE(slow, std::string::npos) << t;
  ASSERT_NE(broken, std::string::npos) << t;
  EXPECT_LT(fast, slow);
  EXPECT_LT(slow, broken);
  // fast: median 500 ms, RTF 11 / 0.5 = 22.0x, WER 0; slow: median 2.1 s, RTF 5.2x, WER 2/22 = 9.1%.
  std::string fast_line = t.substr(fast, t.find('\n', fast) - fast);
  EXPECT_NE(fast_line.find("500.0 ms"), std::string::npos) << fast_line;
  EXPECT_NE(fast_line.find("22.0x"), std::string::npos) << fast_line;
  EXPECT_NE(fast_line.find("0.0%"), std::string::npos) << fast_line;
  std::string slow_line = t.substr(slow, t.find('\n', slow) - slow);
  EXPECT_NE(slow_line.find("2.100 s"), std::string::npos) << slow_line;
  EXPECT_NE(slow_line.find("5.2x"), std::string::npos) << slow_line;
  EXPECT_NE(slow_line.find("9.1%"), std::string::npos) << slow_line;
  EXPECT_NE(t.find("FAILED: crashed: killed by signal 6"), std::string::npos) << t;
  EXPECT_EQ(count(t, "\"And so my fellow Americans, ask not\""), 2u) << t;
  EXPECT_NE(t.find("/models/tiny.en/model.bin · ctranslate2 · float32 · cpu · 2 threads · version 1.0"), std::string::npos) << t;
  EXPECT_NE(t.find("native-cuda: this build has no cuda backend"), std::string::npos) << t;
}

TEST(Report, EmptyTranscriptSaysSo) {
  BenchResult b = test::sample_result();
  b.results[0].text = "  ";
  EXPECT_NE(render_summary(b).find("\"(no transcription)\""), std::string::npos);
}

TEST(Report, JsonRoundTripKeepsEveryRun) {
  BenchResult b = test::sample_result();
  nlohmann::json j = b;
  EXPECT_EQ(j["results"][0]["id"], "fast-impl");
  EXPECT_DOUBLE_EQ(j["results"][0]["wall_ms"]["median"].get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(j["results"][0]["rtf"].get<double>(), 22.0);
  EXPECT_TRUE(j["results"][2]["rtf"].is_null());
  test::TempDir d;
  auto path = d.write("r.json", j.dump(2));
  BenchResult back = read_results_file(path.string());
  ASSERT_EQ(back.results.size(), 3u);
  EXPECT_EQ(back.results[1].runs.size(), 3u);
  EXPECT_DOUBLE_EQ(back.results[1].runs[2].wall_ms, 2100.0);
  EXPECT_DOUBLE_EQ(back.results[1].runs[2].internal_ms, 2090.0);
  EXPECT_EQ(back.results[2].error, b.results[2].error);
  ASSERT_TRUE(back.results[1].wer.has_value());
  EXPECT_EQ(back.results[1].wer->substitutions, 2u);
  EXPECT_EQ(back.system.hostname, "box-a");
  EXPECT_EQ(back.audio.sha256, "abc123");
  EXPECT_EQ(nlohmann::json(back), j);
}

TEST(Report, ReadingABadFileNamesIt) {
  test::TempDir d;
  auto bad = d.write("bad.json", "{not json");
  auto other = d.write("other.json", "{\"a\": 1}");
  try {
    read_results_file(bad.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(bad.string() + ": not valid JSON", 0), 0u) << e.what();
  }
  try {
    read_results_file(other.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a whisper-speedtest results file"), std::string::npos) << e.what();
  }
}

TEST(Report, CsvHasOneLinePerTimedRunAndQuotes) {
  BenchResult b = test::sample_result();
  std::string csv = render_csv(b);
  EXPECT_EQ(count(csv, "\n"), 1u + 3u + 3u + 1u);  // header, 3 + 3 runs, the failed row once
  EXPECT_NE(csv.find("fast-impl,ok,1,500.000,490.000,500.000"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\"And so my fellow Americans, ask not\""), std::string::npos) << csv;
}

TEST(Report, MarkdownTable) {
  std::string md = render_markdown(test::sample_result());
  EXPECT_NE(md.find("| 1 | fast-impl | 500.0 ms |"), std::string::npos) << md;
  EXPECT_NE(md.find("**failed:** crashed"), std::string::npos) << md;
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
