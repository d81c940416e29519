// The Store: the one interface the write path and the query engines use to reach stored
// telemetry. It owns, per tenant, the three tables (spans, logs, metric samples) and the
// series index of the metrics model; callers append batches and scan them back. The
// embedded engine (OpenEmbeddedStore) keeps each (tenant, table) as an in-memory head plus
// immutable parts per UTC day under a data directory, seals heads by size or age, merges
// parts in the background, enforces retention and a disk cap, moves old parts to a cold
// directory and quarantines parts that fail their checksums.
//
// Guarantees:
//  - Reads need a TenantScope, which is made only from the result of authentication; nothing
//    in a scan's options can name another tenant, and every directory, head and index is
//    per tenant id.
//  - Rows are scannable as soon as Append returns, and every row is seen exactly once by a
//    scan, while heads seal and parts merge underneath it.
//  - Durability works with the WAL: Append takes the LSN of the WAL entry the rows came
//    from, parts record the LSN range they hold, DurableLsn says how far the WAL may be
//    checkpointed, and appending an entry again after a restart skips the rows of every day
//    already persisted, so replaying the WAL from its checkpoint never duplicates a row.
//  - A part that fails a checksum is moved to <dir>/quarantine, logged and counted; scans
//    that needed it go on with the other parts and report the loss in their warnings.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "query/labels.h"
#include "query/series_source.h"
#include "storage/column.h"
#include "storage/head.h"
#include "storage/scan.h"
#include "storage/schema.h"
#include "tenant/key_store.h"

namespace observex::storage {

// The tenant a read is for, as authentication established it. The query layer passes it
// through; no query text can widen it.
class TenantScope {
 public:
  explicit TenantScope(const tenant::AuthResult& auth) : tenant_id_(auth.tenant_id) {}
  int64_t tenant_id() const { return tenant_id_; }

 private:
  int64_t tenant_id_;
};

// Counts the embedded engine reports; the app exports them on /metrics. Called on store
// threads; must not block.
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  virtual void OnPartWritten(Table table, uint64_t rows, uint64_t bytes, bool merge) {}
  virtual void OnRetentionDrop(Table table, uint64_t bytes, bool by_disk_cap) {}
  virtual void OnQuarantine(Table table) {}
  virtual void OnColdMove(Table table, uint64_t bytes) {}
};

struct MergeOptions {
  // Merge a (tenant, table, day) when it holds more parts than this.
  size_t max_parts_per_day = 8;
  // One merge reads at most this many parts and this many decoded bytes, so its memory is
  // bounded; the smallest parts go first (size-tiered).
  size_t max_inputs = 8;
  uint64_t max_input_bytes = 512ull << 20;
  // Merges pause between parts while ingest is busy: at most this many merged bytes per
  // second (0 = unthrottled).
  uint64_t max_bytes_per_second = 64ull << 20;
};

struct StoreOptions {
  std::filesystem::path dir;       // hot parts: <dir>/<tenant id>/<table>/<day>/<part>
  std::filesystem::path cold_dir;  // empty: no cold tier
  // Parts whose day ended more than this long ago move to cold_dir (when set).
  absl::Duration cold_after = absl::InfiniteDuration();
  // Days that ended more than this long ago are dropped. InfiniteDuration keeps everything.
  absl::Duration retention = absl::Hours(15 * 24);
  // Hot + cold bytes above this drop the oldest days first; 0 = no cap.
  uint64_t max_disk_bytes = 0;
  HeadOptions head;
  // Seal the largest heads while all heads together hold more than this (decoded bytes).
  uint64_t max_head_bytes_total = 1ull << 30;
  // Seal a head whose oldest row came from a WAL entry more than this many WAL bytes before
  // the newest entry appended (LSNs are WAL byte offsets). Such a head holds the WAL
  // checkpoint back: without this, a head that stopped receiving rows while below its size
  // bounds would keep the WAL from being truncated until max_age, however much other heads
  // ingest meanwhile, and the WAL's bound on uncheckpointed bytes would turn into refused
  // requests. Keep it well below that bound. 0 = no such seals.
  uint64_t max_head_wal_lag_bytes = 1ull << 30;
  // Decompressed blocks kept for short reads (an instant query, a few series over minutes),
  // which dashboards repeat; long reads bypass it. 0 = no cache.
  uint64_t block_cache_bytes = 64ull << 20;
  MergeOptions merge;
  // Seals, merges, retention and cold moves run on a background thread this often; with
  // `background` false the caller drives Maintain() (tests).
  absl::Duration maintenance_interval = absl::Seconds(1);
  bool background = true;
  StoreObserver* observer = nullptr;  // not owned; may be null
};

// What a scan returns: the rows, and why they may be incomplete (filled while scanning).
class ScanResult {
 public:
  virtual ~ScanResult() = default;
  virtual RowSource& rows() = 0;
  // Messages for parts that could not be read (quarantined); empty when complete. Final
  // once rows() has ended.
  virtual std::vector<std::string> warnings() const = 0;
};

struct PartInfo {
  int64_t tenant_id = 0;
  Table table = Table::kSpans;
  int32_t day = 0;
  std::string name;
  std::filesystem::path dir;
  bool cold = false;
  uint32_t level = 0;
  uint64_t rows = 0;
  uint64_t bytes = 0;
};

struct StoreStats {
  uint64_t parts = 0;
  uint64_t part_bytes = 0;  // hot + cold
  uint64_t cold_bytes = 0;
  uint64_t head_rows = 0;
  uint64_t head_bytes = 0;
  uint64_t series = 0;
  uint64_t quarantined_parts = 0;
  uint64_t merges = 0;
  uint64_t block_cache_hits = 0, block_cache_misses = 0, block_cache_bytes = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // --- Write path: the storage writer, with tenant ids taken from WAL records, which the
  // ingest path wrote after authentication.

  // Adds rows (every column of the table's schema, in order). `wal_lsn` is the WAL entry
  // they came from; rows of a day whose parts already hold that entry are skipped. The rows
  // are taken by value: a caller that moves them in lets the head keep them without a copy.
  virtual absl::Status Append(int64_t tenant_id, Table table, ColumnBatch rows,
                              std::optional<uint64_t> wal_lsn) = 0;
  // Series ids for label sets (with __name__), created on first sight; ids[i] is labels[i]'s.
  virtual absl::StatusOr<std::vector<int64_t>> ResolveSeries(
      int64_t tenant_id, absl::Span<const query::Labels* const> labels) = 0;
  // Records metric family metadata (type, help, unit) for the metadata API.
  virtual absl::Status UpdateMetadata(int64_t tenant_id,
                                      const std::vector<query::MetricMetadata>& families) = 0;
  // The WAL may be checkpointed up to the returned LSN: every entry below it is in fsynced
  // parts, given that every entry below `appended_up_to` has been appended.
  virtual uint64_t DurableLsn(uint64_t appended_up_to) const = 0;

  // --- Read path.

  // Rows of one table within the options' time range and predicates, in the requested order,
  // over the head and every part. InvalidArgument for options that do not fit the table.
  virtual absl::StatusOr<std::unique_ptr<ScanResult>> Scan(const TenantScope& scope, Table table,
                                                           ScanOptions options) const = 0;
  // The tenant's metric samples and series index as a query::SeriesSource.
  virtual std::unique_ptr<query::SeriesSource> Series(const TenantScope& scope) const = 0;

  // --- Maintenance.

  // Seals every head now (clean shutdown, tests).
  virtual absl::Status Flush() = 0;
  // One maintenance round at `now`: heads due sealed, merges, retention, cold moves.
  virtual absl::Status Maintain(absl::Time now) = 0;
  virtual std::vector<PartInfo> Parts() const = 0;
  virtual StoreStats stats() const = 0;
  // Stops the background thread (joins it). Heads are not sealed: the WAL still holds them.
  virtual void Close() = 0;
};

// Opens (creating if needed) the engine in options.dir: loads every part's manifest
// (quarantining corrupt ones), removes temporary directories and merge inputs left by a
// crash, loads the series index, and starts the maintenance thread.
absl::StatusOr<std::unique_ptr<Store>> OpenEmbeddedStore(StoreOptions options);

}  // namespace observex::storage
