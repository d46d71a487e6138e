// Tests for src/bench/report.cpp on a hand-made result: table order and contents, failed rows, CSV lines,
// Markdown.
#include "bench/report.h"

#include <gtest/gtest.h>

#include <sstream>

#include "sample_results.h"

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
  // Every line of the table has as many cells as the header (13 here: no GPU column).
  std::istringstream lines(md);
  size_t n_table_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("|", 0) != 0) continue;
    ++n_table_lines;
    EXPECT_EQ(count(line, "|"), 14u) << line;
  }
  EXPECT_EQ(n_table_lines, 2u + 3u);
}

// "Peak GPU" is a column only when some row reports GPU memory: then the table, Markdown and CSV show the
// figure for that row and "-" (empty in CSV) for the others; without any, the table keeps its CPU columns.
TEST(Report, PeakGpuColumnOnlyWhenSomeRowHasOne) {
  BenchResult cpu_only = test::sample_result();
  EXPECT_EQ(render_summary(cpu_only).find("Peak GPU"), std::string::npos);
  EXPECT_EQ(render_markdown(cpu_only).find("Peak GPU"), std::string::npos);
  EXPECT_NE(render_csv(cpu_only).find(",peak_rss_bytes,peak_gpu_bytes,wer,"), std::string::npos);
  EXPECT_NE(render_csv(cpu_only).find("fast-impl,ok,1,500.000,490.000,500.000,500.000,400.000,600.000,100.000,22.0000,"
                                      "300.000,262144000,,0.000000,"), std::string::npos) << render_csv(cpu_only);

  BenchResult b = test::sample_result();
  ASSERT_EQ(b.results[0].id, "fast-impl");
  b.results[0].peak_gpu_bytes = 1536ll << 20;
  std::string t = render_summary(b);
  std::string header = t.substr(t.find("#  "), t.find('\n', t.find("#  ")) - t.find("#  "));
  EXPECT_NE(header.find("Peak RSS  Peak GPU   WER"), std::string::npos) << header;
  std::string fast = t.substr(t.find("1  fast-impl"), t.find('\n', t.find("1  fast-impl")) - t.find("1  fast-impl"));
  EXPECT_NE(fast.find("250.0 MiB   1.5 GiB  0.0%"), std::string::npos) << fast;
  std::string slow = t.substr(t.find("2  slow-impl"), t.find('\n', t.find("2  slow-impl")) - t.find("2  slow-impl"));
  EXPECT_NE(slow.find("250.0 MiB         -  9.1%"), std::string::npos) << slow;

  std::string md = render_markdown(b);
  EXPECT_NE(md.find("| Peak RSS | Peak GPU | WER |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 250.0 MiB | 1.5 GiB | 0.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 250.0 MiB | - | 9.1% |"), std::string::npos) << md;
  EXPECT_NE(md.find("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"), std::string::npos) << md;
  EXPECT_NE(md.find("| - | broken-impl | | | | | | | | | | | | **failed:**"), std::string::npos) << md;

  std::string csv = render_csv(b);
  EXPECT_NE(csv.find(",300.000,262144000,1610612736,0.000000,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("slow-impl,ok,1,2000.000,1990.000,2100.000,2100.000,2000.000,2200.000,100.000,5.2381,300.000,"
                     "262144000,,0.090909,"), std::string::npos) << csv;
}

}  // namespace
}  // namespace wst::bench
