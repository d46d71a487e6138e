// The CTranslate2 model.bin parser on files written here byte by byte: good ones parse to the right table,
// bad ones give one clear error and never read past the end.
#include "formats/ct2_model.h"

#include <gtest/gtest.h>

#include <cstring>

#include "support/ct2_writer.h"
#include "util/errors.h"

namespace wst::formats {
namespace {

using test::Ct2Writer;

std::string valid_model() {
  Ct2Writer w;
  w.u32(6).str("WhisperSpec").u32(3).u32(3);
  w.var("encoder/num_heads", {}, 2, 2);
  w.var("decoder/embeddings/weight", {4, 2}, 4, 2);
  w.var("encoder/conv1/bias", {3}, 0, 4);
  w.u32(1).str("decoder/projection/weight").str("decoder/embeddings/weight");
  return w.bytes();
}

Ct2Model parse(const std::string& b) {
  return parse_ct2_model(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "model.bin");
}

std::string error_of(const std::string& b) {
  try {
    parse(b);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Ct2Model, ParsesVariablesAndAliases) {
  std::string b = valid_model();
  Ct2Model m = parse(b);
  EXPECT_EQ(m.binary_version, 6u);
  EXPECT_EQ(m.spec_name, "WhisperSpec");
  EXPECT_EQ(m.spec_revision, 3u);
  ASSERT_EQ(m.variables.size(), 3u);
  const Ct2Variable* emb = m.find("decoder/embeddings/weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->shape, (std::vector<uint32_t>{4, 2}));
  EXPECT_EQ(emb->dtype, Ct2DType::kFloat16);
  EXPECT_EQ(emb->n_bytes, 16u);
  // The data really is at the offset: the writer filled it with 0, 1, 2, ...
  EXPECT_EQ(static_cast<uint8_t>(b[emb->offset + 5]), 5);
  EXPECT_EQ(m.find("decoder/projection/weight"), emb);
  EXPECT_EQ(m.find("nope"), nullptr);
}

TEST(Ct2Model, EveryTruncationIsAnErrorNamingTheFile) {
  std::string b = valid_model();
  for (size_t n = 0; n < b.size(); ++n) {
    std::string e = error_of(b.substr(0, n));
    ASSERT_FALSE(e.empty()) << "a file cut at " << n << " bytes parsed";
    EXPECT_EQ(e.rfind("model.bin: ", 0), 0u) << e;
  }
}

TEST(Ct2Model, TruncatedDataSaysWhichVariable) {
  std::string b = valid_model();
  std::string e = error_of(b.substr(0, 60));
  EXPECT_NE(e.find("truncated at byte"), std::string::npos) << e;
}

TEST(Ct2Model, RejectsUnknownVersion) {
  Ct2Writer w;
  w.u32(7).str("WhisperSpec").u32(3).u32(0).u32(0);
  EXPECT_NE(error_of(w.bytes()).find("binary version 7"), std::string::npos);
  EXPECT_NE(error_of("PK\x03\x04 not a model").find("not a CTranslate2 model.bin"), std::string::npos);
}

TEST(Ct2Model, RejectsSizeThatDisagreesWithShape) {
  Ct2Writer w;
  w.u32(6).str("WhisperSpec").u32(3).u32(1);
  w.str("x").u8(1).u32(4).u8(0).u32(15);  // 4 float32 need 16 bytes
  for (int i = 0; i < 15; ++i) w.u8(0);
  w.u32(0);
  EXPECT_NE(error_of(w.bytes()).find("holds 15 bytes, its shape needs 16"), std::string::npos) << error_of(w.bytes());
}

TEST(Ct2Model, RejectsHugeShapesWithoutOverflow) {
  Ct2Writer w;
  w.u32(6).str("WhisperSpec").u32(3).u32(1);
  // 2^32-1 ^ 3 * 4 wraps a 64-bit size; the parser must see it does not match 8 bytes.
  w.str("x").u8(3).u32(0xffffffffu).u32(0xffffffffu).u32(0xffffffffu).u8(0).u32(8);
  for (int i = 0; i < 8; ++i) w.u8(0);
  w.u32(0);
  EXPECT_FALSE(error_of(w.bytes()).empty());
}

TEST(Ct2Model, RejectsBadDtypeAndCounts) {
  Ct2Writer w;
  w.u32(6).str("WhisperSpec").u32(3).u32(1).str("x").u8(0).u8(9).u32(1).u8(0).u32(0);
  EXPECT_NE(error_of(w.bytes()).find("unknown dtype id 9"), std::string::npos);
  Ct2Writer c;
  c.u32(6).str("WhisperSpec").u32(3).u32(0xffffffffu);
  EXPECT_NE(error_of(c.bytes()).find("corrupt variable count"), std::string::npos);
}

}  // namespace
}  // namespace wst::formats
