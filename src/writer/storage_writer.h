// The storage writer: the WAL's consumer. It reads batch records from the WAL in LSN order,
// turns each into table rows (spans and logs through otlp_rows.h; OTLP metrics and
// Prometheus remote-write samples through the metrics model and the tenant's series index)
// and appends them to the Store with the entry's LSN. It is the only path from the WAL to
// storage, at start-up (Recover replays everything above the checkpoint) and in steady
// state (a thread tails the log), so what recovery rebuilds is exactly what ingest built.
//
// The WAL checkpoint advances to Store::DurableLsn: only past entries whose rows are all in
// fsynced parts. A record that cannot be converted is logged, counted and skipped (it passed
// validation before it was acknowledged, so this means a bug or damage, and holding the WAL
// for it would stop all ingest); a Store error stops the writer at that entry, which is
// retried until it succeeds, so nothing acknowledged is skipped because of a full disk.
//
// Spans and logs entries are decoded and converted on `convert_threads` worker threads while
// the applying thread stores the results strictly in WAL order (other entries are applied
// after everything before them), so what is stored, and in which order, does not depend on
// the threads.
//
// Thread-safety: Recover, Start and Stop are called by the owner in that order; the other
// methods may be called from any thread. The tail thread and the conversion threads are
// owned and joined by Stop (and the destructor).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "metrics/metrics_model.h"
#include "signal/batch.h"
#include "storage/store.h"
#include "wal/wal.h"
#include "writer/metrics_cache.h"

namespace observex::writer {

// Counts for /metrics; called on the writer's thread. Must not block.
class StorageWriterObserver {
 public:
  virtual ~StorageWriterObserver() = default;
  // Rows appended for one WAL entry (spans, log records or samples) and what was rejected
  // by the metrics conversion (delta temporality and the like), by reason.
  virtual void OnApplied(SignalType type, uint64_t rows, double seconds) {}
  virtual void OnRejectedPoints(SignalType type, std::string_view reason, uint64_t points) {}
  // A record the writer could not convert and skipped.
  virtual void OnBadRecord() {}
};

struct StorageWriterOptions {
  metrics::ConvertOptions convert;
  // How often the tail thread looks for new entries when it has caught up.
  absl::Duration poll_interval = absl::Milliseconds(50);
  // How often the WAL checkpoint is moved forward.
  absl::Duration checkpoint_interval = absl::Seconds(1);
  // Pause after a Store error before the entry is tried again.
  absl::Duration retry_interval = absl::Seconds(1);
  // Bound of the cache from raw OTLP point identities to series ids (metrics_cache.h), in
  // points; 0 turns it off (every metrics request is then converted in full).
  size_t metrics_cache_points = 1'000'000;
  // Threads that decode and convert spans and logs entries ahead of the thread that stores
  // them in WAL order; at most 2 * convert_threads + 2 entries are in flight. 0: everything
  // on one thread.
  size_t convert_threads = 2;
  StorageWriterObserver* observer = nullptr;  // not owned; may be null
};

class StorageWriter {
 public:
  // `wal` and `store` must outlive the writer.
  StorageWriter(wal::Wal* wal, storage::Store* store, StorageWriterOptions options);
  ~StorageWriter();

  // Applies every entry from the WAL's checkpoint to its end, calling `progress` with
  // (entries applied, bytes read, bytes to read) every few thousand entries. Then
  // checkpoints. Fails only on a Store error.
  absl::Status Recover(
      const std::function<void(uint64_t entries, uint64_t done, uint64_t total)>& progress);
  // Starts tailing the WAL from where Recover stopped.
  void Start();
  // Applies what is already in the WAL, checkpoints, and joins the thread. Idempotent.
  void Stop();

  // The LSN after the last entry applied.
  uint64_t applied_lsn() const { return next_lsn_.load(); }
  // Moves the WAL checkpoint to what the Store has made durable.
  absl::Status Checkpoint();

 private:
  // A spans or logs entry converted to rows, ready to be stored.
  struct Converted {
    uint64_t lsn = 0, next_lsn = 0;
    int64_t tenant = 0;
    SignalType type{};  // unset when the entry is not a batch record
    storage::Table table = storage::Table::kSpans;
    storage::ColumnBatch rows;
    uint64_t row_count = 0;
    absl::Status bad;  // why it cannot be stored (logged and skipped in its turn)
    int64_t convert_nanos = 0;
  };
  class ConvertPool;

  // Decodes and converts a spans or logs entry; safe from any thread.
  static Converted ConvertRows(uint64_t lsn, uint64_t next_lsn, std::string_view payload);
  static bool IsRowsRecord(std::string_view payload);
  // Stores a converted entry (`start`: when storing began, for the observer).
  absl::Status StoreRows(Converted& c, int64_t start);
  // Applies every entry from `from` to the WAL's end in order (spans and logs converted on
  // the pool when there is one); returns how many.
  absl::StatusOr<uint64_t> ReplayFrom(uint64_t from,
                                      const std::function<void(uint64_t entries)>& progress);
  size_t MaxInFlight() const;
  // Applies one entry on this thread.
  absl::Status Apply(uint64_t lsn, std::string_view payload);
  // OTLP metrics: from the cache when it knows every point, else converted in full (and
  // then learned by the cache). Sets `rows` to the samples stored, and `unconvertible` when
  // the request cannot be converted (then nothing is stored). Returns the Store's error.
  absl::Status ApplyOtlpMetrics(int64_t tenant, uint64_t lsn, std::string_view request,
                                uint64_t* rows, absl::Status* unconvertible);
  // Stores the batch's samples; `ids`, when given, receives the series ids of batch.series.
  absl::Status ApplyMetrics(int64_t tenant, uint64_t lsn, const metrics::MetricsBatch& batch,
                            std::vector<int64_t>* ids = nullptr);
  // Store::UpdateMetadata with only the families whose metadata differs from what this
  // writer last recorded for the tenant.
  absl::Status UpdateMetadata(int64_t tenant, std::vector<query::MetricMetadata> families);
  // Exponential histogram points, whole, in the exp_histograms table (their classic buckets
  // are ordinary series); their series get no days in the index, so the Prometheus look-ups
  // do not list them.
  absl::Status ApplyExponentialHistograms(int64_t tenant, uint64_t lsn,
                                          const metrics::MetricsBatch& batch);
  // One pass over the new entries; returns how many were applied.
  absl::StatusOr<uint64_t> Pass();
  void Loop();

  wal::Wal* const wal_;
  storage::Store* const store_;
  const StorageWriterOptions options_;
  // Used by the thread that applies entries (Recover's caller, then the tail thread).
  std::unique_ptr<MetricsSeriesCache> metrics_cache_;  // null when turned off
  std::unique_ptr<ConvertPool> pool_;                  // made by the first replay; joined by Stop

  // (tenant, metric name) -> the metadata last recorded; dropped whole at kMaxMetadataCache.
  static constexpr size_t kMaxMetadataCache = 100'000;
  absl::flat_hash_map<std::pair<int64_t, std::string>, query::MetricMetadata> metadata_sent_;
  std::atomic<uint64_t> next_lsn_{0};
  absl::Time last_checkpoint_ = absl::InfinitePast();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace observex::writer
