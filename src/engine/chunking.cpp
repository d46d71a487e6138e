#include "engine/chunking.h"

#include <algorithm>
#include <cmath>

#include "engine/mel.h"
#include "util/errors.h"

namespace wst::engine {
namespace {

constexpr size_t kFrame = 480;                  // 30 ms at 16 kHz
constexpr size_t kSearchSamples = 10 * 16000;   // where a cut is looked for: the last 10 s before the limit
constexpr int kSmooth = 2;                      // frames each side in the smoothed energy

// Mean square energy in dB of every whole 30 ms frame (the last partial frame too), smoothed over 5 frames.
std::vector<double> frame_energy_db(const std::vector<float>& pcm) {
  const size_t n = (pcm.size() + kFrame - 1) / kFrame;
  std::vector<double> db(n);
  for (size_t f = 0; f < n; ++f) {
    const size_t a = f * kFrame, b = std::min(pcm.size(), a + kFrame);
    double sum = 0;
    for (size_t i = a; i < b; ++i) sum += static_cast<double>(pcm[i]) * pcm[i];
    db[f] = 10.0 * std::log10(sum / static_cast<double>(b - a) + 1e-10);
  }
  std::vector<double> smooth(n);
  for (size_t f = 0; f < n; ++f) {
    const size_t a = f >= kSmooth ? f - kSmooth : 0, b = std::min(n, f + kSmooth + 1);
    double s = 0;
    for (size_t g = a; g < b; ++g) s += db[g];
    smooth[f] = s / static_cast<double>(b - a);
  }
  return smooth;
}

// The recording's silence threshold: its 10th percentile plus a quarter of the way to its 90th; where those
// are within 10 dB of each other (silence too rare to show in the 10th percentile), 20 dB below the 90th.
double silence_threshold_db(std::vector<double> db) {
  auto pct = [&](double p) {
    const size_t k = static_cast<size_t>(p * static_cast<double>(db.size() - 1));
    std::nth_element(db.begin(), db.begin() + static_cast<long>(k), db.end());
    return db[k];
  };
  const double p10 = pct(0.10), p90 = pct(0.90);
  return p90 - p10 < 10.0 ? p90 - 20.0 : p10 + 0.25 * (p90 - p10);
}

}  // namespace

std::vector<Chunk> cut_at_silences(const std::vector<float>& pcm, size_t max_samples) {
  if (max_samples < 2 * kFrame)
    throw Error("chunking: chunks of " + std::to_string(max_samples) + " samples are too short");
  std::vector<Chunk> chunks;
  if (pcm.empty()) return chunks;
  const std::vector<double> db = frame_energy_db(pcm);
  const double threshold = silence_threshold_db(db);
  size_t start = 0;
  while (pcm.size() - start > max_samples) {
    // Candidate cuts: frame starts in [start + max - search, start + max], after the chunk's first frame.
    const size_t hi = (start + max_samples) / kFrame;
    const size_t search = std::min(kSearchSamples, max_samples / 2);
    const size_t lo = std::max(start / kFrame + 1, (start + max_samples - search) / kFrame);
    // The last silent stretch there (the nearest the limit), cut at its quietest frame; with no silent
    // frame, the quietest frame.
    size_t cut = lo;
    bool any_silent = false, in_silence = false;
    for (size_t f = lo; f <= hi; ++f) {
      const bool silent = db[f] < threshold;
      if (silent && (!in_silence || db[f] < db[cut])) cut = f;
      any_silent |= silent;
      in_silence = silent;
    }
    if (!any_silent)
      for (size_t f = lo; f <= hi; ++f)
        if (db[f] < db[cut]) cut = f;
    chunks.push_back({start, cut * kFrame});
    start = cut * kFrame;
  }
  chunks.push_back({start, pcm.size()});
  return chunks;
}

Transcript join_chunks(const std::vector<Chunk>& chunks, std::vector<Transcript> parts) {
  if (chunks.size() != parts.size())
    throw Error("chunking: " + std::to_string(parts.size()) + " transcripts for " + std::to_string(chunks.size()) +
                " chunks");
  Transcript out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i == 0) out.language = parts[i].language;
    out.text += parts[i].text;
    const double offset_s = static_cast<double>(chunks[i].start) / kSampleRate;
    const int offset_frames = static_cast<int>(chunks[i].start / kHopLength);
    for (Segment& s : parts[i].segments) {
      s.id = static_cast<int>(out.segments.size());
      s.seek += offset_frames;
      s.start_s += offset_s;
      s.end_s += offset_s;
      out.segments.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace wst::engine
