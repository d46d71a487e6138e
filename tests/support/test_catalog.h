// A small catalog for tests, written to <dir>/catalog.json: "tiny.en", "base.en", "small.en", "medium.en" in the
// openai, ct2 and ggml formats, each a real Whisper file of its own miniature architecture (test_dims), written
// here by the product's writers from synthetic weights, so that every reader, the header checks and `models
// import`'s architecture check see real files. Bytes, sizes and SHA-256 are known to the test.
// Point WHISPER_SPEEDTEST_DATA at <dir> for the CLI. Hosts are *.invalid: nothing can be contacted
// unless a test overrides the base URLs with its loopback server.
#pragma once
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "formats/weight_io.h"
#include "support/run_cli.h"
#include "support/synthetic_weights.h"
#include "support/temp_dir.h"
#include "util/sha256.h"

namespace wst::test {

struct TestCatalog {
  std::filesystem::path path;
  // (model, file name) -> bytes
  std::map<std::pair<std::string, std::string>, std::string> bytes;
  const std::string& file(const std::string& model, const std::string& name) const { return bytes.at({model, name}); }
};

// The miniature architecture of each test-catalog model: all differ, so importing one under another's name is
// an architecture mismatch. 2000 tokens (12 ordinary and special ones, the rest timestamps) and 200 audio
// positions make the files 150-450 KiB: big enough for a download to be cut in half or to fill a small disk.
inline formats::WhisperDims test_dims(const std::string& model) {
  formats::WhisperDims d = tiny_dims();
  d.n_vocab = 2000;
  d.n_audio_ctx = 200;
  d.n_audio_state = d.n_text_state = 32;
  if (model == "base.en") d.n_text_layer = 3;
  if (model == "small.en") d.n_audio_layer = 3, d.n_text_layer = 3;
  if (model == "medium.en") d.n_audio_state = d.n_text_state = 48, d.n_audio_head = d.n_text_head = 3;
  return d;
}

// A 12-token tokenizer.json (3 ordinary tokens, 9 specials) and the facts writers need; ids from 12 up are
// timestamps.
inline void give_test_tokenizer(formats::WhisperWeights& w, const std::filesystem::path& tokenizer_json) {
  nlohmann::json t = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}},
                      {"added_tokens", nlohmann::json::array()}};
  const char* specials[] = {"<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"};
  for (int i = 0; i < 9; ++i) t["added_tokens"].push_back({{"id", 3 + i}, {"content", specials[i]}, {"special", true}});
  std::filesystem::create_directories(tokenizer_json.parent_path());
  std::ofstream(tokenizer_json) << t.dump();
  w.tokenizer_json = tokenizer_json.string();
  formats::TokenizerFacts& f = w.facts;
  f.eot = 3, f.sot = 4, f.translate = 6, f.transcribe = 7, f.sot_lm = 8, f.sot_prev = 9, f.no_speech = 10,
  f.no_timestamps = 11;
  f.non_speech = {1};
  f.suppress_begin = {0, 3};
  w.alignment_heads = {{1, 0}, {1, 1}};
}

// The files of `model` in every test format, written by the product's writers (float16): "<model>.pt",
// "ggml-<model>.bin" and the CTranslate2 directory's model.bin, config.json, tokenizer.json, vocabulary.txt.
inline std::map<std::string, std::string> test_model_files(const std::string& model) {
  TempDir tmp;
  formats::WhisperWeights w =
      synthetic_weights(test_dims(model), formats::DType::kF16, static_cast<uint32_t>(std::hash<std::string>{}(model)));
  give_test_tokenizer(w, tmp / "tokenizer" / "tokenizer.json");
  formats::write_openai_pt(w, (tmp / "m.pt").string(), std::nullopt);
  formats::write_ggml(w, (tmp / "ggml.bin").string(), std::nullopt);
  formats::write_ct2(w, (tmp / "ct2").string(), std::nullopt);
  std::map<std::string, std::string> out;
  out[model + ".pt"] = slurp(tmp / "m.pt");
  out["ggml-" + model + ".bin"] = slurp(tmp / "ggml.bin");
  for (std::string n : {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}) out[n] = slurp(tmp / "ct2" / n);
  return out;
}

inline TestCatalog write_test_catalog(const std::filesystem::path& dir) {
  using json = nlohmann::ordered_json;  // keeps the order written here, as in data/catalog.json
  // The files depend on nothing but the model name: made once per test binary.
  static const std::map<std::string, std::map<std::string, std::string>> files = [] {
    std::map<std::string, std::map<std::string, std::string>> f;
    for (std::string m : {"tiny.en", "base.en", "small.en", "medium.en"}) f[m] = test_model_files(m);
    return f;
  }();
  TestCatalog tc;
  tc.path = dir / "catalog.json";
  json models = json::object();
  auto entry = [&](const std::string& model, const std::string& name) {
    const std::string& data = files.at(model).at(name);
    tc.bytes[{model, name}] = data;
    return json{{"name", name}, {"size_bytes", data.size()}, {"sha256", sha256_hex(data)}};
  };
  for (std::string m : {"tiny.en", "base.en", "small.en", "medium.en"}) {
    const std::string& pt = files.at(m).at(m + ".pt");
    tc.bytes[{m, m + ".pt"}] = pt;
    json formats;
    formats["openai"] = {{"url", "https://openai.invalid/models/" + sha256_hex(pt) + "/" + m + ".pt"},
                         {"size_bytes", pt.size()}};
    formats["ct2"] = {{"repo", "test-org/faster-whisper-" + m},
                      {"revision", "main"},
                      {"files", json::array({entry(m, "model.bin"), entry(m, "config.json"), entry(m, "tokenizer.json"),
                                             entry(m, "vocabulary.txt")})}};
    formats["ggml"] = {{"repo", "test-org/whisper.cpp"},
                       {"revision", "main"},
                       {"files", json::array({entry(m, "ggml-" + m + ".bin")})}};
    formats["hf"] = nullptr;
    formats["mlx"] = nullptr;
    const formats::WhisperDims d = test_dims(m);
    models[m] = {{"multilingual", false},
                 {"arch", {{"n_mels", d.n_mels}, {"n_vocab", d.n_vocab}, {"n_audio_ctx", d.n_audio_ctx},
                           {"n_audio_state", d.n_audio_state}, {"n_audio_head", d.n_audio_head},
                           {"n_audio_layer", d.n_audio_layer}, {"n_text_ctx", d.n_text_ctx},
                           {"n_text_state", d.n_text_state}, {"n_text_head", d.n_text_head},
                           {"n_text_layer", d.n_text_layer}}},
                 {"formats", formats}};
  }
  json cat = {{"format_version", 1},
              {"defaults", {{"openai_base_url", "https://openai.invalid/models"}, {"hf_endpoint", "https://hub.invalid"}}},
              {"implementations",
               {{"native-cpu", {"ct2", "openai", "ggml"}},
                {"faster-whisper", {"ct2"}},
                {"openai-whisper", {"openai"}},
                {"whisper.cpp", {"ggml"}}}},
              {"aliases", {{"tiny", "tiny.en"}}},
              {"models", models}};
  std::filesystem::create_directories(dir);
  std::ofstream(tc.path) << cat.dump(1);
  return tc;
}

}  // namespace wst::test
