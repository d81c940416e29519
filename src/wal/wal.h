// Write-ahead log: the durability point of the write path. A payload handed to Append is
// acknowledged (its callback runs with OK) only after an fdatasync that covers it. Appends
// from many threads share one fsync (leader/follower group commit: one commit thread takes
// everything queued, writes it with one pwrite and one fdatasync, then runs the callbacks in
// LSN order; the next commit starts as soon as that returns and an entry waits). On open,
// the directory is recovered: bad bytes at the end of the newest segment (a torn write) are
// truncated at the last good entry, and any other bad range is skipped by scanning to the
// next magic whose entry checks out; every skipped byte range is logged and counted. Two
// budgets bound memory and disk; an append that would exceed one is refused at once.
// After a write or fsync error the log refuses every append (Unavailable) until reopened:
// after a failed fsync the page cache can no longer be trusted to reach the disk.
//
// Segments: files `<base-lsn:020d>.wal` in `dir`; an LSN is the global byte offset of an
// entry's first byte, so LSNs stay meaningful across skipped corruption. Entry layout
// (little-endian): magic u32 | len u32 | crc32c u32 | timestamp i64 | payload[len], the CRC
// covering timestamp and payload. `dir` also holds CHECKPOINT and LOCK (one open Wal per
// directory). docs/wal-format.md is the normative description.
//
// Thread-safety: every method may be called from any thread. Callbacks run on the WAL's
// commit thread, in LSN order, and must not block.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace observex::wal {

using Lsn = uint64_t;

// Largest payload one entry may carry. Recovery rejects any header claiming more, so a
// corrupt length can never make it read or allocate more than this.
inline constexpr uint64_t kMaxEntryPayloadBytes = 256ull << 20;
// Bytes each entry adds in front of its payload; budgets count header + payload.
inline constexpr uint64_t kEntryHeaderBytes = 20;

// Receives timings and counts; the app wires it to /metrics. Called on WAL threads.
class WalObserver {
 public:
  virtual ~WalObserver() = default;
  virtual void OnWrite(double seconds, uint64_t bytes) {}
  virtual void OnFsync(double seconds, uint64_t entries) {}
  virtual void OnCorruptBytes(uint64_t bytes) {}
};

struct WalOptions {
  std::filesystem::path dir;
  uint64_t segment_bytes = 64ull << 20;  // a segment is sealed past this size
  // The longest an acknowledged entry is meant to wait. The commit thread never delays a
  // commit to gather entries (light load costs ~one fsync), so the bound holds while one
  // write + fdatasync fits in it; a commit that takes longer is logged as a warning.
  absl::Duration group_commit_window = absl::Milliseconds(5);
  // Bytes appended but not yet covered by Checkpoint(); beyond this Append refuses with
  // ResourceExhausted (the receiver turns it into 429) instead of filling the disk.
  // Counted as next_lsn minus the checkpoint (or the oldest segment's base, if higher).
  uint64_t max_uncheckpointed_bytes = 4ull << 30;
  // Bytes accepted by Append but not yet written and fsynced (the commit queue plus the
  // commit in flight); beyond this Append refuses with ResourceExhausted. Bounds the WAL's
  // memory.
  uint64_t max_pending_bytes = 256ull << 20;
  bool fsync = true;  // false only for tests and benchmarks
  // Reserve `segment_bytes` on disk (fallocate) when a segment is created, so appends do not
  // grow the file; the zero-filled rest is cut off when the segment is sealed or closed.
  bool preallocate = true;
  WalObserver* observer = nullptr;  // not owned; may be null
};

// Start-up recovery report; also logged with progress while it runs.
struct RecoveryReport {
  uint64_t segments = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t corrupt_ranges = 0;
  uint64_t corrupt_bytes = 0;
  // Bytes cut from the newest segment after its last good entry, up to the last non-zero
  // byte: zero fill (preallocated space) is truncated too but not counted here.
  uint64_t truncated_tail_bytes = 0;
  Lsn next_lsn = 0;  // where the next append goes
};

struct WalStats {
  Lsn next_lsn = 0;
  Lsn checkpoint_lsn = 0;
  uint64_t uncheckpointed_bytes = 0;
  uint64_t pending_bytes = 0;
  uint64_t segments = 0;
};

// Called during recovery with (bytes scanned, total bytes to scan, entries so far).
using RecoveryProgress = std::function<void(uint64_t done, uint64_t total, uint64_t entries)>;

class Wal {
 public:
  using AppendCallback = absl::AnyInvocable<void(absl::StatusOr<Lsn>) &&>;

  // Opens (creating if needed) and recovers `options.dir`, then starts the commit thread.
  // `progress` is called at least every 64 MiB scanned and once at the end. Fails with
  // FailedPrecondition when another Wal holds the directory, InvalidArgument for bad
  // options, Unavailable on I/O errors; corrupt data is never an error.
  static absl::StatusOr<std::unique_ptr<Wal>> Open(WalOptions options,
                                                   RecoveryProgress progress = nullptr,
                                                   RecoveryReport* report = nullptr);
  virtual ~Wal() = default;

  // Queues `payload`; `done` runs once, after the fsync covering it (OK with its LSN) or on
  // failure. Refuses at once, via `done` on the calling thread, with ResourceExhausted
  // (naming the budget) when a byte budget is full, InvalidArgument when the payload exceeds
  // kMaxEntryPayloadBytes, FailedPrecondition after Close(), and the sticky Unavailable
  // after a write/fsync error. Never blocks.
  virtual void AppendAsync(std::string payload, int64_t timestamp_unix_nanos,
                           AppendCallback done) = 0;
  // Blocking form of AppendAsync. Must not be called from an append callback.
  absl::StatusOr<Lsn> Append(std::string payload, int64_t timestamp_unix_nanos);

  // True when an append of a `bytes`-byte payload would currently be accepted (admission
  // pre-check; the entry header is added here, as AppendAsync does).
  virtual bool HasRoomFor(uint64_t bytes) const = 0;

  // The consumer says every entry with LSN < `lsn` is durable elsewhere; segments wholly
  // below it are deleted (never the one being appended to). The checkpoint is persisted
  // before anything is deleted. Checkpoints never move backwards: a smaller `lsn` is a
  // no-op. InvalidArgument when `lsn` is beyond stats().next_lsn. Works after Close().
  virtual absl::Status Checkpoint(Lsn lsn) = 0;

  // Calls `fn` for every good, fsynced entry with LSN >= `from`, in order (corrupt ranges
  // skipped); stops at and returns fn's first error. Entries appended while it runs may or
  // may not be seen. `from` should be an entry's LSN, the LSN after an entry, or a segment
  // base: scanning starts there, so a value inside an entry is read as corruption up to the
  // next good entry.
  virtual absl::Status Replay(
      Lsn from, absl::FunctionRef<absl::Status(Lsn, int64_t, std::string_view)> fn) = 0;

  virtual WalStats stats() const = 0;

  // Stops accepting, commits and fsyncs everything queued, runs every callback, joins the
  // commit thread. Idempotent. Called from an append callback it only stops admission (a
  // thread cannot join itself); the destructor finishes. Replay, stats and Checkpoint keep
  // working afterwards; the directory stays locked until destruction.
  virtual void Close() = 0;
};

// Offline helpers for `observex wal verify` / `observex wal dump`: read a WAL directory
// without modifying it.
struct VerifyReport {
  uint64_t segments = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t corrupt_ranges = 0;
  uint64_t corrupt_bytes = 0;
  // Bytes after the newest segment's last good entry, up to its last non-zero byte (zero
  // fill of preallocated space is not counted). Recovery would truncate them.
  uint64_t torn_tail_bytes = 0;
  Lsn checkpoint_lsn = 0;  // from the checkpoint file; 0 when absent or unreadable
};
// Scans every segment with the recovery rules and reports what recovery would find.
// NotFound when `dir` is not a directory.
absl::StatusOr<VerifyReport> VerifyDir(const std::filesystem::path& dir);
// Calls `fn` for every good entry still on disk (also those below the checkpoint), in LSN
// order; stops at and returns fn's first error.
absl::Status ReadDir(const std::filesystem::path& dir,
                     absl::FunctionRef<absl::Status(Lsn, int64_t, std::string_view)> fn);

}  // namespace observex::wal
