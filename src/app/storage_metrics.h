// /metrics for the storage engine and the storage writer: counters fed by their observer
// callbacks and gauges refreshed before each scrape (Publish). Label values come from fixed
// sets (table, signal type, reason), so the series count is bounded.
//
// Thread-safety: prometheus-cpp metrics are thread-safe; every method may be called from any
// thread.
#pragma once

#include <memory>
#include <mutex>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "storage/store.h"
#include "wal/wal.h"
#include "writer/storage_writer.h"

namespace observex::app {

class StorageMetrics final : public storage::StoreObserver, public writer::StorageWriterObserver {
 public:
  explicit StorageMetrics(prometheus::Registry& registry);

  void OnPartWritten(storage::Table table, uint64_t rows, uint64_t bytes, bool merge) override;
  void OnRetentionDrop(storage::Table table, uint64_t bytes, bool by_disk_cap) override;
  void OnQuarantine(storage::Table table) override;
  void OnColdMove(storage::Table table, uint64_t bytes) override;

  void OnApplied(SignalType type, uint64_t rows, double seconds) override;
  void OnRejectedPoints(SignalType type, std::string_view reason, uint64_t points) override;
  void OnBadRecord() override;

  // Refreshes the gauges from the store and the writer's position in the WAL.
  void Publish(const storage::Store& store, const wal::Wal& wal,
               const writer::StorageWriter& writer);

 private:
  prometheus::Family<prometheus::Counter>& parts_written_;
  prometheus::Family<prometheus::Counter>& part_bytes_written_;
  prometheus::Family<prometheus::Counter>& dropped_bytes_;
  prometheus::Family<prometheus::Counter>& quarantined_;
  prometheus::Family<prometheus::Counter>& cold_moved_bytes_;
  prometheus::Family<prometheus::Counter>& rows_stored_;
  prometheus::Family<prometheus::Counter>& points_rejected_;
  prometheus::Counter& bad_records_;
  prometheus::Family<prometheus::Gauge>& parts_;
  prometheus::Family<prometheus::Gauge>& bytes_;
  prometheus::Gauge& head_rows_;
  prometheus::Gauge& head_bytes_;
  prometheus::Gauge& series_;
  prometheus::Gauge& writer_lag_bytes_;
  prometheus::Family<prometheus::Counter>& block_cache_lookups_;
  prometheus::Gauge& block_cache_bytes_;
  std::mutex publish_mu_;  // /metrics requests may publish at once
  uint64_t published_cache_hits_ = 0, published_cache_misses_ = 0;  // guarded by publish_mu_
};

}  // namespace observex::app
