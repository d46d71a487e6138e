// ggml block dequantisation against ggml's own Python package (tests/reference/ggml_quant_reference.json,
// made by make_ggml_quant_reference.py with gguf 0.19.0): every value bit for bit.
#include "formats/ggml_types.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/paths.h"

namespace wst::formats {
namespace {

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(GgmlTypes, DequantisationMatchesGgufBitForBit) {
  std::ifstream f(test::source_dir() / "tests/reference/ggml_quant_reference.json");
  std::stringstream ss;
  ss << f.rdbuf();
  const auto ref = nlohmann::json::parse(ss.str());
  ASSERT_EQ(ref.at("format"), "wst-ggml-quant-reference");
  ASSERT_EQ(ref.at("format_version"), 1) << "remake with " << ref.value("command", "");
  ASSERT_EQ(ref.at("cases").size(), 5u);
  for (const auto& c : ref.at("cases")) {
    const std::string hex = c.at("blocks_hex");
    std::vector<uint8_t> blocks;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) blocks.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    const int32_t id = c.at("type_id");
    ASSERT_TRUE(ggml_type_readable(id)) << id;
    const auto type = static_cast<GgmlType>(id);
    EXPECT_EQ(ggml_type_name(id), c.at("type").get<std::string>());
    const size_t n_blocks = c.at("n_blocks");
    ASSERT_EQ(blocks.size(), n_blocks * ggml_block_bytes(type)) << c.at("type");
    ASSERT_EQ(ggml_block_weights(type), 32u);
    std::vector<float> got(n_blocks * 32);
    ggml_dequantize(type, blocks.data(), n_blocks, got.data());
    const auto& values = c.at("values");
    ASSERT_EQ(values.size(), got.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const float want = values[i].get<float>();
      ASSERT_EQ(bits_of(got[i]), bits_of(want)) << c.at("type") << " value " << i << ": got " << got[i] << ", gguf "
                                                << want;
    }
  }
}

TEST(GgmlTypes, NamesOfTypesNotRead) {
  EXPECT_EQ(ggml_type_name(14), "q6_K");
  EXPECT_EQ(ggml_type_name(30), "bf16");
  EXPECT_EQ(ggml_type_name(4), "unknown");  // removed from ggml (q4_2)
  EXPECT_EQ(ggml_type_name(-1), "unknown");
  EXPECT_EQ(ggml_type_name(1000), "unknown");
  EXPECT_FALSE(ggml_type_readable(14));
  EXPECT_FALSE(ggml_type_readable(30));
  EXPECT_TRUE(ggml_type_readable(8));
}

}  // namespace
}  // namespace wst::formats
