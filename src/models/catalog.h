// The model catalog: data/catalog.json read at start, the single source of model names, aliases, formats,
// file names, URLs, sizes and checksums. Loader, checker and downloader all ask it; no other code builds a
// model file name.
//
// Usage:
//   const auto& cat = wst::models::Catalog::instance();          // data_dir()/catalog.json, loaded once
//   const auto& art = cat.artifact("large", Format::kOpenai);     // alias -> large-v3; file large-v3.pt
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wst::models {

// The on-disk formats a Whisper model is published in.
// kGgmlQ8_0 is whisper.cpp's file quantised to q8_0 (ggml-<model>-q8_0.bin), a format of its own because
// whisper.cpp runs it with other kernels: a benchmark row names the one it measured. It comes last in
// kAllFormats, the order in which a source for a conversion is looked for: any unquantised copy first.
enum class Format { kOpenai, kHf, kCt2, kGgml, kMlx, kGgmlQ8_0 };
inline constexpr Format kAllFormats[] = {Format::kOpenai, Format::kHf,  Format::kCt2,
                                         Format::kGgml,   Format::kMlx, Format::kGgmlQ8_0};

std::string_view format_id(Format f);              // "openai", "hf", "ct2", "ggml", "ggml-q8_0", "mlx"
Format parse_format(std::string_view id);           // throws wst::Error on an unknown id

// One file of an artifact. `names` holds the accepted names, preferred first (a CTranslate2 repo carries
// vocabulary.json or vocabulary.txt); any one present satisfies the entry.
struct FileSpec {
  std::vector<std::string> names;
  bool optional = false;                  // fetched when the server has it; never needed for "complete"
  std::optional<uint64_t> size_bytes;     // null in the catalog = not known
  std::optional<std::string> sha256;      // lower-case hex
  std::optional<std::string> sha1;        // lower-case hex (whisper.cpp publishes SHA-1)
  const std::string& name() const { return names.front(); }
};

// A model in one format: a single file (openai, ggml, ggml-q8_0) or a repo of files (hf, ct2, mlx).
struct Artifact {
  std::string model;            // canonical model name
  Format format;
  std::string url;              // openai: full CDN URL; empty for hub artifacts
  std::string repo;             // hub repo id "org/name"; empty for openai
  std::string revision;         // hub revision, "main"
  std::vector<FileSpec> files;
  bool single_file() const {
    return format == Format::kOpenai || format == Format::kGgml || format == Format::kGgmlQ8_0;
  }
};

// Whisper's hyperparameters, as in openai-whisper's ModelDimensions.
struct Arch {
  int n_mels = 0, n_vocab = 0, n_audio_ctx = 0, n_audio_state = 0, n_audio_head = 0, n_audio_layer = 0;
  int n_text_ctx = 0, n_text_state = 0, n_text_head = 0, n_text_layer = 0;
};

struct ModelInfo {
  std::string name;
  bool multilingual = true;
  Arch arch;
  std::map<Format, Artifact> artifacts;  // a format absent here is not published for the model
};

class Catalog {
 public:
  // Parses and validates a catalog file. Throws wst::Error naming the file and the offending entry.
  static Catalog load(const std::filesystem::path& path);
  // data_dir()/catalog.json, loaded on first use.
  static const Catalog& instance();

  // Model names in catalog order (canonical names only) and aliases (alias -> canonical).
  const std::vector<std::string>& names() const { return order_; }
  const std::map<std::string, std::string>& aliases() const { return aliases_; }

  // Canonical name for a name or alias; throws wst::Error listing the known names when unknown.
  std::string canonical(std::string_view name) const;
  bool knows(std::string_view name) const;
  const ModelInfo& model(std::string_view name_or_alias) const;
  // Throws wst::Error when the model is not published in that format.
  const Artifact& artifact(std::string_view name_or_alias, Format format) const;
  const Artifact* find_artifact(std::string_view name_or_alias, Format format) const;

  // Implementation ids and the formats each can use, in order of preference.
  const std::vector<std::string>& implementations() const { return impl_order_; }
  const std::vector<Format>& formats_for(std::string_view implementation) const;

  const std::string& openai_base_url() const { return openai_base_url_; }  // default CDN prefix
  const std::string& hf_endpoint() const { return hf_endpoint_; }          // default hub endpoint

 private:
  std::map<std::string, ModelInfo, std::less<>> models_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> aliases_;
  std::map<std::string, std::vector<Format>, std::less<>> impls_;
  std::vector<std::string> impl_order_;
  std::string openai_base_url_, hf_endpoint_;
};

}  // namespace wst::models
