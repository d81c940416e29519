// The signal tables as columnar row layouts, and their sort keys (DESIGN.md §4):
//   spans           sorted by (service, name, start_time); time column start_time, Unix ns
//   logs            sorted by (service, severity_number, time); time column time, Unix ns
//   samples         sorted by (series_id, time); time column time, Unix ms (PromQL's unit)
//   exp_histograms  sorted by (series_id, time), Unix ms: OpenTelemetry exponential
//                   histogram points kept whole (an opaque `point` chosen by the writer),
//                   next to the classic buckets the samples table holds for PromQL
// Tables hold one tenant each: a part lives under its tenant's directory, so no row carries a
// tenant column. Attribute maps are string columns holding the serialized form of
// storage/attributes.h; events and links are opaque bytes chosen by the writer of the table.
// Schemas are immutable process-wide constants; safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/codec.h"
#include "storage/column.h"

namespace observex::storage {

// On-disk ids: never renumber.
enum class Table : uint8_t { kSpans = 1, kLogs = 2, kSamples = 3, kExpHistograms = 4 };
inline constexpr Table kAllTables[] = {Table::kSpans, Table::kLogs, Table::kSamples,
                                       Table::kExpHistograms};

// "spans", "logs", "samples", "exp_histograms": directory names under a tenant.
std::string_view TableName(Table table);
absl::StatusOr<Table> ParseTable(std::string_view name);

struct ColumnSpec {
  std::string name;
  ColumnType type;
  Encoding encoding;        // preferred encoding (codec.h explains the fallbacks)
  bool attributes = false;  // holds a serialized attribute map
};

struct TableSchema {
  Table table;
  std::vector<ColumnSpec> columns;
  // Column indices, most significant first; the time column is the last one.
  std::vector<int> sort_key;
  int time_column = -1;
  int64_t time_units_per_second = 1'000'000'000;
  // Column whose values each part indexes in a Bloom filter (trace_id), or -1.
  int bloom_column = -1;

  // Index of `name`, or -1.
  int IndexOf(std::string_view name) const;
  int64_t time_units_per_day() const { return time_units_per_second * 86'400; }
  // Day (since 1970-01-01 UTC) of a value of the time column.
  int32_t DayOf(int64_t time) const;
  // Empty columns named and typed in schema order.
  ColumnBatch NewBatch() const;
  // OK when `batch` has exactly this schema's columns, in order, with their types.
  absl::Status CheckBatch(const ColumnBatch& batch) const;
};

const TableSchema& SpansSchema();
const TableSchema& LogsSchema();
const TableSchema& SamplesSchema();
const TableSchema& ExpHistogramsSchema();
const TableSchema& SchemaFor(Table table);

}  // namespace observex::storage
