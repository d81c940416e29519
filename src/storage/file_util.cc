#include "storage/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"

namespace observex::storage::fileutil {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status ErrnoStatus(int err, std::string_view what, const std::filesystem::path& path) {
  const std::string msg = absl::StrCat("storage: ", std::string(what), " ", path.string(),
                                       " failed: ", std::system_category().message(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case ENOENT:
      return absl::NotFoundError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

absl::StatusOr<Fd> OpenForRead(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  return Fd(fd);
}

absl::StatusOr<Fd> CreateExclusive(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create", path);
  return Fd(fd);
}

absl::Status WriteAll(int fd, std::string_view data, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t r = ::write(fd, data.data() + done, data.size() - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path);
    }
    done += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::Status PreadExact(int fd, char* out, size_t n, uint64_t offset,
                        const std::filesystem::path& path) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, out + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", path);
    }
    if (r == 0) {
      return absl::DataLossError(absl::StrCat("storage: ", path.string(), " ends at byte ",
                                              offset + got, ", expected ", n - got, " more bytes"));
    }
    got += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path, uint64_t max_bytes) {
  auto fd = OpenForRead(path);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return absl::DataLossError(absl::StrCat("storage: ", path.string(), " has ", size,
                                            " bytes, more than the ", max_bytes, " allowed"));
  }
  std::string out(size, '\0');
  if (auto s = PreadExact(fd->get(), out.data(), size, 0, path); !s.ok()) return s;
  return out;
}

absl::Status Fsync(int fd, const std::filesystem::path& path) {
  if (::fsync(fd) != 0) return ErrnoStatus(errno, "fsync", path);
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open directory", dir);
  Fd owned(fd);
  return Fsync(fd, dir);
}

absl::Status CreateDirs(const std::filesystem::path& dir, bool sync) {
  std::vector<std::filesystem::path> missing;
  for (std::filesystem::path p = dir; !p.empty(); p = p.parent_path()) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) break;
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir", *it);
    }
    if (sync) {
      const auto parent = it->parent_path();
      if (auto s = FsyncDir(parent.empty() ? std::filesystem::path(".") : parent); !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace observex::storage::fileutil
