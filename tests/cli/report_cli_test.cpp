// Command-line tests of `report`: two saved results side by side, the --plot file, and bad files.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "../bench/sample_results.h"
#include "bench/json_io.h"
#include "support/run_cli.h"

namespace wst::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

TEST(ReportCli, TwoMachinesSideBySideAndPlot) {
  TempDir d;
  auto a = d.write("a.json", nlohmann::json(sample_result("box-a")).dump());
  auto b = d.write("b.json", nlohmann::json(sample_result("box-b")).dump());
  CliResult r = run_cli({"report", a.string(), b.string(), "--plot", (d / "plot.svg").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("2 result files"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1] median"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[2] median"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("broken-impl"), std::string::npos) << r.out;
  std::string svg = slurp(d / "plot.svg");
  EXPECT_EQ(count(svg, "class=\"point\""), 4u);
  EXPECT_NE(r.err.find("plot written to"), std::string::npos);
}

TEST(ReportCli, BadFilesAreNamed) {
  TempDir d;
  auto bad = d.write("bad.json", "[]");
  CliResult r = run_cli({"report", bad.string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "whisper-speedtest: error: " + bad.string() +
                       ": not a whisper-speedtest results file (no \"results\"/\"audio\"; write one with --json)\n");
  r = run_cli({"report", (d / "none.json").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "whisper-speedtest: error: " + (d / "none.json").string() + ": cannot open results file\n");
}

}  // namespace
}  // namespace wst::test
