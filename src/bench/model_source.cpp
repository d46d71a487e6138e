// Model paths for the benchmark; see model_source.h.
#include "bench/model_source.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "bench/format.h"
#include "util/errors.h"

namespace wst::bench {
namespace fs = std::filesystem;

namespace {

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ggml / ggjt files start with one of these 32-bit magics written little-endian ("ggml" = 0x67676d6c).
bool has_ggml_magic(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  unsigned char b[4] = {};
  if (!in.read(reinterpret_cast<char*>(b), 4)) return false;
  const uint32_t magic = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  return magic == 0x67676d6c || magic == 0x67676a74 || magic == 0x46554747;  // ggml, ggjt, GGUF
}

bool looks_like_a_path(const std::string& s) {
  return s.find('/') != std::string::npos || s.starts_with(".") || s.starts_with("~") || fs::exists(s);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string detect_model_format(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.bin") && fs::exists(p / "config.json")) return "ctranslate2";
    if (fs::exists(p / "model.safetensors")) return "safetensors";
    return "";
  }
  if (!fs::is_regular_file(p, ec)) return "";
  if (has_suffix(path, ".pt")) return "openai";
  if (has_suffix(path, ".safetensors")) return "safetensors";
  if (has_ggml_magic(p)) return "ggml";
  return "";
}

ResolvedModel resolve_model_for(const std::vector<std::string>& formats, const std::string& name_or_path) {
  if (name_or_path.empty()) throw Error("no model given: pass -m with a model directory or file");
  if (!looks_like_a_path(name_or_path)) {
    throw Error("model \"" + name_or_path +
                "\": model names need the model catalog, which this build does not have yet; "
                "pass the model's directory or file with -m PATH");
  }
  std::error_code ec;
  if (!fs::exists(name_or_path, ec)) throw Error(name_or_path + ": no such model file or directory");
  std::string format = detect_model_format(name_or_path);
  if (format.empty()) {
    throw Error(name_or_path +
                ": not a model this tool recognises (expected a CTranslate2 directory with model.bin and "
                "config.json, an openai-whisper .pt file, a ggml .bin file or a safetensors model)");
  }
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    throw Error(name_or_path + ": a " + format + " model, but this implementation loads only " + join(formats));
  }
  return {"", fs::absolute(name_or_path).lexically_normal().string(), format};
}

std::string model_sha256(const std::string& path) {
  fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.bin")) p /= "model.bin";
    else if (fs::exists(p / "model.safetensors")) p /= "model.safetensors";
    else return "";
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) return "";
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return "";
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &n) != 1) return "";
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += strprintf("%02x", digest[i]);
  return hex;
}

}  // namespace wst::bench
