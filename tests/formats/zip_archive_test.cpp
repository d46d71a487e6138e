// The zip reader and writer: the writer's archives read back here and in Python's zipfile (ZIP64 too), with
// every entry's data at a multiple of 64; Python's archives (stored, deflated, ZIP64) read here; a central
// directory that lies, a damaged entry or a truncated file gives one line naming the file.
#include "formats/zip_archive.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "support/python_script.h"
#include "util/errors.h"

namespace wst::formats {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ZipArchive open_bytes(const std::string& b) {
  return ZipArchive(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "x.zip");
}

std::string error_of(const std::string& b) {
  try {
    ZipArchive z = open_bytes(b);
    for (const auto& e : z.entries()) z.read(e);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string text_of(const ZipArchive& z, const std::string& name) {
  const ZipEntry* e = z.find(name);
  if (!e) return "<missing>";
  ZipData d = z.read(*e);
  return std::string(reinterpret_cast<const char*>(d.data), d.size);
}

// Two entries, the second in two parts, written by ZipWriter.
std::string small_zip(const test::TempDir& dir, bool zip64 = false) {
  auto path = dir / (zip64 ? "small64.zip" : "small.zip");
  ZipWriter w(path.string(), zip64);
  w.add("a/first.txt", {{"hello", 5}});
  w.add("a/second.bin", {{"abc", 3}, {"defg", 4}});
  w.finish();
  return slurp(path);
}

void put_u32(std::string& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); }

// Offset of the n-th (0-based) occurrence of a 4-byte signature.
size_t nth_sig(const std::string& b, uint32_t sig, int n) {
  char s[4];
  std::memcpy(s, &sig, 4);
  size_t pos = 0;
  for (int i = 0; i <= n; ++i) {
    pos = b.find(std::string(s, 4), i ? pos + 1 : 0);
    if (pos == std::string::npos) return pos;
  }
  return pos;
}

TEST(ZipArchive, WriterOutputReadsBackWithDataAlignedTo64) {
  test::TempDir dir;
  for (bool zip64 : {false, true}) {
    SCOPED_TRACE(zip64 ? "ZIP64" : "classic");
    const std::string b = small_zip(dir, zip64);
    ZipArchive z = open_bytes(b);
    ASSERT_EQ(z.entries().size(), 2u);
    EXPECT_EQ(text_of(z, "a/first.txt"), "hello");
    EXPECT_EQ(text_of(z, "a/second.bin"), "abcdefg");
    for (const auto& e : z.entries()) EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
    EXPECT_EQ(z.find("nope"), nullptr);
  }
}

TEST(ZipArchive, PythonZipfileReadsTheWritersOutput) {
  test::TempDir dir;
  small_zip(dir, false);
  small_zip(dir, true);
  const std::string code =
      "import sys, zipfile\n"
      "for p in sys.argv[1:]:\n"
      "    z = zipfile.ZipFile(p)\n"
      "    assert z.testzip() is None\n"
      "    print(','.join(f'{i.filename}={z.read(i).decode()}' for i in z.infolist()))\n";
  EXPECT_EQ(test::run_python(test::python(), code, dir, (dir / "small.zip").string() + " " + (dir / "small64.zip").string()),
            "a/first.txt=hello,a/second.bin=abcdefg\na/first.txt=hello,a/second.bin=abcdefg");
}

TEST(ZipArchive, ReadsPythonsStoredDeflatedAndZip64Archives) {
  test::TempDir dir;
  const std::string code =
      "import sys, zipfile\n"
      "d = sys.argv[1]\n"
      "with zipfile.ZipFile(d + '/stored.zip', 'w') as z: z.writestr('s', b'x' * 1000)\n"
      "with zipfile.ZipFile(d + '/deflated.zip', 'w', zipfile.ZIP_DEFLATED) as z: z.writestr('d', b'y' * 100000)\n"
      "with zipfile.ZipFile(d + '/z64.zip', 'w') as z:\n"
      "    with z.open('big', 'w', force_zip64=True) as f: f.write(b'z' * 3000)\n"
      "print('ok')\n";
  ASSERT_EQ(test::run_python(test::python(), code, dir, dir.path().string()), "ok");
  EXPECT_EQ(text_of(open_bytes(slurp(dir / "stored.zip")), "s"), std::string(1000, 'x'));
  const std::string deflated = slurp(dir / "deflated.zip");
  ZipArchive d = open_bytes(deflated);
  EXPECT_EQ(d.entries().at(0).method, 8);
  EXPECT_LT(deflated.size(), 2000u);
  EXPECT_EQ(text_of(d, "d"), std::string(100000, 'y'));
  EXPECT_EQ(text_of(open_bytes(slurp(dir / "z64.zip")), "big"), std::string(3000, 'z'));
}

TEST(ZipArchive, CentralDirectoryThatLiesAboutASizeIsRefused) {
  test::TempDir dir;
  std::string b = small_zip(dir);
  const size_t c = nth_sig(b, 0x02014b50, 0);
  put_u32(b, c + 20, 6), put_u32(b, c + 24, 6);  // "hello" claimed to be 6 bytes
  EXPECT_EQ(error_of(b), "x.zip: zip entry a/first.txt: local and central headers disagree on its size or CRC");
  // Past the data, into the next entry (the local header with flag bit 3 has no sizes to compare).
  std::string big = small_zip(dir);
  const size_t l = nth_sig(big, 0x04034b50, 0), c2 = nth_sig(big, 0x02014b50, 0);
  big[l + 6] |= 8;
  put_u32(big, c2 + 20, 20), put_u32(big, c2 + 24, 20);
  EXPECT_EQ(error_of(big), "x.zip: zip entries a/first.txt and a/second.bin overlap");
}

TEST(ZipArchive, CentralDirectoryThatLiesAboutAnOffsetIsRefused) {
  test::TempDir dir;
  std::string b = small_zip(dir);
  const size_t c0 = nth_sig(b, 0x02014b50, 0), c1 = nth_sig(b, 0x02014b50, 1);
  std::string to_first = b;  // the second entry pointing at the first one's local header
  std::memcpy(&to_first[c1 + 42], &b[c0 + 42], 4);
  EXPECT_EQ(error_of(to_first), "x.zip: zip entry a/second.bin: its local header names another entry");
  std::string nowhere = b;
  put_u32(nowhere, c1 + 42, 7);
  EXPECT_EQ(error_of(nowhere), "x.zip: zip entry a/second.bin: no local header at byte 7");
  std::string past = b;
  put_u32(past, c1 + 42, static_cast<uint32_t>(b.size() - 10));
  EXPECT_NE(error_of(past).find("is outside the archive's data"), std::string::npos) << error_of(past);
  std::string cd = b;  // the end record pointing the directory past the end
  put_u32(cd, b.size() - 6, static_cast<uint32_t>(b.size()));
  EXPECT_NE(error_of(cd).find("x.zip: corrupt zip (central directory at"), std::string::npos) << error_of(cd);
}

TEST(ZipArchive, DamagedDataFailsItsCrc) {
  test::TempDir dir;
  std::string b = small_zip(dir);
  b[b.find("hello")] = 'j';
  EXPECT_EQ(error_of(b), "x.zip: zip entry a/first.txt: CRC-32 mismatch (corrupt data)");
}

TEST(ZipArchive, RepeatedNamesAreRefused) {
  test::TempDir dir;
  auto path = dir / "dup.zip";
  ZipWriter w(path.string());
  w.add("same", {{"1", 1}});
  w.add("same", {{"2", 1}});
  w.finish();
  EXPECT_EQ(error_of(slurp(path)), "x.zip: zip entry same: appears twice in the central directory");
}

TEST(ZipArchive, EveryTruncationIsAnErrorNamingTheFile) {
  test::TempDir dir;
  for (bool zip64 : {false, true}) {
    const std::string b = small_zip(dir, zip64);
    for (size_t n = 0; n < b.size(); ++n) {
      const std::string e = error_of(b.substr(0, n));
      EXPECT_EQ(e.rfind("x.zip: ", 0), 0u) << "cut at " << n << ": " << e;
    }
  }
  EXPECT_EQ(error_of("PK"), "x.zip: not a zip archive (2 bytes)");
  EXPECT_EQ(error_of(std::string(100, 'a')), "x.zip: not a zip archive (no end of central directory record)");
}

TEST(ZipArchive, DeflatedEntriesThatLieAreRefused) {
  test::TempDir dir;
  const std::string code =
      "import sys, zipfile\n"
      "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z: z.writestr('d', b'y' * 100000)\n"
      "print('ok')\n";
  ASSERT_EQ(test::run_python(test::python(), code, dir, (dir / "d.zip").string()), "ok");
  const std::string b = slurp(dir / "d.zip");
  const size_t c = nth_sig(b, 0x02014b50, 0), l = nth_sig(b, 0x04034b50, 0);
  std::string huge = b;  // claims 4 GB from ~100 bytes
  put_u32(huge, c + 24, 0xfffffff0u), put_u32(huge, l + 22, 0xfffffff0u);
  EXPECT_NE(error_of(huge).find("more than deflate can hold"), std::string::npos) << error_of(huge);
  std::string shorter = b;  // claims fewer bytes than the stream holds
  put_u32(shorter, c + 24, 99999), put_u32(shorter, l + 22, 99999);
  EXPECT_EQ(error_of(shorter), "x.zip: zip entry d: corrupt deflate data (it inflates to more than the 99999 bytes the directory says)");
}

}  // namespace
}  // namespace wst::formats
