#include "models/tokenizer_source.h"

#include <filesystem>

#include "formats/weight_io.h"
#include "util/errors.h"

namespace wst::models {
namespace fs = std::filesystem;

TokenizerSource find_tokenizer(const formats::WhisperWeights& w, const Resolver& resolver) {
  if (!w.tokenizer_json.empty()) return {w.tokenizer_json, false, w.tokenizer_json + " (carried by the model files)"};
  std::error_code ec;
  const fs::path here = fs::is_directory(w.path, ec) ? fs::path(w.path) : fs::path(w.path).parent_path();
  if (fs::is_regular_file(here / "tokenizer.json", ec))
    return {(here / "tokenizer.json").string(), false, (here / "tokenizer.json").string() + " (beside the weights)"};
  if (!w.vocab.empty()) return {"", true, w.path + " (the vocabulary the file carries)"};

  // A copy of any catalog model with the same vocabulary, in a format that carries tokenizer.json.
  const Catalog& cat = resolver.catalog();
  for (const auto& name : cat.names()) {
    if (cat.model(name).arch.n_vocab != w.dims.n_vocab) continue;
    auto found = resolver.find(name, {Format::kCt2, Format::kHf}, Verify::kSize);
    if (!found) continue;
    const fs::path tok = found->path / "tokenizer.json";
    if (fs::is_regular_file(tok, ec))
      return {tok.string(), false, tok.string() + " (from " + name + ", " + std::string(format_id(found->format)) +
                                       ", the same vocabulary of " + std::to_string(w.dims.n_vocab) + " tokens)"};
  }
  std::string example;
  for (const auto& name : cat.names())
    if (cat.model(name).arch.n_vocab == w.dims.n_vocab) {
      example = name;
      break;
    }
  throw Error(w.path + ": the " + w.format + " format carries no tokenizer, and no model with the same vocabulary (" +
              std::to_string(w.dims.n_vocab) + " tokens) is in any cache" +
              (example.empty() ? std::string("; put a tokenizer.json beside the weights")
                               : "; `whisper-speedtest download " + example +
                                     " --format ct2` fetches one, or put a tokenizer.json beside the weights"));
}

TokenizerSource find_tokenizer(const formats::WhisperWeights& w) {
  Resolver resolver(Catalog::instance(), CacheDirs::from_env());
  return find_tokenizer(w, resolver);
}

std::string tokenizer_json_for(const std::string& model_path) {
  formats::WhisperWeights w = formats::read_weights(model_path);
  if (!w.tokenizer_json.empty() || !w.vocab.empty()) return "";
  return find_tokenizer(w).tokenizer_json;
}

}  // namespace wst::models
