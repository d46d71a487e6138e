#include "util/mapped_file.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst {

TEST(MappedFile, MapsWholeFile) {
  test::TempDir dir;
  auto p = dir.write("a.bin", std::string("hello\0world", 11));
  MappedFile f(p.string());
  ASSERT_EQ(f.size(), 11u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.data()), f.size()), std::string("hello\0world", 11));
}

TEST(MappedFile, EmptyFileHasNoData) {
  test::TempDir dir;
  auto p = dir.write("empty.bin", "");
  MappedFile f(p.string());
  EXPECT_EQ(f.size(), 0u);
  EXPECT_EQ(f.data(), nullptr);
}

TEST(MappedFile, MissingFileNamesThePath) {
  try {
    MappedFile f("/nonexistent/dir/model.bin");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.bin: cannot open"), std::string::npos) << e.what();
  }
}

TEST(MappedFile, DirectoryIsRefused) {
  test::TempDir dir;
  EXPECT_THROW(MappedFile(dir.path().string()), Error);
}

}  // namespace wst
