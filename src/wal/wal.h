// Write-ahead log: the durability point of the write path. A payload handed to Append is
// acknowledged (its callback runs with OK) only after an fdatasync that covers it. Appends
// from many threads share one fsync (leader/follower group commit: a commit starts as soon
// as the previous one returns and an entry waits; `group_commit_window` bounds how long an
// entry waits). On open, the directory is recovered: a torn tail in the newest segment is
// truncated at the last good entry, and a corrupt entry inside a sealed segment is skipped
// by scanning to the next magic; every skipped byte range is logged and counted.
//
// Segments: files `<base-lsn:020d>.wal` in `dir`; an LSN is the global byte offset of an
// entry's first byte, so LSNs stay meaningful across skipped corruption. Entry layout
// (little-endian): magic u32 | len u32 | crc32c u32 | timestamp i64 | payload[len], the CRC
// covering timestamp and payload. docs/wal-format.md is the normative description.
//
// Thread-safety: every method may be called from any thread. Callbacks run on the WAL's
// commit thread and must not block.
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
  uint64_t segment_bytes = 64ull << 20;       // a segment is sealed past this size
  absl::Duration group_commit_window = absl::Milliseconds(5);
  // Bytes appended but not yet covered by Checkpoint(); beyond this Append refuses with
  // ResourceExhausted (the receiver turns it into 429) instead of filling the disk.
  uint64_t max_uncheckpointed_bytes = 4ull << 30;
  // Bytes accepted by Append but not yet written (the commit queue); beyond this Append
  // refuses with ResourceExhausted.
  uint64_t max_pending_bytes = 256ull << 20;
  bool fsync = true;                          // false only for tests and benchmarks
  WalObserver* observer = nullptr;            // not owned; may be null
};

// Start-up recovery report; also logged with progress while it runs.
struct RecoveryReport {
  uint64_t segments = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t corrupt_ranges = 0;
  uint64_t corrupt_bytes = 0;
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
  static absl::StatusOr<std::unique_ptr<Wal>> Open(WalOptions options,
                                                   RecoveryProgress progress = nullptr,
                                                   RecoveryReport* report = nullptr);
  virtual ~Wal() = default;

  // Queues `payload`; `done` runs once, after the fsync covering it (OK with its LSN) or on
  // failure. Refuses at once, via `done`, with ResourceExhausted when a byte budget is full
  // and with FailedPrecondition after Close().
  virtual void AppendAsync(std::string payload, int64_t timestamp_unix_nanos,
                           AppendCallback done) = 0;
  // Blocking form of AppendAsync.
  absl::StatusOr<Lsn> Append(std::string payload, int64_t timestamp_unix_nanos);

  // True when an append of `bytes` would currently be accepted (admission pre-check).
  virtual bool HasRoomFor(uint64_t bytes) const = 0;

  // The consumer says every entry with LSN < `lsn` is durable elsewhere; segments wholly
  // below it are deleted. Checkpoints never move backwards.
  virtual absl::Status Checkpoint(Lsn lsn) = 0;

  // Calls `fn` for every good entry with LSN >= `from`, in order (corrupt ranges skipped).
  virtual absl::Status Replay(
      Lsn from, absl::FunctionRef<absl::Status(Lsn, int64_t, std::string_view)> fn) = 0;

  virtual WalStats stats() const = 0;

  // Stops accepting, commits and fsyncs everything queued, runs every callback, joins the
  // commit thread. Idempotent.
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
  uint64_t torn_tail_bytes = 0;
};
absl::StatusOr<VerifyReport> VerifyDir(const std::filesystem::path& dir);
absl::Status ReadDir(const std::filesystem::path& dir,
                     absl::FunctionRef<absl::Status(Lsn, int64_t, std::string_view)> fn);

}  // namespace observex::wal
