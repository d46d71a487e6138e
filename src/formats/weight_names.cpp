// The name tables drawn in weight_names.h.
#include "formats/weight_names.h"

#include <cctype>
#include <utility>

namespace wst::formats {
namespace {

struct Rule {
  const char* openai;
  const char* other;
};

// Whole names and name prefixes outside the blocks.
constexpr Rule kHfTop[] = {
    {"encoder.positional_embedding", "model.encoder.embed_positions.weight"},
    {"decoder.positional_embedding", "model.decoder.embed_positions.weight"},
    {"decoder.token_embedding.", "model.decoder.embed_tokens."},
    {"encoder.conv1.", "model.encoder.conv1."},
    {"encoder.conv2.", "model.encoder.conv2."},
    {"encoder.ln_post.", "model.encoder.layer_norm."},
    {"decoder.ln.", "model.decoder.layer_norm."},
};

// Inside a block (after "blocks.N." / "layers.N."); the rest must be "weight" or "bias".
constexpr Rule kHfBlock[] = {
    {"attn.query.", "self_attn.q_proj."},           {"attn.key.", "self_attn.k_proj."},
    {"attn.value.", "self_attn.v_proj."},           {"attn.out.", "self_attn.out_proj."},
    {"attn_ln.", "self_attn_layer_norm."},          {"cross_attn.query.", "encoder_attn.q_proj."},
    {"cross_attn.key.", "encoder_attn.k_proj."},    {"cross_attn.value.", "encoder_attn.v_proj."},
    {"cross_attn.out.", "encoder_attn.out_proj."},  {"cross_attn_ln.", "encoder_attn_layer_norm."},
    {"mlp.0.", "fc1."},                             {"mlp.2.", "fc2."},
    {"mlp_ln.", "final_layer_norm."},
};

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

bool is_param(const std::string& rest) { return rest == "weight" || rest == "bias"; }

// Splits "PREFIX<digits>.REST" into the digits and REST; false when `name` is not of that form.
bool split_block(const std::string& name, const std::string& prefix, std::string& index, std::string& rest) {
  if (!starts_with(name, prefix)) return false;
  size_t i = prefix.size(), j = i;
  while (j < name.size() && j - i < 6 && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
  if (j == i || j >= name.size() || name[j] != '.') return false;
  if (name[i] == '0' && j - i > 1) return false;  // "01" is not a layer index
  index = name.substr(i, j - i);
  rest = name.substr(j + 1);
  return true;
}

// One direction of the transformers mapping: `to_hf` reads the rules left to right, else right to left.
std::optional<std::string> translate(const std::string& name, bool to_hf) {
  auto from = [&](const Rule& r) { return std::string(to_hf ? r.openai : r.other); };
  auto to = [&](const Rule& r) { return std::string(to_hf ? r.other : r.openai); };
  for (const Rule& r : kHfTop) {
    const std::string f = from(r);
    if (f.back() != '.') {
      if (name == f) return to(r);
    } else if (starts_with(name, f) && is_param(name.substr(f.size()))) {
      return to(r) + name.substr(f.size());
    }
  }
  for (const char* side : {"encoder", "decoder"}) {
    const std::string in = to_hf ? std::string(side) + ".blocks." : "model." + std::string(side) + ".layers.";
    const std::string out = to_hf ? "model." + std::string(side) + ".layers." : std::string(side) + ".blocks.";
    std::string index, rest;
    if (!split_block(name, in, index, rest)) continue;
    for (const Rule& r : kHfBlock) {
      const std::string f = from(r);
      if (starts_with(rest, f) && is_param(rest.substr(f.size()))) return out + index + "." + to(r) + rest.substr(f.size());
    }
  }
  return std::nullopt;
}

std::string replace_once(std::string s, const std::string& a, const std::string& b) {
  if (auto at = s.find(a); at != std::string::npos) s.replace(at, a.size(), b);
  return s;
}

}  // namespace

std::optional<std::string> openai_to_hf(const std::string& name) { return translate(name, true); }
std::optional<std::string> hf_to_openai(const std::string& name) { return translate(name, false); }

std::string openai_to_mlx(const std::string& name) {
  return replace_once(replace_once(name, ".mlp.0.", ".mlp1."), ".mlp.2.", ".mlp2.");
}
std::string mlx_to_openai(const std::string& name) {
  return replace_once(replace_once(name, ".mlp1.", ".mlp.0."), ".mlp2.", ".mlp.2.");
}

}  // namespace wst::formats
