// Format detection and the read/write dispatch; see weight_io.h.
#include "formats/weight_io.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "formats/ggml_types.h"
#include "util/errors.h"

namespace wst::formats {
namespace fs = std::filesystem;

const char* format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kCt2: return "ctranslate2";
    case WeightFormat::kOpenai: return "openai";
    case WeightFormat::kSafetensors: return "safetensors";
    case WeightFormat::kGgml: return "ggml";
    case WeightFormat::kGgmlQ8_0: return "ggml-q8_0";
    case WeightFormat::kMlx: return "mlx";
  }
  return "?";
}

WeightFormat parse_format_name(const std::string& name) {
  if (name == "ct2" || name == "ctranslate2") return WeightFormat::kCt2;
  if (name == "pt" || name == "openai") return WeightFormat::kOpenai;
  if (name == "safetensors" || name == "hf") return WeightFormat::kSafetensors;
  if (name == "ggml") return WeightFormat::kGgml;
  if (name == "ggml-q8_0") return WeightFormat::kGgmlQ8_0;
  if (name == "mlx") return WeightFormat::kMlx;
  throw Error("format \"" + name + "\": unknown (expected ct2, pt, safetensors, ggml, ggml-q8_0 or mlx)");
}

namespace {

// A file's first `n` bytes (fewer when it is shorter).
std::string head_of(const fs::path& p, size_t n) {
  std::ifstream in(p, std::ios::binary);
  std::string h(n, '\0');
  in.read(h.data(), static_cast<std::streamsize>(n));
  h.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return h;
}

// The little-endian u32 at `at` of `h` (which holds at least at + 4 bytes).
uint32_t u32_at(const std::string& h, size_t at) {
  uint32_t v;
  std::memcpy(&v, h.data() + at, 4);
  return v;
}

}  // namespace

std::optional<WeightFormat> detect_format(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.bin", ec)) return WeightFormat::kCt2;
    if (fs::exists(p / "model.safetensors", ec) && fs::exists(p / "config.json", ec)) return WeightFormat::kSafetensors;
    if ((fs::exists(p / "weights.npz", ec) || fs::exists(p / "weights.safetensors", ec)) && fs::exists(p / "config.json", ec))
      return WeightFormat::kMlx;
    return std::nullopt;
  }
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  const std::string h = head_of(p, kGgmlFileTypeOffset + 4);
  if (h.size() < 4) return std::nullopt;
  const uint32_t magic = u32_at(h, 0);
  if (magic == 0x04034b50) return WeightFormat::kOpenai;  // "PK\3\4": torch's zip checkpoint
  if (magic == 0x67676d6c) {                              // "lmgg" on disk: ggml's 0x67676d6c little-endian
    const bool q8_0 = h.size() == kGgmlFileTypeOffset + 4 &&
                      ggml_file_type(static_cast<int32_t>(u32_at(h, kGgmlFileTypeOffset))) == kGgmlFileTypeQ8_0;
    return q8_0 ? WeightFormat::kGgmlQ8_0 : WeightFormat::kGgml;
  }
  return std::nullopt;
}

WhisperWeights read_weights(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such model file or directory");
  auto f = detect_format(path);
  if (!f)
    throw Error(path + ": not a Whisper model in a format this tool reads (a CTranslate2 directory, an openai-whisper "
                "checkpoint .pt, a Hugging Face safetensors directory, a whisper.cpp ggml file or an MLX directory)");
  WhisperWeights w;
  switch (*f) {
    case WeightFormat::kCt2: w = read_ct2(path); break;
    case WeightFormat::kOpenai: w = read_openai_pt(path); break;
    case WeightFormat::kSafetensors: w = read_safetensors_dir(path); break;
    case WeightFormat::kGgml:
    case WeightFormat::kGgmlQ8_0: w = read_ggml(path); break;
    case WeightFormat::kMlx: w = read_mlx(path); break;
  }
  w.validate();
  return w;
}

void write_weights(const WhisperWeights& w, WeightFormat format, const std::string& out, std::optional<DType> dtype,
                   bool overwrite) {
  std::error_code ec;
  const fs::path target = fs::absolute(out).lexically_normal();
  if (fs::exists(target, ec) && !overwrite) throw Error(out + ": already exists (pass --force to replace it)");
  if (!target.parent_path().empty()) fs::create_directories(target.parent_path(), ec);
  if (ec) throw Error(target.parent_path().string() + ": cannot create the directory (" + ec.message() + ")");
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".partial-" + std::to_string(getpid()));
  fs::remove_all(tmp, ec);
  try {
    switch (format) {
      case WeightFormat::kCt2: write_ct2(w, tmp.string(), dtype); break;
      case WeightFormat::kOpenai: write_openai_pt(w, tmp.string(), dtype); break;
      case WeightFormat::kSafetensors: write_safetensors_dir(w, tmp.string(), dtype); break;
      case WeightFormat::kGgml: write_ggml(w, tmp.string(), dtype); break;
      case WeightFormat::kGgmlQ8_0: write_ggml_q8_0(w, tmp.string(), dtype); break;
      case WeightFormat::kMlx: write_mlx(w, tmp.string(), dtype); break;
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  // Into place: an existing output is moved aside first, so a failure leaves either the old or the new one.
  const fs::path old = target.parent_path() / ("." + target.filename().string() + ".old-" + std::to_string(getpid()));
  const bool had_old = fs::exists(target, ec);
  if (had_old) {
    fs::rename(target, old, ec);
    if (ec) {
      fs::remove_all(tmp, ec);
      throw Error(out + ": cannot replace it (" + ec.message() + ")");
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    const std::string why = ec.message();
    if (had_old) fs::rename(old, target, ec);
    fs::remove_all(tmp, ec);
    throw Error(out + ": cannot move the finished output into place (" + why + ")");
  }
  if (had_old) fs::remove_all(old, ec);
}

}  // namespace wst::formats
