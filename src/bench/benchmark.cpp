// The benchmark's plan and order; see benchmark.h.
#include "bench/benchmark.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "bench/model_source.h"
#include "bench/text_normalizer.h"
#include "util/errors.h"

namespace wst::bench {
namespace {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string read_reference(const std::string& text_or_file) {
  std::error_code ec;
  // One word with a slash or a .txt ending is meant as a file: a typo must not become the reference text.
  const bool one_word = text_or_file.find_first_of(" \t\n") == std::string::npos;
  const bool path_like = one_word && (text_or_file.find('/') != std::string::npos || text_or_file.ends_with(".txt"));
  if (path_like && !std::filesystem::exists(text_or_file, ec))
    throw Error(text_or_file + ": no such reference file (pass the reference text itself in quotes, or a file)");
  if (!text_or_file.empty() && text_or_file.size() < 4096 && std::filesystem::is_regular_file(text_or_file, ec)) {
    std::ifstream in(text_or_file);
    if (!in) throw Error(text_or_file + ": cannot read the reference transcript");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  return text_or_file;
}

void score(ImplResult& r, const std::string& reference) {
  if (reference.empty() || !r.ok()) return;
  // Whisper's English normaliser for English (or unknown) transcripts, its basic one for other languages,
  // as openai-whisper's evaluation does.
  const bool english = r.language.empty() || r.language == "en";
  auto normalize = [&](const std::string& t) { return english ? normalize_english(t) : normalize_basic(t); };
  r.wer = word_errors(normalize(reference), normalize(r.text));
}

BenchResult run_benchmark(const BenchmarkRequest& req, const std::vector<float>& pcm, const ImplFactory& make,
                          const std::vector<std::string>& all_ids, const ProgressFn& progress) {
  BenchResult out;
  out.tool_version = req.tool_version;
  out.started_utc = utc_now();
  out.audio = req.audio;
  out.settings = req.settings;
  out.reference = req.reference;
  out.system = collect_system_info();

  const bool named = !req.ids.empty();
  const std::vector<std::string>& ids = named ? req.ids : all_ids;
  // Make every implementation first: an unknown name fails before anything runs.
  std::vector<std::unique_ptr<Implementation>> impls;
  for (const auto& id : ids) impls.push_back(make(id));

  std::map<std::string, std::string> sha_of_path;
  int n_model_errors = 0, n_attempted = 0;
  std::string first_model_error;
  for (size_t i = 0; i < ids.size(); ++i) {
    ImplDescription d = impls[i]->describe();
    std::string why = impls[i]->unavailable_reason();
    impls[i].reset();  // the child makes its own
    if (!why.empty()) {
      if (!named) {
        out.skipped.push_back({ids[i], why});
        continue;
      }
      ImplResult r;
      r.id = ids[i];
      r.name = d.name;
      r.status = "failed";
      r.error = "unavailable: " + why;
      out.results.push_back(r);
      continue;
    }
    ++n_attempted;
    RunRequest run;
    run.id = ids[i];
    run.n_warmup = req.settings.n_warmup;
    run.n_runs = req.settings.n_runs;
    run.timeout_s = req.settings.timeout_s;
    run.params.language = req.settings.language;
    run.params.n_threads = req.settings.n_threads;
    run.params.beam_size = req.settings.beam_size;
    ImplResult r;
    try {
      ResolvedModel m = resolve_model_for(d.formats, req.settings.model, req.settings.convert);
      run.params.model_name = m.name;
      run.params.model_path = m.path;
      run.params.model_format = m.format;
    } catch (const Error& e) {
      if (n_model_errors++ == 0) first_model_error = e.what();
      if (!named) {
        // Not asked for by name: an implementation without the model in its format is skipped, saying why.
        out.skipped.push_back({ids[i], e.what()});
        continue;
      }
      r.id = ids[i];
      r.name = d.name;
      r.status = "failed";
      r.error = e.what();
      r.params = run.params;
      out.results.push_back(r);
      continue;
    }
    r = run_isolated(run, pcm, make, progress);
    r.name = d.name;
    auto& sha = sha_of_path[run.params.model_path];
    if (sha.empty()) sha = model_sha256(run.params.model_path);
    r.model_sha256 = sha;
    score(r, req.reference);
    out.results.push_back(std::move(r));
  }
  if (ids.empty() || (n_attempted == 0 && out.results.empty())) {
    std::string why;
    for (const auto& s : out.skipped) why += (why.empty() ? "" : "; ") + s.id + ": " + s.reason;
    throw Error("no implementation can run here (" + (why.empty() ? std::string("none registered") : why) +
                "); see `whisper-speedtest list`");
  }
  if (n_attempted > 0 && n_model_errors == n_attempted) throw Error(first_model_error);
  sort_results(out.results);
  return out;
}

}  // namespace wst::bench
