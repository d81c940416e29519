// On-disk pieces of the WAL shared by the live log (wal.cc) and the offline readers:
// entry encoding, segment and checkpoint files, and the segment scanner that implements the
// recovery rules of docs/wal-format.md. Internal to src/wal; not part of the module's API.
// Everything here is stateless or owned by one caller at a time (not thread-safe per object).
#pragma once

#include <bit>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/wal.h"

namespace observex::wal::format {

static_assert(std::endian::native == std::endian::little,
              "the WAL encodes integers by copying little-endian host words");

// Bytes 0x1E 0xC7 0xD5 0xA3 on disk: non-zero (so zero-filled space never matches), no two
// equal, not printable ASCII (so text payloads rarely contain it).
inline constexpr uint32_t kEntryMagic = 0xA3D5C71Eu;
inline constexpr size_t kEntryHeaderBytes = 20;  // magic u32 | len u32 | crc u32 | ts i64
inline constexpr size_t kCrcCoveredOffset = 12;  // the CRC covers timestamp + payload

// "OXCP" on disk.
inline constexpr uint32_t kCheckpointMagic = 0x5043584Fu;
inline constexpr uint32_t kCheckpointVersion = 1;
inline constexpr size_t kCheckpointFileBytes = 20;  // magic | version | lsn u64 | crc u32
inline constexpr char kCheckpointFileName[] = "CHECKPOINT";
inline constexpr char kCheckpointTmpFileName[] = "CHECKPOINT.tmp";
inline constexpr char kLockFileName[] = "LOCK";

// Scanner read granularity and the progress-report step.
inline constexpr size_t kReadChunkBytes = 4u << 20;
inline constexpr uint64_t kProgressStepBytes = 64ull << 20;

// CRC of one entry: over the 8 timestamp bytes then the payload.
uint32_t EntryCrc(int64_t timestamp, std::string_view payload);
// Writes the 20-byte header for a payload of `len` bytes whose EntryCrc is `crc`.
void EncodeEntryHeader(char* out, uint32_t len, uint32_t crc, int64_t timestamp);

// "00000000000000004096.wal" <-> 4096. Parse returns nullopt for any other name.
std::string SegmentFileName(Lsn base);
std::optional<Lsn> ParseSegmentFileName(std::string_view name);

struct SegmentFile {
  Lsn base = 0;
  std::filesystem::path path;
  uint64_t size = 0;  // file size at listing time
};
// Segment files of `dir` in LSN order (other files ignored).
absl::StatusOr<std::vector<SegmentFile>> ListSegments(const std::filesystem::path& dir);

// The checkpoint file: nullopt when absent; DataLoss when present but unreadable.
absl::StatusOr<std::optional<Lsn>> ReadCheckpointFile(const std::filesystem::path& dir);
// Atomic replace: write tmp, fsync, rename over, fsync the directory (fsyncs skipped when
// `sync` is false).
absl::Status WriteCheckpointFile(const std::filesystem::path& dir, Lsn lsn, bool sync);

// POSIX helpers whose errors name the file and the operation.
absl::Status ErrnoStatus(int err, std::string_view what, const std::filesystem::path& path);
absl::Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset,
                       const std::filesystem::path& path);
absl::Status FsyncDir(const std::filesystem::path& dir);

// Owns a file descriptor; closes it on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

// --- Scanning one segment ------------------------------------------------------------------

struct ScanOptions {
  // The newest segment: bad bytes that no good entry follows are a torn tail, not
  // corruption. In a sealed segment every bad range is corruption and is skipped.
  bool newest = false;
  // Entries with a smaller LSN are verified but not passed to the entry callback.
  Lsn emit_from = 0;
  // Offset in the segment where scanning starts: 0, or the offset of a known entry (a
  // consumer resuming where it stopped), so the bytes before it are not read again.
  uint64_t start_offset = 0;
};

struct SegmentScan {
  uint64_t entries = 0;   // good entries, including those below emit_from
  uint64_t good_end = 0;  // offset in the file where the next entry would go
  bool has_entries = false;
  Lsn last_entry_lsn = 0;   // valid when has_entries
  uint64_t tail_bytes = 0;  // newest only: bytes in [good_end, limit)
  uint64_t torn_bytes = 0;  // newest only: of those, up to the last non-zero byte
  uint64_t corrupt_ranges = 0;
  uint64_t corrupt_bytes = 0;
};

using EntryFn = absl::FunctionRef<absl::Status(Lsn, int64_t, std::string_view)>;
// [begin, end) in LSNs, and why the first entry there was rejected.
using CorruptFn = absl::FunctionRef<void(Lsn, Lsn, std::string_view)>;
// Offset reached inside the segment; called often, so it must be cheap.
using PositionFn = absl::FunctionRef<void(uint64_t)>;

// Scans bytes [0, limit) of the segment open as `fd` whose first byte has LSN `base`.
// Returns the entry callback's error if it fails (scan stops there), or an I/O error.
absl::Status ScanSegment(int fd, const std::filesystem::path& path, Lsn base, uint64_t limit,
                         const ScanOptions& options, EntryFn on_entry, CorruptFn on_corrupt,
                         PositionFn on_position, SegmentScan* out);

}  // namespace observex::wal::format
