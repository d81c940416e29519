// The metrics model: turns an OTLP ExportMetricsServiceRequest into Prometheus-style series
// (sorted label sets with a stable fingerprint, each with time-ordered float samples) plus the
// exponential histogram points kept whole for storage. The mapping follows the
// OpenTelemetry-to-Prometheus compatibility rules Prometheus applies to OTLP: metric and label
// names sanitised with unit and `_total` suffixes, `job`/`instance` from the service
// attributes, other resource attributes in `target_info`, histograms as `_bucket{le}`/`_sum`/
// `_count`, summaries as `{quantile}` series, exponential histograms also as classic buckets.
// docs/metrics-model.md states every rule and every deliberate difference from Prometheus.
//
// Nothing is dropped silently: each data point that cannot be represented (delta temporality,
// an unnamable metric, an inconsistent histogram, ...) is counted by reason in the result's
// stats, with a message naming the first one. Exemplars are ignored.
//
// Conversion is a pure function of the request and the options: no state is kept between
// calls, and it is safe to call from many threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "metrics/exponential.h"
#include "metrics/naming.h"
#include "query/labels.h"
#include "query/series_source.h"

namespace opentelemetry::proto::collector::metrics::v1 {
class ExportMetricsServiceRequest;
}

namespace observex::metrics {

using MetricsRequest = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

inline constexpr std::string_view kJobLabel = "job";
inline constexpr std::string_view kInstanceLabel = "instance";
inline constexpr std::string_view kQuantileLabel = "quantile";
inline constexpr std::string_view kScopeNameLabel = "otel_scope_name";
inline constexpr std::string_view kScopeVersionLabel = "otel_scope_version";
inline constexpr std::string_view kScopeSchemaUrlLabel = "otel_scope_schema_url";
inline constexpr std::string_view kTargetInfoName = "target_info";

struct ConvertOptions {
  // Resource attribute keys (as sent, e.g. "k8s.namespace.name") copied as labels onto every
  // series of that resource. A data point attribute with the same label name wins.
  std::vector<std::string> promote_resource_attributes;
  // Adds otel_scope_name, otel_scope_version, otel_scope_schema_url and otel_scope_<attribute>
  // labels when the scope has a name. The OpenTelemetry specification asks for these; note
  // that Prometheus's own OTLP endpoint leaves them out unless `promote_scope_metadata` is set.
  bool promote_scope_metadata = true;
  // Emits target_info{job, instance, <other resource attributes>} = 1 per resource.
  bool target_info = true;
  // target_info samples are written at the resource's data point times, at least this far
  // apart, plus one at the latest: half the PromQL lookback delta (5 m), so target_info is
  // found wherever the resource has data.
  int64_t target_info_interval_ms = 150'000;
  // Exponential histograms are converted to classic buckets at this scale at most (lower
  // scales are kept): scale 3 is 8 buckets per power of two, about 9% relative width. Valid
  // range: kMinExponentialScale..kMaxExponentialScale.
  int32_t classic_max_scale = 3;
};

// InvalidArgument naming the option when `options` cannot be used.
absl::Status ValidateOptions(const ConvertOptions& options);

// Why a data point was not converted. Counted in data points.
enum class RejectReason : uint8_t {
  // Delta sums and histograms would need per-series running totals kept across requests (and
  // agreed between ingest nodes) to become Prometheus counters; raw deltas under a counter
  // name would make rate() silently wrong. Senders should export cumulative temporality or
  // run the Collector's deltatocumulative processor.
  kDeltaTemporality,
  kUnspecifiedTemporality,
  kInvalidMetricName,  // nothing of the name survives sanitising
  kNoDataType,         // a metric with no gauge/sum/histogram/... (counted once per metric)
  kMissingTimestamp,   // time_unix_nano is 0
  kMissingValue,       // a number data point with neither as_int nor as_double
  kInvalidHistogram,   // bounds not finite and strictly increasing, or counts inconsistent
  kInvalidExponentialHistogram,  // scale out of range, bad zero threshold, counts inconsistent
  kInvalidSummary,               // quantile outside [0, 1] or repeated, or a NaN quantile
};
inline constexpr size_t kRejectReasonCount = 9;
// "delta_temporality", "unspecified_temporality", ... (stable: used as a metric label value).
std::string_view RejectReasonName(RejectReason reason);

struct ConversionStats {
  uint64_t data_points = 0;  // data points read (including rejected ones)
  std::array<uint64_t, kRejectReasonCount> rejected{};  // data points, by RejectReason
  // Samples that met an earlier, different sample of the same series at the same timestamp
  // within the request; the later one is kept. (Identical repeats merge without a count:
  // nothing is lost.)
  uint64_t duplicate_samples = 0;
  // Attributes with an empty key, which cannot be named as a label.
  uint64_t dropped_attributes = 0;
  // Attributes whose label names collided after sanitising ("a.b" and "a_b"): their values
  // were joined with ';' in attribute key order, as Prometheus does.
  uint64_t label_collisions = 0;
  // The first rejection, naming the metric and data point, e.g.
  // `resourceMetrics[0].scopeMetrics[1].metrics[2] "requests": delta temporality is not
  // supported`; "" when nothing was rejected.
  std::string first_rejection;

  uint64_t rejected_data_points() const;
  uint64_t rejected_for(RejectReason reason) const { return rejected[static_cast<size_t>(reason)]; }
};

// A series: its label set (with __name__), the fingerprint of that set, and its samples in
// strictly increasing time order. Staleness markers are query::StaleNaN().
struct Series {
  query::Labels labels;
  uint64_t fingerprint = 0;
  std::vector<query::SamplePoint> samples;
};

// An exponential histogram series as received; labels carry the family name without suffix.
struct ExponentialHistogramSeries {
  query::Labels labels;
  uint64_t fingerprint = 0;
  std::vector<ExponentialHistogramPoint> points;  // strictly increasing t_ms
};

enum class MetricType : uint8_t { kGauge, kCounter, kHistogram, kExponentialHistogram, kSummary };
// The metric type of an OTLP instrument shape.
MetricType MetricTypeOf(OtlpKind kind);
// Prometheus metadata type: "gauge", "counter", "histogram" (also for exponential
// histograms), "summary".
std::string_view PrometheusTypeName(MetricType type);

// Metadata of one metric family (for the metadata API): name as stored (e.g.
// "http_server_duration_seconds" for the _bucket/_sum/_count series of a histogram).
struct MetricFamily {
  std::string name;
  MetricType type = MetricType::kGauge;
  std::string unit;  // Prometheus unit name ("seconds"), "" when none
  std::string help;  // the OTLP description
};

struct MetricsBatch {
  // In order of first appearance in the request (so the same request always gives the same
  // order); no two series have equal labels, and none is empty. target_info series are
  // included.
  std::vector<Series> series;
  // In order of first appearance; no two with equal labels. A separate table: a gauge named
  // like an exponential histogram family can have the same labels as one of these.
  std::vector<ExponentialHistogramSeries> exponential_histograms;
  // Sorted by name; the first description seen for a name is kept.
  std::vector<MetricFamily> families;
  ConversionStats stats;

  size_t sample_count() const;
};

// Where the data points of a request went, for a caller that caches conversions by the raw
// identity of a data point (the storage writer, with wire_points.h).
struct ConversionTrace {
  static constexpr uint32_t kNone = ~uint32_t{0};
  static constexpr uint32_t kUndecided = kNone - 1;
  // For each gauge or sum data point, in request order (resource, scope, metric, point): the
  // index of its series in MetricsBatch::series, or kNone when it was rejected.
  std::vector<uint32_t> number_points;
  // For each ResourceMetrics: the index of its target_info series, kNone when it gets none,
  // kUndecided when no data point of it was accepted (nothing said whether it would).
  std::vector<uint32_t> target_info;
};

// Converts `request`. Fails only on invalid options; rejected data points are in `stats`.
// `trace`, when given, is filled as described above.
absl::StatusOr<MetricsBatch> ConvertMetrics(const MetricsRequest& request,
                                            const ConvertOptions& options,
                                            ConversionTrace* trace = nullptr);

// Parses an ExportMetricsServiceRequest in protobuf form (a WAL batch record's request bytes)
// and converts it; InvalidArgument when the bytes do not parse.
absl::StatusOr<MetricsBatch> ConvertMetricsProtobuf(std::string_view request,
                                                    const ConvertOptions& options);

}  // namespace observex::metrics
