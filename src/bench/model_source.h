// Which model files an implementation loads for `-m NAME_OR_PATH`.
//
//   ResolvedModel m = resolve_model_for({"ctranslate2"}, "/models/tiny.en-ct2");
//   // m.path == "/models/tiny.en-ct2", m.format == "ctranslate2", m.name == ""
//
// A path is used as given, its format judged from the contents (formats/weight_io). A catalog name ("small",
// "tiny.en") is looked up through models/resolver in every cache, in the implementation's formats, preferred
// first; when only other formats are on disk, the model is converted into the project's models directory.
#pragma once
#include <string>
#include <vector>

namespace wst::bench {

struct ResolvedModel {
  std::string name;    // catalog name, "" for a path
  std::string path;    // file or directory to pass to Implementation::load
  std::string format;  // "ctranslate2", "openai", "ggml", "safetensors"
};

// The format of the model at `path`, or "" when it is none this tool knows.
std::string detect_model_format(const std::string& path);

// Throws wst::Error (one line, naming the model and the problem) when the path is missing or of a format
// none of `formats` is, or when a name is given.
// A catalog name found only in other formats is converted (models convert) into the project's models
// directory, once, saying so on stderr, unless `convert` is false.
ResolvedModel resolve_model_for(const std::vector<std::string>& formats, const std::string& name_or_path,
                                bool convert = true);

// SHA-256 of the file's bytes in hex; "" when it cannot be read. For a directory, of its main weights file
// (model.bin, model.safetensors, or MLX's weights.safetensors / weights.npz).
std::string model_sha256(const std::string& path);

}  // namespace wst::bench
