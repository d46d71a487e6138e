// An exclusive advisory lock on a lock file (flock), held for the object's lifetime. Two processes that
// lock the same path never run the guarded section at once. huggingface_hub locks with flock as well
// (through the filelock package), so a lock on the same path also excludes it.
#pragma once
#include <filesystem>

namespace wst {

class FileLock {
 public:
  // Creates parent directories and the lock file, then blocks until the lock is ours.
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace wst
