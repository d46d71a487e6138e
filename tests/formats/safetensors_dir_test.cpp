// The transformers directory reader and writer on small synthetic weights: round trips bit-exact, the side
// files transformers reads, and one clear line for each bad directory.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "formats/weight_io.h"
#include "formats/weight_names.h"
#include "support/error_of.h"
#include "support/synthetic_weights.h"
#include "support/temp_dir.h"
#include "util/errors.h"
#include "util/mapped_file.h"

namespace wst::formats {
namespace {

using nlohmann::json;

// A 12-token vocabulary: 3 ordinary tokens and 9 specials, as a tokenizers file; the facts to match.
void give_tokenizer(WhisperWeights& w, const test::TempDir& dir, bool with_languages = false) {
  json t = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}},
            {"added_tokens", json::array()}};
  const char* specials[] = {"<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"};
  for (int i = 0; i < 9; ++i) t["added_tokens"].push_back({{"id", 3 + i}, {"content", specials[i]}, {"special", true}});
  w.tokenizer_json = dir.write("src/tokenizer.json", t.dump()).string();
  TokenizerFacts& f = w.facts;
  f.eot = 3, f.sot = 4, f.translate = 6, f.transcribe = 7, f.sot_lm = 8, f.sot_prev = 9, f.no_speech = 10,
  f.no_timestamps = 11;
  f.non_speech = {1};
  f.suppress_begin = {0, 3};
  if (with_languages) f.languages = {{5, "en"}};
  w.alignment_heads = {{1, 0}, {1, 1}};
}

json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

using test::error_of;

TEST(SafetensorsDir, RoundTripIsBitExactInEachDtype) {
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    test::TempDir dir;
    WhisperWeights w = test::synthetic_weights(test::tiny_dims(), dt);
    give_tokenizer(w, dir, /*with_languages=*/true);
    const auto out = dir / "hf";
    write_safetensors_dir(w, out.string(), std::nullopt);
    WhisperWeights r = read_safetensors_dir(out.string());
    EXPECT_EQ(r.dims, w.dims);
    EXPECT_EQ(test::first_difference(w, r), "") << dtype_name(dt);
    EXPECT_EQ(r.format, "safetensors");
    EXPECT_EQ(r.tokenizer_json, (out / "tokenizer.json").string());
    EXPECT_EQ(r.alignment_heads, w.alignment_heads);
    EXPECT_EQ(detect_format(out.string()), WeightFormat::kSafetensors);
    // English-only (n_vocab 12 < 51865): no languages, tasks or forced ids though the facts list languages.
    json g = read_json(out / "generation_config.json");
    EXPECT_EQ(g["is_multilingual"], false);
    EXPECT_FALSE(g.contains("lang_to_id"));
    EXPECT_FALSE(g.contains("forced_decoder_ids"));
  }
}

TEST(SafetensorsDir, StoresTheDtypeAskedFor) {
  test::TempDir dir;
  WhisperWeights w = test::synthetic_weights(test::tiny_dims(), DType::kF32);
  give_tokenizer(w, dir);
  write_safetensors_dir(w, (dir / "hf").string(), DType::kF16);
  WhisperWeights r = read_safetensors_dir((dir / "hf").string());
  for (const auto& [name, t] : w.tensors) {
    const TensorRef& u = r.tensors.at(name);
    ASSERT_EQ(u.dtype, DType::kF16) << name;
    std::vector<float> a = t.to_f32(), b = u.to_f32();
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_EQ(b[i], half_to_float(float_to_half(a[i]))) << name << "[" << i << "]";
  }
  EXPECT_EQ(read_json(dir / "hf/config.json")["torch_dtype"], "float16");
}

TEST(SafetensorsDir, WritesTheFilesTransformersReads) {
  test::TempDir dir;
  WhisperDims d = test::tiny_dims();
  d.n_vocab = 51865;  // multilingual, by openai-whisper's rule
  WhisperWeights w = test::synthetic_weights(d);
  give_tokenizer(w, dir, /*with_languages=*/true);
  const auto out = dir / "hf";
  write_safetensors_dir(w, out.string(), std::nullopt);
  json c = read_json(out / "config.json");
  EXPECT_EQ(c["model_type"], "whisper");
  EXPECT_EQ(c["d_model"], 8);
  EXPECT_EQ(c["encoder_layers"], 2);
  EXPECT_EQ(c["encoder_ffn_dim"], 32);
  EXPECT_EQ(c["num_mel_bins"], 80);
  EXPECT_EQ(c["max_source_positions"], 6);
  EXPECT_EQ(c["max_target_positions"], 5);
  EXPECT_EQ(c["vocab_size"], 51865);
  EXPECT_EQ(c["decoder_start_token_id"], 4);
  EXPECT_EQ(c["tie_word_embeddings"], true);
  json g = read_json(out / "generation_config.json");
  EXPECT_EQ(g["decoder_start_token_id"], 4);
  EXPECT_EQ(g["eos_token_id"], 3);
  EXPECT_EQ(g["no_timestamps_token_id"], 11);
  EXPECT_EQ(g["prev_sot_token_id"], 9);
  EXPECT_EQ(g["is_multilingual"], true);
  EXPECT_EQ(g["lang_to_id"], (json{{"<|en|>", 5}}));
  EXPECT_EQ(g["task_to_id"], (json{{"transcribe", 7}, {"translate", 6}}));
  EXPECT_EQ(g["forced_decoder_ids"], json({{1, nullptr}, {2, 7}}));
  EXPECT_EQ(g["suppress_tokens"], json({1}));
  EXPECT_EQ(g["begin_suppress_tokens"], json({0, 3}));
  EXPECT_EQ(g["alignment_heads"], json({{1, 0}, {1, 1}}));
  EXPECT_EQ(read_json(out / "vocab.json"), (json{{"a", 0}, {"b", 1}, {"ab", 2}}));
  std::ifstream merges(out / "merges.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(merges), {}), "#version: 0.2\na b\n");
  json added = read_json(out / "added_tokens.json");
  EXPECT_EQ(added.size(), 9u);
  EXPECT_EQ(added["<|notimestamps|>"], 11);
  EXPECT_EQ(read_json(out / "special_tokens_map.json")["eos_token"], "<|endoftext|>");
  EXPECT_EQ(read_json(out / "preprocessor_config.json")["feature_size"], 80);
  // The weights file names its framework (transformers refuses one that does not) and holds no proj_out.
  MappedFile m((out / "model.safetensors").string());
  SafetensorsFile st = parse_safetensors(m.data(), m.size(), m.path());
  EXPECT_EQ(st.metadata.at("format"), "pt");
  EXPECT_EQ(st.find("proj_out.weight"), nullptr);
  EXPECT_NE(st.find("model.encoder.layers.1.self_attn.k_proj.weight"), nullptr);
  EXPECT_EQ(st.find("model.encoder.layers.1.self_attn.k_proj.bias"), nullptr);
}

TEST(SafetensorsDir, WriterNeedsTheTokenizer) {
  test::TempDir dir;
  WhisperWeights w = test::synthetic_weights(test::tiny_dims());
  const std::string out = (dir / "hf").string();
  EXPECT_EQ(error_of([&] { write_safetensors_dir(w, out, std::nullopt); }),
            out + ": a transformers directory needs the model's tokenizer.json, which the source did not carry");
  give_tokenizer(w, dir);
  w.facts.sot_prev = -1;
  EXPECT_EQ(error_of([&] { write_safetensors_dir(w, out, std::nullopt); }).rfind(out + ": a transformers directory needs the special token ids", 0), 0u);
}

// Writes `w` as a transformers directory, then its model.safetensors again with `edit` applied to the tensor list.
std::string write_edited(const test::TempDir& dir, WhisperWeights& w,
                         const std::function<void(std::vector<SafetensorsEntry>&)>& edit) {
  give_tokenizer(w, dir);
  const auto out = dir / "hf";
  std::filesystem::remove_all(out);
  write_safetensors_dir(w, out.string(), std::nullopt);
  std::vector<SafetensorsEntry> e;
  for (const auto& [name, t] : w.tensors) e.push_back({*openai_to_hf(name), t});
  edit(e);
  write_safetensors((out / "model.safetensors").string(), e, {{"format", "pt"}});
  return out.string();
}

TEST(SafetensorsDir, TiedOutputProjectionIsAcceptedAnUntiedOneRefused) {
  test::TempDir dir;
  WhisperWeights w = test::synthetic_weights(test::tiny_dims());
  const TensorRef emb = w.tensors.at("decoder.token_embedding.weight");
  std::string out = write_edited(dir, w, [&](auto& e) { e.push_back({"proj_out.weight", emb}); });
  EXPECT_EQ(test::first_difference(w, read_safetensors_dir(out)), "");
  // The same shape with one bit changed: an untied projection.
  std::vector<uint8_t> bytes(emb.data, emb.data + emb.n_bytes);
  bytes[0] ^= 1;
  TensorRef untied = emb;
  untied.data = bytes.data();
  out = write_edited(dir, w, [&](auto& e) { e.push_back({"proj_out.weight", untied}); });
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out); }),
            out + "/model.safetensors: proj_out.weight differs from model.decoder.embed_tokens.weight (an output "
                  "projection not tied to the embedding is not Whisper's)");
}

TEST(SafetensorsDir, TensorOfTheWrongShapeMissingOrUnknown) {
  test::TempDir dir;
  WhisperWeights w = test::synthetic_weights(test::tiny_dims());
  const TensorRef small = w.tensors.at("decoder.ln.bias");  // [8]
  std::string out = write_edited(dir, w, [&](auto& e) {
    for (auto& x : e)
      if (x.name == "model.encoder.conv1.bias") x.tensor = TensorRef{{2, 4}, small.dtype, small.data, small.n_bytes};
  });
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out); }),
            out + ": tensor encoder.conv1.bias has shape [2, 4], expected [8]");
  out = write_edited(dir, w, [&](auto& e) { e.erase(e.begin()); });
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out); }).rfind(out + ": missing tensor ", 0), 0u);
  out = write_edited(dir, w, [&](auto& e) { e.push_back({"model.encoder.layers.0.self_attn.k_proj.bias", small}); });
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out); }),
            out + ": unexpected tensor encoder.blocks.0.attn.key.bias for this architecture");
  out = write_edited(dir, w, [&](auto& e) { e.push_back({"lm_head.weight", small}); });
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out); }),
            out + "/model.safetensors: unexpected tensor lm_head.weight (not part of Whisper)");
}

TEST(SafetensorsDir, ConfigThatIsNotWhisper) {
  test::TempDir dir;
  WhisperWeights w = test::synthetic_weights(test::tiny_dims());
  give_tokenizer(w, dir);
  const auto out = dir / "hf";
  write_safetensors_dir(w, out.string(), std::nullopt);
  const std::string config = (out / "config.json").string();
  json c = read_json(config);
  auto rewrite = [&](const json& j) { std::ofstream(config) << j.dump(); };
  rewrite(json{{"model_type", "bert"}, {"hidden_size", 8}});
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out.string()); }), config + ": not a Whisper config (model_type \"bert\")");
  json no_width = c;
  no_width.erase("d_model");
  rewrite(no_width);
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out.string()); }), config + ": d_model is missing");
  json ffn = c;
  ffn["encoder_ffn_dim"] = 30;
  rewrite(ffn);
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out.string()); }),
            config + ": encoder_ffn_dim 30 is not 4 x d_model (32), which Whisper's layout requires");
  std::ofstream(config) << "{ not json";
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out.string()); }).rfind(config + ": not valid JSON (near byte ", 0), 0u);
  std::filesystem::remove(config);
  EXPECT_EQ(error_of([&] { read_safetensors_dir(out.string()); }),
            out.string() + ": not a transformers Whisper directory (no config.json)");
}

}  // namespace
}  // namespace wst::formats
