// Header checks without loading weights (safetensors tensor table, zip end record, ggml magic, CTranslate2
// version and spec), size/checksum outcomes, and format detection for `models import`.
#include "models/verify.h"

#include <gtest/gtest.h>

#include "support/ct2_writer.h"

#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::models {
namespace {

namespace fs = std::filesystem;

std::string u64le(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

std::string safetensors(const std::string& header, size_t n_data) {
  return u64le(header.size()) + header + std::string(n_data, '\x01');
}

// A ggml file's first 48 bytes: the magic, ten hyperparameters, the file type.
std::string ggml_header(int32_t file_type) {
  std::string s = "lmgg" + std::string(40, '\x01');
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(static_cast<uint32_t>(file_type) >> (8 * i)));
  return s;
}

TEST(Verify, SafetensorsHeaderAndTensorTable) {
  test::TempDir t;
  const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  EXPECT_EQ(check_header(t.write("ok.safetensors", safetensors(h, 16)), Format::kHf).status, Status::kComplete);
  FileCheck cut = check_header(t.write("cut.safetensors", safetensors(h, 12)), Format::kHf);
  EXPECT_EQ(cut.status, Status::kIncomplete);
  EXPECT_EQ(cut.detail, "cut.safetensors: tensor data ends at 16 but only 12 bytes follow the header (truncated)");
  FileCheck big = check_header(t.write("big.safetensors", u64le(1u << 30) + "{}"), Format::kHf);
  EXPECT_EQ(big.status, Status::kCorrupt);
  EXPECT_EQ(big.detail, "big.safetensors: safetensors header length 1073741824 exceeds the file");
  FileCheck junk = check_header(t.write("junk.safetensors", safetensors("{not json", 0)), Format::kHf);
  EXPECT_EQ(junk.detail, "junk.safetensors: safetensors header is not valid JSON");
}

TEST(Verify, ZipGgmlAndCt2Headers) {
  test::TempDir t;
  std::string zip = std::string("PK\x03\x04", 4) + std::string(100, 'z') + std::string("PK\x05\x06", 4) + std::string(18, '\0');
  EXPECT_EQ(check_header(t.write("m.pt", zip), Format::kOpenai).status, Status::kComplete);
  EXPECT_EQ(check_header(t.write("cut.pt", zip.substr(0, 60)), Format::kOpenai).detail,
            "cut.pt: zip end record missing (truncated)");
  EXPECT_EQ(check_header(t.write("html.pt", "<html>404</html>"), Format::kOpenai).detail,
            "html.pt: not a zip archive (bad magic)");
  EXPECT_EQ(check_header(t.write("ggml-x.bin", ggml_header(1)), Format::kGgml).status, Status::kComplete);
  EXPECT_EQ(check_header(t.write("ggml-short.bin", "lmgg" + std::string(10, 'x')), Format::kGgml).detail,
            "ggml-short.bin: truncated in the header");
  // The file type tells the float16 file from the q8_0 one (quantisation version 2 * 1000 + 7).
  EXPECT_EQ(check_header(t.write("ggml-q.bin", ggml_header(2007)), Format::kGgmlQ8_0).status, Status::kComplete);
  EXPECT_EQ(check_header(t.write("ggml-f.bin", ggml_header(1)), Format::kGgmlQ8_0).detail,
            "ggml-f.bin: ggml file type 1, not q8_0 (7)");
  EXPECT_EQ(check_header(t.write("ggml-z.bin", ggml_header(2007)), Format::kGgml).detail,
            "ggml-z.bin: a q8_0 ggml file where the float16 one belongs");
  EXPECT_EQ(check_header(t.write("ggml-y.bin", "GGUF" + std::string(10, 'x')), Format::kGgml).detail,
            "ggml-y.bin: no ggml magic");
  EXPECT_EQ(check_header(t.write("a/model.bin", std::string("\x07\x00\x00\x00\x0c\x00WhisperSpec\x00", 18)), Format::kCt2).detail,
            "model.bin: not a CTranslate2 model.bin (binary version 7, expected 1 to 6)");
  // A header cut after the spec name: the variable table is missing, so the file is incomplete.
  EXPECT_EQ(check_header(t.write("b/model.bin", std::string("\x06\x00\x00\x00\x0c\x00WhisperSpec\x00", 18)), Format::kCt2).status,
            Status::kIncomplete);
  test::Ct2Writer w;
  w.u32(6).str("WhisperSpec").u32(3).u32(1).var("x", {2}, 0, 4, true).u32(0);
  EXPECT_EQ(check_header(t.write("e/model.bin", w.bytes()), Format::kCt2).status, Status::kComplete);
  EXPECT_EQ(check_header(t.write("c/model.bin", ""), Format::kCt2).detail, "model.bin: empty file");
  EXPECT_EQ(check_header(t.write("d/config.json", "{oops"), Format::kCt2).detail, "config.json: not valid JSON");
}

TEST(Verify, RealTinyEnModelBinPassesHeaderCheck) {
  WST_REQUIRE_TINY_EN();
  EXPECT_EQ(check_header(test::tiny_en_dir() / "model.bin", Format::kCt2).status, Status::kComplete);
  EXPECT_EQ(detect_format(test::tiny_en_dir()), Format::kCt2);
}

TEST(Verify, SizeAndChecksum) {
  test::TempDir t;
  FileSpec spec;
  spec.names = {"f.bin"};
  spec.sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";  // SHA-1 of "abc", a published test vector
  spec.size_bytes = 3;
  EXPECT_EQ(check_file(t.write("f.bin", "abc"), spec, Format::kGgml, Verify::kChecksum).status, Status::kComplete);
  FileCheck wrong = check_file(t.write("g.bin", "abd"), spec, Format::kGgml, Verify::kChecksum);
  EXPECT_EQ(wrong.status, Status::kCorrupt);
  EXPECT_EQ(wrong.detail, "g.bin: SHA-1 cb4cc28df0fdbe0ecf9d9662e294b118092a5735 does not match expected "
                          "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(check_file(t.write("h.bin", "abcd"), spec, Format::kGgml, Verify::kSize).detail, "h.bin: 4 bytes, expected 3");
  EXPECT_EQ(check_file(t.write("i.bin", "ab"), spec, Format::kGgml, Verify::kSize).status, Status::kIncomplete);
}

TEST(Verify, DetectFormatAndLevels) {
  test::TempDir t;
  t.write("ct2/model.bin", "x");
  t.write("ct2/config.json", "{}");
  t.write("hf/model.safetensors", "x");
  t.write("mlx/weights.npz", "x");
  t.write("other/readme", "x");
  EXPECT_EQ(detect_format(t / "ct2"), Format::kCt2);
  EXPECT_EQ(detect_format(t / "hf"), Format::kHf);
  EXPECT_EQ(detect_format(t / "mlx"), Format::kMlx);
  EXPECT_EQ(detect_format(t / "other"), std::nullopt);
  EXPECT_EQ(detect_format(t.write("a.pt", std::string("PK\x03\x04", 4))), Format::kOpenai);
  EXPECT_EQ(detect_format(t.write("w.bin", "lmgg....")), Format::kGgml);
  EXPECT_EQ(detect_format(t.write("q.bin", ggml_header(2007))), Format::kGgmlQ8_0);
  EXPECT_EQ(parse_verify("header"), Verify::kHeader);
  try {
    parse_verify("deep");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown verification level 'deep' (known: size, checksum, header, load)");
  }
}

}  // namespace
}  // namespace wst::models
