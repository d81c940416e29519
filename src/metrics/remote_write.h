// Prometheus remote write 1.0: the `WriteRequest` protobuf read and written by hand from the
// wire format (no generated code), and the validated form both Prometheus ingest paths share.
// A `WriteRequest` is what the WAL stores for `SignalType::kPrometheus` (remote write as sent,
// and the text import converted to it), so storage reads one format.
//
// The messages, by field number: WriteRequest{timeseries=1 (TimeSeries), metadata=3
// (MetricMetadata)}; TimeSeries{labels=1 (Label), samples=2 (Sample), exemplars=3,
// histograms=4}; Label{name=1, value=2}; Sample{value=1 (double), timestamp=2 (int64, ms)};
// MetricMetadata{type=1 (enum), metric_family_name=2, help=4, unit=5}. Unknown fields are
// skipped; exemplars are ignored, as the metrics model ignores them.
//
// Validation follows what Prometheus's remote-write receiver accepts, with one difference in
// how a rejection is reported. A series is rejected when a label name is empty or not valid
// UTF-8, a label value is not valid UTF-8, a name repeats, or `__name__` is missing;
// Prometheus drops such series and answers 204, here they are left out, counted and named in
// `first_rejection` so the receiver can answer 400 (the remote-write 1.0 specification's
// answer for invalid data, which senders do not retry). Labels need not arrive sorted; empty
// values are removed (an empty value means "no label"). Series that repeat a label set are
// merged in request order. Within a series, a sample whose timestamp is below the previous
// one, or equal to it with a different value, is left out and counted (Prometheus's head
// drops it when the request is committed); an exact repeat is merged without loss. NaN
// values, the staleness marker included, are kept bit for bit. Native histograms are not
// supported: their points are refused and counted, the series' float samples are kept.
//
// Pure functions; safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "metrics/metrics_model.h"

namespace observex::metrics {

// MetricMetadata.MetricType; the same eight types OpenMetrics names.
enum class MetadataType : uint8_t {
  kUnknown = 0,
  kCounter = 1,
  kGauge = 2,
  kHistogram = 3,
  kGaugeHistogram = 4,
  kSummary = 5,
  kInfo = 6,
  kStateset = 7,
};
// "unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset".
std::string_view MetadataTypeName(MetadataType type);

// One metric family's metadata as a sender describes it.
struct FamilyMetadata {
  std::string name;  // metric_family_name, e.g. "http_requests" (OpenMetrics) or "up"
  MetadataType type = MetadataType::kUnknown;
  std::string help;
  std::string unit;
  friend bool operator==(const FamilyMetadata&, const FamilyMetadata&) = default;
};

struct PromStats {
  uint64_t series_read = 0;        // TimeSeries messages (or distinct text series)
  uint64_t samples_read = 0;       // float samples read, including rejected ones
  uint64_t rejected_series = 0;    // series left out for invalid labels
  uint64_t rejected_samples = 0;   // their samples, plus out-of-order and conflicting ones
  uint64_t histogram_points = 0;   // native histogram points refused
  uint64_t duplicate_samples = 0;  // exact repeats merged (nothing lost)
  uint64_t rejected_metadata = 0;  // metadata without a valid family name, left out
  // The first rejection, naming the series, e.g. `timeseries[3] {__name__="up", job="a"}:
  // duplicate label name "job"`; "" when nothing was rejected.
  std::string first_rejection;

  // Signals refused: rejected float samples and native histogram points.
  uint64_t rejected() const { return rejected_samples + histogram_points; }
};

// A validated request. `metrics.series` keeps the metrics model's promises (unique label sets
// with __name__, fingerprints, strictly increasing samples, first-appearance order);
// `metrics.families` holds the metadata whose type the model can express (counter, gauge,
// histogram, summary), sorted by name; `metadata` holds every entry of every type, first per
// family name, in request order.
struct PromBatch {
  MetricsBatch metrics;
  std::vector<FamilyMetadata> metadata;
  PromStats stats;

  size_t sample_count() const { return metrics.sample_count(); }
};

// Parses an uncompressed WriteRequest. InvalidArgument when the bytes are not one, naming the
// field path and the byte offset (`invalid WriteRequest at byte 17 (timeseries[0].samples[1]):
// truncated varint`). Rejected series and samples are not errors: see PromStats.
absl::StatusOr<PromBatch> ParseWriteRequest(std::string_view bytes);

// A WriteRequest holding `series` (labels in set order, samples as given) and `metadata`.
// Parsing the result gives the same series and metadata back.
std::string EncodeWriteRequest(const std::vector<Series>& series,
                               const std::vector<FamilyMetadata>& metadata);
inline std::string EncodeWriteRequest(const PromBatch& batch) {
  return EncodeWriteRequest(batch.metrics.series, batch.metadata);
}

// The MetricFamily entries for `metadata` whose type the metrics model expresses (unknown,
// gaugehistogram, info and stateset have no MetricType), sorted by name, first per name.
std::vector<MetricFamily> FamiliesFromMetadata(const std::vector<FamilyMetadata>& metadata);

// The series' label set as Prometheus prints it, cut after about 200 bytes (for messages).
std::string DescribeSeries(const std::vector<query::Label>& labels);

}  // namespace observex::metrics
