// Tests for src/bench/runner.cpp and benchmark.cpp with test doubles (fake_implementations.h): a crash, a
// hang and an exception each become their own row's error, the other rows stay intact, the timeout kills
// the child, and the child's peak RSS is its own.
#include "bench/runner.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "bench/benchmark.h"
#include "fake_implementations.h"
#include "support/temp_dir.h"

namespace wst::bench {
namespace {

// A directory that passes for a CTranslate2 model (the fakes never read it).
struct FakeModel {
  test::TempDir dir;
  FakeModel() {
    dir.write("model.bin", "x");
    dir.write("config.json", "{}");
  }
  std::string path() const { return dir.path().string(); }
};

RunRequest request(const std::string& id, const FakeModel& m, double timeout_s = 30) {
  RunRequest r;
  r.id = id;
  r.params.model_path = m.path();
  r.n_warmup = 1;
  r.n_runs = 3;
  r.timeout_s = timeout_s;
  return r;
}

const std::vector<float> kPcm(16000, 0.0f);

TEST(Runner, ReportsRunsTextAndUsedFromTheChild) {
  FakeModel m;
  std::vector<ProgressEvent::Kind> seen;
  ImplResult r = run_isolated(request("fake-ok", m), kPcm, test::make_fake,
                              [&](const ProgressEvent& e) { seen.push_back(e.kind); });
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.runs.size(), 3u);
  EXPECT_EQ(r.n_warmup, 1);
  EXPECT_EQ(r.text, "hello world");
  EXPECT_EQ(r.language, "en");
  for (const auto& t : r.runs) EXPECT_DOUBLE_EQ(t.internal_ms, 1.5);
  EXPECT_EQ(r.used.version, "0.0-fake");
  EXPECT_EQ(r.used.model_file, m.path());
  EXPECT_GE(r.load_ms, 0);
  EXPECT_GT(r.peak_rss_bytes, 0);
  EXPECT_EQ(r.peak_gpu_bytes, -1) << "no GPU used, none reported";
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), ProgressEvent::kStarted);
  EXPECT_EQ(seen.back(), ProgressEvent::kFinished);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), ProgressEvent::kRun), 3);
}

// The child reports the implementation's peak GPU memory with each run and at the end: the row holds its
// last (largest) figure, after the warm-up and all three runs.
TEST(Runner, PeakGpuMemoryIsWhatTheImplementationReports) {
  FakeModel m;
  ImplResult r = run_isolated(request("fake-gpu", m), kPcm, test::make_fake);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.peak_gpu_bytes, (1ll << 30) + 4 * (1ll << 20));
}

TEST(Runner, CrashBecomesTheRowsErrorAndKeepsFinishedRuns) {
  FakeModel m;
  ImplResult r = run_isolated(request("fake-crash", m), kPcm, test::make_fake);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("crashed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("SIGABRT"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("after 1 of 3 timed runs"), std::string::npos) << r.error;
  EXPECT_EQ(r.runs.size(), 1u);  // run 1 finished before run 2 crashed
}

TEST(Runner, TimeoutKillsAHangingChild) {
  FakeModel m;
  int n_ticks = 0;
  ImplResult r = run_isolated(request("fake-hang", m, /*timeout_s=*/1.5), kPcm, test::make_fake,
                              [&](const ProgressEvent& e) { n_ticks += e.kind == ProgressEvent::kTick; });
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("timed out after 1.5 s (killed)"), std::string::npos) << r.error;
  EXPECT_TRUE(r.runs.empty());
  EXPECT_GE(n_ticks, 1);  // the heartbeat went on while the child was silent
}

// True once `pid` is gone or a zombie (killed, waiting for init to reap it).
bool process_dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  size_t close_paren = line.rfind(')');
  return close_paren != std::string::npos && line.size() > close_paren + 2 && line[close_paren + 2] == 'Z';
}

TEST(Runner, TimeoutKillsWhatTheImplementationStartedToo) {
  FakeModel m;
  ImplResult r = run_isolated(request("fake-orphan", m, /*timeout_s=*/1), kPcm, test::make_fake);
  EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
  pid_t grandchild = 0;
  std::ifstream(m.dir / "grandchild.pid") >> grandchild;
  ASSERT_GT(grandchild, 0);
  // SIGKILL is delivered at once; reaping by init may lag, so wait (not measure) up to 5 s for it.
  bool dead = false;
  for (int i = 0; i < 500 && !(dead = process_dead(grandchild)); ++i) ::usleep(10000);
  EXPECT_TRUE(dead) << "grandchild " << grandchild << " survived the timeout";
  if (!dead) ::kill(grandchild, SIGKILL);
}

TEST(Runner, ChildThatClosesItsPipeStillTimesOut) {
  FakeModel m;
  ImplResult r = run_isolated(request("fake-closer", m, /*timeout_s=*/1), kPcm, test::make_fake);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("timed out after 1 s (killed)"), std::string::npos) << r.error;
}

TEST(Runner, ExceptionMessageBecomesTheError) {
  FakeModel m;
  ImplResult r = run_isolated(request("fake-throw", m), kPcm, test::make_fake);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, "fake-throw: weights are corrupt");
}

TEST(Runner, PeakRssIsTheChildsOwn) {
  FakeModel m;
  ImplResult big = run_isolated(request("fake-big", m), kPcm, test::make_fake);
  ImplResult small = run_isolated(request("fake-ok", m), kPcm, test::make_fake);
  ASSERT_TRUE(big.ok()) << big.error;
  EXPECT_GE(big.peak_rss_bytes, 96ll << 20);
  // The small child does not inherit the big one's peak (each child is measured alone).
  EXPECT_LT(small.peak_rss_bytes, big.peak_rss_bytes - (64ll << 20));
}

TEST(Benchmark, FailingRowsDoNotTouchTheOthers) {
  FakeModel m;
  BenchmarkRequest req;
  req.ids = {"fake-crash", "fake-ok", "fake-hang", "fake-throw"};
  req.settings.model = m.path();
  req.settings.n_runs = 2;
  req.settings.n_warmup = 1;  // fake-crash dies in its third call: the second timed run
  req.settings.timeout_s = 1;
  req.audio.duration_s = 1.0;
  req.reference = "Hello, world!";
  BenchResult res = run_benchmark(req, kPcm, test::make_fake, test::fake_ids());
  ASSERT_EQ(res.results.size(), 4u);
  // The one success sorts first, with all its runs and a WER against the reference.
  EXPECT_EQ(res.results[0].id, "fake-ok");
  EXPECT_TRUE(res.results[0].ok());
  EXPECT_EQ(res.results[0].runs.size(), 2u);
  ASSERT_TRUE(res.results[0].wer.has_value());
  EXPECT_DOUBLE_EQ(res.results[0].wer->wer(), 0.0);
  std::map<std::string, std::string> errors;
  for (const auto& r : res.results) errors[r.id] = r.error;
  EXPECT_NE(errors["fake-crash"].find("SIGABRT"), std::string::npos);
  EXPECT_NE(errors["fake-hang"].find("timed out"), std::string::npos);
  EXPECT_EQ(errors["fake-throw"], "fake-throw: weights are corrupt");
}

TEST(Benchmark, UnavailableIsSkippedUnlessAskedFor) {
  FakeModel m;
  BenchmarkRequest req;
  req.settings.model = m.path();
  req.settings.n_runs = 1;
  req.settings.n_warmup = 0;
  BenchResult all = run_benchmark(req, kPcm, test::make_fake, {"fake-ok", "fake-absent"});
  ASSERT_EQ(all.results.size(), 1u);
  ASSERT_EQ(all.skipped.size(), 1u);
  EXPECT_EQ(all.skipped[0].reason, "fake library not installed");

  req.ids = {"fake-absent", "fake-ok"};
  BenchResult named = run_benchmark(req, kPcm, test::make_fake, {"fake-ok", "fake-absent"});
  ASSERT_EQ(named.results.size(), 2u);
  EXPECT_EQ(named.results[1].error, "unavailable: fake library not installed");
}

TEST(Benchmark, UnknownIdOrModelNameIsOneError) {
  FakeModel m;
  BenchmarkRequest req;
  req.settings.model = m.path();
  req.ids = {"fake-nope"};
  EXPECT_THROW(run_benchmark(req, kPcm, test::make_fake, test::fake_ids()), Error);
  req.ids = {"fake-ok"};
  req.settings.model = "no-such-model";
  try {
    run_benchmark(req, kPcm, test::make_fake, test::fake_ids());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'no-such-model'"), std::string::npos) << e.what();
  }
}

TEST(Benchmark, WerNormalisesByTheTranscriptsLanguage) {
  // The English normaliser spells numbers as digits ("twenty" -> "20"); the basic one does not.
  ImplResult en;
  en.text = "20 colours";
  en.language = "en";
  score(en, "Twenty colors.");
  ASSERT_TRUE(en.wer.has_value());
  EXPECT_DOUBLE_EQ(en.wer->wer(), 0.0);
  ImplResult fr = en;
  fr.language = "fr";
  score(fr, "Twenty colors.");
  ASSERT_TRUE(fr.wer.has_value());
  EXPECT_DOUBLE_EQ(fr.wer->wer(), 1.0);  // both words differ without the English rules
  ImplResult failed = en;
  failed.status = "failed";
  failed.wer.reset();
  score(failed, "Twenty colors.");
  EXPECT_FALSE(failed.wer.has_value());
}

}  // namespace
}  // namespace wst::bench
