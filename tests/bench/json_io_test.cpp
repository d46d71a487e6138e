// Tests for src/bench/json_io.cpp: a hand-made result survives the round trip through a file, and bad
// files are named in one-line errors.
#include "bench/json_io.h"

#include <gtest/gtest.h>

#include "sample_results.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::bench {
namespace {

TEST(JsonIo, JsonRoundTripKeepsEveryRun) {
  BenchResult b = test::sample_result();
  b.results[0].peak_gpu_bytes = 1536ll << 20;
  nlohmann::json j = b;
  EXPECT_EQ(j["results"][0]["peak_gpu_bytes"], 1536ll << 20);
  EXPECT_TRUE(j["results"][1]["peak_gpu_bytes"].is_null()) << "no GPU: null, not -1";
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
  EXPECT_EQ(back.results[0].peak_gpu_bytes, 1536ll << 20);
  EXPECT_EQ(back.results[1].peak_gpu_bytes, -1);
  EXPECT_EQ(nlohmann::json(back), j);
}

TEST(JsonIo, ReadingABadFileNamesIt) {
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

}  // namespace
}  // namespace wst::bench
