#include "storage/schema.h"

#include "absl/strings/str_cat.h"

namespace observex::storage {
namespace {

constexpr ColumnType kI = ColumnType::kInt64;
constexpr ColumnType kF = ColumnType::kFloat64;
constexpr ColumnType kS = ColumnType::kString;

ColumnSpec Int(std::string name) { return {std::move(name), kI, Encoding::kDelta}; }
ColumnSpec Float(std::string name) { return {std::move(name), kF, Encoding::kDecimal}; }
// Values that repeat (service names, severities): per-block dictionary.
ColumnSpec Dict(std::string name) { return {std::move(name), kS, Encoding::kDictionary}; }
// Values that rarely repeat (ids, bodies): plain, then zstd.
ColumnSpec Bytes(std::string name) { return {std::move(name), kS, Encoding::kPlain}; }
// One series' samples at a time (codec.h, kSegmented).
ColumnSpec Segmented(std::string name, ColumnType type) {
  return {std::move(name), type, Encoding::kSegmented};
}
ColumnSpec Attrs(std::string name) {
  return {std::move(name), kS, Encoding::kDictionary, /*attributes=*/true};
}

TableSchema Finish(TableSchema s, std::vector<std::string_view> sort_key, std::string_view bloom) {
  for (auto name : sort_key) s.sort_key.push_back(s.IndexOf(name));
  s.time_column = s.sort_key.back();
  s.bloom_column = bloom.empty() ? -1 : s.IndexOf(bloom);
  return s;
}

}  // namespace

std::string_view TableName(Table table) {
  switch (table) {
    case Table::kSpans:
      return "spans";
    case Table::kLogs:
      return "logs";
    case Table::kSamples:
      return "samples";
    case Table::kExpHistograms:
      return "exp_histograms";
  }
  return "unknown";
}

absl::StatusOr<Table> ParseTable(std::string_view name) {
  for (Table t : kAllTables) {
    if (TableName(t) == name) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown table '", std::string(name),
                                                 "' (spans, logs, samples, exp_histograms)"));
}

int TableSchema::IndexOf(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int32_t TableSchema::DayOf(int64_t time) const {
  const int64_t per_day = time_units_per_day();
  int64_t d = time / per_day;
  if (time % per_day < 0) --d;
  return static_cast<int32_t>(d);
}

ColumnBatch TableSchema::NewBatch() const {
  ColumnBatch b;
  for (const auto& c : columns) {
    b.names.push_back(c.name);
    b.columns.push_back(MakeColumn(c.type));
  }
  return b;
}

absl::Status TableSchema::CheckBatch(const ColumnBatch& batch) const {
  if (auto s = batch.Validate(); !s.ok()) return s;
  if (batch.num_columns() != columns.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch has ", batch.num_columns(), " columns, table ",
                     std::string(TableName(table)), " has ", columns.size()));
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (batch.names[i] != columns[i].name || TypeOf(batch.columns[i]) != columns[i].type) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch column ", i, " is '", batch.names[i], "' (",
                       std::string(ColumnTypeName(TypeOf(batch.columns[i]))), "), table ",
                       std::string(TableName(table)), " expects '", columns[i].name, "' (",
                       std::string(ColumnTypeName(columns[i].type)), ")"));
    }
  }
  return absl::OkStatus();
}

const TableSchema& SpansSchema() {
  static const TableSchema schema = Finish(
      TableSchema{
          Table::kSpans,
          {Dict("service"), Dict("name"), Int("start_time"),
           Int("duration"),  // ns, end - start; clamped at 0, span_extra then keeps the end
           Bytes("trace_id"), Bytes("span_id"), Bytes("parent_span_id"), Dict("trace_state"),
           Int("kind"), Int("status_code"), Dict("status_message"), Int("flags"),
           Dict("scope_name"), Dict("scope_version"), Attrs("attributes"),
           Attrs("resource_attributes"), Bytes("events"), Bytes("links"), Int("dropped_attributes"),
           Int("dropped_events"), Int("dropped_links"), Float("sampling_probability"),
           // What OTLP carries beyond the columns above, so spans read back exactly
           // (docs/part-format.md, "Spans and logs as rows").
           Dict("resource_extra"), Dict("scope_extra"), Dict("span_extra")}},
      {"service", "name", "start_time"}, "trace_id");
  return schema;
}

const TableSchema& LogsSchema() {
  static const TableSchema schema =
      Finish(TableSchema{Table::kLogs,
                         {Dict("service"), Int("severity_number"), Dict("severity_text"),
                          Int("time"), Int("observed_time"), Dict("body"), Bytes("trace_id"),
                          Bytes("span_id"), Int("flags"), Dict("event_name"), Dict("scope_name"),
                          Attrs("attributes"), Attrs("resource_attributes"),
                          Int("dropped_attributes"), Dict("resource_extra"), Dict("scope_extra")}},
             {"service", "severity_number", "time"}, "trace_id");
  return schema;
}

const TableSchema& SamplesSchema() {
  static const TableSchema schema = [] {
    TableSchema s =
        Finish(TableSchema{Table::kSamples,
                           {Int("series_id"), Segmented("time", kI), Segmented("value", kF)}},
               {"series_id", "time"}, "");
    s.time_units_per_second = 1000;
    return s;
  }();
  return schema;
}

const TableSchema& ExpHistogramsSchema() {
  static const TableSchema schema = [] {
    TableSchema s =
        Finish(TableSchema{Table::kExpHistograms, {Int("series_id"), Int("time"), Bytes("point")}},
               {"series_id", "time"}, "");
    s.time_units_per_second = 1000;
    return s;
  }();
  return schema;
}

const TableSchema& SchemaFor(Table table) {
  switch (table) {
    case Table::kSpans:
      return SpansSchema();
    case Table::kLogs:
      return LogsSchema();
    case Table::kSamples:
      break;
    case Table::kExpHistograms:
      return ExpHistogramsSchema();
  }
  return SamplesSchema();
}

}  // namespace observex::storage
