// Word-level Levenshtein alignment with jiwer's counts; see wer.h.
#include "bench/wer.h"

#include <algorithm>
#include <cstdint>
#include <fmt/format.h>

#include "bench/unicode_text.h"
#include "util/errors.h"

namespace wst::bench {

namespace {

// Substitutions, deletions and insertions turning `ref` into `hyp`, on the alignment rapidfuzz's
// Levenshtein.editops picks (rapidfuzz 3, after Hyyrö, "A Note on Bit-Parallel Alignment Computation", 2004):
// drop the common prefix and suffix, then walk back from the end of the cost matrix preferring a deletion,
// then an insertion, then the diagonal. Like rapidfuzz we keep only the vertical differences of the matrix,
// D[i][j] - D[i-1][j] in {+1, 0, -1}, as two bits per cell (its VP / VN bit vectors): 10,000 x 10,000 words
// take 25 MB rather than 400 MB of costs. The costs themselves are computed one column at a time.
WerCounts align(const std::vector<std::string>& ref, const std::vector<std::string>& hyp) {
  WerCounts c;
  c.n_ref_words = ref.size();

  size_t prefix = 0;
  while (prefix < ref.size() && prefix < hyp.size() && ref[prefix] == hyp[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < ref.size() - prefix && suffix < hyp.size() - prefix &&
         ref[ref.size() - 1 - suffix] == hyp[hyp.size() - 1 - suffix]) {
    ++suffix;
  }
  const size_t n = ref.size() - prefix - suffix;  // matrix rows: reference words
  const size_t m = hyp.size() - prefix - suffix;  // matrix columns: hypothesis words
  auto a = [&](size_t i) -> const std::string& { return ref[prefix + i]; };
  auto b = [&](size_t j) -> const std::string& { return hyp[prefix + j]; };

  // Bit i - 1 of column j (1 <= j <= m): D[i][j] - D[i-1][j] is +1 (vp) or -1 (vn).  // [m, n_blocks] each
  const size_t n_blocks = (n + 63) / 64;
  std::vector<uint64_t> vp(m * n_blocks), vn(m * n_blocks);
  auto bit = [&](const std::vector<uint64_t>& v, size_t i, size_t j) {
    return (v[(j - 1) * n_blocks + (i - 1) / 64] >> ((i - 1) % 64)) & 1u;
  };

  std::vector<uint32_t> prev(n + 1), cur(n + 1);  // D[.][j-1] and D[.][j]  // [n + 1]
  for (size_t i = 0; i <= n; ++i) prev[i] = static_cast<uint32_t>(i);
  for (size_t j = 1; j <= m; ++j) {
    cur[0] = static_cast<uint32_t>(j);
    for (size_t i = 1; i <= n; ++i) {
      cur[i] = std::min({prev[i] + 1, cur[i - 1] + 1, prev[i - 1] + (a(i - 1) == b(j - 1) ? 0u : 1u)});
      uint64_t mask = uint64_t{1} << ((i - 1) % 64);
      if (cur[i] > cur[i - 1]) vp[(j - 1) * n_blocks + (i - 1) / 64] |= mask;
      if (cur[i] < cur[i - 1]) vn[(j - 1) * n_blocks + (i - 1) / 64] |= mask;
    }
    std::swap(prev, cur);
  }

  size_t i = n, j = m;
  while (i > 0 && j > 0) {
    if (bit(vp, i, j)) {  // delete a[i-1]
      ++c.deletions;
      --i;
      continue;
    }
    --j;
    if (j > 0 && bit(vn, i, j)) {  // insert b[j]
      ++c.insertions;
    } else {
      --i;
      if (a(i) != b(j)) ++c.substitutions;
    }
  }
  c.deletions += i;
  c.insertions += j;
  c.hits = c.n_ref_words - c.substitutions - c.deletions;
  return c;
}

}  // namespace

double WerCounts::wer() const {
  if (n_ref_words == 0) return static_cast<double>(insertions);
  return static_cast<double>(substitutions + deletions + insertions) / static_cast<double>(n_ref_words);
}

WerCounts& WerCounts::operator+=(const WerCounts& o) {
  substitutions += o.substitutions;
  deletions += o.deletions;
  insertions += o.insertions;
  hits += o.hits;
  n_ref_words += o.n_ref_words;
  return *this;
}

std::vector<std::string> split_words(std::string_view text) {
  // jiwer: RemoveMultipleSpaces (re.sub(r"\s\s+", " ")), Strip (str.strip()), split(" "), drop empty words.
  std::u32string s = utf8_to_u32(text);
  std::u32string squeezed;
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    while (j < s.size() && is_space_char(s[j])) ++j;
    if (j - i >= 2) {
      squeezed.push_back(U' ');
      i = j;
    } else {
      squeezed.push_back(s[i++]);  // a single whitespace character stays as it is (a tab splits nothing)
    }
  }
  size_t begin = 0, end = squeezed.size();
  while (begin < end && is_space_char(squeezed[begin])) ++begin;
  while (end > begin && is_space_char(squeezed[end - 1])) --end;

  std::vector<std::string> words;
  for (size_t i = begin; i < end;) {
    size_t j = i;
    while (j < end && squeezed[j] != U' ') ++j;
    if (j > i) words.push_back(u32_to_utf8(std::u32string_view(squeezed).substr(i, j - i)));
    i = j + 1;
  }
  return words;
}

WerCounts word_errors(std::string_view reference, std::string_view hypothesis) {
  return align(split_words(reference), split_words(hypothesis));
}

WerCounts corpus_word_errors(std::span<const std::string> references, std::span<const std::string> hypotheses) {
  if (references.size() != hypotheses.size()) {
    throw Error(fmt::format("corpus WER: {} references but {} hypotheses", references.size(), hypotheses.size()));
  }
  WerCounts total;
  for (size_t k = 0; k < references.size(); ++k) total += word_errors(references[k], hypotheses[k]);
  return total;
}

}  // namespace wst::bench
