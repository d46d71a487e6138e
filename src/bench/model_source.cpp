// Model paths for the benchmark; see model_source.h.
#include "bench/model_source.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "bench/format.h"
#include "formats/weight_io.h"
#include "models/catalog.h"
#include "models/convert.h"
#include "models/resolver.h"
#include "util/errors.h"

namespace wst::bench {
namespace fs = std::filesystem;

namespace {

bool looks_like_a_path(const std::string& s) {
  return s.find('/') != std::string::npos || s.starts_with(".") || s.starts_with("~") || fs::exists(s);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The catalog's format id for an implementation's format name.
models::Format catalog_format(const std::string& f) {
  if (f == "ctranslate2") return models::Format::kCt2;
  if (f == "safetensors") return models::Format::kHf;
  return models::parse_format(f);  // "openai", "ggml", "mlx" are spelled the same
}

// A catalog name: the first complete copy in any cache (models/resolver's search order), in the
// implementation's formats, preferred first. Never downloads.
ResolvedModel resolve_catalog_name(const std::vector<std::string>& formats, const std::string& name, bool convert) {
  const models::Catalog& cat = models::Catalog::instance();
  const std::string canonical = cat.canonical(name);  // throws on an unknown name, listing the known ones
  std::vector<models::Format> wanted;
  for (const auto& f : formats) wanted.push_back(catalog_format(f));
  models::Resolver resolver(cat, models::CacheDirs::from_env());
  auto found = resolver.find(canonical, wanted, models::Verify::kSize);
  if (!found && convert) {
    // Another format on disk serves too: converted once into the models directory, where the next run finds it.
    std::vector<models::Format> all(std::begin(models::kAllFormats), std::end(models::kAllFormats));
    if (auto any = resolver.find(canonical, all, models::Verify::kSize)) {
      const formats::WeightFormat to = formats::parse_format_name(formats.front());
      const std::string out = models::default_output(resolver, canonical, to);
      std::fprintf(stderr, "whisper-speedtest: %s: converting the %s copy at %s to %s, once: %s\n", canonical.c_str(),
                   std::string(models::format_id(any->format)).c_str(), any->path.string().c_str(),
                   formats.front().c_str(), out.c_str());
      models::convert_model(any->path.string(), to, out, std::nullopt, false, resolver);
      return {canonical, out, formats.front()};
    }
  }
  if (!found) {
    std::string which;
    for (auto f : wanted) which += (which.empty() ? "" : " or ") + std::string(models::format_id(f));
    throw Error("model " + canonical + ": no complete " + which + " copy in any cache; `whisper-speedtest download " +
                canonical + " --format " + std::string(models::format_id(wanted.front())) +
                "` fetches it, `whisper-speedtest models import DIR --name " + canonical + "` registers one you have");
  }
  std::string format;
  for (size_t i = 0; i < wanted.size(); ++i)
    if (wanted[i] == found->format) format = formats[i];
  return {canonical, found->path.string(), format};
}

}  // namespace

std::string detect_model_format(const std::string& path) {
  auto f = formats::detect_format(path);
  return f ? formats::format_name(*f) : "";
}

ResolvedModel resolve_model_for(const std::vector<std::string>& formats, const std::string& name_or_path, bool convert) {
  if (name_or_path.empty()) throw Error("no model given: pass -m with a model directory or file");
  if (!looks_like_a_path(name_or_path)) return resolve_catalog_name(formats, name_or_path, convert);
  std::error_code ec;
  if (!fs::exists(name_or_path, ec)) throw Error(name_or_path + ": no such model file or directory");
  std::string format = detect_model_format(name_or_path);
  if (format.empty()) {
    throw Error(name_or_path +
                ": not a model this tool recognises (expected a CTranslate2 directory with model.bin, an "
                "openai-whisper .pt checkpoint, a whisper.cpp ggml file, a Hugging Face directory with "
                "model.safetensors and config.json, or an MLX directory with weights.npz or weights.safetensors)");
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
    // The weights file of each directory format: CTranslate2, Hugging Face, MLX (safetensors or npz).
    const char* const kWeights[] = {"model.bin", "model.safetensors", "weights.safetensors", "weights.npz"};
    auto it = std::find_if(std::begin(kWeights), std::end(kWeights), [&](const char* f) { return fs::exists(p / f); });
    if (it == std::end(kWeights)) return "";
    p /= *it;
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
