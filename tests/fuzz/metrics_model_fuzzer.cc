// Fuzzes the metrics model: the input is decoded as an OTLP/protobuf ExportMetricsServiceRequest
// and, when accepted, converted to Prometheus series with two option sets (defaults, and one with
// promoted resource attributes, no scope labels, no target_info and a low classic scale).
// Invariants: no crash or sanitizer report; conversion succeeds; every label set is non-empty,
// sorted by name with unique names and non-empty valid UTF-8 values, carries its own
// fingerprint, and has only names of the form [a-zA-Z_][a-zA-Z0-9_]* (what attribute keys are
// sanitised to) and a metric name of the form [a-zA-Z_:][a-zA-Z0-9_:]*; no two series (and no
// two exponential histogram series) share a label set; every series has samples in strictly
// increasing time order; families are sorted with unique names; no more data points are
// rejected than were read.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "metrics/fingerprint.h"
#include "metrics/metrics_model.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "otlp/otlp.h"
#include "query/labels.h"

namespace {

using observex::SignalType;
namespace metrics = observex::metrics;
namespace otlp = observex::otlp;
namespace query = observex::query;

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void CheckLabels(const query::Labels& labels, uint64_t fingerprint,
                 absl::flat_hash_set<std::string>& seen) {
  if (labels.empty()) abort();
  if (metrics::Fingerprint(labels) != fingerprint) abort();
  if (!seen.insert(labels.Key()).second) abort();  // a duplicate series
  const auto& items = labels.items();
  for (size_t i = 0; i < items.size(); ++i) {
    const query::Label& l = items[i];
    if (i > 0 && !(items[i - 1].name < l.name)) abort();
    if (!query::IsValidLabelName(l.name) || !query::IsLegacyLabelName(l.name)) abort();
    if (l.value.empty() || !query::IsValidUtf8(l.value)) abort();
  }
  if (!IsMetricName(labels.Get(query::kMetricNameLabel))) abort();
}

void Check(const metrics::MetricsRequest& request, const metrics::ConvertOptions& options) {
  absl::StatusOr<metrics::MetricsBatch> batch = metrics::ConvertMetrics(request, options);
  if (!batch.ok()) abort();  // the options are valid, so conversion cannot fail
  absl::flat_hash_set<std::string> seen;
  for (const metrics::Series& s : batch->series) {
    CheckLabels(s.labels, s.fingerprint, seen);
    if (s.samples.empty()) abort();
    for (size_t i = 1; i < s.samples.size(); ++i) {
      if (s.samples[i - 1].t_ms >= s.samples[i].t_ms) abort();
    }
  }
  seen.clear();  // exponential histograms are a separate table
  for (const metrics::ExponentialHistogramSeries& s : batch->exponential_histograms) {
    CheckLabels(s.labels, s.fingerprint, seen);
    if (s.points.empty()) abort();
    for (size_t i = 1; i < s.points.size(); ++i) {
      if (s.points[i - 1].t_ms >= s.points[i].t_ms) abort();
    }
  }
  for (size_t i = 0; i < batch->families.size(); ++i) {
    if (!IsMetricName(batch->families[i].name)) abort();
    if (i > 0 && !(batch->families[i - 1].name < batch->families[i].name)) abort();
  }
  const metrics::ConversionStats& st = batch->stats;
  if (st.rejected_data_points() > st.data_points) abort();
  if ((st.rejected_data_points() > 0) == st.first_rejection.empty()) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  otlp::Limits limits;
  limits.max_nesting_depth = 8;
  absl::StatusOr<otlp::DecodedRequest> decoded =
      otlp::Decode(SignalType::kMetrics, otlp::Encoding::kProtobuf, body, limits);
  if (!decoded.ok()) return 0;
  const auto* request = dynamic_cast<const metrics::MetricsRequest*>(decoded->message.get());
  if (request == nullptr) abort();

  Check(*request, metrics::ConvertOptions{});
  metrics::ConvertOptions other;
  other.promote_resource_attributes = {"service.namespace", "host.name", "k8s.pod.name"};
  other.promote_scope_metadata = false;
  other.target_info = false;
  other.target_info_interval_ms = 1;
  other.classic_max_scale = metrics::kMinExponentialScale;
  if (!metrics::ValidateOptions(other).ok()) abort();
  Check(*request, other);
  return 0;
}
