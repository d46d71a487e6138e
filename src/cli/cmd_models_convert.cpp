// `whisper-speedtest models convert SRC --to ct2|pt|safetensors|ggml|ggml-q8_0|mlx [--dtype f16|f32|bf16] [-o OUT]`:
// SRC is a model file or directory in any format, or a catalog name found in any cache. Without -o the
// result goes to the project's models directory under the catalog's name for that format, where every
// command (and the benchmark's peers) will find it.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "models/convert.h"
#include "util/errors.h"

namespace wst::cli {
namespace fs = std::filesystem;

namespace {

struct ConvertArgs {
  ModelCliOptions mo;
  std::string src, to, dtype, out, name;
  bool force = false;
};

std::optional<formats::DType> parse_dtype(const std::string& s) {
  if (s.empty()) return std::nullopt;
  if (s == "f16" || s == "float16") return formats::DType::kF16;
  if (s == "f32" || s == "float32") return formats::DType::kF32;
  if (s == "bf16" || s == "bfloat16") return formats::DType::kBF16;
  if (s == "q8_0") throw Error("--dtype q8_0: q8_0 is a format of its own: --to ggml-q8_0");
  throw Error("--dtype " + s + ": unknown (expected f16, f32 or bf16)");
}

// A path given as SRC, or the first complete copy of a catalog model in any format.
std::string source_path(const models::Resolver& r, const std::string& src, std::string& name) {
  std::error_code ec;
  if (fs::exists(src, ec)) return src;
  const models::Catalog& cat = r.catalog();
  if (!cat.knows(src)) throw Error(src + ": no such file or directory, and not a model name (`whisper-speedtest models list`)");
  name = cat.canonical(src);
  std::vector<models::Format> all(std::begin(models::kAllFormats), std::end(models::kAllFormats));
  auto found = r.find(name, all, models::Verify::kSize);
  if (!found)
    throw Error("model " + name + ": no complete copy in any format in any cache; `whisper-speedtest download " + name +
                "` fetches one");
  return found->path.string();
}

void run(const ConvertArgs& a) {
  const formats::WeightFormat to = formats::parse_format_name(a.to);
  const auto dtype = parse_dtype(a.dtype);
  models::Resolver r(models::Catalog::instance(), a.mo.dirs());
  std::string name = a.name.empty() ? "" : r.catalog().canonical(a.name);
  std::string found_name;
  const std::string src = source_path(r, a.src, found_name);
  if (name.empty()) name = found_name;

  formats::WhisperWeights w = formats::read_weights(src);
  if (name.empty()) {
    auto names = models::models_with_dims(r.catalog(), w.dims);
    if (names.size() == 1) name = names.front();
  } else {
    auto names = models::models_with_dims(r.catalog(), w.dims);
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw Error(src + ": its architecture is not " + name + "'s (" + std::to_string(w.dims.n_text_layer) +
                  " decoder layers of width " + std::to_string(w.dims.n_text_state) + ", " +
                  std::to_string(w.dims.n_vocab) + " tokens)");
  }
  std::string out = a.out;
  if (out.empty()) {
    if (name.empty())
      throw Error(src + ": its architecture matches no single catalog model; pass --name NAME or -o OUT");
    out = models::default_output(r, name, to);
  }
  models::TokenizerSource tok = models::find_tokenizer(w, r);
  models::prepare_for_writing(w, tok);
  fmt::print(stderr, "reading {} ({}), tokenizer: {}\n", src, w.format, tok.description);
  formats::write_weights(w, to, out, dtype, a.force);
  // Read back what was written: a writer bug shows here, not in the first benchmark that loads it.
  formats::read_weights(out);
  fmt::print("converted {}{} -> {} ({}{})\n", name.empty() ? "" : name + ": ", w.format, out, formats::format_name(to),
             dtype ? std::string(", ") + formats::dtype_name(*dtype) : std::string());
}

}  // namespace

void register_models_convert(CLI::App* models) {
  auto a = std::make_shared<ConvertArgs>();
  auto* cmd = models->add_subcommand("convert", "convert a model to another format (ct2, pt, safetensors, ggml, ggml-q8_0, mlx)");
  a->mo.add_to(cmd, false);
  cmd->add_option("SRC", a->src, "model file or directory in any format, or a catalog name found in a cache")->required();
  cmd->add_option("--to", a->to, "ct2, pt, safetensors, ggml, ggml-q8_0 (whisper.cpp's q8_0 quantisation) or mlx")->required();
  cmd->add_option("--dtype", a->dtype, "f16, f32 or bf16 (default: as stored)");
  cmd->add_option("-o,--out", a->out, "output file or directory (default: the models directory, catalog name)");
  cmd->add_option("--name", a->name, "catalog model name, when the architecture alone does not say");
  cmd->add_flag("--force", a->force, "replace an existing output");
  cmd->callback([a] { run(*a); });
}

}  // namespace wst::cli
