#include "models/convert.h"

#include "engine/mel.h"
#include "engine/tokenizer.h"
#include "util/errors.h"

#include <fmt/format.h>

namespace wst::models {

namespace {

engine::Tokenizer load_tokenizer(const formats::WhisperWeights& w, const TokenizerSource& src) {
  if (src.from_vocab) return engine::Tokenizer::from_vocab(w.vocab, w.dims.n_vocab, w.path);
  return engine::Tokenizer::from_file(src.tokenizer_json, w.dims.n_vocab);
}

}  // namespace

std::vector<std::string> models_with_dims(const Catalog& catalog, const formats::WhisperDims& d) {
  std::vector<std::string> out;
  for (const auto& name : catalog.names()) {
    const Arch& a = catalog.model(name).arch;
    if (a.n_mels == d.n_mels && a.n_vocab == d.n_vocab && a.n_audio_ctx == d.n_audio_ctx &&
        a.n_audio_state == d.n_audio_state && a.n_audio_head == d.n_audio_head && a.n_audio_layer == d.n_audio_layer &&
        a.n_text_ctx == d.n_text_ctx && a.n_text_state == d.n_text_state && a.n_text_head == d.n_text_head &&
        a.n_text_layer == d.n_text_layer)
      out.push_back(name);
  }
  return out;
}

void check_architecture(const Catalog& catalog, const std::string& name, const formats::WhisperDims& d,
                        const std::string& path) {
  const Arch& a = catalog.model(name).arch;
  const std::pair<const char*, std::pair<int, int>> fields[] = {
      {"n_mels", {d.n_mels, a.n_mels}},
      {"n_vocab", {d.n_vocab, a.n_vocab}},
      {"n_audio_ctx", {d.n_audio_ctx, a.n_audio_ctx}},
      {"n_audio_state", {d.n_audio_state, a.n_audio_state}},
      {"n_audio_head", {d.n_audio_head, a.n_audio_head}},
      {"n_audio_layer", {d.n_audio_layer, a.n_audio_layer}},
      {"n_text_ctx", {d.n_text_ctx, a.n_text_ctx}},
      {"n_text_state", {d.n_text_state, a.n_text_state}},
      {"n_text_head", {d.n_text_head, a.n_text_head}},
      {"n_text_layer", {d.n_text_layer, a.n_text_layer}},
  };
  std::string diff;
  for (const auto& [field, v] : fields) {
    if (v.first == v.second) continue;
    diff += diff.empty() ? fmt::format("{} {} ({}: {})", field, v.first, name, v.second)
                         : fmt::format(", {} {} ({})", field, v.first, v.second);
  }
  if (diff.empty()) return;
  std::vector<std::string> same = models_with_dims(catalog, d);
  std::string whose = "no catalog model's";
  if (!same.empty()) {
    whose.clear();
    for (size_t i = 0; i < same.size(); ++i) whose += (i == 0 ? "" : i + 1 == same.size() ? " or " : ", ") + same[i];
    whose += "'s";
  }
  throw Error(fmt::format("{}: not {}: {}; the weights' architecture is {}", path, name, diff, whose));
}

Format catalog_format(formats::WeightFormat f) {
  switch (f) {
    case formats::WeightFormat::kCt2: return Format::kCt2;
    case formats::WeightFormat::kOpenai: return Format::kOpenai;
    case formats::WeightFormat::kSafetensors: return Format::kHf;
    case formats::WeightFormat::kGgml: return Format::kGgml;
    case formats::WeightFormat::kGgmlQ8_0: return Format::kGgmlQ8_0;
    case formats::WeightFormat::kMlx: return Format::kMlx;
  }
  return Format::kCt2;
}

std::string default_output(const Resolver& resolver, const std::string& model, formats::WeightFormat f) {
  const Artifact& art = resolver.catalog().artifact(model, catalog_format(f));
  auto dir = resolver.artifact_dir(art, Location::kModelsDir);
  if (!dir) throw Error("model " + model + ": the models directory has no place for its " + std::string(format_id(art.format)) + " files");
  return (art.single_file() ? *dir / art.files.front().name() : *dir).string();
}

void prepare_for_writing(formats::WhisperWeights& w, const TokenizerSource& source) {
  engine::Tokenizer tok = load_tokenizer(w, source);
  if (w.tokenizer_json.empty()) w.tokenizer_json = source.tokenizer_json;
  if (w.vocab.empty()) {
    w.vocab.reserve(tok.eot());
    for (int id = 0; id < tok.eot(); ++id) w.vocab.push_back(tok.token_bytes(id));
  }
  if (w.mel_filters.empty()) w.mel_filters = engine::MelFilterbank::make(w.dims.n_mels).weights;
  formats::TokenizerFacts& f = w.facts;
  f.sot = tok.sot();
  f.eot = tok.eot();
  f.sot_prev = tok.sot_prev();
  f.sot_lm = tok.sot_lm();
  f.no_speech = tok.no_speech();
  f.no_timestamps = tok.no_timestamps();
  f.transcribe = tok.transcribe();
  f.translate = tok.translate();
  f.languages.clear();
  for (int id : tok.language_tokens()) f.languages.emplace_back(id, tok.language_code(id));
  f.non_speech = tok.non_speech_tokens();
  f.suppress_begin = tok.encode(" ");
  f.suppress_begin.push_back(tok.eot());
  if (w.alignment_heads.empty()) {
    // openai-whisper's default when it has no table for a model: every head of the upper half of the decoder.
    for (int l = w.dims.n_text_layer / 2; l < w.dims.n_text_layer; ++l)
      for (int h = 0; h < w.dims.n_text_head; ++h) w.alignment_heads.emplace_back(l, h);
  }
}

ConvertResult convert_model(const std::string& src, formats::WeightFormat to, const std::string& out,
                            std::optional<formats::DType> dtype, bool overwrite, const Resolver& resolver) {
  formats::WhisperWeights w = formats::read_weights(src);
  TokenizerSource tok = find_tokenizer(w, resolver);
  prepare_for_writing(w, tok);
  formats::write_weights(w, to, out, dtype, overwrite);
  return {w.format, formats::format_name(to), tok.description, out};
}

}  // namespace wst::models
