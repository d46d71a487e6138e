// Command-line tests of `benchmark` (and the default command), `list` and `report`: the CI benchmark on
// jfk.wav with the real tiny.en weights, the bundled clip with every output file, and one clear error line
// and exit status for each kind of bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <portaudio.h>
#include <sndfile.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <csignal>

#include "audio/decode.h"
#include "audio/input.h"
#include "bench/text_normalizer.h"
#include "bench/wer.h"
#include "support/alsa_capture.h"
#include "support/run_cli.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "wst/engine.h"
#include "wst/implementation.h"

namespace wst::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* kJfk =
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

std::vector<std::string> available_ids() {
  std::vector<std::string> ids;
  for (const auto& id : implementation_ids())
    if (make_implementation(id)->unavailable_reason().empty()) ids.push_back(id);
  return ids;
}

double wer_vs_jfk(const std::string& text) {
  return bench::word_errors(bench::normalize_english(kJfk), bench::normalize_english(text)).wer();
}

void write_wav(const std::filesystem::path& p, const std::vector<float>& pcm, int rate) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr);
  sf_writef_float(f, pcm.data(), static_cast<sf_count_t>(pcm.size()));
  sf_close(f);
}

// The CI check: benchmark -a jfk.wav -m <tiny.en> -n 2 --json out.json.
TEST(BenchmarkCli, CiRunOnJfkWritesCompleteJson) {
  WST_REQUIRE_TINY_EN();
  TempDir d;
  const std::string audio = (shared_audio_dir() / "jfk.wav").string();
  const std::string model = tiny_en_dir().string();
  CliResult r = run_cli({"benchmark", "-a", audio, "-m", model, "-n", "2", "--json", (d / "out.json").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(slurp(d / "out.json"));

  const double duration_s = j["audio"]["duration_s"].get<double>();
  EXPECT_NEAR(duration_s, 11.0, 1e-9);  // jfk.wav: 176000 samples at 16 kHz
  EXPECT_EQ(j["audio"]["path"], audio);
  // Every available implementation has a result, except those that cannot load this model's format
  // (a CTranslate2 directory): they are listed as skipped, saying so.
  auto ids = available_ids();
  size_t n_format_skips = 0;
  for (const auto& s : j["skipped"]) {
    const std::string id = s["id"], reason = s["reason"];
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) continue;  // unavailable here anyway
    EXPECT_NE(reason.find("a ctranslate2 model, but this implementation loads only"), std::string::npos) << id << ": " << reason;
    ++n_format_skips;
  }
  ASSERT_EQ(j["results"].size() + n_format_skips, ids.size());
  bool has_native = false;
  for (const auto& row : j["results"]) has_native = has_native || row["id"] == "native-cpu";
  EXPECT_TRUE(has_native);
  for (const auto& row : j["results"]) {
    SCOPED_TRACE(row["id"].get<std::string>());
    EXPECT_NE(std::find(ids.begin(), ids.end(), row["id"].get<std::string>()), ids.end());
    EXPECT_EQ(row["status"], "ok") << row["error"];
    ASSERT_EQ(row["runs"].size(), 2u);
    EXPECT_EQ(row["n_warmup"], 1);
    const double median_ms = row["wall_ms"]["median"].get<double>();
    EXPECT_GT(median_ms, 0.0);
    std::vector<double> walls = {row["runs"][0]["wall_ms"], row["runs"][1]["wall_ms"]};
    EXPECT_DOUBLE_EQ(median_ms, (walls[0] + walls[1]) / 2);
    EXPECT_NEAR(row["rtf"].get<double>(), duration_s / (median_ms / 1000.0), 1e-9);
    EXPECT_LT(wer_vs_jfk(row["text"].get<std::string>()), 0.10) << row["text"];
    EXPECT_GT(row["load_ms"].get<double>(), 0.0);
    EXPECT_GT(row["peak_rss_bytes"].get<long long>(), 0);
    // The model file actually loaded is named, and is the one we passed.
    const std::string loaded = row["used"]["model_file"];
    // The native engine names model.bin inside the directory; bridges name the directory they loaded.
    EXPECT_TRUE(std::filesystem::path(loaded) == std::filesystem::path(model) ||
                std::filesystem::path(loaded).parent_path() == std::filesystem::path(model)) << loaded;
    EXPECT_TRUE(std::filesystem::exists(loaded)) << loaded;
    EXPECT_EQ(row["model_sha256"].get<std::string>().size(), 64u);
  }
  EXPECT_FALSE(j["system"]["cpu_model"].get<std::string>().empty());
  EXPECT_GT(j["system"]["n_logical_cores"].get<int>(), 0);
  EXPECT_EQ(j["settings"]["n_runs"], 2);
  // The table on stdout, progress on stderr.
  EXPECT_NE(r.out.find("native-cpu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("00:11"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("native-cpu: run 2/2"), std::string::npos) << r.err;
}

// No subcommand: the benchmark on the bundled clip, with its transcript as the reference.
TEST(BenchmarkCli, DefaultCommandUsesTheBundledClipAndWritesEveryOutput) {
  WST_REQUIRE_TINY_EN();
  TempDir d;
  CliResult r = run_cli({"-m", tiny_en_dir().string(), "-n", "1", "--warmup", "0", "-t", "1", "-i", "native-cpu",
                         "--diff", "--json", (d / "r.json").string(), "--csv", (d / "r.csv").string(), "--markdown",
                         (d / "r.md").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(slurp(d / "r.json"));
  EXPECT_EQ(std::filesystem::path(j["audio"]["path"].get<std::string>()).filename(), "sample.wav");
  EXPECT_EQ(j["reference"], slurp(source_dir() / "data/samples/sample.txt"));
  ASSERT_EQ(j["results"].size(), 1u);
  const auto& row = j["results"][0];
  ASSERT_TRUE(row["wer"].is_object());
  EXPECT_LT(row["wer"]["wer"].get<double>(), 0.10);
  EXPECT_EQ(row["wer"]["n_ref_words"], 25);
  EXPECT_EQ(row["used"]["n_threads"], 1);
  EXPECT_NE(r.out.find("Differences against the reference"), std::string::npos) << r.out;
  std::string csv = slurp(d / "r.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2);  // header + one run
  EXPECT_NE(slurp(d / "r.md").find("| 1 | native-cpu |"), std::string::npos);
}

TEST(BenchmarkCli, SilenceRunsAndSaysSo) {
  WST_REQUIRE_TINY_EN();
  TempDir d;
  write_wav(d / "silence.wav", std::vector<float>(2 * 16000, 0.0f), 16000);
  CliResult r = run_cli({"benchmark", "-a", (d / "silence.wav").string(), "-m", tiny_en_dir().string(), "-n", "1",
                         "--warmup", "0", "-i", "native-cpu"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("silence.wav: the audio is silent"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("\"(no transcription)\""), std::string::npos) << r.out;
}

// Each bad input: exit status 1 and exactly one error line naming the thing and the problem.
void expect_error(const CliResult& r, const std::string& message_start) {
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  const std::string prefix = "whisper-speedtest: error: " + message_start;
  EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(BenchmarkCli, BadAudioFiles) {
  TempDir d;
  const std::string model = "/nonexistent-model-dir";  // the audio is checked first
  auto missing = (d / "missing.wav").string();
  expect_error(run_cli({"benchmark", "-a", missing, "-m", model}), missing + ": no such file");
  expect_error(run_cli({"benchmark", "-a", d.path().string(), "-m", model}),
               d.path().string() + ": is a directory, not an audio file");
  auto empty = d.write("empty.wav", "");
  expect_error(run_cli({"benchmark", "-a", empty.string(), "-m", model}), empty.string() + ": empty file (0 bytes)");
  // A WAV header that lies: 0 channels.
  std::string hdr = std::string("RIFF") + std::string("\x28\x00\x00\x00", 4) + "WAVEfmt " +
                    std::string("\x10\x00\x00\x00\x01\x00\x00\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00", 20) +
                    "data" + std::string("\x04\x00\x00\x00\x00\x00\x00\x00", 8);
  auto liar = d.write("liar.wav", hdr);
  CliResult r = run_cli({"benchmark", "-a", liar.string(), "-m", model});
  expect_error(r, liar.string() + ": not an audio file libsndfile can read (Channel count is zero.)");
  // A WAV whose data chunk claims more than the file holds (a cut copy): refused, not benchmarked short.
  write_wav(d / "whole.wav", std::vector<float>(16000, 0.25f), 16000);
  std::string whole = slurp(d / "whole.wav");
  auto cut = d.write("cut.wav", whole.substr(0, whole.size() - 8000));
  expect_error(run_cli({"benchmark", "-a", cut.string(), "-m", model}),
               cut.string() + ": truncated WAV file: the data chunk claims 32000 bytes (1.000 s), the file holds 24000 of "
                              "them (0.750 s)");
  // An unsupported codec: libsndfile cannot open it, so it goes to ffmpeg, or says ffmpeg is absent.
  auto odd = d.write("talk.m4a", std::string(4096, '\x5a'));
  r = run_cli({"benchmark", "-a", odd.string(), "-m", model});
  expect_error(r, odd.string() + ": not an audio file libsndfile can read");
  if (audio::find_ffmpeg().empty()) {
    EXPECT_NE(r.err.find("the ffmpeg command, which reads other formats, is not installed"), std::string::npos) << r.err;
  } else {
    EXPECT_NE(r.err.find("ffmpeg could not decode it"), std::string::npos) << r.err;
  }
}

TEST(BenchmarkCli, UnknownImplementationListsTheKnownOnes) {
  CliResult r = run_cli({"benchmark", "-b", "-i", "native-cpu,whisper-nope", "-m", "/x"});
  expect_error(r, "implementation \"whisper-nope\": unknown (known: native-cpu, native-cpu-int8, native-cuda");
}

TEST(BenchmarkCli, UnknownModelName) {
  CliResult r = run_cli({"benchmark", "-b", "-m", "no-such-model", "-i", "native-cpu"});
  expect_error(r, "unknown model 'no-such-model' (known: tiny.en, tiny, base.en");
}

TEST(BenchmarkCli, MissingModelPath) {
  CliResult r = run_cli({"-b", "-m", "/nonexistent/tiny.en", "-i", "native-cpu"});
  expect_error(r, "/nonexistent/tiny.en: no such model file or directory");
}

TEST(BenchmarkCli, AskingForAnUnavailableImplementationFailsItsRow) {
  if (make_implementation("native-cuda")->unavailable_reason().empty()) GTEST_SKIP() << "CUDA is available here";
  TempDir d;
  d.write("m/model.bin", "x");
  d.write("m/config.json", "{}");
  CliResult r = run_cli({"-b", "-m", (d / "m").string(), "-i", "native-cuda", "-q"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("native-cuda  FAILED: unavailable: " + device_unavailable_reason("cuda")), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("no implementation produced a result"), std::string::npos) << r.err;
}

// --python picks the interpreter every peer runs on: one that does not exist makes a peer asked for by name
// fail its row, naming that interpreter (and no other: the override is the only one tried).
TEST(BenchmarkCli, PythonOptionChoosesThePeersInterpreter) {
  TempDir d;
  d.write("m/model.bin", "x");
  d.write("m/config.json", "{}");
  CliResult r = run_cli({"-b", "-m", (d / "m").string(), "-i", "faster-whisper", "-q", "--python",
                         "/nonexistent/python3"});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAILED: unavailable: not installed for any Python tried (/nonexistent/python3: "),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("); install with: pip install faster-whisper"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(".venv"), std::string::npos) << "only the --python interpreter is tried: " << r.out;
}

TEST(BenchmarkCli, BundledClipFoundThroughTheDataDirectory) {
  TempDir d;
  ::setenv("WHISPER_SPEEDTEST_DATA", d.path().c_str(), 1);  // the child inherits it
  CliResult r = run_cli({"-b", "-m", "/x"});
  ::unsetenv("WHISPER_SPEEDTEST_DATA");
  expect_error(r, (d / "samples" / "sample.wav").string() + ": the bundled clip is not there (set WHISPER_SPEEDTEST_DATA");
}

TEST(BenchmarkCli, MistypedReferenceFileIsAnError) {
  expect_error(run_cli({"-b", "-m", "/x", "--reference", "refrence.txt"}),
               "refrence.txt: no such reference file (pass the reference text itself in quotes, or a file)");
}

TEST(BenchmarkCli, BadNumbers) {
  expect_error(run_cli({"-b", "-n", "0", "-m", "/x"}), "-n/--runs must be at least 1 (got 0)");
  expect_error(run_cli({"-b", "-a", "x.wav", "-m", "/x"}), "choose one audio source");
  expect_error(run_cli({"-b", "--beam-size", "0", "-m", "/x"}), "--beam-size must be at least 1 (got 0)");
}

TEST(BenchmarkCli, RecordWithoutAnInputDevice) {
  {
    // Ask PortAudio ourselves whether this machine has an input device (stderr muted: ALSA probing noise).
    int saved = ::dup(2), null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 2);
    Pa_Initialize();
    PaDeviceIndex dev = Pa_GetDefaultInputDevice();
    Pa_Terminate();
    ::dup2(saved, 2);
    ::close(null);
    ::close(saved);
    if (dev != paNoDevice) GTEST_SKIP() << "this machine has an input device";
  }
  CliResult r = run_cli({"--record", "-m", "/x"});
  expect_error(r, "microphone: no audio input device found");
  EXPECT_NE(r.err.find("use -a FILE or -b instead of --record"), std::string::npos);
}

// --record end to end without a microphone: PortAudio records from ALSA's file plugin fed with jfk.wav
// (support/alsa_capture.h), Enter is pressed through stdin, and the benchmark transcribes what was recorded.
TEST(BenchmarkCli, RecordBenchmarksWhatTheCaptureDeviceHeard) {
  WST_REQUIRE_TINY_EN();
  const std::vector<float> jfk = audio::load_audio((shared_audio_dir() / "jfk.wav").string());
  AlsaFileCapture cap(jfk);
  if (!cap.usable()) GTEST_SKIP() << "cannot set up the fake capture device: " << cap.why_not();
  TempDir d;
  int keys[2];
  ASSERT_EQ(::pipe2(keys, O_CLOEXEC), 0);
  pid_t pid = start_cli({"--record", "-m", tiny_en_dir().string(), "-i", "native-cpu", "-n", "1", "--warmup", "0",
                         "--reference", kJfk, "--json", (d / "r.json").string()},
                        {{"HOME", cap.home().string()}}, d.path(), keys[0]);
  ::close(keys[0]);
  // Recording is over once the CLI says how much it recorded, or it has exited (failed; not reaped here).
  bool recorded = cap.record_clip(keys[1], [&] {
    siginfo_t info{};
    return slurp(d / "err").find("Recorded ") != std::string::npos ||
           (::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid);
  });
  ::close(keys[1]);
  if (!recorded) ::kill(pid, SIGKILL);
  CliResult r = wait_cli(pid, d.path());
  ASSERT_TRUE(recorded) << "the recording did not finish within 60 s: " << r.err;
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("Microphone: default. Press Enter to start recording."), std::string::npos) << r.err;
  nlohmann::json j = nlohmann::json::parse(slurp(d / "r.json"));
  EXPECT_EQ(j["audio"]["path"], "microphone");
  EXPECT_EQ(j["audio"]["sha256"], "");
  // The whole clip and its trailing zeros reached the benchmark, and little more (silence while stopping).
  const long long n_samples = j["audio"]["n_samples"].get<long long>();
  EXPECT_GE(n_samples, static_cast<long long>(cap.n_fed()));
  EXPECT_LT(n_samples, static_cast<long long>(cap.n_fed()) + 5 * 16000);
  EXPECT_DOUBLE_EQ(j["audio"]["duration_s"].get<double>(), n_samples / 16000.0);
  ASSERT_EQ(j["results"].size(), 1u);
  const auto& row = j["results"][0];
  EXPECT_EQ(row["status"], "ok") << row["error"];
  ASSERT_TRUE(row["wer"].is_object()) << row;
  EXPECT_LT(row["wer"]["wer"].get<double>(), 0.10) << row["text"];
  EXPECT_NE(r.out.find("Audio    microphone  00:1"), std::string::npos) << r.out;
}

TEST(ListCli, EveryImplementationWithWhyNot) {
  CliResult r = run_cli({"list"});
  EXPECT_EQ(r.rc, 0) << r.err;
  for (const auto& id : implementation_ids()) {
    std::string why = make_implementation(id)->unavailable_reason();
    EXPECT_NE(r.out.find(id), std::string::npos);
    if (!why.empty()) {
      EXPECT_NE(r.out.find("unavailable  " + why), std::string::npos) << r.out;
    }
  }
  EXPECT_NE(r.out.find("native-cpu "), std::string::npos) << r.out;
  EXPECT_NE(r.out.substr(r.out.find("native-cpu ")).find("available"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace wst::test
