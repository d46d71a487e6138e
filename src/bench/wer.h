// Word error rate, counted as jiwer counts it, on text that is already normalised
// (normalize_english / normalize_basic in text_normalizer.h).
//
//   auto c = wst::bench::word_errors("the cat sat", "the cat sat down");
//   // c.hits == 3, c.insertions == 1, c.wer() == 1.0 / 3
//
// The edit distance is unique but its split into substitutions, deletions and insertions is not; we take the
// same alignment as jiwer 4.0 (rapidfuzz's Levenshtein.opcodes), so S, D and I match jiwer, not only the WER.
// Known difference: past about 2,000 x 2,000 words in one utterance (after the common prefix and suffix),
// rapidfuzz switches to Hirschberg's algorithm, which may split the same distance differently between S, D
// and I; the WER itself (S + D + I over the reference length) is the same. Time is O(n_ref x n_hyp),
// memory n_ref x n_hyp / 4 bytes.
// Thread-safe: pure functions.
#pragma once
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wst::bench {

struct WerCounts {
  size_t substitutions = 0;
  size_t deletions = 0;
  size_t insertions = 0;
  size_t hits = 0;         // reference words matched exactly
  size_t n_ref_words = 0;  // hits + substitutions + deletions

  // (S + D + I) / n_ref_words. With no reference words at all, jiwer's convention: the number of insertions
  // (0 when the hypothesis is empty as well).
  double wer() const;
  // Sums counts, as jiwer does over a list of utterances.
  WerCounts& operator+=(const WerCounts& other);
};

// jiwer's default word splitting (wer_default): runs of two or more whitespace characters become one space,
// the ends are stripped, and the text is split at spaces. Normalised text has only single spaces, where
// this is the same as splitting at whitespace.
std::vector<std::string> split_words(std::string_view text);

// Counts for one utterance.
WerCounts word_errors(std::string_view reference, std::string_view hypothesis);

// Counts summed over utterances, as jiwer.wer(list_of_references, list_of_hypotheses): a corpus WER weights
// each utterance by its length. Throws wst::Error when the lists differ in length.
WerCounts corpus_word_errors(std::span<const std::string> references, std::span<const std::string> hypotheses);

}  // namespace wst::bench
