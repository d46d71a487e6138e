// Word alignment and the --diff section; see diff.h.
#include "bench/diff.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "bench/text_normalizer.h"

namespace wst::bench {
namespace {

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> w;
  std::istringstream in(normalize_english(text));
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

std::string join(const std::vector<std::string>& w) {
  std::string s;
  for (const auto& x : w) s += (s.empty() ? "" : " ") + x;
  return s;
}

}  // namespace

std::vector<WordOp> align_words(const std::vector<std::string>& ref, const std::vector<std::string>& hyp) {
  const size_t n = ref.size(), m = hyp.size();
  // cost[i][j]: edits turning ref[i:] into hyp[j:]; [n + 1, m + 1]
  std::vector<std::vector<size_t>> cost(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = n + 1; i-- > 0;) {
    for (size_t j = m + 1; j-- > 0;) {
      if (i == n) cost[i][j] = m - j;
      else if (j == m) cost[i][j] = n - i;
      else if (ref[i] == hyp[j]) cost[i][j] = cost[i + 1][j + 1];
      else cost[i][j] = 1 + std::min({cost[i + 1][j + 1], cost[i + 1][j], cost[i][j + 1]});
    }
  }
  std::vector<WordOp> ops;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && ref[i] == hyp[j] && cost[i][j] == cost[i + 1][j + 1]) {
      ops.push_back({WordOp::kEqual, ref[i], hyp[j]});
      ++i, ++j;
    } else if (i < n && (j == m || cost[i][j] == 1 + cost[i + 1][j])) {
      ops.push_back({WordOp::kDelete, ref[i], ""});
      ++i;
    } else if (j < m && (i == n || cost[i][j] == 1 + cost[i][j + 1])) {
      ops.push_back({WordOp::kInsert, "", hyp[j]});
      ++j;
    } else {
      ops.push_back({WordOp::kSubstitute, ref[i], hyp[j]});
      ++i, ++j;
    }
  }
  return ops;
}

std::string describe_differences(const std::vector<WordOp>& ops, size_t context) {
  std::vector<bool> show(ops.size(), false);
  bool any = false;
  for (size_t k = 0; k < ops.size(); ++k) {
    if (ops[k].kind == WordOp::kEqual) continue;
    any = true;
    size_t lo = k >= context ? k - context : 0, hi = std::min(ops.size(), k + context + 1);
    for (size_t x = lo; x < hi; ++x) show[x] = true;
  }
  if (!any) return "identical";
  std::vector<std::string> parts;
  for (size_t k = 0; k < ops.size(); ++k) {
    if (!show[k]) continue;
    if (k > 0 && !show[k - 1]) parts.push_back("...");
    const WordOp& op = ops[k];
    switch (op.kind) {
      case WordOp::kEqual: parts.push_back(op.ref); break;
      case WordOp::kSubstitute: parts.push_back("[" + op.ref + " -> " + op.hyp + "]"); break;
      case WordOp::kDelete: parts.push_back("[-" + op.ref + "]"); break;
      case WordOp::kInsert: parts.push_back("[+" + op.hyp + "]"); break;
    }
  }
  if (!show.back()) parts.push_back("...");
  std::string out = join(parts);
  return out;
}

std::string majority_transcript(const BenchResult& result) {
  std::map<std::string, int> votes;
  std::vector<std::string> order;
  for (const auto& r : result.results) {
    if (!r.ok()) continue;
    std::string t = join(words_of(r.text));
    if (votes[t]++ == 0) order.push_back(t);
  }
  if (order.empty()) return "";
  int n_ok = 0;
  for (const auto& [t, n] : votes) n_ok += n;
  if (n_ok < 2) return "";
  std::string best = order.front();
  for (const auto& t : order)
    if (votes[t] > votes[best]) best = t;
  return best;
}

std::string render_diff(const BenchResult& result) {
  std::ostringstream o;
  std::vector<std::string> base;
  if (!result.reference.empty()) {
    base = words_of(result.reference);
    o << "Differences against the reference";
  } else {
    std::string majority = majority_transcript(result);
    if (majority.empty()) return "Differences: nothing to compare against (no --reference and fewer than two results)\n";
    std::istringstream in(majority);
    for (std::string s; in >> s;) base.push_back(s);
    o << "Differences against the majority transcript";
  }
  o << " (normalised words; [ref -> hyp] replaced, [-word] missing, [+word] extra):\n";
  size_t w = 0;
  for (const auto& r : result.results) w = std::max(w, r.id.size());
  for (const auto& r : result.results) {
    if (!r.ok()) continue;
    auto ops = align_words(base, words_of(r.text));
    size_t n_diff = 0;
    for (const auto& op : ops) n_diff += op.kind != WordOp::kEqual;
    o << "  " << r.id << std::string(w - r.id.size(), ' ') << "  ";
    if (n_diff == 0) {
      o << "identical\n";
    } else {
      o << n_diff << (n_diff == 1 ? " difference: " : " differences: ") << describe_differences(ops) << "\n";
    }
  }
  return o.str();
}

}  // namespace wst::bench
