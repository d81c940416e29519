// Attribute limits, applied in place. The common case is a request within every limit; then
// this is one read-only pass over sizes and nothing is written, so the receiver can keep the
// original body.
#include <algorithm>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/internal.h"
#include "otlp/otlp.h"

namespace observex::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace metrics = opentelemetry::proto::metrics::v1;
using KeyValues = google::protobuf::RepeatedPtrField<common::KeyValue>;

class LimitApplier {
 public:
  explicit LimitApplier(const Limits& limits) : l_(limits) {}

  LimitReport report;

  // Resources, scopes, spans, events, links, log records and data points. Items with a
  // dropped_attributes_count field record the drop there; data points have none, so their
  // drops show only in the report.
  template <typename Item>
  void Apply(Item& item) {
    uint32_t dropped = 0;
    if (Attributes(*item.mutable_attributes(), dropped)) ++report.items_affected;
    if constexpr (requires { item.set_dropped_attributes_count(0u); }) {
      if (dropped > 0) {
        const uint64_t total = uint64_t{item.dropped_attributes_count()} + dropped;
        item.set_dropped_attributes_count(
            static_cast<uint32_t>(std::min<uint64_t>(total, UINT32_MAX)));
      }
    }
  }

  void Traces(opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& r) {
    for (auto& rs : *r.mutable_resource_spans()) {
      if (rs.has_resource()) Apply(*rs.mutable_resource());
      for (auto& ss : *rs.mutable_scope_spans()) {
        if (ss.has_scope()) Apply(*ss.mutable_scope());
        for (auto& span : *ss.mutable_spans()) {
          Apply(span);
          for (auto& event : *span.mutable_events()) Apply(event);
          for (auto& link : *span.mutable_links()) Apply(link);
        }
      }
    }
  }

  void Metrics(opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& r) {
    for (auto& rm : *r.mutable_resource_metrics()) {
      if (rm.has_resource()) Apply(*rm.mutable_resource());
      for (auto& sm : *rm.mutable_scope_metrics()) {
        if (sm.has_scope()) Apply(*sm.mutable_scope());
        for (metrics::Metric& m : *sm.mutable_metrics()) {
          switch (m.data_case()) {
            case metrics::Metric::kGauge:
              for (auto& p : *m.mutable_gauge()->mutable_data_points()) Apply(p);
              break;
            case metrics::Metric::kSum:
              for (auto& p : *m.mutable_sum()->mutable_data_points()) Apply(p);
              break;
            case metrics::Metric::kHistogram:
              for (auto& p : *m.mutable_histogram()->mutable_data_points()) Apply(p);
              break;
            case metrics::Metric::kExponentialHistogram:
              for (auto& p : *m.mutable_exponential_histogram()->mutable_data_points()) Apply(p);
              break;
            case metrics::Metric::kSummary:
              for (auto& p : *m.mutable_summary()->mutable_data_points()) Apply(p);
              break;
            case metrics::Metric::DATA_NOT_SET:
              break;
          }
        }
      }
    }
  }

  void Logs(opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& r) {
    for (auto& rl : *r.mutable_resource_logs()) {
      if (rl.has_resource()) Apply(*rl.mutable_resource());
      for (auto& sl : *rl.mutable_scope_logs()) {
        if (sl.has_scope()) Apply(*sl.mutable_scope());
        for (auto& record : *sl.mutable_log_records()) Apply(record);
      }
    }
  }

 private:
  // True when anything in `kvs` was dropped or cut. Keeps the first max_attributes entries:
  // senders put the attributes they care most about first far more often than last.
  bool Attributes(KeyValues& kvs, uint32_t& dropped) {
    bool changed = false;
    if (static_cast<uint32_t>(kvs.size()) > l_.max_attributes) {
      dropped = static_cast<uint32_t>(kvs.size()) - l_.max_attributes;
      kvs.DeleteSubrange(static_cast<int>(l_.max_attributes), static_cast<int>(dropped));
      report.dropped_attributes += dropped;
      changed = true;
    }
    for (common::KeyValue& kv : kvs) changed |= KeyValue(kv);
    return changed;
  }

  bool KeyValue(common::KeyValue& kv) {
    bool changed = false;
    if (kv.key().size() > l_.max_attribute_key_bytes) {
      kv.mutable_key()->resize(internal::Utf8SafePrefix(kv.key(), l_.max_attribute_key_bytes));
      ++report.truncated_values;
      changed = true;
    }
    if (kv.has_value()) changed |= Value(*kv.mutable_value());
    return changed;
  }

  bool Value(common::AnyValue& v) {
    switch (v.value_case()) {
      case common::AnyValue::kStringValue:
        if (v.string_value().size() > l_.max_attribute_value_bytes) {
          v.mutable_string_value()->resize(
              internal::Utf8SafePrefix(v.string_value(), l_.max_attribute_value_bytes));
          ++report.truncated_values;
          return true;
        }
        return false;
      case common::AnyValue::kBytesValue:
        if (v.bytes_value().size() > l_.max_attribute_value_bytes) {
          v.mutable_bytes_value()->resize(l_.max_attribute_value_bytes);
          ++report.truncated_values;
          return true;
        }
        return false;
      case common::AnyValue::kArrayValue: {
        bool changed = false;
        for (common::AnyValue& x : *v.mutable_array_value()->mutable_values()) {
          changed |= Value(x);
        }
        return changed;
      }
      case common::AnyValue::kKvlistValue: {
        bool changed = false;
        for (common::KeyValue& kv : *v.mutable_kvlist_value()->mutable_values()) {
          changed |= KeyValue(kv);
        }
        return changed;
      }
      default:
        return false;
    }
  }

  const Limits& l_;
};

}  // namespace

LimitReport ApplyLimits(const Limits& limits, DecodedRequest& request) {
  LimitApplier applier(limits);
  if (request.message == nullptr ||
      request.message->GetDescriptor() != internal::RequestDescriptor(request.type)) {
    return applier.report;
  }
  switch (request.type) {
    case SignalType::kTraces:
      applier.Traces(
          static_cast<opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest&>(
              *request.message));
      break;
    case SignalType::kMetrics:
      applier.Metrics(
          static_cast<opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest&>(
              *request.message));
      break;
    case SignalType::kLogs:
      applier.Logs(
          static_cast<opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest&>(
              *request.message));
      break;
    case SignalType::kPrometheus:  // not OTLP (and never reaches here: no descriptor)
      break;
  }
  return applier.report;
}

}  // namespace observex::otlp
