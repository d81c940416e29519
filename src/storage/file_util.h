// POSIX file helpers for the part writer and reader: an owning descriptor, whole writes and
// positional reads that retry on EINTR, directory fsync, and errors that name the file and
// the operation. Internal to src/storage. Stateless functions; an Fd is owned by one object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace observex::storage::fileutil {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// Unavailable (ResourceExhausted for ENOSPC/EDQUOT, NotFound for ENOENT) naming `what` and
// `path`.
absl::Status ErrnoStatus(int err, std::string_view what, const std::filesystem::path& path);

absl::StatusOr<Fd> OpenForRead(const std::filesystem::path& path);
// Creates a new file; fails if it exists.
absl::StatusOr<Fd> CreateExclusive(const std::filesystem::path& path);
absl::Status WriteAll(int fd, std::string_view data, const std::filesystem::path& path);
// Reads exactly n bytes at offset; DataLoss when the file ends first.
absl::Status PreadExact(int fd, char* out, size_t n, uint64_t offset,
                        const std::filesystem::path& path);
absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path, uint64_t max_bytes);
absl::Status Fsync(int fd, const std::filesystem::path& path);
absl::Status FsyncDir(const std::filesystem::path& dir);
// Creates `dir` and any missing parents; each directory created is made durable by an
// fsync of its parent (when `sync`).
absl::Status CreateDirs(const std::filesystem::path& dir, bool sync);

}  // namespace observex::storage::fileutil
