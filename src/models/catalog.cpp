// Reads and validates data/catalog.json (format described in docs/MODELS.md).
//
// Every name that later becomes part of a path (file names, repo ids) is checked here with
// is_safe_relative, so a hostile catalog fails at load instead of writing outside a cache.
// OpenAI checkpoints carry only a URL: the file name is its last path component and the SHA-256 the one
// before it, the rule openai-whisper's _download() uses.
#include "models/catalog.h"

#include <fmt/format.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "util/data_dir.h"
#include "util/errors.h"
#include "util/paths.h"
#include "util/sha256.h"

namespace wst::models {

using json = nlohmann::ordered_json;

std::string_view format_id(Format f) {
  switch (f) {
    case Format::kOpenai: return "openai";
    case Format::kHf: return "hf";
    case Format::kCt2: return "ct2";
    case Format::kGgml: return "ggml";
    case Format::kGgmlQ8_0: return "ggml-q8_0";
    case Format::kMlx: return "mlx";
  }
  return "?";
}

Format parse_format(std::string_view id) {
  for (Format f : kAllFormats)
    if (format_id(f) == id) return f;
  throw Error(fmt::format("unknown model format '{}' (known: openai, hf, ct2, ggml, ggml-q8_0, mlx)", id));
}

namespace {

[[noreturn]] void bad(const std::filesystem::path& file, const std::string& where, const std::string& what) {
  throw Error(fmt::format("{}: {}: {}", file.string(), where, what));
}

std::optional<std::string> opt_hex(const json& j, const char* key, size_t n, const std::filesystem::path& file,
                                   const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_string() || !is_hex(j[key].get<std::string>(), n))
    bad(file, where, fmt::format("'{}' must be {} hex digits or null", key, n));
  std::string s = j[key].get<std::string>();
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

FileSpec parse_file(const json& j, const std::filesystem::path& file, const std::string& where) {
  FileSpec fs;
  if (j.contains("name")) fs.names.push_back(j.at("name").get<std::string>());
  if (j.contains("names"))
    for (const auto& n : j.at("names")) fs.names.push_back(n.get<std::string>());
  if (fs.names.empty()) bad(file, where, "file entry without a name");
  for (const auto& n : fs.names)
    if (!is_safe_relative(n)) bad(file, where, fmt::format("unsafe file name '{}'", n));
  fs.optional = j.value("optional", false);
  if (j.contains("size_bytes") && !j["size_bytes"].is_null()) {
    if (!j["size_bytes"].is_number_unsigned()) bad(file, where, "'size_bytes' must be a non-negative integer or null");
    fs.size_bytes = j["size_bytes"].get<uint64_t>();
  }
  fs.sha256 = opt_hex(j, "sha256", 64, file, where);
  fs.sha1 = opt_hex(j, "sha1", 40, file, where);
  return fs;
}

bool safe_repo_id(const std::string& repo) {
  // "org/name": exactly two safe components.
  auto slash = repo.find('/');
  return slash != std::string::npos && repo.find('/', slash + 1) == std::string::npos && is_safe_relative(repo);
}

}  // namespace

Catalog Catalog::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("{}: cannot read the model catalog", path.string()));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
  Catalog c;
  try {
    if (j.value("format_version", 0) != 1) bad(path, "format_version", "expected 1");
    c.openai_base_url_ = j.at("defaults").at("openai_base_url").get<std::string>();
    c.hf_endpoint_ = j.at("defaults").at("hf_endpoint").get<std::string>();
    for (const auto& [name, m] : j.at("models").items()) {
      if (!is_safe_relative(name) || name.find('/') != std::string::npos) bad(path, name, "unsafe model name");
      ModelInfo info;
      info.name = name;
      info.multilingual = m.value("multilingual", true);
      const json& a = m.at("arch");
      info.arch = Arch{a.at("n_mels"), a.at("n_vocab"), a.at("n_audio_ctx"), a.at("n_audio_state"),
                       a.at("n_audio_head"), a.at("n_audio_layer"), a.at("n_text_ctx"), a.at("n_text_state"),
                       a.at("n_text_head"), a.at("n_text_layer")};
      for (const auto& [fid, fj] : m.at("formats").items()) {
        Format f = parse_format(fid);
        if (fj.is_null()) continue;  // not published in this format
        std::string where = fmt::format("models.{}.formats.{}", name, fid);
        Artifact art;
        art.model = name;
        art.format = f;
        if (f == Format::kOpenai) {
          art.url = fj.at("url").get<std::string>();
          // .../<sha256>/<file name>
          auto last = art.url.rfind('/');
          auto prev = last == std::string::npos || last == 0 ? std::string::npos : art.url.rfind('/', last - 1);
          if (prev == std::string::npos) bad(path, where, "url must end in /<sha256>/<file>");
          FileSpec fs;
          fs.names.push_back(art.url.substr(last + 1));
          std::string sha = art.url.substr(prev + 1, last - prev - 1);
          if (!is_hex(sha, 64)) bad(path, where, fmt::format("url path has no SHA-256 before the file name: '{}'", sha));
          if (!is_safe_relative(fs.name()) || fs.name().find('/') != std::string::npos)
            bad(path, where, fmt::format("unsafe file name '{}'", fs.name()));
          fs.sha256 = sha;
          if (fj.contains("size_bytes") && !fj["size_bytes"].is_null()) fs.size_bytes = fj["size_bytes"].get<uint64_t>();
          art.files.push_back(fs);
        } else {
          art.repo = fj.at("repo").get<std::string>();
          if (!safe_repo_id(art.repo)) bad(path, where, fmt::format("unsafe repo id '{}'", art.repo));
          art.revision = fj.value("revision", "main");
          if (!is_safe_relative(art.revision) || art.revision.find('/') != std::string::npos)
            bad(path, where, fmt::format("unsafe revision '{}'", art.revision));
          for (const auto& file : fj.at("files")) art.files.push_back(parse_file(file, path, where));
          if (art.files.empty()) bad(path, where, "no files");
          if (art.single_file() && art.files.size() != 1) bad(path, where, "a ggml artifact is one file");
        }
        info.artifacts.emplace(f, std::move(art));
      }
      c.order_.push_back(name);
      c.models_.emplace(name, std::move(info));
    }
    for (const auto& [alias, target] : j.at("aliases").items()) {
      if (!c.models_.count(target.get<std::string>())) bad(path, "aliases." + alias, "points to an unknown model");
      if (c.models_.count(alias)) bad(path, "aliases." + alias, "is also a model name");
      c.aliases_[alias] = target.get<std::string>();
    }
    for (const auto& [impl, formats] : j.at("implementations").items()) {
      std::vector<Format> fs;
      for (const auto& f : formats) fs.push_back(parse_format(f.get<std::string>()));
      c.impl_order_.push_back(impl);
      c.impls_[impl] = fs;
    }
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: malformed catalog: {}", path.string(), e.what()));
  }
  return c;
}

const Catalog& Catalog::instance() {
  static const Catalog c = load(data_dir() / "catalog.json");
  return c;
}

bool Catalog::knows(std::string_view name) const {
  return models_.count(name) || aliases_.count(std::string(name));
}

std::string Catalog::canonical(std::string_view name) const {
  if (models_.count(name)) return std::string(name);
  if (auto it = aliases_.find(std::string(name)); it != aliases_.end()) return it->second;
  std::string known;
  for (const auto& n : order_) known += (known.empty() ? "" : ", ") + n;
  for (const auto& [a, t] : aliases_) known += ", " + a;
  throw Error(fmt::format("unknown model '{}' (known: {})", name, known));
}

const ModelInfo& Catalog::model(std::string_view name) const { return models_.find(canonical(name))->second; }

const Artifact* Catalog::find_artifact(std::string_view name, Format format) const {
  const ModelInfo& m = model(name);
  auto it = m.artifacts.find(format);
  return it == m.artifacts.end() ? nullptr : &it->second;
}

const Artifact& Catalog::artifact(std::string_view name, Format format) const {
  if (const Artifact* a = find_artifact(name, format)) return *a;
  throw Error(fmt::format("model '{}' is not published in format '{}'", canonical(name), format_id(format)));
}

const std::vector<Format>& Catalog::formats_for(std::string_view implementation) const {
  auto it = impls_.find(implementation);
  if (it == impls_.end()) {
    std::string known;
    for (const auto& n : impl_order_) known += (known.empty() ? "" : ", ") + n;
    throw Error(fmt::format("unknown implementation '{}' (known: {})", implementation, known));
  }
  return it->second;
}

}  // namespace wst::models
