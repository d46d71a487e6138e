// A small catalog for tests, written to <dir>/catalog.json, whose files are made here with known bytes,
// sizes and SHA-256: "tiny.en", "base.en", "small.en", "medium.en" in the openai, ct2 and ggml formats.
// Point WHISPER_SPEEDTEST_DATA at <dir> for the CLI. Hosts are *.invalid: nothing can be contacted
// unless a test overrides the base URLs with its loopback server.
#pragma once
#include "support/ct2_writer.h"
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "util/sha256.h"

namespace wst::test {

struct TestCatalog {
  std::filesystem::path path;
  // (model, file name) -> bytes
  std::map<std::pair<std::string, std::string>, std::string> bytes;
  const std::string& file(const std::string& model, const std::string& name) const { return bytes.at({model, name}); }
};

// Deterministic filler that differs per seed.
inline std::string filler(const std::string& seed, size_t n) {
  std::string s;
  s.reserve(n);
  uint32_t x = 2166136261u;
  for (char c : seed) x = (x ^ static_cast<unsigned char>(c)) * 16777619u;
  while (s.size() < n) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    s.push_back(static_cast<char>(x & 0xff));
  }
  return s;
}

inline std::string fake_pt(const std::string& model) {
  // Zip local header magic, payload, zip end-of-central-directory record (22 bytes).
  return std::string("PK\x03\x04", 4) + filler(model + ".pt", 200 * 1024) + std::string("PK\x05\x06", 4) +
         std::string(18, '\0');
}

// A well-formed CTranslate2 model.bin (WhisperSpec) holding one int8 variable of filler bytes.
inline std::string fake_ct2(const std::string& model) {
  const std::string data = filler(model + ".bin", 150 * 1024);
  Ct2Writer w;
  w.u32(6).str("WhisperSpec").u32(3).u32(1);
  w.str("filler").u8(1).u32(static_cast<uint32_t>(data.size())).u8(1).u32(static_cast<uint32_t>(data.size()));
  w.raw(data.data(), data.size()).u32(0);
  return w.bytes();
}

inline std::string fake_ggml(const std::string& model) {
  return std::string("lmgg", 4) + filler(model + ".ggml", 100 * 1024);
}

inline TestCatalog write_test_catalog(const std::filesystem::path& dir) {
  using json = nlohmann::ordered_json;  // keeps the order written here, as in data/catalog.json
  TestCatalog tc;
  tc.path = dir / "catalog.json";
  json models = json::object();
  auto entry = [&](const std::string& model, const std::string& name, const std::string& data) {
    tc.bytes[{model, name}] = data;
    return json{{"name", name}, {"size_bytes", data.size()}, {"sha256", sha256_hex(data)}};
  };
  for (std::string m : {"tiny.en", "base.en", "small.en", "medium.en"}) {
    std::string pt = fake_pt(m);
    tc.bytes[{m, m + ".pt"}] = pt;
    json formats;
    formats["openai"] = {{"url", "https://openai.invalid/models/" + sha256_hex(pt) + "/" + m + ".pt"},
                         {"size_bytes", pt.size()}};
    formats["ct2"] = {{"repo", "test-org/faster-whisper-" + m},
                      {"revision", "main"},
                      {"files", json::array({entry(m, "model.bin", fake_ct2(m)), entry(m, "config.json", "{\"m\": 1}"),
                                             entry(m, "tokenizer.json", "{\"t\": 2}"),
                                             entry(m, "vocabulary.txt", "a\nb\n" + m + "\n")})}};
    formats["ggml"] = {{"repo", "test-org/whisper.cpp"},
                       {"revision", "main"},
                       {"files", json::array({entry(m, "ggml-" + m + ".bin", fake_ggml(m))})}};
    formats["hf"] = nullptr;
    formats["mlx"] = nullptr;
    models[m] = {{"multilingual", false},
                 {"arch", {{"n_mels", 80}, {"n_vocab", 51864}, {"n_audio_ctx", 1500}, {"n_audio_state", 384},
                           {"n_audio_head", 6}, {"n_audio_layer", 4}, {"n_text_ctx", 448}, {"n_text_state", 384},
                           {"n_text_head", 6}, {"n_text_layer", 4}}},
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
