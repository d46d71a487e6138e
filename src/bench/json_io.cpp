// JSON conversions of the results; see json_io.h and docs/BENCHMARK.md.
#include "bench/json_io.h"

#include <fstream>

#include "util/errors.h"

namespace wst {

void to_json(nlohmann::json& j, const ImplParams& p) {
  j = {{"model_name", p.model_name}, {"model_path", p.model_path}, {"model_format", p.model_format},
       {"language", p.language},     {"n_threads", p.n_threads},   {"device", p.device},
       {"beam_size", p.beam_size}};
}
void from_json(const nlohmann::json& j, ImplParams& p) {
  p.model_name = j.value("model_name", "");
  p.model_path = j.value("model_path", "");
  p.model_format = j.value("model_format", "");
  p.language = j.value("language", "");
  p.n_threads = j.value("n_threads", 0);
  p.device = j.value("device", "cpu");
  p.beam_size = j.value("beam_size", 1);
}
void to_json(nlohmann::json& j, const ImplUsed& u) {
  j = {{"model_file", u.model_file}, {"format", u.format},       {"precision", u.precision},
       {"device", u.device},         {"n_threads", u.n_threads}, {"version", u.version}};
}
void from_json(const nlohmann::json& j, ImplUsed& u) {
  u.model_file = j.value("model_file", "");
  u.format = j.value("format", "");
  u.precision = j.value("precision", "");
  u.device = j.value("device", "");
  u.n_threads = j.value("n_threads", 0);
  u.version = j.value("version", "");
}

}  // namespace wst

namespace wst::bench {
namespace {

nlohmann::json stats_json(const Stats& s) {
  if (s.n == 0) return nullptr;
  return {{"n", s.n}, {"median", s.median}, {"mean", s.mean}, {"min", s.min}, {"max", s.max}, {"stddev", s.stddev}};
}

nlohmann::json optional_number(double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); }
nlohmann::json optional_bytes(long long v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); }
double number_or(const nlohmann::json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<double>();
}

}  // namespace

void to_json(nlohmann::json& j, const SystemInfo& s) {
  j = {{"cpu_model", s.cpu_model}, {"n_logical_cores", s.n_logical_cores}, {"n_physical_cores", s.n_physical_cores},
       {"memory_bytes", s.memory_bytes}, {"gpus", s.gpus}, {"os", s.os}, {"hostname", s.hostname},
       {"compiler", s.compiler}};
  nlohmann::json libs = nlohmann::json::object();
  for (const auto& [name, version] : s.libraries) libs[name] = version;
  j["libraries"] = libs;
}
void from_json(const nlohmann::json& j, SystemInfo& s) {
  s.cpu_model = j.value("cpu_model", "");
  s.n_logical_cores = j.value("n_logical_cores", 0);
  s.n_physical_cores = j.value("n_physical_cores", 0);
  s.memory_bytes = j.value("memory_bytes", 0LL);
  s.gpus = j.value("gpus", std::vector<std::string>{});
  s.os = j.value("os", "");
  s.hostname = j.value("hostname", "");
  s.compiler = j.value("compiler", "");
  s.libraries.clear();
  if (j.contains("libraries") && j["libraries"].is_object())
    for (const auto& [name, version] : j["libraries"].items()) s.libraries.emplace_back(name, version.get<std::string>());
}

void to_json(nlohmann::json& j, const ImplResult& r) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& t : r.runs) runs.push_back({{"wall_ms", t.wall_ms}, {"internal_ms", optional_number(t.internal_ms)}});
  j = {{"id", r.id},
       {"name", r.name},
       {"status", r.status},
       {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)},
       {"params", r.params},
       {"used", r.used},
       {"model_sha256", r.model_sha256},
       {"load_ms", optional_number(r.load_ms)},
       {"n_warmup", r.n_warmup},
       {"runs", runs},
       {"wall_ms", stats_json(r.wall_stats())},
       {"internal_ms", stats_json(r.internal_stats())},
       {"text", r.text},
       {"language", r.language},
       {"peak_rss_bytes", optional_bytes(r.peak_rss_bytes)},
       {"peak_gpu_bytes", optional_bytes(r.peak_gpu_bytes)},
       {"wer", nullptr}};
  if (r.wer) {
    j["wer"] = {{"wer", r.wer->wer()},           {"substitutions", r.wer->substitutions},
                {"deletions", r.wer->deletions}, {"insertions", r.wer->insertions},
                {"hits", r.wer->hits},           {"n_ref_words", r.wer->n_ref_words}};
  }
}

void from_json(const nlohmann::json& j, ImplResult& r) {
  r.id = j.at("id").get<std::string>();
  r.name = j.value("name", "");
  r.status = j.value("status", "ok");
  r.error = j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "";
  if (j.contains("params")) r.params = j["params"].get<ImplParams>();
  if (j.contains("used")) r.used = j["used"].get<ImplUsed>();
  r.model_sha256 = j.value("model_sha256", "");
  r.load_ms = number_or(j, "load_ms", -1);
  r.n_warmup = j.value("n_warmup", 0);
  r.runs.clear();
  for (const auto& t : j.value("runs", nlohmann::json::array()))
    r.runs.push_back({t.at("wall_ms").get<double>(), number_or(t, "internal_ms", -1)});
  r.text = j.value("text", "");
  r.language = j.value("language", "");
  r.peak_rss_bytes = static_cast<long long>(number_or(j, "peak_rss_bytes", -1));
  r.peak_gpu_bytes = static_cast<long long>(number_or(j, "peak_gpu_bytes", -1));
  r.wer.reset();
  if (j.contains("wer") && j["wer"].is_object()) {
    const auto& w = j["wer"];
    WerCounts c;
    c.substitutions = w.value("substitutions", size_t{0});
    c.deletions = w.value("deletions", size_t{0});
    c.insertions = w.value("insertions", size_t{0});
    c.hits = w.value("hits", size_t{0});
    c.n_ref_words = w.value("n_ref_words", size_t{0});
    r.wer = c;
  }
}

void to_json(nlohmann::json& j, const BenchResult& b) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& r : b.results) {
    nlohmann::json row = r;
    row["rtf"] = r.ok() && !r.runs.empty() ? nlohmann::json(b.rtf(r)) : nlohmann::json(nullptr);
    results.push_back(row);
  }
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : b.skipped) skipped.push_back({{"id", s.id}, {"reason", s.reason}});
  j = {{"schema_version", b.schema_version},
       {"tool", {{"name", "whisper-speedtest"}, {"version", b.tool_version}}},
       {"started_utc", b.started_utc},
       {"audio",
        {{"path", b.audio.path}, {"duration_s", b.audio.duration_s}, {"n_samples", b.audio.n_samples},
         {"sample_rate", 16000}, {"sha256", b.audio.sha256}}},
       {"settings",
        {{"model", b.settings.model}, {"language", b.settings.language}, {"n_threads", b.settings.n_threads},
         {"n_runs", b.settings.n_runs}, {"n_warmup", b.settings.n_warmup}, {"timeout_s", b.settings.timeout_s},
         {"beam_size", b.settings.beam_size}}},
       {"reference", b.reference.empty() ? nlohmann::json(nullptr) : nlohmann::json(b.reference)},
       {"system", b.system},
       {"results", results},
       {"skipped", skipped}};
}

void from_json(const nlohmann::json& j, BenchResult& b) {
  b.schema_version = j.value("schema_version", 1);
  if (j.contains("tool")) b.tool_version = j["tool"].value("version", "");
  b.started_utc = j.value("started_utc", "");
  const auto& a = j.at("audio");
  b.audio.path = a.value("path", "");
  b.audio.duration_s = a.value("duration_s", 0.0);
  b.audio.n_samples = a.value("n_samples", 0LL);
  b.audio.sha256 = a.value("sha256", "");
  if (j.contains("settings")) {
    const auto& s = j["settings"];
    b.settings.model = s.value("model", "");
    b.settings.language = s.value("language", "");
    b.settings.n_threads = s.value("n_threads", 0);
    b.settings.n_runs = s.value("n_runs", 0);
    b.settings.n_warmup = s.value("n_warmup", 0);
    b.settings.timeout_s = s.value("timeout_s", 0.0);
    b.settings.beam_size = s.value("beam_size", 1);
  }
  b.reference = j.contains("reference") && j["reference"].is_string() ? j["reference"].get<std::string>() : "";
  if (j.contains("system")) b.system = j["system"].get<SystemInfo>();
  b.results.clear();
  for (const auto& r : j.at("results")) b.results.push_back(r.get<ImplResult>());
  b.skipped.clear();
  for (const auto& s : j.value("skipped", nlohmann::json::array()))
    b.skipped.push_back({s.value("id", ""), s.value("reason", "")});
}

BenchResult read_results_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open results file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("results") || !j.contains("audio"))
    throw Error(path + ": not a whisper-speedtest results file (no \"results\"/\"audio\"; write one with --json)");
  try {
    return j.get<BenchResult>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed results file (" + e.what() + ")");
  }
}

}  // namespace wst::bench
