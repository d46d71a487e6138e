// The safetensors parser and writer; the layout is drawn in safetensors.h.
#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "util/errors.h"
#include "util/half.h"

namespace wst::formats {

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

using json = nlohmann::json;

// A safetensors header is three levels deep ({name: {shape: [..]}}); anything much deeper is not one, and is
// refused before the JSON library builds (and later frees, recursively) a deeply nested value.
constexpr int kMaxHeaderDepth = 8;
constexpr size_t kMaxRank = 8;

void check_nesting(const char* s, size_t n, const std::string& path) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;  // skip the escaped character
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxHeaderDepth)
        throw Error(path + ": header nests deeper than " + std::to_string(kMaxHeaderDepth) + " levels");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32") out = DType::kF32;
  else if (s == "F16") out = DType::kF16;
  else if (s == "BF16") out = DType::kBF16;
  else return false;
  return true;
}

const char* dtype_code(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
  }
  return "?";
}

uint64_t unsigned_of(const json& v, const std::string& path, const std::string& what) {
  if (!v.is_number_unsigned()) throw Error(path + ": " + what + " is not a non-negative integer");
  return v.get<uint64_t>();
}

SafetensorsTensor parse_entry(const std::string& name, const json& e, size_t data_bytes, const std::string& path) {
  const std::string where = path + ": tensor " + name;
  if (!e.is_object()) throw Error(where + ": its entry is not an object");
  SafetensorsTensor t;
  t.name = name;
  auto dt = e.find("dtype");
  auto sh = e.find("shape");
  auto off = e.find("data_offsets");
  if (dt == e.end() || sh == e.end() || off == e.end())
    throw Error(where + ": its entry lacks dtype, shape or data_offsets");
  if (!dt->is_string()) throw Error(where + ": dtype is not a string");
  if (!parse_dtype(dt->get<std::string>(), t.dtype))
    throw Error(where + " has dtype " + dt->get<std::string>() + "; only F32, F16 and BF16 are read");
  if (!sh->is_array() || sh->size() > kMaxRank)
    throw Error(where + ": shape is not an array of at most " + std::to_string(kMaxRank) + " dimensions");
  bool has_zero = false;
  for (const json& d : *sh) {
    const uint64_t v = unsigned_of(d, path, "tensor " + name + ": a dimension");
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw Error(where + ": dimension " + std::to_string(v) + " is too large");
    has_zero |= v == 0;
    t.shape.push_back(static_cast<int64_t>(v));
  }
  if (!off->is_array() || off->size() != 2) throw Error(where + ": data_offsets is not [begin, end]");
  const uint64_t begin = unsigned_of((*off)[0], path, "tensor " + name + ": data_offsets");
  const uint64_t end = unsigned_of((*off)[1], path, "tensor " + name + ": data_offsets");
  const std::string range = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
  if (begin > end) throw Error(where + ": " + range + " end before begin");
  if (end > data_bytes)
    throw Error(where + ": " + range + " end past the data region (" + std::to_string(data_bytes) + " bytes)");
  // Element count times dtype size, saturating at 2^62 (far above any file) so that no product can wrap.
  constexpr uint64_t kHuge = uint64_t{1} << 62;
  uint64_t need = has_zero ? 0 : dtype_size(t.dtype);
  for (int64_t d : t.shape) {
    if (need == 0 || need == kHuge) break;
    need = static_cast<uint64_t>(d) > kHuge / need ? kHuge : need * static_cast<uint64_t>(d);
  }
  if (need != end - begin)
    throw Error(where + " has shape " + shape_string(t.shape) + " (" + dtype_code(t.dtype) + "), which needs " +
                (need == kHuge ? std::string("more") : std::to_string(need)) +
                " bytes, but " + range + " hold " + std::to_string(end - begin));
  t.offset = begin;  // relative until the caller adds the data region's start
  t.n_bytes = end - begin;
  return t;
}

}  // namespace

SafetensorsFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& path) {
  if (size < 8) throw Error(path + ": not a safetensors file (" + std::to_string(size) + " bytes, shorter than its header length)");
  uint64_t n;
  std::memcpy(&n, bytes, 8);
  if (n > size - 8)
    throw Error(path + ": header length " + std::to_string(n) + " is past the end of the file (" +
                std::to_string(size) + " bytes)");
  if (n > kMaxSafetensorsHeaderBytes)
    throw Error(path + ": header length " + std::to_string(n) + " is over the " +
                std::to_string(kMaxSafetensorsHeaderBytes) + "-byte limit");
  const char* h = reinterpret_cast<const char*>(bytes + 8);
  if (n < 2 || h[0] != '{') throw Error(path + ": not a safetensors file (the header is not a JSON object)");
  check_nesting(h, n, path);
  json header;
  try {
    header = json::parse(h, h + n);
  } catch (const json::exception& e) {
    size_t at = 0;
    if (auto* pe = dynamic_cast<const json::parse_error*>(&e)) at = pe->byte;
    throw Error(path + ": the header is not valid JSON (near byte " + std::to_string(8 + at) + ")");
  }
  if (!header.is_object()) throw Error(path + ": not a safetensors file (the header is not a JSON object)");

  SafetensorsFile f;
  f.header_bytes = n;
  const size_t data_start = 8 + n, data_bytes = size - data_start;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw Error(path + ": __metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) throw Error(path + ": __metadata__ value of " + k + " is not a string");
        f.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    f.tensors.push_back(parse_entry(key, value, data_bytes, path));
  }
  // In data order, the tensors must tile the data region: each begins where the previous ended.
  std::stable_sort(f.tensors.begin(), f.tensors.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.n_bytes < b.n_bytes;
  });
  size_t at = 0;
  const SafetensorsTensor* prev = nullptr;
  for (auto& t : f.tensors) {
    if (t.offset < at)
      throw Error(path + ": tensor " + t.name + " overlaps tensor " + prev->name + " (its data begins at " +
                  std::to_string(t.offset) + ", before " + std::to_string(at) + ")");
    if (t.offset > at)
      throw Error(path + ": " + std::to_string(t.offset - at) + " bytes of the data region before tensor " + t.name +
                  " belong to no tensor");
    at = t.offset + t.n_bytes;
    t.offset += data_start;
    prev = &t;
  }
  if (at != data_bytes)
    throw Error(path + ": the data region has " + std::to_string(data_bytes - at) +
                " bytes after the last tensor that belong to no tensor");
  return f;
}

namespace {

// `t`'s bytes as `to` (the same bytes when the dtype agrees).
std::vector<uint8_t> converted(const TensorRef& t, DType to) {
  std::vector<float> f = t.to_f32();
  std::vector<uint8_t> out(f.size() * dtype_size(to));
  if (to == DType::kF32) {
    std::memcpy(out.data(), f.data(), out.size());
    return out;
  }
  for (size_t i = 0; i < f.size(); ++i) {
    const uint16_t v = to == DType::kF16 ? float_to_half(f[i]) : float_to_bfloat16(f[i]);
    std::memcpy(out.data() + 2 * i, &v, 2);
  }
  return out;
}

}  // namespace

std::string safetensors_header(const std::vector<SafetensorsEntry>& tensors, const std::map<std::string, std::string>& metadata,
                               std::optional<DType> dtype, const std::string& file, uint64_t* data_bytes) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t at = 0;
  for (const auto& e : tensors) {
    if (e.name == "__metadata__" || header.contains(e.name)) throw Error(file + ": tensor name " + e.name + " repeated or reserved");
    const DType to = dtype.value_or(e.tensor.dtype);
    if (e.tensor.n_bytes != e.tensor.n_elements() * dtype_size(e.tensor.dtype))
      throw Error(file + ": tensor " + e.name + " holds " + std::to_string(e.tensor.n_bytes) + " bytes, its shape " +
                  shape_string(e.tensor.shape) + " needs " +
                  std::to_string(e.tensor.n_elements() * dtype_size(e.tensor.dtype)));
    const size_t n = e.tensor.n_elements() * dtype_size(to);
    header[e.name] = {{"dtype", dtype_code(to)}, {"shape", e.tensor.shape}, {"data_offsets", {at, at + n}}};
    at += n;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // the data region starts 8-byte aligned (8 + N is a multiple of 8)
  const uint64_t n = h.size();
  if (data_bytes) *data_bytes = at;
  return std::string(reinterpret_cast<const char*>(&n), 8) + h;
}

void write_safetensors(const std::string& file, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata, std::optional<DType> dtype) {
  const std::string head = safetensors_header(tensors, metadata, dtype, file, nullptr);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(file + ": cannot create the file");
  out.write(head.data(), static_cast<std::streamsize>(head.size()));
  for (const auto& e : tensors) {
    const DType to = dtype.value_or(e.tensor.dtype);
    if (to == e.tensor.dtype) {
      out.write(reinterpret_cast<const char*>(e.tensor.data), static_cast<std::streamsize>(e.tensor.n_bytes));
    } else {
      std::vector<uint8_t> b = converted(e.tensor, to);
      out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
  }
  out.close();
  if (!out) throw Error(file + ": write failed (disk full?)");
}

}  // namespace wst::formats
