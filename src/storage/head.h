// The in-memory head of one (tenant, table): rows appended since the last seal, grouped by
// UTC day, scannable as soon as Append returns, and sealed into one immutable part per day
// when they reach a size or an age. Appended batches are kept as immutable chunks, so a scan
// takes a snapshot by copying pointers under the lock and filters it without holding it.
//
// Seal is two-phase so rows are never invisible and never visible twice: the rows being
// sealed stay scannable while their parts are written; `publish` then runs under the head's
// lock with the durable parts, and the rows leave the head in the same critical section. A
// caller that registers the parts in `publish` and snapshots "parts + head" under the same
// discipline sees every row exactly once. A failed seal keeps every row it did not persist.
//
// Thread-safety: every method may be called from any thread; one Seal runs at a time
// (a concurrent Seal gets FailedPrecondition).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/column.h"
#include "storage/manifest.h"
#include "storage/part.h"
#include "storage/scan.h"
#include "storage/schema.h"

namespace observex::storage {

struct HeadOptions {
  // Seal when any bound is reached (ShouldSeal). Bytes count decoded column sizes.
  uint64_t max_rows = 2'000'000;
  uint64_t max_bytes = 256ull << 20;
  absl::Duration max_age = absl::Minutes(10);
  // Block size, compression level and fsync of the parts written by Seal.
  uint32_t block_rows = kDefaultBlockRows;
  int zstd_level = 3;
  bool fsync = true;
  // Threads one seal writes its column files with: a seal then uses the second core when
  // ingest leaves it idle (a writer catching up waits for seals); when both cores are busy
  // it only takes its share of them.
  uint32_t seal_threads = 2;
};

class TableHead {
 public:
  TableHead(const TableSchema& schema, int64_t tenant_id, HeadOptions options);

  const TableSchema& schema() const { return schema_; }
  int64_t tenant_id() const { return tenant_id_; }

  // Adds rows (every schema column, in schema order, any row order); each joins the group of
  // its day. `wal_lsn`, the WAL entry the rows came from, widens that group's LSN range.
  // InvalidArgument for a malformed batch. An empty batch is a no-op. A batch in one day is
  // kept as it is (moved in, not copied).
  absl::Status Append(ColumnBatch rows, std::optional<uint64_t> wal_lsn, absl::Time now);

  struct Stats {
    uint64_t rows = 0;
    uint64_t bytes = 0;
    size_t days = 0;
    std::optional<absl::Time> oldest_append;
  };
  Stats stats() const;
  bool ShouldSeal(absl::Time now) const;

  // Writes the rows held as one part per day under `root`, named PartName(*next_sequence++),
  // calls `publish` with the parts written (under the head's lock), then drops their rows.
  // On an error, days already written are published and dropped; the rest stay in the head.
  absl::StatusOr<std::vector<Manifest>> Seal(
      const std::filesystem::path& root, uint64_t* next_sequence,
      absl::FunctionRef<void(const std::vector<Manifest>&)> publish);

  // Scans the rows held when it is called (later appends are not seen), with PartScan's
  // semantics: kSortKey orders the head's rows by the table's sort key.
  absl::StatusOr<std::unique_ptr<RowSource>> Scan(const ScanOptions& options) const;

  // The rows held now, for a later ScanSnapshot. `under_lock` runs inside the critical
  // section `publish` runs in: a caller that copies its part list there sees every row once.
  using Snapshot = std::vector<std::shared_ptr<const ColumnBatch>>;
  Snapshot TakeSnapshot(absl::FunctionRef<void()> under_lock) const;
  absl::StatusOr<std::unique_ptr<RowSource>> ScanSnapshot(Snapshot snapshot,
                                                          const ScanOptions& options) const;

  // The lowest WAL LSN among the rows held (sealing included), nullopt when none has one.
  std::optional<uint64_t> OldestWalLsn() const;

 private:
  struct DayGroup {
    std::vector<std::shared_ptr<const ColumnBatch>> chunks;
    uint64_t rows = 0;
    uint64_t bytes = 0;
    absl::Time first_append;
    std::optional<WalRange> wal;
  };
  static void AddTo(DayGroup& group, std::shared_ptr<const ColumnBatch> chunk,
                    std::optional<uint64_t> lsn, absl::Time now);

  const TableSchema& schema_;
  const int64_t tenant_id_;
  const HeadOptions options_;

  mutable absl::Mutex mu_;
  std::map<int32_t, DayGroup> active_ ABSL_GUARDED_BY(mu_);
  // Rows of a seal in progress: still scanned; only the sealing thread changes the map.
  std::map<int32_t, DayGroup> sealing_ ABSL_GUARDED_BY(mu_);
  bool seal_running_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace observex::storage
