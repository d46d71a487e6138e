// Small JSON files beside the weights (config.json, generation_config.json, tokenizer.json): read with a size
// limit into nlohmann::json, fields fetched with one-line errors naming the file, written pretty-printed.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace wst::formats {

// Throws wst::Error "<path>: cannot be read", "<path>: larger than N bytes", "<path>: not valid JSON (near
// byte B)", or "<path>: not a JSON object".
nlohmann::json read_json_file(const std::string& path, size_t max_bytes = size_t{64} << 20);

// obj[key] as an int in [lo, hi]; throws "<path>: KEY is missing" or "<path>: KEY is not an integer in
// [lo, hi]".
int json_int(const nlohmann::json& obj, const std::string& key, const std::string& path, int lo = 0,
             int hi = 1 << 24);

// Writes `j` indented by 2, with a final newline; throws "<path>: cannot write".
void write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace wst::formats
