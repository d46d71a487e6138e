// transformers' side files for a Whisper directory; see hf_config.h. The field set follows the files
// openai/whisper-* hold on the Hugging Face Hub and what transformers 4.49 reads from them.
#include "formats/hf_config.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "formats/json_file.h"
#include "util/errors.h"

namespace wst::formats {

using json = nlohmann::json;

WhisperDims hf_dims_from_config(const json& c, const std::string& path) {
  auto type = c.find("model_type");
  if (type == c.end() || !type->is_string() || type->get<std::string>() != "whisper")
    throw Error(path + ": not a Whisper config (model_type " + (type == c.end() ? std::string("missing") : type->dump()) + ")");
  WhisperDims d;
  d.n_mels = json_int(c, "num_mel_bins", path, 1);
  d.n_vocab = json_int(c, "vocab_size", path, 1);
  d.n_audio_ctx = json_int(c, "max_source_positions", path, 1);
  d.n_audio_state = d.n_text_state = json_int(c, "d_model", path, 1);
  d.n_audio_head = json_int(c, "encoder_attention_heads", path, 1);
  d.n_audio_layer = json_int(c, "encoder_layers", path, 1, 1024);
  d.n_text_ctx = json_int(c, "max_target_positions", path, 1);
  d.n_text_head = json_int(c, "decoder_attention_heads", path, 1);
  d.n_text_layer = json_int(c, "decoder_layers", path, 1, 1024);
  for (const char* ffn : {"encoder_ffn_dim", "decoder_ffn_dim"})
    if (c.contains(ffn) && json_int(c, ffn, path, 1) != 4 * d.n_audio_state)
      throw Error(path + ": " + ffn + " " + c[ffn].dump() + " is not 4 x d_model (" +
                  std::to_string(4 * d.n_audio_state) + "), which Whisper's layout requires");
  if (c.contains("scale_embedding") && c["scale_embedding"] != false)
    throw Error(path + ": scale_embedding is set; Whisper's embeddings are not scaled");
  if (c.contains("activation_function") && c["activation_function"] != "gelu")
    throw Error(path + ": activation_function " + c["activation_function"].dump() + " is not Whisper's gelu");
  return d;
}

namespace {

void need_facts(const WhisperWeights& w, const std::string& dir) {
  const TokenizerFacts& f = w.facts;
  if (w.tokenizer_json.empty() || !std::filesystem::is_regular_file(w.tokenizer_json))
    throw Error(dir + ": a transformers directory needs the model's tokenizer.json, which the source did not carry");
  if (f.sot < 0 || f.eot < 0 || f.no_timestamps < 0 || f.sot_prev < 0 || f.transcribe < 0 || f.translate < 0)
    throw Error(dir + ": a transformers directory needs the special token ids (start, end, no-timestamps, "
                "previous text, tasks), which were not filled in");
}

}  // namespace

json hf_config_json(const WhisperWeights& w, DType stored) {
  const WhisperDims& d = w.dims;
  const TokenizerFacts& f = w.facts;
  return {
      {"model_type", "whisper"},
      {"architectures", {"WhisperForConditionalGeneration"}},
      {"vocab_size", d.n_vocab},
      {"num_mel_bins", d.n_mels},
      {"d_model", d.n_audio_state},
      {"encoder_layers", d.n_audio_layer},
      {"encoder_attention_heads", d.n_audio_head},
      {"decoder_layers", d.n_text_layer},
      {"decoder_attention_heads", d.n_text_head},
      {"num_hidden_layers", d.n_audio_layer},
      {"encoder_ffn_dim", 4 * d.n_audio_state},
      {"decoder_ffn_dim", 4 * d.n_text_state},
      {"max_source_positions", d.n_audio_ctx},
      {"max_target_positions", d.n_text_ctx},
      {"max_length", d.n_text_ctx},
      {"activation_function", "gelu"},
      {"scale_embedding", false},
      {"tie_word_embeddings", true},
      {"is_encoder_decoder", true},
      {"use_cache", true},
      {"dropout", 0.0},
      {"attention_dropout", 0.0},
      {"activation_dropout", 0.0},
      {"pad_token_id", f.eot},
      {"bos_token_id", f.eot},
      {"eos_token_id", f.eot},
      {"decoder_start_token_id", f.sot},
      {"suppress_tokens", f.non_speech},
      {"begin_suppress_tokens", f.suppress_begin},
      {"torch_dtype", dtype_name(stored)},
  };
}

namespace {

json generation_config_json(const WhisperWeights& w) {
  const TokenizerFacts& f = w.facts;
  // openai-whisper's rule (ModelDimensions.is_multilingual); English-only tokenizers list languages too.
  const bool multilingual = w.dims.n_vocab >= 51865;
  json heads = json::array();
  for (const auto& [layer, head] : w.alignment_heads) heads.push_back({layer, head});
  json g = {
      {"decoder_start_token_id", f.sot},
      {"bos_token_id", f.eot},
      {"eos_token_id", f.eot},
      {"pad_token_id", f.eot},
      {"no_timestamps_token_id", f.no_timestamps},
      {"prev_sot_token_id", f.sot_prev},
      {"is_multilingual", multilingual},
      // openai-whisper's max_initial_timestamp: 1 s at 0.02 s per timestamp token.
      {"max_initial_timestamp_index", 50},
      {"max_length", w.dims.n_text_ctx},
      {"suppress_tokens", f.non_speech},
      {"begin_suppress_tokens", f.suppress_begin},
      {"alignment_heads", heads},
  };
  if (multilingual) {
    json langs = json::object();
    for (const auto& [id, code] : f.languages) langs["<|" + code + "|>"] = id;
    g["lang_to_id"] = langs;
    g["task_to_id"] = {{"transcribe", f.transcribe}, {"translate", f.translate}};
    g["forced_decoder_ids"] = {{1, nullptr}, {2, f.transcribe}};
  }
  return g;
}

json preprocessor_config_json(const WhisperDims& d) {
  return {
      {"feature_extractor_type", "WhisperFeatureExtractor"},
      {"processor_class", "WhisperProcessor"},
      {"feature_size", d.n_mels},
      {"sampling_rate", 16000},
      {"n_fft", 400},
      {"hop_length", 160},
      {"chunk_length", 30},
      {"n_samples", 480000},
      {"nb_max_frames", 3000},
      {"padding_side", "right"},
      {"padding_value", 0.0},
      {"return_attention_mask", false},
  };
}

// vocab.json, merges.txt, added_tokens.json, special_tokens_map.json, tokenizer_config.json from tokenizer.json.
void write_tokenizer_files(const WhisperWeights& w, const std::filesystem::path& dir) {
  const std::string src = w.tokenizer_json;
  json t = read_json_file(src);
  auto model = t.find("model");
  if (model == t.end() || !model->is_object() || !model->contains("vocab") || !(*model)["vocab"].is_object() ||
      !model->contains("merges") || !(*model)["merges"].is_array())
    throw Error(src + ": not a BPE tokenizer.json (no model.vocab and model.merges)");
  const json& vocab = (*model)["vocab"];
  write_json_file((dir / "vocab.json").string(), vocab);

  std::ofstream merges(dir / "merges.txt", std::ios::binary | std::ios::trunc);
  merges << "#version: 0.2\n";
  for (const json& m : (*model)["merges"]) {
    // "a b" in older tokenizers files, ["a", "b"] in newer ones.
    if (m.is_string()) merges << m.get<std::string>() << '\n';
    else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
      merges << m[0].get<std::string>() << ' ' << m[1].get<std::string>() << '\n';
    else throw Error(src + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
  }
  merges.close();
  if (!merges) throw Error((dir / "merges.txt").string() + ": cannot write");

  json added = json::object();
  json specials = json::array();
  std::string eot_text = "<|endoftext|>";
  if (t.contains("added_tokens") && t["added_tokens"].is_array()) {
    for (const json& a : t["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        throw Error(src + ": an added token lacks its id or content");
      const std::string content = a["content"].get<std::string>();
      const int64_t id = a["id"].get<int64_t>();
      if (id == w.facts.eot) eot_text = content;
      if (!vocab.contains(content)) added[content] = id;
      if (id != w.facts.eot && a.value("special", false)) specials.push_back(content);
    }
  }
  write_json_file((dir / "added_tokens.json").string(), added);
  write_json_file((dir / "special_tokens_map.json").string(),
                  {{"bos_token", eot_text}, {"eos_token", eot_text}, {"unk_token", eot_text},
                   {"pad_token", eot_text}, {"additional_special_tokens", specials}});
  write_json_file((dir / "tokenizer_config.json").string(),
                  {{"tokenizer_class", "WhisperTokenizer"}, {"processor_class", "WhisperProcessor"},
                   {"model_max_length", 1024}, {"bos_token", eot_text}, {"eos_token", eot_text},
                   {"unk_token", eot_text}, {"pad_token", eot_text}, {"add_prefix_space", false},
                   {"errors", "replace"}});
  std::error_code ec;
  std::filesystem::copy_file(src, dir / "tokenizer.json", std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) throw Error((dir / "tokenizer.json").string() + ": cannot copy " + src + " (" + ec.message() + ")");
}

}  // namespace

void write_hf_side_files(const WhisperWeights& w, const std::string& dir, DType stored) {
  need_facts(w, dir);
  const std::filesystem::path d(dir);
  write_json_file((d / "config.json").string(), hf_config_json(w, stored));
  write_json_file((d / "generation_config.json").string(), generation_config_json(w));
  write_json_file((d / "preprocessor_config.json").string(), preprocessor_config_json(w.dims));
  write_tokenizer_files(w, d);
}

}  // namespace wst::formats
