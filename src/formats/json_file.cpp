#include "formats/json_file.h"

#include <fstream>
#include <iterator>

#include "util/errors.h"

namespace wst::formats {

nlohmann::json read_json_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot be read");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(path + ": cannot be read");
  if (static_cast<size_t>(size) > max_bytes)
    throw Error(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  in.seekg(0);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), size)) throw Error(path + ": cannot be read");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not valid JSON (near byte " + std::to_string(e.byte) + ")");
  }
  if (!j.is_object()) throw Error(path + ": not a JSON object");
  return j;
}

int json_int(const nlohmann::json& obj, const std::string& key, const std::string& path, int lo, int hi) {
  auto it = obj.find(key);
  if (it == obj.end()) throw Error(path + ": " + key + " is missing");
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
    throw Error(path + ": " + key + " is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(it->get<int64_t>());
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << j.dump(2) << '\n';
  out.close();
  if (!out) throw Error(path + ": cannot write");
}

}  // namespace wst::formats
