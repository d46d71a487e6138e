// Side-by-side report and the RTF/WER plot; see compare.h.
#include "bench/compare.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "bench/format.h"
#include "bench/report.h"

namespace wst::bench {
namespace {

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += c;
    }
  }
  return o;
}

const ImplResult* find_row(const BenchResult& b, const std::string& id) {
  for (const auto& r : b.results)
    if (r.id == id) return &r;
  return nullptr;
}

std::string machine_of(const BenchResult& b) {
  return b.system.hostname.empty() ? b.system.cpu_model : b.system.hostname;
}

size_t utf8_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

std::string render_side_by_side(const std::vector<LabelledResult>& files) {
  std::ostringstream o;
  o << "whisper-speedtest report: " << files.size() << (files.size() == 1 ? " result file\n" : " result files\n");
  for (size_t f = 0; f < files.size(); ++f) {
    const BenchResult& b = files[f].result;
    o << "  [" << f + 1 << "] " << files[f].file << "  " << b.started_utc << "\n"
      << "      " << (b.system.hostname.empty() ? "" : b.system.hostname + " · ") << b.system.one_line() << "\n"
      << "      model " << b.settings.model << " · audio " << std::filesystem::path(b.audio.path).filename().string()
      << " " << format_mm_ss(b.audio.duration_s) << " · " << b.settings.n_runs << " runs · threads "
      << (b.settings.n_threads > 0 ? std::to_string(b.settings.n_threads) : std::string("all")) << "\n";
  }
  for (size_t f = 1; f < files.size(); ++f) {
    const AudioInfo &a = files[0].result.audio, &x = files[f].result.audio;
    bool differ = (!a.sha256.empty() && !x.sha256.empty()) ? a.sha256 != x.sha256 : a.n_samples != x.n_samples;
    if (differ) o << "  warning: [" << f + 1 << "] used different audio from [1]; times are not comparable\n";
  }
  std::vector<std::string> ids;
  for (const auto& lf : files)
    for (const auto& r : lf.result.results)
      if (std::find(ids.begin(), ids.end(), r.id) == ids.end()) ids.push_back(r.id);

  std::vector<std::vector<std::string>> table;
  std::vector<std::string> head = {"Implementation"};
  for (size_t f = 0; f < files.size(); ++f) {
    std::string n = "[" + std::to_string(f + 1) + "] ";
    head.insert(head.end(), {n + "median", n + "RTF", n + "WER"});
  }
  table.push_back(head);
  for (const auto& id : ids) {
    std::vector<std::string> row = {id};
    for (const auto& lf : files) {
      const ImplResult* r = find_row(lf.result, id);
      if (!r) row.insert(row.end(), {"-", "-", "-"});
      else if (!r->ok()) row.insert(row.end(), {"failed", "-", "-"});
      else row.insert(row.end(), {format_ms(r->wall_stats().median), format_rtf(lf.result.rtf(*r)), format_wer(*r)});
    }
    table.push_back(row);
  }
  std::vector<size_t> w(head.size(), 0);
  for (const auto& row : table)
    for (size_t c = 0; c < row.size(); ++c) w[c] = std::max(w[c], utf8_width(row[c]));
  o << "\n";
  for (const auto& row : table) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      std::string cell = row[c];
      std::string fill(w[c] - utf8_width(cell), ' ');
      line += (c ? "  " : "") + (c == 0 ? cell + fill : fill + cell);
    }
    o << line << "\n";
  }
  return o.str();
}

std::string render_plot_svg(const std::vector<LabelledResult>& files) {
  struct Point {
    std::string impl, machine;
    double rtf, wer_pct;
    size_t file;
  };
  // A machine's label; "[k]" (the file's number) is added where several files come from one machine.
  std::vector<std::string> base, machines;
  for (const auto& lf : files) base.push_back(machine_of(lf.result));
  for (size_t f = 0; f < files.size(); ++f)
    machines.push_back(std::count(base.begin(), base.end(), base[f]) > 1 ? base[f] + " [" + std::to_string(f + 1) + "]"
                                                                          : base[f]);
  std::vector<Point> points;
  std::vector<std::string> left_out;
  for (size_t f = 0; f < files.size(); ++f) {
    const BenchResult& b = files[f].result;
    for (const auto& r : b.results) {
      if (!r.ok() || r.runs.empty()) continue;
      if (!r.wer) {
        left_out.push_back(r.id + " @ " + machines[f]);
        continue;
      }
      points.push_back({r.id, machines[f], b.rtf(r), 100.0 * r.wer->wer(), f});
    }
  }
  // Axes: whole decades of RTF around the points; WER from 0 to a round value above the worst.
  double lo = 1, hi = 10, wer_max = 10;
  if (!points.empty()) {
    double mn = points[0].rtf, mx = points[0].rtf;
    for (const auto& p : points) mn = std::min(mn, p.rtf), mx = std::max(mx, p.rtf), wer_max = std::max(wer_max, p.wer_pct);
    lo = std::pow(10.0, std::floor(std::log10(std::max(mn, 1e-6))));
    hi = std::pow(10.0, std::ceil(std::log10(std::max(mx, 1e-6))));
    if (hi <= lo) hi = lo * 10;
  }
  wer_max = std::ceil(wer_max * 1.1 / 5.0) * 5.0;
  const double W = 800, left = 80, right = 40, top = 50, plot_h = 380;
  const double bottom = 64 + 16.0 * static_cast<double>(files.size()) + (left_out.empty() ? 0 : 18);
  const double H = top + plot_h + bottom;
  const double pw = W - left - right, ph = H - top - bottom;
  auto x_of = [&](double rtf) { return left + pw * (std::log10(rtf) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)); };
  auto y_of = [&](double wer) { return top + ph * (1.0 - wer / wer_max); };
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"};

  std::ostringstream o;
  o << strprintf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
                 "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
  o << "<title>whisper-speedtest: speed (RTF) against WER</title>\n";
  o << strprintf("<rect x=\"0\" y=\"0\" width=\"%g\" height=\"%g\" fill=\"white\"/>\n", W, H);
  o << strprintf("<text x=\"%g\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">Speed against accuracy "
                 "(right and low is better)</text>\n", W / 2);
  // Grid and ticks.
  for (double d = lo; d < hi * 0.999; d *= 10) {
    for (double m : {2.0, 5.0}) {  // minor lines at 2x and 5x of each decade
      double x = x_of(d * m);
      o << strprintf("<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#f0f0f0\"/>\n", x, top, x, top + ph);
      o << strprintf("<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\" fill=\"#888\" font-size=\"10\">%gx</text>\n", x,
                     top + ph + 16, d * m);
    }
  }
  for (double d = lo; d <= hi * 1.0001; d *= 10) {
    double x = x_of(d);
    o << strprintf("<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>\n", x, top, x, top + ph);
    o << strprintf("<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%gx</text>\n", x, top + ph + 18, d);
  }
  for (int k = 0; k <= 5; ++k) {
    double wer = wer_max * k / 5.0, y = y_of(wer);
    o << strprintf("<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, y, left + pw, y);
    o << strprintf("<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%g%%</text>\n", left - 8, y + 4, wer);
  }
  o << strprintf("<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#333\"/>\n", left, top, pw, ph);
  o << strprintf("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">real-time factor (audio s / median s, log scale)</text>\n",
                 left + pw / 2, top + ph + 40);
  o << strprintf("<text x=\"20\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 20 %g)\">WER</text>\n",
                 top + ph / 2, top + ph / 2);
  std::vector<std::array<double, 3>> boxes;  // placed labels: x, baseline y, width
  for (const auto& p : points) {
    const char* color = kColors[p.file % (sizeof kColors / sizeof *kColors)];
    double x = x_of(p.rtf), y = y_of(p.wer_pct);
    o << strprintf("<circle class=\"point\" data-impl=\"%s\" data-machine=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" "
                   "fill=\"%s\"><title>%s: RTF %.2f, WER %.1f%%</title></circle>\n",
                   xml_escape(p.impl).c_str(), xml_escape(p.machine).c_str(), x, y, color,
                   xml_escape(p.impl + " @ " + p.machine).c_str(), p.rtf, p.wer_pct);
    // Labels near the right edge go to the point's left so they stay inside the plot; a label that would
    // overlap one already placed moves up or down (label boxes estimated at 7 px per character, 14 px high).
    const std::string text = p.impl + " @ " + p.machine;
    const bool flip = x > left + pw * 0.75;
    const double w_px = 7.0 * static_cast<double>(utf8_width(text));
    const double x0 = flip ? x - 8 - w_px : x + 8;
    double ly = y - 6;
    for (double dy : {0.0, -16.0, -32.0, 16.0, -48.0, 32.0, -64.0, 48.0}) {
      bool clash = false;
      for (const auto& b : boxes)
        clash |= x0 < b[0] + b[2] && b[0] < x0 + w_px && (y - 6 + dy) - 14 < b[1] && b[1] - 14 < (y - 6 + dy);
      if (!clash) {
        ly = y - 6 + dy;
        break;
      }
    }
    boxes.push_back({x0, ly, w_px});
    o << strprintf("<text class=\"label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n", flip ? x - 8 : x + 8,
                   ly, flip ? "end" : "start", xml_escape(text).c_str());
  }
  // Legend: one colour per file.
  for (size_t f = 0; f < files.size(); ++f) {
    double y = top + plot_h + 64 + 16.0 * static_cast<double>(f);
    o << strprintf("<circle cx=\"%g\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", left + 6, y - 4,
                   kColors[f % (sizeof kColors / sizeof *kColors)]);
    o << strprintf("<text x=\"%g\" y=\"%.1f\">%s</text>\n", left + 16, y,
                   xml_escape(machines[f] + ": " + files[f].result.system.cpu_model + " (" + std::filesystem::path(files[f].file).filename().string() + ")").c_str());
  }
  if (!left_out.empty()) {
    std::string note = "No WER (run with --reference), not plotted: ";
    for (size_t i = 0; i < left_out.size(); ++i) note += (i ? ", " : "") + left_out[i];
    o << strprintf("<text x=\"%g\" y=\"%g\" fill=\"#a00\">%s</text>\n", left, H - 8, xml_escape(note).c_str());
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace wst::bench
