// The unit that moves through the write path: one client request's signals for one tenant,
// kept in protobuf wire form (OTLP, or a Prometheus remote-write 1.0 WriteRequest) plus a small
// header that records, once per request, what the pipeline added (tenant, ingestion time, platform
// version). A batch record is the payload of one WAL entry; its encoding is versioned and
// self-describing so `wal dump` and recovery need nothing else to read it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace observex {

// kPrometheus is metric samples from the Prometheus ecosystem (remote write, text import),
// stored as an uncompressed remote-write 1.0 WriteRequest (src/metrics/remote_write.h).
enum class SignalType : uint8_t { kTraces = 1, kMetrics = 2, kLogs = 3, kPrometheus = 4 };

// "traces", "metrics", "logs", "prometheus": the label value used in metrics, logs and the API.
std::string_view SignalTypeName(SignalType type);
// Parses the names above; InvalidArgument otherwise.
absl::StatusOr<SignalType> ParseSignalType(std::string_view name);

struct BatchHeader {
  int64_t tenant_id = 0;    // numeric id from the control plane
  std::string tenant_name;  // the validated name at ingestion time (informational)
  SignalType type = SignalType::kTraces;
  int64_t ingested_at_unix_nanos = 0;  // observex.ingested_at for every signal in the batch
  std::string observex_version;        // observex.version for every signal in the batch
  uint32_t signal_count = 0;           // spans, metric data points, log records or samples
  uint32_t truncated_values = 0;       // attribute keys/values cut by limits during enrich
  uint32_t dropped_attributes = 0;     // attributes removed by the per-item count limit
};

// A decoded record; `request` views into the buffer passed to DecodeBatchRecord.
struct BatchRecordView {
  BatchHeader header;
  std::string_view request;  // Export{Trace,Metrics,Logs}ServiceRequest or WriteRequest
};

// Record layout (little-endian): u8 format version (1) | u8 signal type | i64 tenant id |
// i64 ingested_at | u32 signal count | u32 truncated | u32 dropped | u16 len + tenant name |
// u16 len + version | request bytes to the end.
std::string EncodeBatchRecord(const BatchHeader& header, std::string_view request);
absl::StatusOr<BatchRecordView> DecodeBatchRecord(std::string_view record);

}  // namespace observex
