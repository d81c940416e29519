// An exclusive lock on a file, for one process at a time in a data directory: `observex
// serve` holds <data-dir>/LOCK while it runs, so a second server on the same directory stops
// before it touches the WAL or the parts. The lock is a flock(2) on the open file: the kernel
// drops it when the holder exits, however it exits, so a crash never leaves a stale lock.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"

namespace observex {

class LockFile {
 public:
  // Opens (creating) `path` and locks it. FailedPrecondition naming the path when another
  // open file holds the lock (another process, or this one through another LockFile).
  static absl::StatusOr<LockFile> Acquire(const std::filesystem::path& path);

  LockFile(LockFile&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  LockFile& operator=(LockFile&& o) noexcept;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();  // releases the lock

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace observex
