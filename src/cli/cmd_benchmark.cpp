// whisper-speedtest benchmark (also the default command): every available implementation on one audio
// input, each in its own process; the summary table on stdout, progress on stderr, and --json/--csv/
// --markdown files. Exit status 1 when no implementation produced a result.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "audio/input.h"
#include "audio/record.h"
#include "bench/model_source.h"
#include "bench/benchmark.h"
#include "bench/diff.h"
#include "bench/format.h"
#include "bench/json_io.h"
#include "bench/report.h"
#include "cli/commands.h"
#include "impls/python_bridge.h"
#include "util/data_dir.h"
#include "util/errors.h"
#include "wst/implementation.h"

namespace wst::cli {
namespace {

struct BenchmarkArgs {
  std::string model = "small";
  int runs = 3;
  int warmup = 1;
  bool no_convert = false;
  std::vector<std::string> implementations;
  std::string audio;
  bool batch = false;
  bool record = false;
  std::string language;
  int threads = 0;
  std::string reference;
  double timeout_s = 600;
  int beam_size = 1;
  std::string json, csv, markdown;
  std::string python;
  bool diff = false;
  bool quiet = false;
};

// Progress on stderr: one rewritten line on a terminal, one line per step otherwise.
class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO)) {}

  void operator()(const bench::ProgressEvent& e) {
    if (quiet_) return;
    using K = bench::ProgressEvent;
    std::string msg;
    switch (e.kind) {
      case K::kStarted: msg = e.id + ": loading the model..."; break;
      case K::kLoaded: msg = e.id + ": loaded in " + bench::format_ms(e.ms); break;
      case K::kWarmup: msg = bench::strprintf("%s: warm-up %d/%d (%s)", e.id.c_str(), e.index, e.total, bench::format_ms(e.ms).c_str()); break;
      case K::kRun: msg = bench::strprintf("%s: run %d/%d %s", e.id.c_str(), e.index, e.total, bench::format_ms(e.ms).c_str()); break;
      case K::kFinished: msg = e.id + ": finished in " + bench::format_ms(e.ms); break;
      case K::kTick:
        // Only a terminal gets the heartbeat: the last step's line with the time so far.
        if (!tty_) return;
        msg = last_ + bench::strprintf("  [%.0f s]", e.ms / 1000.0);
        std::fprintf(stderr, "\r\033[K%s", msg.c_str());
        std::fflush(stderr);
        return;
    }
    last_ = msg;
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s", msg.c_str());
      if (e.kind == K::kFinished) std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "%s\n", msg.c_str());
    }
    std::fflush(stderr);
  }

 private:
  bool quiet_, tty_;
  std::string last_;
};

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path + ": cannot write");
  out << content;
  if (!out.flush()) throw Error(path + ": write failed");
}

std::vector<std::string> split_ids(const std::vector<std::string>& args) {
  std::vector<std::string> ids;
  for (const auto& a : args) {
    std::stringstream ss(a);
    std::string id;
    while (std::getline(ss, id, ',')) {
      id.erase(0, id.find_first_not_of(" \t"));
      id.erase(id.find_last_not_of(" \t") + 1);
      if (!id.empty()) ids.push_back(id);
    }
  }
  return ids;
}

void run(const BenchmarkArgs& a) {
  const int n_sources = !a.audio.empty() + a.batch + a.record;
  if (n_sources > 1) throw Error("choose one audio source: -a FILE, -b (the bundled clip) or --record");
  if (a.runs < 1) throw Error("-n/--runs must be at least 1 (got " + std::to_string(a.runs) + ")");
  if (a.beam_size < 1) throw Error("--beam-size must be at least 1 (got " + std::to_string(a.beam_size) + ")");
  if (a.warmup < 0) throw Error("--warmup must be 0 or more (got " + std::to_string(a.warmup) + ")");
  if (a.timeout_s < 0) throw Error("--timeout must be 0 (none) or more seconds");
  // Before anything asks a bridge whether its peer is installed; the children inherit it (fork, no exec).
  if (!a.python.empty()) impls::set_python_override(a.python);

  bench::BenchmarkRequest req;
  req.tool_version = WST_VERSION;
  req.ids = split_ids(a.implementations);
  // Unknown names fail now, before the audio is read or anything runs.
  for (const auto& id : req.ids) make_implementation(id);
  req.settings.model = a.model;
  req.settings.language = a.language;
  req.settings.n_threads = a.threads;
  req.settings.n_runs = a.runs;
  req.settings.n_warmup = a.warmup;
  req.settings.convert = !a.no_convert;
  req.settings.timeout_s = a.timeout_s;
  req.settings.beam_size = a.beam_size;
  if (!a.reference.empty()) req.reference = bench::read_reference(a.reference);

  std::vector<float> pcm;
  if (a.record) {
    pcm = audio::record_from_microphone(16000);
    req.audio.path = "microphone";
  } else {
    std::string path = a.audio;
    if (path.empty()) {
      // The bundled clip, and its known transcript as the reference unless one was given.
      auto dir = data_dir() / "samples";
      path = (dir / "sample.wav").string();
      if (!std::filesystem::exists(path))
        throw Error(path + ": the bundled clip is not there (set WHISPER_SPEEDTEST_DATA to the folder that holds "
                           "samples/sample.wav, or pass -a FILE)");
      if (req.reference.empty() && std::filesystem::exists(dir / "sample.txt"))
        req.reference = bench::read_reference((dir / "sample.txt").string());
    }
    pcm = audio::read_audio_file(path);
    req.audio.path = path;
    req.audio.sha256 = bench::model_sha256(path);
  }
  req.audio.n_samples = static_cast<long long>(pcm.size());
  req.audio.duration_s = static_cast<double>(pcm.size()) / 16000.0;
  float peak = 0;
  for (float x : pcm) peak = std::max(peak, std::fabs(x));
  if (peak < 1e-4f)
    std::fprintf(stderr, "whisper-speedtest: warning: %s: the audio is silent (peak %.1e); expect empty transcripts\n",
                 req.audio.path.c_str(), static_cast<double>(peak));

  Progress progress(a.quiet);
  bench::BenchResult result = bench::run_benchmark(req, pcm, make_implementation, implementation_ids(),
                                                   [&](const bench::ProgressEvent& e) { progress(e); });

  std::cout << bench::render_summary(result);
  if (a.diff) std::cout << "\n" << bench::render_diff(result);
  std::cout.flush();
  if (!a.json.empty()) write_file(a.json, nlohmann::json(result).dump(2) + "\n");
  if (!a.csv.empty()) write_file(a.csv, bench::render_csv(result));
  if (!a.markdown.empty()) write_file(a.markdown, bench::render_markdown(result));

  size_t n_ok = 0;
  for (const auto& r : result.results) n_ok += r.ok();
  exit_code = n_ok > 0 ? 0 : 1;
  if (n_ok == 0) std::fprintf(stderr, "whisper-speedtest: error: no implementation produced a result\n");
}

}  // namespace

std::vector<const char*> with_default_command(const CLI::App& app, int argc, char** argv) {
  std::vector<const char*> args(argv, argv + argc);
  if (argc >= 2) {
    std::string first = argv[1];
    if (first == "-h" || first == "--help" || first == "--version") return args;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      if (sub->check_name(first)) return args;
  }
  args.insert(args.begin() + 1, "benchmark");
  return args;
}

void add_benchmark_command(CLI::App& app) {
  auto a = std::make_shared<BenchmarkArgs>();
  CLI::App* c = app.add_subcommand("benchmark", "Benchmark every available implementation (the default command)");
  c->add_option("-m,--model", a->model, "Model: a directory or file you have (catalog names once the catalog is in)")
      ->capture_default_str();
  c->add_option("-n,--runs", a->runs, "Timed runs per implementation")->capture_default_str();
  c->add_option("--warmup", a->warmup, "Untimed warm-up runs before the timed ones")->capture_default_str();
  c->add_flag("--no-convert", a->no_convert,
              "Skip an implementation whose format is not on disk instead of converting the model for it once");
  c->add_option("-i,--implementations", a->implementations, "Comma-separated ids (default: all available; see list)");
  c->add_option("-a,--audio", a->audio, "Audio file (WAV, FLAC, OGG, MP3; others through ffmpeg)");
  c->add_flag("-b,--batch", a->batch, "Use the bundled clip (data/samples/sample.wav, 13 s of synthetic speech) and its transcript (the default)");
  c->add_flag("--record", a->record, "Record from the microphone: Enter starts, Enter stops");
  c->add_option("-l,--language", a->language, "Language code (default: the implementation's own)");
  c->add_option("-t,--threads", a->threads, "Threads per implementation (0 = all cores)")->capture_default_str();
  c->add_option("--beam-size", a->beam_size, "Beam size for every implementation (1 = greedy)")
      ->capture_default_str();
  c->add_option("--reference", a->reference, "Reference transcript, as text or a file: enables WER");
  c->add_option("--python", a->python,
                 "Python interpreter for every peer (default: $WHISPER_SPEEDTEST_PYTHON, else the first of .venv, "
                 "python3, /usr/bin/python3 that imports the peer)");
  c->add_option("--timeout", a->timeout_s, "Seconds one implementation may take in all (0 = no limit)")
      ->capture_default_str();
  c->add_option("--json", a->json, "Write every result, run and the environment as JSON to this file");
  c->add_option("--csv", a->csv, "Write one CSV line per timed run to this file");
  c->add_option("--markdown", a->markdown, "Write the summary as a Markdown table to this file");
  c->add_flag("--diff", a->diff, "Show word-level differences against the reference (or the majority)");
  c->add_flag("-q,--quiet", a->quiet, "No progress on stderr");
  c->callback([a] { run(*a); });
}

}  // namespace wst::cli
