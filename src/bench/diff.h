// Where transcripts disagree: word-level differences of each implementation's transcript against the
// reference, or against the majority transcript when there is no reference (`--diff`).
//
//   auto ops = align_words({"ask", "not", "what"}, {"ask", "what", "now"});
//   // equal ask, delete not, equal what, insert now
//
// Words are compared after Whisper's English normaliser (text_normalizer.h), the same text WER counts, so a
// difference shown is one WER counts. The alignment is a minimum edit-distance one; among equal-cost
// alignments it prefers, from the left, a match, then a deletion, then an insertion, then a substitution, so
// words both sides share stay matched ("ask not what" / "ask what now" reads [-not] ... [+now]). WER itself comes
// from wer.h, not from here. Pure functions; thread-safe.
#pragma once
#include <string>
#include <vector>

#include "bench/results.h"

namespace wst::bench {

struct WordOp {
  enum Kind { kEqual, kSubstitute, kDelete, kInsert } kind;
  std::string ref;  // empty for kInsert
  std::string hyp;  // empty for kDelete
};

std::vector<WordOp> align_words(const std::vector<std::string>& ref, const std::vector<std::string>& hyp);

// The differences only, with up to `context` equal words around each: "my [fellow -> follow] americans ...
// [-country]"; "identical" when there is none.
std::string describe_differences(const std::vector<WordOp>& ops, size_t context = 2);

// The normalised transcript most successful rows share (ties: the earliest row, i.e. the fastest); "" with
// fewer than two successful rows.
std::string majority_transcript(const BenchResult& result);

// The --diff section: one entry per successful row against the reference, or the majority when there is
// no reference.
std::string render_diff(const BenchResult& result);

}  // namespace wst::bench
