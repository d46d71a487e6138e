// The Hugging Face hub cache layout: folder names, refs, snapshot links, and hostile names from refs
// files or HTTP headers that must never become paths.
#include "models/hf_cache.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::models {
namespace {

namespace fs = std::filesystem;

TEST(HfCache, RepoFolderAndHostileNames) {
  EXPECT_EQ(hf::repo_folder("openai/whisper-tiny"), "models--openai--whisper-tiny");
  for (const char* bad : {"../x", "x", "a/b/c", "/a/b", "a/..", ""}) EXPECT_THROW(hf::repo_folder(bad), Error) << bad;
  test::TempDir t;
  fs::path rd = t / "models--a--b";
  EXPECT_THROW(hf::blob_path(rd, "../../../etc/passwd"), Error);
  EXPECT_THROW(hf::blob_path(rd, std::string(63, 'a') + "/"), Error);
  EXPECT_THROW(hf::lock_path(t.path(), "a/b", "../x"), Error);
  EXPECT_THROW(hf::write_ref(rd, "main", "../../x"), Error);
  EXPECT_THROW(hf::write_ref(rd, "../main", std::string(40, 'a')), Error);
  EXPECT_THROW(hf::link_snapshot(rd, std::string(40, 'a'), "../../../escape", std::string(64, 'e')), Error);
  EXPECT_THROW(hf::link_snapshot(rd, "../..", "x", std::string(64, 'e')), Error);
  EXPECT_FALSE(fs::exists(t / "escape"));
}

TEST(HfCache, LayoutAsHuggingfaceHubWritesIt) {
  test::TempDir t;
  fs::path rd = hf::repo_dir(t.path(), "org/name");
  std::string commit(40, 'd'), etag(64, 'e');
  hf::link_snapshot(rd, commit, "sub/dir/file.json", etag);
  hf::write_ref(rd, "main", commit);
  EXPECT_EQ(fs::read_symlink(rd / "snapshots" / commit / "sub/dir/file.json"), fs::path("../../../../blobs") / etag);
  std::ifstream in(rd / "refs" / "main");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(s, commit);  // no trailing newline
  EXPECT_EQ(*hf::read_ref(rd, "main"), commit);
  EXPECT_FALSE(hf::read_ref(rd, "other").has_value());
}

}  // namespace
}  // namespace wst::models
