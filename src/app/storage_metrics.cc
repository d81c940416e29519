#include "app/storage_metrics.h"

namespace observex::app {
namespace {

std::string TableLabel(storage::Table t) { return std::string(storage::TableName(t)); }

}  // namespace

StorageMetrics::StorageMetrics(prometheus::Registry& r)
    : parts_written_(prometheus::BuildCounter()
                         .Name("observex_storage_parts_written_total")
                         .Help("Parts written, by table and by kind (seal of a head, or merge).")
                         .Register(r)),
      part_bytes_written_(prometheus::BuildCounter()
                              .Name("observex_storage_part_bytes_written_total")
                              .Help("Bytes of the parts written, by table and kind.")
                              .Register(r)),
      dropped_bytes_(prometheus::BuildCounter()
                         .Name("observex_storage_dropped_bytes_total")
                         .Help("Part bytes deleted by retention or by the max_disk_bytes cap.")
                         .Register(r)),
      quarantined_(prometheus::BuildCounter()
                       .Name("observex_storage_quarantined_parts_total")
                       .Help("Parts moved to quarantine after failing a checksum.")
                       .Register(r)),
      cold_moved_bytes_(prometheus::BuildCounter()
                            .Name("observex_storage_cold_moved_bytes_total")
                            .Help("Part bytes moved to the cold directory.")
                            .Register(r)),
      rows_stored_(prometheus::BuildCounter()
                       .Name("observex_storage_rows_written_total")
                       .Help("Spans, log records and metric samples appended to storage.")
                       .Register(r)),
      points_rejected_(prometheus::BuildCounter()
                           .Name("observex_metrics_points_rejected_total")
                           .Help("Metric data points the metrics model could not store, by "
                                 "reason (e.g. delta_temporality).")
                           .Register(r)),
      bad_records_(prometheus::BuildCounter()
                       .Name("observex_storage_writer_bad_records_total")
                       .Help("WAL records the storage writer could not convert and skipped.")
                       .Register(r)
                       .Add({})),
      parts_(prometheus::BuildGauge()
                 .Name("observex_storage_parts")
                 .Help("Parts in service, by tier.")
                 .Register(r)),
      bytes_(prometheus::BuildGauge()
                 .Name("observex_storage_bytes")
                 .Help("Bytes of the parts in service, by tier.")
                 .Register(r)),
      head_rows_(prometheus::BuildGauge()
                     .Name("observex_storage_head_rows")
                     .Help("Rows held in memory, not yet written as parts.")
                     .Register(r)
                     .Add({})),
      head_bytes_(prometheus::BuildGauge()
                      .Name("observex_storage_head_bytes")
                      .Help("Bytes held in the in-memory heads.")
                      .Register(r)
                      .Add({})),
      series_(prometheus::BuildGauge()
                  .Name("observex_storage_series")
                  .Help("Metric series in the series indexes of all tenants.")
                  .Register(r)
                  .Add({})),
      writer_lag_bytes_(prometheus::BuildGauge()
                            .Name("observex_storage_writer_lag_bytes")
                            .Help("WAL bytes acknowledged but not yet applied to storage.")
                            .Register(r)
                            .Add({})),
      block_cache_lookups_(prometheus::BuildCounter()
                               .Name("observex_storage_block_cache_lookups_total")
                               .Help("Look-ups of decompressed part blocks by short reads, by "
                                     "result (hit or miss).")
                               .Register(r)),
      block_cache_bytes_(prometheus::BuildGauge()
                             .Name("observex_storage_block_cache_bytes")
                             .Help("Bytes held by the cache of decompressed part blocks.")
                             .Register(r)
                             .Add({})) {}

void StorageMetrics::OnPartWritten(storage::Table table, uint64_t, uint64_t bytes, bool merge) {
  const std::map<std::string, std::string> labels = {{"table", TableLabel(table)},
                                                     {"kind", merge ? "merge" : "seal"}};
  parts_written_.Add(labels).Increment();
  part_bytes_written_.Add(labels).Increment(static_cast<double>(bytes));
}

void StorageMetrics::OnRetentionDrop(storage::Table table, uint64_t bytes, bool by_disk_cap) {
  dropped_bytes_
      .Add({{"table", TableLabel(table)}, {"reason", by_disk_cap ? "disk_cap" : "retention"}})
      .Increment(static_cast<double>(bytes));
}

void StorageMetrics::OnQuarantine(storage::Table table) {
  quarantined_.Add({{"table", TableLabel(table)}}).Increment();
}

void StorageMetrics::OnColdMove(storage::Table table, uint64_t bytes) {
  cold_moved_bytes_.Add({{"table", TableLabel(table)}}).Increment(static_cast<double>(bytes));
}

void StorageMetrics::OnApplied(SignalType type, uint64_t rows, double) {
  rows_stored_.Add({{"type", std::string(SignalTypeName(type))}})
      .Increment(static_cast<double>(rows));
}

void StorageMetrics::OnRejectedPoints(SignalType, std::string_view reason, uint64_t points) {
  points_rejected_.Add({{"reason", std::string(reason)}}).Increment(static_cast<double>(points));
}

void StorageMetrics::OnBadRecord() { bad_records_.Increment(); }

void StorageMetrics::Publish(const storage::Store& store, const wal::Wal& wal,
                             const writer::StorageWriter& writer) {
  const storage::StoreStats s = store.stats();
  uint64_t hot_parts = 0, cold_parts = 0;
  for (const auto& p : store.Parts()) (p.cold ? cold_parts : hot_parts)++;
  parts_.Add({{"tier", "hot"}}).Set(static_cast<double>(hot_parts));
  parts_.Add({{"tier", "cold"}}).Set(static_cast<double>(cold_parts));
  bytes_.Add({{"tier", "hot"}}).Set(static_cast<double>(s.part_bytes - s.cold_bytes));
  bytes_.Add({{"tier", "cold"}}).Set(static_cast<double>(s.cold_bytes));
  head_rows_.Set(static_cast<double>(s.head_rows));
  head_bytes_.Set(static_cast<double>(s.head_bytes));
  series_.Set(static_cast<double>(s.series));
  const uint64_t next = wal.stats().next_lsn, applied = writer.applied_lsn();
  writer_lag_bytes_.Set(static_cast<double>(next > applied ? next - applied : 0));
  // The store counts from its start; the counters move by what changed since the last call.
  std::lock_guard<std::mutex> l(publish_mu_);
  block_cache_lookups_.Add({{"result", "hit"}})
      .Increment(static_cast<double>(s.block_cache_hits - published_cache_hits_));
  block_cache_lookups_.Add({{"result", "miss"}})
      .Increment(static_cast<double>(s.block_cache_misses - published_cache_misses_));
  published_cache_hits_ = s.block_cache_hits;
  published_cache_misses_ = s.block_cache_misses;
  block_cache_bytes_.Set(static_cast<double>(s.block_cache_bytes));
}

}  // namespace observex::app
