// A walk over the gauge and sum data points of an OTLP ExportMetricsServiceRequest at the
// protobuf wire level, without parsing it into messages: the storage writer uses it to find
// the series of data points it has converted before (by the raw bytes that decide their labels)
// and skip the protobuf parse and the label building the full conversion (metrics_model.h)
// needs. It sees the request exactly as a protobuf parser would, or says kUnsupported:
//  - resource, scope, metric and point are reported in request order, each context before
//    the items in it whatever the field order in the bytes;
//  - a message field given twice (which a parser merges), a known field with an unexpected
//    wire type, groups, malformed lengths, histograms, exponential histograms, summaries and
//    metrics with no data make the walk stop with kUnsupported; the caller then uses the
//    full conversion, which handles all of them;
//  - a data point's attributes must be one contiguous run of fields (every protobuf
//    serializer writes them that way), so that run of bytes identifies them.
// Nested messages the conversion ignores (exemplars, unknown fields) are skipped, not checked:
// the writer only walks requests that ingest has already parsed.
//
// Pure function over its arguments; safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <string_view>

#include "metrics/naming.h"

namespace observex::metrics {

struct WireMetric {
  std::string_view name, description, unit;
  OtlpKind kind = OtlpKind::kGauge;  // kGauge, kMonotonicSum or kNonMonotonicSum
  // AggregationTemporality of a sum (as sent); 0 for gauges.
  uint64_t temporality = 0;
  int points = 0;  // data points in the metric
};

struct WireNumberPoint {
  // The bytes of every attribute field of the point, tags and lengths included; "" when none.
  std::string_view attributes;
  uint64_t time_unix_nano = 0;
  uint32_t flags = 0;
  enum class Value : uint8_t { kNone, kInt, kDouble };
  Value value = Value::kNone;
  int64_t as_int = 0;
  double as_double = 0;
};

// Return false to stop the walk (ScanNumberPoints then returns kStopped).
class WirePointVisitor {
 public:
  virtual ~WirePointVisitor() = default;
  // The bytes of the ResourceMetrics' Resource message ("" when absent or empty).
  virtual bool OnResource(std::string_view resource) = 0;
  // The bytes of the ScopeMetrics' InstrumentationScope ("" when absent) and its schema_url.
  virtual bool OnScope(std::string_view scope, std::string_view schema_url) = 0;
  virtual bool OnMetric(const WireMetric& metric) = 0;
  virtual bool OnPoint(const WireNumberPoint& point) = 0;
  // After the last metric of the resource.
  virtual bool OnResourceEnd() = 0;
};

enum class WireScan : uint8_t { kDone, kUnsupported, kStopped };

WireScan ScanNumberPoints(std::string_view request, WirePointVisitor& visitor);

}  // namespace observex::metrics
