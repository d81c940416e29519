// Semantic checks on a parsed request (one typed pass, no reflection: this runs for every
// request on the ack path) and the cold-path diagnosis of protobuf that failed to parse.
#include <map>

#include "absl/strings/str_cat.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/internal.h"

namespace observex::otlp::internal {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace resource = opentelemetry::proto::resource::v1;
namespace trace = opentelemetry::proto::trace::v1;
namespace metrics = opentelemetry::proto::metrics::v1;
namespace logs = opentelemetry::proto::logs::v1;
using KeyValues = google::protobuf::RepeatedPtrField<common::KeyValue>;

constexpr size_t kTraceIdBytes = 16;
constexpr size_t kSpanIdBytes = 8;

class Validator {
 public:
  explicit Validator(const Limits& limits) : limits_(limits) {}

  absl::Status Traces(
      const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& r,
      uint32_t& count) {
    for (int i = 0; i < r.resource_spans_size(); ++i) {
      const trace::ResourceSpans& rs = r.resource_spans(i);
      path_.Push("resourceSpans", i);
      if (auto st = Resource(rs.resource()); !st.ok()) return st;
      if (auto st = NoDeprecated(rs, "instrumentationLibrarySpans", "scopeSpans"); !st.ok()) {
        return st;
      }
      for (int j = 0; j < rs.scope_spans_size(); ++j) {
        const trace::ScopeSpans& ss = rs.scope_spans(j);
        path_.Push("scopeSpans", j);
        if (auto st = Scope(ss.scope()); !st.ok()) return st;
        path_.Push("spans");
        for (int k = 0; k < ss.spans_size(); ++k) {
          path_.SetIndex(k);
          if (auto st = Span(ss.spans(k)); !st.ok()) return st;
        }
        count += static_cast<uint32_t>(ss.spans_size());
        path_.Pop();
        path_.Pop();
      }
      path_.Pop();
    }
    return absl::OkStatus();
  }

  absl::Status Metrics(
      const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& r,
      uint32_t& count) {
    for (int i = 0; i < r.resource_metrics_size(); ++i) {
      const metrics::ResourceMetrics& rm = r.resource_metrics(i);
      path_.Push("resourceMetrics", i);
      if (auto st = Resource(rm.resource()); !st.ok()) return st;
      if (auto st = NoDeprecated(rm, "instrumentationLibraryMetrics", "scopeMetrics"); !st.ok()) {
        return st;
      }
      for (int j = 0; j < rm.scope_metrics_size(); ++j) {
        const metrics::ScopeMetrics& sm = rm.scope_metrics(j);
        path_.Push("scopeMetrics", j);
        if (auto st = Scope(sm.scope()); !st.ok()) return st;
        path_.Push("metrics");
        for (int k = 0; k < sm.metrics_size(); ++k) {
          path_.SetIndex(k);
          if (auto st = Metric(sm.metrics(k), count); !st.ok()) return st;
        }
        path_.Pop();
        path_.Pop();
      }
      path_.Pop();
    }
    return absl::OkStatus();
  }

  absl::Status Logs(const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& r,
                    uint32_t& count) {
    for (int i = 0; i < r.resource_logs_size(); ++i) {
      const logs::ResourceLogs& rl = r.resource_logs(i);
      path_.Push("resourceLogs", i);
      if (auto st = Resource(rl.resource()); !st.ok()) return st;
      if (auto st = NoDeprecated(rl, "instrumentationLibraryLogs", "scopeLogs"); !st.ok()) {
        return st;
      }
      for (int j = 0; j < rl.scope_logs_size(); ++j) {
        const logs::ScopeLogs& sl = rl.scope_logs(j);
        path_.Push("scopeLogs", j);
        if (auto st = Scope(sl.scope()); !st.ok()) return st;
        path_.Push("logRecords");
        for (int k = 0; k < sl.log_records_size(); ++k) {
          path_.SetIndex(k);
          if (auto st = LogRecord(sl.log_records(k)); !st.ok()) return st;
        }
        count += static_cast<uint32_t>(sl.log_records_size());
        path_.Pop();
        path_.Pop();
      }
      path_.Pop();
    }
    return absl::OkStatus();
  }

 private:
  // The pre-1.0 InstrumentationLibrary* lists (field 1000) are still in the pinned protos. We
  // refuse them instead of storing data that every later stage would ignore.
  absl::Status NoDeprecated(const google::protobuf::Message& m, std::string_view json_name,
                            std::string_view replacement) {
    const google::protobuf::FieldDescriptor* f = m.GetDescriptor()->FindFieldByNumber(1000);
    if (f == nullptr || m.GetReflection()->FieldSize(m, f) == 0) return absl::OkStatus();
    path_.Push(json_name);
    return PathError(
        path_, absl::StrCat("deprecated field is not supported; send ",
                            absl::string_view(replacement.data(), replacement.size()), " instead"));
  }

  absl::Status Resource(const resource::Resource& r) {
    path_.Push("resource");
    if (auto st = Attributes(r.attributes()); !st.ok()) return st;
    path_.Pop();
    return absl::OkStatus();
  }

  absl::Status Scope(const common::InstrumentationScope& s) {
    path_.Push("scope");
    if (auto st = Attributes(s.attributes()); !st.ok()) return st;
    path_.Pop();
    return absl::OkStatus();
  }

  absl::Status Span(const trace::Span& s) {
    if (auto st = Id(s.trace_id(), kTraceIdBytes, "traceId"); !st.ok()) return st;
    if (s.trace_id().size() == kTraceIdBytes &&
        s.trace_id().find_first_not_of('\0') == std::string::npos) {
      path_.Push("traceId");
      return PathError(path_, "must not be all zeros (an all-zero trace id is invalid)");
    }
    if (auto st = Id(s.span_id(), kSpanIdBytes, "spanId"); !st.ok()) return st;
    if (auto st = Id(s.parent_span_id(), kSpanIdBytes, "parentSpanId"); !st.ok()) return st;
    if (auto st = Attributes(s.attributes()); !st.ok()) return st;
    if (s.events_size() > 0) {
      path_.Push("events");
      for (int i = 0; i < s.events_size(); ++i) {
        path_.SetIndex(i);
        if (auto st = Attributes(s.events(i).attributes()); !st.ok()) return st;
      }
      path_.Pop();
    }
    if (s.links_size() > 0) {
      path_.Push("links");
      for (int i = 0; i < s.links_size(); ++i) {
        path_.SetIndex(i);
        const trace::Span::Link& l = s.links(i);
        if (auto st = Id(l.trace_id(), kTraceIdBytes, "traceId"); !st.ok()) return st;
        if (auto st = Id(l.span_id(), kSpanIdBytes, "spanId"); !st.ok()) return st;
        if (auto st = Attributes(l.attributes()); !st.ok()) return st;
      }
      path_.Pop();
    }
    return absl::OkStatus();
  }

  absl::Status LogRecord(const logs::LogRecord& r) {
    if (auto st = Id(r.trace_id(), kTraceIdBytes, "traceId"); !st.ok()) return st;
    if (auto st = Id(r.span_id(), kSpanIdBytes, "spanId"); !st.ok()) return st;
    if (auto st = Attributes(r.attributes()); !st.ok()) return st;
    if (r.has_body() && !NestingOk(r.body(), 0)) {
      path_.Push("body");
      return NestingError();
    }
    return absl::OkStatus();
  }

  absl::Status Metric(const metrics::Metric& m, uint32_t& count) {
    switch (m.data_case()) {
      case metrics::Metric::kGauge:
        return Points("gauge", m.gauge().data_points(), count);
      case metrics::Metric::kSum:
        return Points("sum", m.sum().data_points(), count);
      case metrics::Metric::kHistogram:
        return Points("histogram", m.histogram().data_points(), count);
      case metrics::Metric::kExponentialHistogram:
        return Points("exponentialHistogram", m.exponential_histogram().data_points(), count);
      case metrics::Metric::kSummary:
        return Points("summary", m.summary().data_points(), count);
      case metrics::Metric::DATA_NOT_SET:
        break;
    }
    return absl::OkStatus();
  }

  template <typename Point>
  absl::Status Points(std::string_view kind,
                      const google::protobuf::RepeatedPtrField<Point>& points, uint32_t& count) {
    path_.Push(kind);
    path_.Push("dataPoints");
    for (int i = 0; i < points.size(); ++i) {
      path_.SetIndex(i);
      const Point& p = points[i];
      if (auto st = Attributes(p.attributes()); !st.ok()) return st;
      if constexpr (requires { p.exemplars(); }) {
        if (p.exemplars_size() > 0) {
          path_.Push("exemplars");
          for (int x = 0; x < p.exemplars_size(); ++x) {
            path_.SetIndex(x);
            const metrics::Exemplar& e = p.exemplars(x);
            if (auto st = Id(e.trace_id(), kTraceIdBytes, "traceId"); !st.ok()) return st;
            if (auto st = Id(e.span_id(), kSpanIdBytes, "spanId"); !st.ok()) return st;
            if (auto st = Attributes(e.filtered_attributes(), "filteredAttributes"); !st.ok()) {
              return st;
            }
          }
          path_.Pop();
        }
      }
    }
    count += static_cast<uint32_t>(points.size());
    path_.Pop();
    path_.Pop();
    return absl::OkStatus();
  }

  absl::Status Id(const std::string& id, size_t want, std::string_view name) {
    if (id.empty() || id.size() == want) return absl::OkStatus();
    path_.Push(name);
    return PathError(path_, absl::StrCat("must be ", want, " bytes (", want * 2,
                                         " hex digits), got ", id.size()));
  }

  absl::Status Attributes(const KeyValues& kvs, std::string_view name = "attributes") {
    for (int i = 0; i < kvs.size(); ++i) {
      if (!NestingOk(kvs[i].value(), 0)) {
        path_.Push(name, i);
        path_.Push("value");
        return NestingError();
      }
    }
    return absl::OkStatus();
  }

  // Nesting counts array/kvlist containers: a scalar is 0, an array of scalars 1.
  bool NestingOk(const common::AnyValue& v, uint32_t enclosing) const {
    switch (v.value_case()) {
      case common::AnyValue::kArrayValue:
        if (enclosing + 1 > limits_.max_nesting_depth) return false;
        for (const common::AnyValue& x : v.array_value().values()) {
          if (!NestingOk(x, enclosing + 1)) return false;
        }
        return true;
      case common::AnyValue::kKvlistValue:
        if (enclosing + 1 > limits_.max_nesting_depth) return false;
        for (const common::KeyValue& kv : v.kvlist_value().values()) {
          if (!NestingOk(kv.value(), enclosing + 1)) return false;
        }
        return true;
      default:
        return true;
    }
  }

  absl::Status NestingError() const {
    return PathError(path_, absl::StrCat("AnyValue nesting deeper than ", limits_.max_nesting_depth,
                                         " levels of arrays/kvlists"));
  }

  const Limits& limits_;
  FieldPath path_;
};

// ---- protobuf wire diagnosis (only after ParseFromArray failed) ----

constexpr int kMaxMessageDepth = 100;  // protobuf's default recursion limit

bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) return false;
    uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

std::string At(const FieldPath& path, std::string what) {
  if (path.empty()) return what;
  return absl::StrCat(path.ToString(), ": ", what);
}

bool PackedOk(const google::protobuf::FieldDescriptor* f, const uint8_t* p, const uint8_t* end) {
  using FD = google::protobuf::FieldDescriptor;
  switch (f->type()) {
    case FD::TYPE_FIXED64:
    case FD::TYPE_SFIXED64:
    case FD::TYPE_DOUBLE:
      return (end - p) % 8 == 0;
    case FD::TYPE_FIXED32:
    case FD::TYPE_SFIXED32:
    case FD::TYPE_FLOAT:
      return (end - p) % 4 == 0;
    default:
      while (p < end) {
        uint64_t v;
        if (!ReadVarint(p, end, v)) return false;
      }
      return true;
  }
}

std::string Walk(const google::protobuf::Descriptor* d, const uint8_t* begin, const uint8_t* p,
                 const uint8_t* end, FieldPath& path, int depth) {
  using FD = google::protobuf::FieldDescriptor;
  if (depth > kMaxMessageDepth) {
    return At(path, absl::StrCat("messages nested deeper than ", kMaxMessageDepth, " levels"));
  }
  std::map<int, int> occurrences;  // repeated field number -> elements seen, for indices
  while (p < end) {
    const size_t offset = static_cast<size_t>(p - begin);
    uint64_t tag;
    if (!ReadVarint(p, end, tag) || tag > 0xFFFFFFFFu || (tag >> 3) == 0) {
      return At(path, absl::StrCat("invalid field tag at byte ", offset));
    }
    const int number = static_cast<int>(tag >> 3);
    const int wire_type = static_cast<int>(tag & 7);
    const FD* f = d->FindFieldByNumber(number);
    switch (wire_type) {
      case 0: {
        uint64_t v;
        if (!ReadVarint(p, end, v)) {
          return At(path, absl::StrCat("truncated varint of field ", number, " at byte ", offset));
        }
        break;
      }
      case 1:
      case 5: {
        const int n = wire_type == 1 ? 8 : 4;
        if (end - p < n) {
          return At(path,
                    absl::StrCat("truncated fixed", n * 8, " field ", number, " at byte ", offset));
        }
        p += n;
        break;
      }
      case 2: {
        uint64_t len;
        if (!ReadVarint(p, end, len) || len > static_cast<uint64_t>(end - p)) {
          return At(path, absl::StrCat("field ", number, " at byte ", offset,
                                       " is truncated (its length runs past the end)"));
        }
        const uint8_t* sub = p;
        p += len;
        if (f == nullptr) break;
        const int index = f->is_repeated() ? occurrences[number]++ : -1;
        if (f->type() == FD::TYPE_STRING) {
          std::string_view s(reinterpret_cast<const char*>(sub), len);
          if (!IsValidUtf8(s)) {
            path.Push(JsonName(f), index);
            std::string r = At(path, "invalid UTF-8 in a string field (use bytes for binary data)");
            path.Pop();
            return r;
          }
        } else if (f->type() == FD::TYPE_MESSAGE) {
          path.Push(JsonName(f), index);
          std::string r = Walk(f->message_type(), begin, sub, sub + len, path, depth + 1);
          path.Pop();
          if (!r.empty()) return r;
        } else if (f->is_packable() && !PackedOk(f, sub, sub + len)) {
          path.Push(JsonName(f));
          std::string r = At(path, "malformed packed repeated field");
          path.Pop();
          return r;
        }
        break;
      }
      case 3:
      case 4:
        return std::string();  // groups: leave it to the generic message
      default:
        return At(path, absl::StrCat("invalid wire type ", wire_type, " at byte ", offset));
    }
  }
  return std::string();
}

}  // namespace

absl::Status Validate(const Limits& limits, DecodedRequest& request) {
  Validator v(limits);
  uint32_t count = 0;
  absl::Status st;
  switch (request.type) {
    case SignalType::kTraces:
      st = v.Traces(
          static_cast<const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest&>(
              *request.message),
          count);
      break;
    case SignalType::kMetrics:
      st = v.Metrics(
          static_cast<
              const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest&>(
              *request.message),
          count);
      break;
    case SignalType::kLogs:
      st = v.Logs(
          static_cast<const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest&>(
              *request.message),
          count);
      break;
    case SignalType::kPrometheus:
      st = absl::InvalidArgumentError("a Prometheus request is not an OTLP request");
      break;
  }
  if (!st.ok()) return st;
  request.signal_count = count;
  return absl::OkStatus();
}

std::string DiagnoseProtobuf(const google::protobuf::Descriptor* descriptor,
                             std::string_view body) {
  FieldPath path;
  const auto* begin = reinterpret_cast<const uint8_t*>(body.data());
  return Walk(descriptor, begin, begin, begin + body.size(), path, 0);
}

}  // namespace observex::otlp::internal
