// Request builders and helpers shared by the OTLP codec tests.
#pragma once

#include <string>
#include <string_view>

#include "google/protobuf/util/message_differencer.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/otlp.h"

namespace observex::otlp::testing {

using TraceRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using MetricsRequest = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using LogsRequest = opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
namespace metrics = opentelemetry::proto::metrics::v1;
namespace logs = opentelemetry::proto::logs::v1;

// 16 and 8 byte ids from hex, for readable fixtures.
std::string Hex(std::string_view hex);

inline common::KeyValue* AddString(google::protobuf::RepeatedPtrField<common::KeyValue>* kvs,
                                   std::string key, std::string value) {
  common::KeyValue* kv = kvs->Add();
  kv->set_key(std::move(key));
  kv->mutable_value()->set_string_value(std::move(value));
  return kv;
}

// Every AnyValue kind once: string, bool, int, double, bytes, array, kvlist.
void AddEveryValueKind(google::protobuf::RepeatedPtrField<common::KeyValue>* kvs);

// One resource, one scope, two spans (one with an event and a link), every value kind.
TraceRequest SampleTraces();
// One metric of each kind: gauge (2 points), sum, histogram, exponential histogram, summary.
MetricsRequest SampleMetrics();
// Two log records, one with a kvlist body.
LogsRequest SampleLogs();

inline std::string Diff(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  std::string report;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&report);
  return d.Compare(a, b) ? std::string() : report;
}

inline Limits DefaultLimits() { return Limits{}; }

}  // namespace observex::otlp::testing
