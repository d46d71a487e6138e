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
// Levenshtein.editops picks (rapidfuzz 3, Hyyrö's bit-parallel matrix, "A Note on Bit-Parallel Alignment
// Computation", 2004): drop the common prefix and suffix, then walk back from the end of the cost matrix
// preferring a deletion, then an insertion, then the diagonal. Written here with a plain cost matrix; the
// bit vectors VP/VN there are the vertical differences D[i][j] - D[i-1][j] = +1 / -1 used below.
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
  const size_t n = ref.size() - prefix - suffix;  // rows of the matrix: reference words
  const size_t m = hyp.size() - prefix - suffix;  // columns: hypothesis words
  auto a = [&](size_t i) -> const std::string& { return ref[prefix + i]; };
  auto b = [&](size_t j) -> const std::string& { return hyp[prefix + j]; };

  // d[i * (m + 1) + j]: distance between the first i words of a and the first j of b.  // [n + 1, m + 1]
  std::vector<uint32_t> d((n + 1) * (m + 1));
  auto at = [&](size_t i, size_t j) -> uint32_t& { return d[i * (m + 1) + j]; };
  for (size_t i = 0; i <= n; ++i) at(i, 0) = static_cast<uint32_t>(i);
  for (size_t j = 0; j <= m; ++j) at(0, j) = static_cast<uint32_t>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a(i - 1) == b(j - 1) ? 0u : 1u)});
    }
  }

  size_t i = n, j = m;
  while (i > 0 && j > 0) {
    if (at(i, j) == at(i - 1, j) + 1) {  // VP: delete a[i-1]
      ++c.deletions;
      --i;
      continue;
    }
    --j;
    if (j > 0 && at(i, j) + 1 == at(i - 1, j)) {  // VN in the previous column: insert b[j]
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
