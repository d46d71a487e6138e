// ggml block dequantisation and q8_0 quantisation against ggml's own Python package
// (tests/reference/ggml_quant_reference.json, made by make_ggml_quant_reference.py with gguf 0.19.0): every
// value and every byte.
#include "formats/ggml_types.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

nlohmann::json reference() {
  std::ifstream f(test::source_dir() / "tests/reference/ggml_quant_reference.json");
  std::stringstream ss;
  ss << f.rdbuf();
  auto ref = nlohmann::json::parse(ss.str());
  EXPECT_EQ(ref.at("format"), "wst-ggml-quant-reference");
  EXPECT_EQ(ref.at("format_version"), 2) << "remake with " << ref.value("command", "");
  return ref;
}

TEST(GgmlTypes, DequantisationMatchesGgufBitForBit) {
  const auto ref = reference();
  ASSERT_EQ(ref.at("cases").size(), 5u);
  for (const auto& c : ref.at("cases")) {
    const std::vector<uint8_t> blocks = from_hex(c.at("blocks_hex"));
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

TEST(GgmlTypes, Q8_0QuantisationMatchesGgufByteForByte) {
  const auto ref = reference();
  ASSERT_EQ(ref.at("quantize_cases").size(), 5u);
  for (const auto& c : ref.at("quantize_cases")) {
    const std::vector<float> x = c.at("values").get<std::vector<float>>();
    const std::vector<uint8_t> want = from_hex(c.at("blocks_hex"));
    ASSERT_EQ(x.size() % 32, 0u);
    ASSERT_EQ(want.size(), x.size() / 32 * 34) << c.at("name");
    std::vector<uint8_t> got(want.size(), 0xAA);
    ggml_quantize_q8_0(x.data(), x.size() / 32, got.data());
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(got[i], want[i]) << c.at("name") << " byte " << i << " (block " << i / 34 << ")";
  }
}

TEST(GgmlTypes, Q8_0RoundTripIsWithinHalfAStep) {
  std::vector<float> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * (i < 32 ? 0.02f : 3.0f);
  std::vector<uint8_t> q(2 * 34);
  ggml_quantize_q8_0(x.data(), 2, q.data());
  std::vector<float> back(64);
  ggml_dequantize(GgmlType::kQ8_0, q.data(), 2, back.data());
  for (size_t b = 0; b < 2; ++b) {
    float amax = 0;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float step = amax / 127.0f;
    for (size_t j = 0; j < 32; ++j)  // half a step, plus the float16 rounding of the scale (2^-11 relative)
      EXPECT_NEAR(back[b * 32 + j], x[b * 32 + j], 0.5f * step + amax * 0x1p-11f) << b << "," << j;
  }
  // Non-finite input never reaches a float-to-int conversion: its block stores zeros.
  std::vector<float> bad(32, 1.0f);
  bad[3] = std::nanf("");
  ggml_quantize_q8_0(bad.data(), 1, q.data());
  EXPECT_EQ(q[2 + 3], 0);
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
