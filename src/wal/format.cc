#include "wal/format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "fmt/format.h"
#include "wal/crc32c.h"

namespace observex::wal::format {
namespace {

constexpr char kSegmentSuffix[] = ".wal";
constexpr size_t kSegmentDigits = 20;

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// A sliding read window over [0, limit) of a file, so scanning a segment needs memory for
// one chunk or one entry, never the whole file.
class FileWindow {
 public:
  FileWindow(int fd, const std::filesystem::path& path, uint64_t limit)
      : fd_(fd), path_(path), limit_(limit) {}

  // Bytes [off, off + n); the caller guarantees off + n <= limit. The pointer is valid
  // until the next call.
  absl::StatusOr<const uint8_t*> Get(uint64_t off, size_t n) {
    if (off >= start_ && off + n <= start_ + len_) return buf_.get() + (off - start_);
    const uint64_t want = std::min<uint64_t>(std::max<uint64_t>(n, kReadChunkBytes), limit_ - off);
    // Bytes already held from `off` on are kept, so growing a window to fit a large entry
    // does not read them again.
    size_t keep = 0;
    if (off >= start_ && off < start_ + len_) keep = static_cast<size_t>(start_ + len_ - off);
    if (want > cap_) {
      auto bigger = std::make_unique_for_overwrite<uint8_t[]>(want);
      if (keep > 0) std::memcpy(bigger.get(), buf_.get() + (off - start_), keep);
      buf_ = std::move(bigger);
      cap_ = want;
    } else if (keep > 0) {
      std::memmove(buf_.get(), buf_.get() + (off - start_), keep);
    }
    size_t got = keep;
    while (got < want) {
      ssize_t r = ::pread(fd_, buf_.get() + got, want - got, static_cast<off_t>(off + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        len_ = 0;
        return ErrnoStatus(errno, "read", path_);
      }
      if (r == 0) {
        len_ = 0;
        return absl::DataLossError(
            fmt::format("wal: {} ended at {} bytes while being read "
                        "(expected {}); was it truncated concurrently?",
                        path_.string(), off + got, limit_));
      }
      got += static_cast<size_t>(r);
    }
    start_ = off;
    len_ = static_cast<size_t>(want);
    return buf_.get();
  }

 private:
  int fd_;
  const std::filesystem::path& path_;
  uint64_t limit_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_ = 0;
  uint64_t start_ = 0;
  size_t len_ = 0;
};

enum class Verdict { kGood, kBadMagic, kBadLength, kShort, kBadCrc };

struct Parsed {
  Verdict verdict = Verdict::kBadMagic;
  uint32_t len = 0;
  int64_t timestamp = 0;
  const uint8_t* payload = nullptr;  // valid until the window moves
};

absl::StatusOr<Parsed> ParseAt(FileWindow& w, uint64_t off, uint64_t limit) {
  Parsed p;
  if (off + kEntryHeaderBytes > limit) {
    p.verdict = Verdict::kShort;
    return p;
  }
  auto h = w.Get(off, kEntryHeaderBytes);
  if (!h.ok()) return h.status();
  if (Load<uint32_t>(*h) != kEntryMagic) return p;
  p.len = Load<uint32_t>(*h + 4);
  if (p.len > kMaxEntryPayloadBytes) {
    p.verdict = Verdict::kBadLength;
    return p;
  }
  // Checked before reading, so a corrupt length never makes us read (or allocate) more
  // than the segment holds.
  if (off + kEntryHeaderBytes + p.len > limit) {
    p.verdict = Verdict::kShort;
    return p;
  }
  auto e = w.Get(off, kEntryHeaderBytes + p.len);
  if (!e.ok()) return e.status();
  const uint32_t stored_crc = Load<uint32_t>(*e + 8);
  const uint32_t crc = crc32c::Value(*e + kCrcCoveredOffset, 8 + p.len);
  if (crc != stored_crc) {
    p.verdict = Verdict::kBadCrc;
    return p;
  }
  p.verdict = Verdict::kGood;
  p.timestamp = Load<int64_t>(*e + kCrcCoveredOffset);
  p.payload = *e + kEntryHeaderBytes;
  return p;
}

std::string Describe(const Parsed& p, uint64_t off, uint64_t limit) {
  switch (p.verdict) {
    case Verdict::kGood:
      return "good entry";
    case Verdict::kBadMagic:
      return "bad magic";
    case Verdict::kBadLength:
      return fmt::format("length {} exceeds the maximum {}", p.len, kMaxEntryPayloadBytes);
    case Verdict::kShort:
      return fmt::format("entry cut short ({} bytes left in segment)", limit - off);
    case Verdict::kBadCrc:
      return fmt::format("crc32c mismatch (length {})", p.len);
  }
  return "unknown";
}

// First offset >= from holding a good entry, or nullopt.
absl::StatusOr<std::optional<uint64_t>> FindNextGood(FileWindow& w, uint64_t from, uint64_t limit,
                                                     PositionFn on_position) {
  uint8_t magic[4];
  std::memcpy(magic, &kEntryMagic, 4);
  uint64_t cur = from;
  while (cur + kEntryHeaderBytes <= limit) {
    const size_t avail = static_cast<size_t>(std::min<uint64_t>(kReadChunkBytes, limit - cur));
    auto chunk = w.Get(cur, avail);
    if (!chunk.ok()) return chunk.status();
    const void* hit = ::memmem(*chunk, avail, magic, sizeof(magic));
    if (hit == nullptr) {
      if (cur + avail >= limit) break;
      cur += avail - (sizeof(magic) - 1);  // a magic may straddle the chunk boundary
      on_position(cur);
      continue;
    }
    const uint64_t candidate =
        cur + static_cast<uint64_t>(static_cast<const uint8_t*>(hit) - *chunk);
    auto parsed = ParseAt(w, candidate, limit);
    if (!parsed.ok()) return parsed.status();
    if (parsed->verdict == Verdict::kGood) return std::optional<uint64_t>(candidate);
    cur = candidate + 1;
  }
  return std::optional<uint64_t>();
}

// One past the last non-zero byte in [from, limit), or `from` when all are zero.
absl::StatusOr<uint64_t> EndOfNonZero(FileWindow& w, uint64_t from, uint64_t limit) {
  uint64_t end = limit;
  while (end > from) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kReadChunkBytes, end - from));
    auto chunk = w.Get(end - n, n);
    if (!chunk.ok()) return chunk.status();
    for (size_t i = n; i > 0; --i) {
      if ((*chunk)[i - 1] != 0) return end - n + i;
    }
    end -= n;
  }
  return from;
}

}  // namespace

uint32_t EntryCrc(int64_t timestamp, std::string_view payload) {
  uint32_t crc = crc32c::Value(&timestamp, sizeof(timestamp));
  return crc32c::Extend(crc, payload.data(), payload.size());
}

void EncodeEntryHeader(char* out, uint32_t len, uint32_t crc, int64_t timestamp) {
  std::memcpy(out, &kEntryMagic, 4);
  std::memcpy(out + 4, &len, 4);
  std::memcpy(out + 8, &crc, 4);
  std::memcpy(out + 12, &timestamp, 8);
}

std::string SegmentFileName(Lsn base) { return fmt::format("{:020d}{}", base, kSegmentSuffix); }

std::optional<Lsn> ParseSegmentFileName(std::string_view name) {
  const std::string_view suffix(kSegmentSuffix);
  if (name.size() != kSegmentDigits + suffix.size() || !name.ends_with(suffix)) {
    return std::nullopt;
  }
  Lsn v = 0;
  for (size_t i = 0; i < kSegmentDigits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const Lsn digit = static_cast<Lsn>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;  // 20 digits can overflow u64
    v = v * 10 + digit;
  }
  return v;
}

absl::StatusOr<std::vector<SegmentFile>> ListSegments(const std::filesystem::path& dir) {
  std::vector<SegmentFile> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("wal: cannot list {}: {}", dir.string(), ec.message()));
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    auto base = ParseSegmentFileName(it->path().filename().string());
    if (!base) continue;
    std::error_code size_ec;
    const uint64_t size = it->file_size(size_ec);
    if (size_ec) {
      return absl::UnavailableError(
          fmt::format("wal: cannot stat {}: {}", it->path().string(), size_ec.message()));
    }
    out.push_back(SegmentFile{*base, it->path(), size});
  }
  if (ec) {
    return absl::UnavailableError(
        fmt::format("wal: cannot list {}: {}", dir.string(), ec.message()));
  }
  std::sort(out.begin(), out.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.base < b.base; });
  return out;
}

absl::StatusOr<std::optional<Lsn>> ReadCheckpointFile(const std::filesystem::path& dir) {
  const auto path = dir / kCheckpointFileName;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<Lsn>();
    return ErrnoStatus(errno, "open", path);
  }
  uint8_t buf[kCheckpointFileBytes + 1];
  size_t got = 0;
  while (got < sizeof(buf)) {
    ssize_t r = ::read(fd.get(), buf + got, sizeof(buf) - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", path);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  if (got != kCheckpointFileBytes) {
    return absl::DataLossError(
        fmt::format("wal: {} has {} bytes, expected {}", path.string(), got, kCheckpointFileBytes));
  }
  if (Load<uint32_t>(buf) != kCheckpointMagic || Load<uint32_t>(buf + 4) != kCheckpointVersion) {
    return absl::DataLossError(
        fmt::format("wal: {} has a bad magic or unknown version", path.string()));
  }
  if (crc32c::Value(buf, 16) != Load<uint32_t>(buf + 16)) {
    return absl::DataLossError(fmt::format("wal: {} fails its crc32c", path.string()));
  }
  return std::optional<Lsn>(Load<uint64_t>(buf + 8));
}

absl::Status WriteCheckpointFile(const std::filesystem::path& dir, Lsn lsn, bool sync) {
  char buf[kCheckpointFileBytes];
  std::memcpy(buf, &kCheckpointMagic, 4);
  std::memcpy(buf + 4, &kCheckpointVersion, 4);
  std::memcpy(buf + 8, &lsn, 8);
  const uint32_t crc = crc32c::Value(buf, 16);
  std::memcpy(buf + 16, &crc, 4);

  const auto tmp = dir / kCheckpointTmpFileName;
  const auto final_path = dir / kCheckpointFileName;
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus(errno, "create", tmp);
    if (auto s = PwriteAll(fd.get(), buf, sizeof(buf), 0, tmp); !s.ok()) return s;
    if (sync && ::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync", tmp);
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return ErrnoStatus(errno, "rename to CHECKPOINT", tmp);
  }
  return sync ? FsyncDir(dir) : absl::OkStatus();
}

absl::Status ErrnoStatus(int err, std::string_view what, const std::filesystem::path& path) {
  return absl::UnavailableError(fmt::format("wal: {} {} failed: {}", what, path.string(),
                                            std::system_category().message(err)));
}

absl::Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset,
                       const std::filesystem::path& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, data + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, fmt::format("write of {} bytes at offset {} to", n, offset), path);
    }
    done += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open directory", dir);
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync directory", dir);
  return absl::OkStatus();
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::Status ScanSegment(int fd, const std::filesystem::path& path, Lsn base, uint64_t limit,
                         const ScanOptions& options, EntryFn on_entry, CorruptFn on_corrupt,
                         PositionFn on_position, SegmentScan* out) {
  *out = SegmentScan{};
  FileWindow w(fd, path, limit);
  uint64_t pos = std::min(options.start_offset, limit);
  while (pos < limit) {
    auto parsed = ParseAt(w, pos, limit);
    if (!parsed.ok()) return parsed.status();
    if (parsed->verdict == Verdict::kGood) {
      const Lsn lsn = base + pos;
      ++out->entries;
      out->has_entries = true;
      out->last_entry_lsn = lsn;
      if (lsn >= options.emit_from) {
        auto s =
            on_entry(lsn, parsed->timestamp,
                     std::string_view(reinterpret_cast<const char*>(parsed->payload), parsed->len));
        if (!s.ok()) return s;
      }
      pos += kEntryHeaderBytes + parsed->len;
      on_position(pos);
      continue;
    }
    const std::string reason = Describe(*parsed, pos, limit);
    auto next = FindNextGood(w, pos + 1, limit, on_position);
    if (!next.ok()) return next.status();
    if (!next->has_value() && options.newest) {
      // Nothing good follows: this is where the last write stopped.
      out->tail_bytes = limit - pos;
      auto nz = EndOfNonZero(w, pos, limit);
      if (!nz.ok()) return nz.status();
      out->torn_bytes = *nz - pos;
      break;
    }
    const uint64_t end = next->value_or(limit);
    ++out->corrupt_ranges;
    out->corrupt_bytes += end - pos;
    on_corrupt(base + pos, base + end, reason);
    pos = end;
    on_position(pos);
  }
  out->good_end = pos;
  return absl::OkStatus();
}

}  // namespace observex::wal::format
