// A Hugging Face transformers Whisper directory (openai/whisper-* on the Hub), read into and written from
// WhisperWeights:
//
//   <dir>/
//   ├── config.json               WhisperConfig: the dims (d_model, encoder_layers, num_mel_bins, ...)
//   ├── model.safetensors         the weights under transformers' names (formats/weight_names.h); proj_out.weight
//   │                             is tied to model.decoder.embed_tokens.weight and usually absent
//   ├── generation_config.json    alignment heads (read), everything generate() needs (written)
//   ├── tokenizer.json            read: WhisperWeights::tokenizer_json
//   └── preprocessor_config.json, vocab.json, merges.txt, ... written for WhisperProcessor (hf_config.h)
//
// Sharded checkpoints (model-0000N-of-0000M.safetensors with an index) are not read: every Whisper on the Hub
// up to large-v3 ships one model.safetensors.
#include <cstring>
#include <filesystem>
#include <memory>

#include "formats/hf_config.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "formats/weight_io.h"
#include "formats/weight_names.h"
#include "util/errors.h"
#include "util/mapped_file.h"

namespace wst::formats {
namespace fs = std::filesystem;

namespace {

// (layer, head) pairs from generation_config.json's alignment_heads; none when absent.
std::vector<std::pair<int, int>> alignment_heads_of(const fs::path& file) {
  std::vector<std::pair<int, int>> heads;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return heads;
  nlohmann::json g = read_json_file(file.string());
  auto it = g.find("alignment_heads");
  if (it == g.end() || it->is_null()) return heads;
  if (!it->is_array()) throw Error(file.string() + ": alignment_heads is not a list of [layer, head]");
  for (const auto& p : *it) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number_unsigned() || !p[1].is_number_unsigned() ||
        p[0].get<uint64_t>() > 4096 || p[1].get<uint64_t>() > 4096)
      throw Error(file.string() + ": alignment_heads is not a list of [layer, head]");
    heads.emplace_back(p[0].get<int>(), p[1].get<int>());
  }
  return heads;
}

}  // namespace

WhisperWeights read_safetensors_dir(const std::string& dir) {
  const fs::path d(dir);
  WhisperWeights w;
  w.format = "safetensors";  // as format_name(WeightFormat::kSafetensors) and the benchmark call it
  w.path = dir;
  std::error_code ec;
  const fs::path config = d / "config.json", weights = d / "model.safetensors";
  if (!fs::is_regular_file(config, ec)) throw Error(dir + ": not a transformers Whisper directory (no config.json)");
  if (!fs::is_regular_file(weights, ec)) {
    if (fs::exists(d / "model.safetensors.index.json", ec))
      throw Error(dir + ": sharded checkpoints (model.safetensors.index.json) are not read; merge the shards");
    throw Error(dir + ": no model.safetensors (pytorch_model.bin and TensorFlow weights are not read)");
  }
  w.dims = hf_dims_from_config(read_json_file(config.string()), config.string());

  auto file = std::make_shared<MappedFile>(weights.string());
  w.keep_alive(file);
  const SafetensorsFile st = parse_safetensors(file->data(), file->size(), weights.string());
  const SafetensorsTensor* proj_out = nullptr;
  for (const auto& t : st.tensors) {
    if (t.name == "proj_out.weight") {
      proj_out = &t;
      continue;
    }
    auto name = hf_to_openai(t.name);
    if (!name) throw Error(weights.string() + ": unexpected tensor " + t.name + " (not part of Whisper)");
    w.add_view(*name, t.shape, t.dtype, file->data() + t.offset, t.n_bytes);
  }
  // The output projection is the token embedding (openai-whisper has no other); a stored copy must agree.
  if (proj_out) {
    const SafetensorsTensor* emb = st.find("model.decoder.embed_tokens.weight");
    if (!emb || emb->dtype != proj_out->dtype || emb->shape != proj_out->shape ||
        std::memcmp(file->data() + emb->offset, file->data() + proj_out->offset, emb->n_bytes) != 0)
      throw Error(weights.string() + ": proj_out.weight differs from model.decoder.embed_tokens.weight "
                  "(an output projection not tied to the embedding is not Whisper's)");
  }
  if (fs::is_regular_file(d / "tokenizer.json", ec)) w.tokenizer_json = (d / "tokenizer.json").string();
  w.alignment_heads = alignment_heads_of(d / "generation_config.json");
  w.validate();
  return w;
}

void write_safetensors_dir(const WhisperWeights& w, const std::string& dir, std::optional<DType> dtype) {
  if (w.dims.n_audio_state != w.dims.n_text_state)
    throw Error(dir + ": transformers' Whisper has one d_model; this model's encoder is " +
                std::to_string(w.dims.n_audio_state) + " wide, its decoder " + std::to_string(w.dims.n_text_state));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the directory (" + ec.message() + ")");
  std::vector<SafetensorsEntry> entries;
  for (const auto& [name, shape] : expected_tensors(w.dims)) {
    auto hf = openai_to_hf(name);
    if (!hf) throw Error(dir + ": no transformers name for tensor " + name);
    entries.push_back({*hf, w.get(name, shape)});
  }
  const DType stored = dtype.value_or(w.get("decoder.token_embedding.weight", {w.dims.n_vocab, w.dims.n_text_state}).dtype);
  write_hf_side_files(w, dir, stored);
  // transformers refuses a safetensors file whose metadata does not name its framework.
  write_safetensors((fs::path(dir) / "model.safetensors").string(), entries, {{"format", "pt"}}, dtype);
}

}  // namespace wst::formats
