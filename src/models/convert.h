// `whisper-speedtest models convert`: any weight format to any other, through formats::WhisperWeights.
//
//   convert_model("/models/tiny.en-ct2", WeightFormat::kGgml, "/models/ggml-tiny.en.bin", DType::kF16);
//
// Writers need more than the weights (a tokenizer.json to copy, the vocabulary as bytes, the mel filters,
// special token ids): prepare_for_writing fills what the source did not carry, from the tokenizer found by
// models/tokenizer_source.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "formats/weight_io.h"
#include "models/tokenizer_source.h"

namespace wst::models {

// Fills w.tokenizer_json (when the source is a tokenizer.json), w.vocab, w.mel_filters and w.facts.
void prepare_for_writing(formats::WhisperWeights& w, const TokenizerSource& tokenizer);

struct ConvertResult {
  std::string source_format, target_format;
  std::string tokenizer;  // TokenizerSource::description
  std::string out;
};

// Catalog models whose architecture is exactly `dims` (tiny.en alone for tiny.en's; large-v1 and large-v2
// share theirs).
std::vector<std::string> models_with_dims(const Catalog& catalog, const formats::WhisperDims& dims);

// Checks that `dims` (read from the weights at `path`) are the catalog architecture of `name`, every
// hyperparameter of openai-whisper's ModelDimensions. Throws one line naming the file, each differing
// hyperparameter with both values, and the catalog models the weights do match, e.g.
//   "/m/tiny.en: not large-v3: n_mels 80 (large-v3: 128), n_vocab 51864 (51866), ...; the weights' architecture is tiny.en's"
void check_architecture(const Catalog& catalog, const std::string& name, const formats::WhisperDims& dims,
                        const std::string& path);

// The catalog's format id for a weight format, and where `models convert` puts a model by default: the
// project's models directory, under the catalog's file name, where the resolver finds it.
Format catalog_format(formats::WeightFormat f);
std::string default_output(const Resolver& resolver, const std::string& model, formats::WeightFormat f);

// Reads `src` (any format), writes `out` as `to`. Throws wst::Error naming the file and problem; on any
// error nothing is left at `out` (an existing `out` is kept unless overwrite, and then replaced only when
// the new one is complete).
ConvertResult convert_model(const std::string& src, formats::WeightFormat to, const std::string& out,
                            std::optional<formats::DType> dtype, bool overwrite, const Resolver& resolver);

}  // namespace wst::models
