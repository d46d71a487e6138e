// Summary table, Markdown and CSV; see report.h.
#include "bench/report.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "bench/format.h"

namespace wst::bench {
namespace {

// Display width of a UTF-8 string in characters (all our cells are narrow characters).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string pad(const std::string& s, size_t w, bool right) {
  size_t have = width(s);
  if (have >= w) return s;
  return right ? std::string(w - have, ' ') + s : s + std::string(w - have, ' ');
}

std::string used_line(const ImplResult& r) {
  const ImplUsed& u = r.used;
  std::vector<std::string> parts;
  parts.push_back(!u.model_file.empty() ? u.model_file : r.params.model_path);
  if (!u.format.empty()) parts.push_back(u.format);
  if (!u.precision.empty()) parts.push_back(u.precision);
  if (!u.device.empty()) parts.push_back(u.device);
  if (u.n_threads > 0) parts.push_back(std::to_string(u.n_threads) + (u.n_threads == 1 ? " thread" : " threads"));
  if (!u.version.empty()) parts.push_back("version " + u.version);
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : " · ") + p;
  return s;
}

struct Row {
  std::vector<std::string> cells;
};

// "Peak GPU" is a column only when some row used a GPU (reported a value), so CPU-only runs keep the
// narrower table.
bool any_gpu(const BenchResult& b) {
  return std::any_of(b.results.begin(), b.results.end(), [](const ImplResult& r) { return r.peak_gpu_bytes >= 0; });
}

std::vector<std::string> columns(bool gpu) {
  std::vector<std::string> c = {"#", "Implementation", "Median", "Mean", "Min", "Max", "Stddev", "RTF", "Load",
                                "Peak RSS"};
  if (gpu) c.push_back("Peak GPU");
  c.push_back("WER");
  return c;
}

std::vector<std::string> cells_of(const BenchResult& b, const ImplResult& r, size_t rank, bool gpu) {
  if (!r.ok()) return {"-", r.id};
  Stats s = r.wall_stats();
  std::vector<std::string> c = {std::to_string(rank),  r.id,
                                format_ms(s.median),   format_ms(s.mean),
                                format_ms(s.min),      format_ms(s.max),
                                format_ms(s.stddev),   format_rtf(b.rtf(r)),
                                format_ms(r.load_ms),  format_bytes(r.peak_rss_bytes)};
  if (gpu) c.push_back(format_bytes(r.peak_gpu_bytes));
  c.push_back(format_wer(r));
  return c;
}

std::string model_line(const BenchResult& b) {
  // The model as asked, plus the distinct files the rows really loaded.
  std::vector<std::string> files;
  for (const auto& r : b.results) {
    std::string f = !r.used.model_file.empty() ? r.used.model_file : r.params.model_path;
    if (!f.empty() && std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
  }
  std::string s = b.settings.model;
  if (files.size() != 1 || files[0] == s) return s;
  // A file inside the directory asked for is shown by its name there.
  std::filesystem::path asked = std::filesystem::absolute(s).lexically_normal(), file(files[0]);
  if (file.parent_path() == asked) return s + "  (loaded " + file.filename().string() + ")";
  return s + "  (loaded " + files[0] + ")";
}

std::string audio_line(const BenchResult& b) {
  return b.audio.path + "  " + format_mm_ss(b.audio.duration_s) + strprintf(" (%.2f s)", b.audio.duration_s);
}

std::string runs_line(const BenchResult& b) {
  std::string s = strprintf("%d timed + %d warm-up per implementation", b.settings.n_runs, b.settings.n_warmup);
  if (b.settings.n_threads > 0) s += strprintf(", %d threads asked", b.settings.n_threads);
  if (!b.settings.language.empty()) s += ", language " + b.settings.language;
  if (b.settings.timeout_s > 0) s += strprintf(", timeout %g s", b.settings.timeout_s);
  if (b.settings.beam_size > 1) s += strprintf(", beam size %d", b.settings.beam_size);
  return s;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::string format_rtf(double rtf) { return rtf > 0 ? strprintf("%.1fx", rtf) : "-"; }

std::string format_wer(const ImplResult& r) { return r.wer ? strprintf("%.1f%%", 100.0 * r.wer->wer()) : "-"; }

std::string render_summary(const BenchResult& b) {
  std::ostringstream o;
  o << "whisper-speedtest " << b.tool_version << " benchmark\n";
  o << "  Model    " << model_line(b) << "\n";
  o << "  Audio    " << audio_line(b) << "\n";
  o << "  Machine  " << b.system.one_line() << "\n";
  o << "  Runs     " << runs_line(b) << "\n\n";

  const bool gpu = any_gpu(b);
  const std::vector<std::string> header = columns(gpu);
  std::vector<std::vector<std::string>> table = {header};
  size_t rank = 0;
  for (const auto& r : b.results) table.push_back(cells_of(b, r, r.ok() ? ++rank : 0, gpu));
  std::vector<size_t> w(header.size(), 0);
  for (const auto& row : table)
    for (size_t c = 0; c < row.size(); ++c) w[c] = std::max(w[c], width(row[c]));
  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (size_t c = 0; c < row.size(); ++c) s += (c ? "  " : "") + pad(row[c], w[c], c >= 2);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  o << line(table[0]) << "\n";
  const std::string indent(w[0] + 2, ' ');
  for (size_t i = 0; i < b.results.size(); ++i) {
    const ImplResult& r = b.results[i];
    if (!r.ok()) {
      o << line(table[i + 1]) << "  FAILED: " << r.error << "\n";
      if (!r.runs.empty()) o << indent << strprintf("(%zu timed runs had finished)", r.runs.size()) << "\n";
      continue;
    }
    o << line(table[i + 1]) << "\n";
    o << indent << used_line(r) << "\n";
    o << indent << "\"" << transcript_preview(r.text) << "\"\n";
  }
  if (!b.skipped.empty()) {
    o << "\nNot available here (skipped):\n";
    for (const auto& s : b.skipped) o << "  " << s.id << ": " << s.reason << "\n";
  }
  return o.str();
}

std::string render_markdown(const BenchResult& b) {
  std::ostringstream o;
  o << "### whisper-speedtest " << b.tool_version << " benchmark\n\n";
  o << "- **Model:** `" << model_line(b) << "`\n";
  o << "- **Audio:** `" << b.audio.path << "`, " << format_mm_ss(b.audio.duration_s)
    << strprintf(" (%.2f s)", b.audio.duration_s) << "\n";
  o << "- **Machine:** " << b.system.one_line() << "\n";
  o << "- **Runs:** " << runs_line(b) << "\n\n";
  const bool gpu = any_gpu(b);
  const std::vector<std::string> header = columns(gpu);
  o << "|";
  for (const auto& h : header) o << " " << h << " |";
  o << " Parameters | Transcript |\n|---|---|";
  for (size_t c = 2; c < header.size(); ++c) o << "---:|";
  o << "---|---|\n";
  auto esc = [](std::string s) {
    std::string out;
    for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  size_t rank = 0;
  for (const auto& r : b.results) {
    if (!r.ok()) {
      o << "| - | " << esc(r.id) << " |";
      for (size_t c = 2; c < header.size() + 1; ++c) o << " |";
      o << " **failed:** " << esc(r.error) << " |\n";
      continue;
    }
    auto c = cells_of(b, r, ++rank, gpu);
    o << "|";
    for (const auto& cell : c) o << " " << esc(cell) << " |";
    o << " " << esc(used_line(r)) << " | " << esc(transcript_preview(r.text)) << " |\n";
  }
  for (const auto& s : b.skipped) o << "\n_Skipped " << esc(s.id) << ": " << esc(s.reason) << "_\n";
  return o.str();
}

std::string render_csv(const BenchResult& b) {
  std::ostringstream o;
  o << "implementation,status,run,wall_ms,internal_ms,median_ms,mean_ms,min_ms,max_ms,stddev_ms,rtf,load_ms,"
       "peak_rss_bytes,peak_gpu_bytes,wer,model_file,format,precision,device,n_threads,version,audio,audio_s,error,transcript\n";
  for (const auto& r : b.results) {
    Stats s = r.wall_stats();
    auto tail = [&](const std::string& run, const std::string& wall, const std::string& internal) {
      o << csv_field(r.id) << "," << r.status << "," << run << "," << wall << "," << internal << ",";
      if (r.ok()) {
        o << strprintf("%.3f,%.3f,%.3f,%.3f,%.3f,%.4f,", s.median, s.mean, s.min, s.max, s.stddev, b.rtf(r));
      } else {
        o << ",,,,,,";
      }
      o << (r.load_ms >= 0 ? strprintf("%.3f", r.load_ms) : "") << ","
        << (r.peak_rss_bytes >= 0 ? std::to_string(r.peak_rss_bytes) : "") << ","
        << (r.peak_gpu_bytes >= 0 ? std::to_string(r.peak_gpu_bytes) : "") << ","
        << (r.wer ? strprintf("%.6f", r.wer->wer()) : "") << "," << csv_field(r.used.model_file) << ","
        << csv_field(r.used.format) << "," << csv_field(r.used.precision) << "," << csv_field(r.used.device) << ","
        << r.used.n_threads << "," << csv_field(r.used.version) << "," << csv_field(b.audio.path) << ","
        << strprintf("%.3f", b.audio.duration_s) << "," << csv_field(r.error) << "," << csv_field(r.text) << "\n";
    };
    if (r.runs.empty()) tail("", "", "");
    for (size_t i = 0; i < r.runs.size(); ++i) {
      const RunTiming& t = r.runs[i];
      tail(std::to_string(i + 1), strprintf("%.3f", t.wall_ms),
           t.internal_ms >= 0 ? strprintf("%.3f", t.internal_ms) : "");
    }
  }
  return o.str();
}

}  // namespace wst::bench
