// tools/cuda/real_weights_check.cpp's `margins` on real speech and the real tiny.en (taken whole, not packed),
// on the CPU: REF is a real `run`, GOT is REF with one token changed. At the changed position REF's token must
// be the most probable one (the forced prefix and the rebuilt prompt give the logits the greedy decoding had),
// GOT's token the one written there, and the margin logprob(ref) - logprob(got), positive.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/paths.h"
#include "support/temp_dir.h"

namespace wst {
namespace {

namespace fs = std::filesystem;

// The printed values have 5 decimals; the margin is printed from the unrounded log-probabilities.
constexpr double kPrintedTolerance = 1e-4;
constexpr int kEotTinyEn = 50256;

struct ToolResult {
  int rc = -1;
  std::string out;  // stdout and stderr
};

ToolResult run_tool(const std::vector<std::string>& args) {
#ifdef WST_REAL_WEIGHTS_CHECK_PATH
  std::string cmd = WST_REAL_WEIGHTS_CHECK_PATH;
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  ToolResult r;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  const int status = ::pclose(f);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
#else
  return {};
#endif
}

// One `margins` line, parsed.
struct Margin {
  size_t position = 0;
  int window = 0;
  double window_start_s = 0;
  int ref_id = -1, got_id = -1, rank1_id = -1, rank2_id = -1;
  double ref_lp = 0, got_lp = 0, margin = 0, rank1_lp = 0, rank2_lp = 0;
};

// The line for file `name`; fails the test when there is none or it does not parse.
Margin margin_of(const std::string& out, const std::string& name) {
  static const std::regex re(
      R"(: position (\d+) \(window (\d+) at ([0-9.]+) s(?:, inferred[^)]*)?\): ref ".*?" \((\d+)\) logprob (\S+), got ".*?" \((\d+)\) )"
      R"(logprob (\S+), margin (\S+); rank 1 ".*?" \((\d+)\) (\S+), rank 2 ".*?" \((\d+)\) (\S+) \[cpu float32\]$)");
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch mt;
    if (line.rfind(name + ": ", 0) != 0 || !std::regex_search(line, mt, re)) continue;
    Margin m;
    m.position = std::stoul(mt[1]);
    m.window = std::stoi(mt[2]);
    m.window_start_s = std::stod(mt[3]);
    m.ref_id = std::stoi(mt[4]);
    m.ref_lp = std::stod(mt[5]);
    m.got_id = std::stoi(mt[6]);
    m.got_lp = std::stod(mt[7]);
    m.margin = std::stod(mt[8]);
    m.rank1_id = std::stoi(mt[9]);
    m.rank1_lp = std::stod(mt[10]);
    m.rank2_id = std::stoi(mt[11]);
    m.rank2_lp = std::stod(mt[12]);
    return m;
  }
  ADD_FAILURE() << "no margins line for " << name << " in:\n" << out;
  return {};
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

void write_json(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(1) << "\n"; }

class RealWeightsCheck : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef WST_REAL_WEIGHTS_CHECK_PATH
    GTEST_SKIP() << "real_weights_check is not built (WST_BUILD_BENCH=OFF)";
#endif
  }
  std::string model() const { return test::tiny_en_dir().string(); }
  std::string tokenizer() const { return (test::tiny_en_dir() / "tokenizer.json").string(); }
  // speech_path(id) as raw PCM in dir/pcm, through the tool's own `pcm`.
  std::string pcm_of(const std::string& id) const {
    fs::create_directories(dir_ / "pcm");
    const ToolResult r = run_tool({"pcm", test::speech_path(id).string(), (dir_ / "pcm").string()});
    EXPECT_EQ(r.rc, 0) << r.out;
    return (dir_ / "pcm" / (id + ".pcm")).string();
  }
  // `run` on the CPU in float32: the file's entry of the JSON it writes.
  nlohmann::json transcribe(const std::string& pcm, const std::string& name) const {
    const fs::path out = dir_ / "run.json";
    const ToolResult r = run_tool({"run", model(), tokenizer(), "cpu", "float32", out.string(), pcm});
    EXPECT_EQ(r.rc, 0) << r.out;
    return read_json(out)["files"][name];
  }
  ToolResult margins(const nlohmann::json& ref, const nlohmann::json& got) const {
    write_json(dir_ / "ref.json", ref);
    write_json(dir_ / "got.json", got);
    return run_tool({"margins", model(), tokenizer(), "cpu", "float32", (dir_ / "ref.json").string(),
                     (dir_ / "got.json").string(), (dir_ / "pcm").string()});
  }
  test::TempDir dir_;
};

TEST_F(RealWeightsCheck, MarginsAtFirstDifference) {
  WST_REQUIRE_TINY_EN();
  const std::string name = "1089-134686-0004.pcm";  // where float16 on the GPU spelt "Goodnight" apart
  const nlohmann::json ref = transcribe(pcm_of("1089-134686-0004"), name);
  const auto tokens = ref["tokens"].get<std::vector<int>>();
  ASSERT_GT(tokens.size(), 14u) << ref.dump();
  ASSERT_EQ(ref["windows"].size(), 1u) << ref.dump();
  const size_t k = 13;

  // GOT ends before position k: its token there is <|endoftext|>.
  nlohmann::json got = ref;
  got.erase("windows");  // the windows then come from REF
  got["tokens"] = std::vector<int>(tokens.begin(), tokens.begin() + k);
  ToolResult r = margins({{"files", {{name, ref}}}}, {{"files", {{name, got}}}});
  ASSERT_EQ(r.rc, 0) << r.out;
  const Margin ended = margin_of(r.out, name);
  EXPECT_EQ(ended.position, k) << r.out;
  EXPECT_EQ(ended.window, 1);
  EXPECT_EQ(ended.window_start_s, 0.0);
  EXPECT_EQ(ended.ref_id, tokens[k]) << r.out;
  EXPECT_EQ(ended.rank1_id, tokens[k]) << "REF's greedy token is not the most probable one there:\n" << r.out;
  EXPECT_EQ(ended.got_id, kEotTinyEn) << r.out;
  EXPECT_NEAR(ended.rank1_lp, ended.ref_lp, kPrintedTolerance);
  EXPECT_NEAR(ended.margin, ended.ref_lp - ended.got_lp, kPrintedTolerance) << r.out;
  ASSERT_NE(ended.rank2_id, tokens[k]);

  // GOT takes the second most probable token at k: the margin is the top-2 margin there.
  got["tokens"] = tokens;
  got["tokens"][k] = ended.rank2_id;
  r = margins({{"files", {{name, ref}}}}, {{"files", {{name, got}}}});
  ASSERT_EQ(r.rc, 0) << r.out;
  const Margin second = margin_of(r.out, name);
  EXPECT_EQ(second.position, k) << r.out;
  EXPECT_EQ(second.ref_id, tokens[k]);
  EXPECT_EQ(second.got_id, ended.rank2_id);
  EXPECT_EQ(second.rank1_id, tokens[k]);
  EXPECT_EQ(second.rank2_id, ended.rank2_id);
  EXPECT_NEAR(second.ref_lp, ended.ref_lp, kPrintedTolerance);
  EXPECT_NEAR(second.got_lp, second.rank2_lp, kPrintedTolerance);
  EXPECT_GT(second.margin, 0.0) << r.out;
  EXPECT_NEAR(second.margin, second.ref_lp - second.got_lp, kPrintedTolerance) << r.out;
  EXPECT_NE(r.out.find(": 1 files, 1 differ, margins computed for 1"), std::string::npos) << r.out;

  // Neither side records its windows (files made before `run` kept them): the first window, said so, while the
  // timestamps have not restarted.
  nlohmann::json bare = ref;
  bare.erase("windows");
  got.erase("windows");
  r = margins({{"files", {{name, bare}}}}, {{"files", {{name, got}}}});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find(name + ": position 13 (window 1 at 0.00 s, inferred: neither file records its windows): ref"),
            std::string::npos)
      << r.out;
  const Margin inferred = margin_of(r.out, name);
  EXPECT_EQ(inferred.got_id, second.got_id);
  EXPECT_NEAR(inferred.margin, second.margin, kPrintedTolerance);
}

// Positions in ted_60.wav's second window, whose prompt holds the first window's text: REF's token is the most
// probable one at each. The windows come from GOT here (REF without them, as one made before `run` kept them).
TEST_F(RealWeightsCheck, MarginsInALaterWindow) {
  WST_REQUIRE_TINY_EN();
  const std::string pcm = pcm_of("ted_60");
  const nlohmann::json ref = transcribe(pcm, "ted_60.pcm");
  const auto tokens = ref["tokens"].get<std::vector<int>>();
  ASSERT_GE(ref["windows"].size(), 2u) << ref.dump();
  const size_t first = ref["windows"][1]["first_token"].get<size_t>();
  const size_t end = ref["windows"].size() > 2 ? ref["windows"][2]["first_token"].get<size_t>() : tokens.size();
  ASSERT_GT(end, first + 12) << ref.dump();
  nlohmann::json refs, gots, ref_bare = ref;
  ref_bare.erase("windows");
  std::vector<size_t> positions = {first, first + 1, first + 5, first + 12};
  for (size_t k : positions) {
    // One copy of the audio per position, each a file of its own in the JSONs.
    const std::string name = "ted_60_" + std::to_string(k) + ".pcm";
    fs::copy_file(pcm, dir_ / "pcm" / name);
    nlohmann::json got = ref;
    got["tokens"] = std::vector<int>(tokens.begin(), tokens.begin() + k);
    refs["files"][name] = ref_bare;
    gots["files"][name] = got;
  }
  // Neither side records its windows: a position after the timestamps restart is not taken for the first window.
  const std::string bare_name = "ted_60_bare.pcm";
  fs::copy_file(pcm, dir_ / "pcm" / bare_name);
  refs["files"][bare_name] = ref_bare;
  gots["files"][bare_name] = ref_bare;
  gots["files"][bare_name]["tokens"] = std::vector<int>(tokens.begin(), tokens.begin() + first + 5);
  const ToolResult r = margins(refs, gots);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find(bare_name + ": position " + std::to_string(first + 5) +
                       ": margin not computed: neither file records its windows, and REF's timestamps restart"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(": 5 files, 5 differ, margins computed for 4"), std::string::npos) << r.out;
  for (size_t k : positions) {
    const Margin m = margin_of(r.out, "ted_60_" + std::to_string(k) + ".pcm");
    EXPECT_EQ(m.position, k) << r.out;
    EXPECT_EQ(m.window, 2) << r.out;
    EXPECT_NEAR(m.window_start_s, ref["windows"][1]["seek"].get<int>() * 0.01, 1e-9) << r.out;
    EXPECT_EQ(m.ref_id, tokens[k]);
    EXPECT_EQ(m.rank1_id, tokens[k]) << "position " << k << ": REF's token is not the most probable one:\n" << r.out;
    EXPECT_EQ(m.got_id, kEotTinyEn);
    if (k == first) {  // a window's first token is a timestamp: <|endoftext|> is suppressed there
      EXPECT_EQ(m.got_lp, -std::numeric_limits<double>::infinity()) << r.out;
      EXPECT_EQ(m.margin, std::numeric_limits<double>::infinity()) << r.out;
    } else {
      EXPECT_NEAR(m.margin, m.ref_lp - m.got_lp, kPrintedTolerance) << r.out;
    }
  }
}

}  // namespace
}  // namespace wst
