// The safetensors parser on files made here byte by byte (good ones parse to the right table; bad ones give
// one clear line) and the writer's output read back.
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::formats {
namespace {

// u64 length + header + data.
std::string file_of(const std::string& header, const std::string& data) {
  std::string b(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(b.data(), &n, 8);
  return b + header + data;
}

SafetensorsFile parse(const std::string& b) {
  return parse_safetensors(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "m.safetensors");
}

std::string error_of(const std::string& b) {
  try {
    parse(b);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kTwo =
    R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
    R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}})";

TEST(Safetensors, ParsesTensorsInDataOrderWithMetadata) {
  std::string data(12, '\0');
  for (int i = 0; i < 12; ++i) data[i] = static_cast<char>(i);
  const std::string b = file_of(kTwo, data);
  SafetensorsFile f = parse(b);
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "a");
  EXPECT_EQ(f.tensors[0].dtype, DType::kF32);
  EXPECT_EQ(f.tensors[0].shape, (std::vector<int64_t>{1, 2}));
  const size_t data_start = 8 + std::strlen(kTwo);
  EXPECT_EQ(f.tensors[0].offset, data_start);
  EXPECT_EQ(f.tensors[0].n_bytes, 8u);
  EXPECT_EQ(f.tensors[1].name, "b");
  EXPECT_EQ(f.tensors[1].dtype, DType::kF16);
  EXPECT_EQ(f.tensors[1].offset, data_start + 8);
  EXPECT_EQ(static_cast<uint8_t>(b[f.tensors[1].offset]), 8);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.header_bytes, std::strlen(kTwo));
  ASSERT_NE(f.find("b"), nullptr);
  EXPECT_EQ(f.find("c"), nullptr);
}

TEST(Safetensors, AcceptsSpacePaddedHeaderAndEmptyTensors) {
  const std::string h = R"({"e":{"dtype":"BF16","shape":[0,3],"data_offsets":[0,0]},"x":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}    )";
  SafetensorsFile f = parse(file_of(h, "ab"));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "e");
  EXPECT_EQ(f.tensors[0].n_bytes, 0u);
  EXPECT_EQ(f.tensors[1].shape, std::vector<int64_t>{});
  EXPECT_EQ(f.tensors[1].n_bytes, 2u);
}

TEST(Safetensors, OffsetsPastTheEndOfTheFile) {
  EXPECT_EQ(error_of(file_of(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'))),
            "m.safetensors: tensor a: data_offsets [0, 16] end past the data region (8 bytes)");
}

TEST(Safetensors, OverlappingOffsets) {
  const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_EQ(error_of(file_of(h, std::string(12, '\0'))),
            "m.safetensors: tensor b overlaps tensor a (its data begins at 4, before 8)");
  const std::string same = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(error_of(file_of(same, std::string(8, '\0'))),
            "m.safetensors: tensor b overlaps tensor a (its data begins at 0, before 8)");
}

TEST(Safetensors, HolesAndTrailingBytesBelongToNoTensor) {
  const std::string hole = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  EXPECT_EQ(error_of(file_of(hole, std::string(8, '\0'))),
            "m.safetensors: 4 bytes of the data region before tensor a belong to no tensor");
  const std::string tail = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_EQ(error_of(file_of(tail, std::string(7, '\0'))),
            "m.safetensors: the data region has 3 bytes after the last tensor that belong to no tensor");
}

TEST(Safetensors, HeaderLengthLargerThanTheFile) {
  std::string b = file_of("{}", "");
  const uint64_t n = 1000;
  std::memcpy(b.data(), &n, 8);
  EXPECT_EQ(error_of(b), "m.safetensors: header length 1000 is past the end of the file (10 bytes)");
  const uint64_t huge = ~uint64_t{0};
  std::memcpy(b.data(), &huge, 8);
  EXPECT_EQ(error_of(b), "m.safetensors: header length 18446744073709551615 is past the end of the file (10 bytes)");
  EXPECT_EQ(error_of("abc"), "m.safetensors: not a safetensors file (3 bytes, shorter than its header length)");
}

TEST(Safetensors, NonJsonHeader) {
  EXPECT_EQ(error_of(file_of("{\"a\": nope}", "")).rfind("m.safetensors: the header is not valid JSON (near byte ", 0), 0u);
  EXPECT_EQ(error_of(file_of("[1, 2]", "")), "m.safetensors: not a safetensors file (the header is not a JSON object)");
  EXPECT_EQ(error_of(file_of("{\"a\": \"\xff\"}", "")).rfind("m.safetensors: the header is not valid JSON", 0), 0u);
  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(error_of(file_of(deep, "")), "m.safetensors: header nests deeper than 8 levels");
}

TEST(Safetensors, UnsupportedDtypeIsNamed) {
  EXPECT_EQ(error_of(file_of(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0'))),
            "m.safetensors: tensor a has dtype I64; only F32, F16 and BF16 are read");
}

TEST(Safetensors, ShapeThatDisagreesWithTheBytes) {
  EXPECT_EQ(error_of(file_of(R"({"a":{"dtype":"F16","shape":[3,2],"data_offsets":[0,8]}})", std::string(8, '\0'))),
            "m.safetensors: tensor a has shape [3, 2] (F16), which needs 12 bytes, but data_offsets [0, 8] hold 8");
  // A product that would wrap 64 bits is still too large, not small.
  EXPECT_EQ(error_of(file_of(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "")),
            "m.safetensors: tensor a has shape [4611686018427387904, 4] (F32), which needs more bytes, but "
            "data_offsets [0, 0] hold 0");
  EXPECT_EQ(error_of(file_of(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0'))),
            "m.safetensors: tensor a: a dimension is not a non-negative integer");
  EXPECT_EQ(error_of(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", std::string(4, '\0'))),
            "m.safetensors: tensor a: data_offsets [4, 0] end before begin");
  EXPECT_EQ(error_of(file_of(R"({"a":{"dtype":"F32","shape":[1]}})", "")),
            "m.safetensors: tensor a: its entry lacks dtype, shape or data_offsets");
  EXPECT_EQ(error_of(file_of(R"({"__metadata__":{"k":1}})", "")),
            "m.safetensors: __metadata__ value of k is not a string");
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Safetensors, WriterPadsTheHeaderTo8BytesAndReadsBack) {
  test::TempDir dir;
  const float a[3] = {1.5f, -2.0f, 3.25f};
  const uint16_t h[2] = {0x3c00, 0xc000};
  std::vector<SafetensorsEntry> e = {
      {"first", TensorRef{{3}, DType::kF32, reinterpret_cast<const uint8_t*>(a), 12}},
      {"second", TensorRef{{1, 2}, DType::kF16, reinterpret_cast<const uint8_t*>(h), 4}},
  };
  const auto path = dir / "w.safetensors";
  write_safetensors(path.string(), e, {{"format", "pt"}});
  const std::string b = read_all(path);
  SafetensorsFile f = parse(b);
  EXPECT_EQ((8 + f.header_bytes) % 8, 0u);
  const std::string header = b.substr(8, f.header_bytes);
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}')) << "padding is spaces after the object";
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(std::memcmp(b.data() + f.find("first")->offset, a, 12), 0);
  EXPECT_EQ(std::memcmp(b.data() + f.find("second")->offset, h, 4), 0);

  // Stored as bfloat16: each value rounded, the shape kept.
  write_safetensors(path.string(), e, {}, DType::kBF16);
  const std::string c = read_all(path);
  SafetensorsFile g = parse(c);
  EXPECT_TRUE(g.metadata.empty());
  const SafetensorsTensor* first = g.find("first");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->dtype, DType::kBF16);
  uint16_t v[3];
  std::memcpy(v, c.data() + first->offset, 6);
  EXPECT_EQ(v[0], 0x3fc0);  // 1.5
  EXPECT_EQ(v[1], 0xc000);  // -2
  EXPECT_EQ(v[2], 0x4050);  // 3.25
  EXPECT_EQ(g.find("second")->n_bytes, 4u);
}

TEST(Safetensors, WriterRefusesRepeatedNamesAndShortTensors) {
  test::TempDir dir;
  const float a[2] = {1, 2};
  const auto path = (dir / "w.safetensors").string();
  TensorRef t{{2}, DType::kF32, reinterpret_cast<const uint8_t*>(a), 8};
  try {
    write_safetensors(path, {{"x", t}, {"x", t}});
    FAIL() << "a repeated name must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": tensor name x repeated or reserved");
  }
  TensorRef short_t{{3}, DType::kF32, reinterpret_cast<const uint8_t*>(a), 8};
  try {
    write_safetensors(path, {{"x", short_t}});
    FAIL() << "a tensor shorter than its shape must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": tensor x holds 8 bytes, its shape [3] needs 12");
  }
}

}  // namespace
}  // namespace wst::formats
