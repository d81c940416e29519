// OTLP traces and logs <-> rows of the storage tables (storage/schema.h). The storage writer
// turns each WAL batch record into column batches with these functions; the trace and log
// APIs turn scanned rows back into OTLP. The round trip keeps everything a span or log record
// carries (ids, times, kind, status, flags, attributes of every value type, events, links,
// dropped counts, resource and scope), so `GET /api/v1/traces/{id}` returns what was sent.
// Only unknown protobuf fields (from a newer OTLP) are dropped, except inside events, links,
// array/kvlist values and non-string log bodies, which are stored as protobuf bytes. The
// mapping to columns is specified in docs/part-format.md ("Spans and logs as rows").
//
// Pure functions over their arguments; safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "storage/column.h"

namespace observex::writer {

using TracesRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using LogsRequest = opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;

// Appends one row per span of `request` to `out`, a batch with SpansSchema()'s columns (as
// made by SpansSchema().NewBatch()). Returns the number of rows appended. InvalidArgument for
// a batch of another shape (then nothing is appended). sampling_probability is set to 1: the
// request says nothing about sampling; whoever decides it overwrites the appended rows.
absl::StatusOr<size_t> AppendSpanRows(const TracesRequest& request, storage::ColumnBatch* out);
// Same for log records and LogsSchema().
absl::StatusOr<size_t> AppendLogRows(const LogsRequest& request, storage::ColumnBatch* out);

// Rebuilds OTLP from rows holding every column of the table's schema (any row order): spans
// grouped by resource, then scope, in row order within a scope. Columns are found by name, so
// a scan's projection order works and extra columns are ignored; InvalidArgument when one is
// missing or mistyped. DataLoss when a stored value cannot be decoded.
absl::StatusOr<TracesRequest> SpanRowsToOtlp(const storage::ColumnBatch& rows);
absl::StatusOr<LogsRequest> LogRowsToOtlp(const storage::ColumnBatch& rows);

// The logs table's `body` column (docs/part-format.md, "Spans and logs as rows"): a string
// body is stored as its text, so predicates on body compare plain text, unless that text is
// empty or starts with byte 0xFF (which valid UTF-8 never does); every other body is 0xFF
// followed by the AnyValue's protobuf serialization; "" is a record without a body.
inline constexpr char kLogBodyTag = '\xFF';
// Decodes a stored body into `body` (cleared first). False when the record has no body;
// DataLoss when the stored bytes are malformed.
absl::StatusOr<bool> DecodeLogBody(std::string_view stored,
                                   opentelemetry::proto::common::v1::AnyValue* body);

}  // namespace observex::writer
