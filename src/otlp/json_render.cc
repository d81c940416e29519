// protobuf -> OTLP/JSON for operators (`observex wal dump`): one object per signal, carrying
// its resource and scope, rendered with the OTLP/JSON mapping so it can be compared with what
// a client sent.
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/internal.h"
#include "otlp/otlp.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace observex::otlp {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
namespace metrics = opentelemetry::proto::metrics::v1;

constexpr char kHex[] = "0123456789abcdef";

class JsonOut {
 public:
  JsonOut() : writer_(buffer_) {}
  JsonOut(const JsonOut&) = delete;  // the writer points at buffer_
  JsonOut& operator=(const JsonOut&) = delete;

  void Reset() {
    buffer_.Clear();
    writer_.Reset(buffer_);
  }
  std::string_view View() const { return std::string_view(buffer_.GetString(), buffer_.GetSize()); }
  rapidjson::Writer<rapidjson::StringBuffer>& w() { return writer_; }

  void Key(std::string_view k) {
    writer_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
  }

  void String(std::string_view s) {
    // Strings of a parsed proto3 message are valid UTF-8 already; this guards records written
    // by anything that skipped that check, so the output stays parseable JSON.
    if (!internal::IsValidUtf8(s)) {
      std::string fixed = ReplaceInvalidUtf8(s);
      writer_.String(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()));
      return;
    }
    writer_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  }

  void Double(double d) {
    if (std::isnan(d)) {
      writer_.String("NaN");
    } else if (std::isinf(d)) {
      writer_.String(d > 0 ? "Infinity" : "-Infinity");
    } else {
      writer_.Double(d);
    }
  }

  // proto3 JSON: 64-bit integers as decimal strings.
  template <typename T>
  void Int64String(T v) {
    String(absl::StrCat(v));
  }

  void Raw(std::string_view json) {
    writer_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
  }

  // The OTLP/JSON form of a message: lowerCamelCase keys, fields at their default value
  // omitted (except members of a oneof or optional fields, whose presence is data), enums as
  // integers, ids in hex, other bytes in base64.
  void Message(const google::protobuf::Message& m) {
    const Reflection* refl = m.GetReflection();
    std::vector<const FieldDescriptor*> fields;
    refl->ListFields(m, &fields);
    writer_.StartObject();
    for (const FieldDescriptor* f : fields) {
      Key(internal::JsonName(f));
      if (f->is_repeated()) {
        writer_.StartArray();
        const int n = refl->FieldSize(m, f);
        for (int i = 0; i < n; ++i) Value(m, f, i);
        writer_.EndArray();
      } else {
        Value(m, f, -1);
      }
    }
    writer_.EndObject();
  }

 private:
  static std::string ReplaceInvalidUtf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
      size_t len = 1;
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0xF0) {
        len = 4;
      } else if (c >= 0xE0) {
        len = 3;
      } else if (c >= 0xC0) {
        len = 2;
      }
      if (i + len <= s.size() && internal::IsValidUtf8(s.substr(i, len))) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        out.append("\xEF\xBF\xBD");  // U+FFFD
        ++i;
      }
    }
    return out;
  }

  void Value(const google::protobuf::Message& m, const FieldDescriptor* f, int i) {
    const Reflection* r = m.GetReflection();
    const bool rep = i >= 0;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        writer_.Int(rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        writer_.Uint(rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        Int64String(rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        Int64String(rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        Double(rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        Double(rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        writer_.Bool(rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        // The OTLP/JSON mapping requires enum values as integers.
        writer_.Int(rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f));
        break;
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& s = rep ? r->GetRepeatedStringReference(m, f, i, &scratch)
                                   : r->GetStringReference(m, f, &scratch);
        if (f->type() != FieldDescriptor::TYPE_BYTES) {
          String(s);
        } else if (internal::IsHexIdField(f)) {
          std::string hex;
          hex.reserve(s.size() * 2);
          for (unsigned char c : s) {
            hex.push_back(kHex[c >> 4]);
            hex.push_back(kHex[c & 15]);
          }
          String(hex);
        } else {
          String(absl::Base64Escape(s));
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        Message(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f));
        break;
    }
  }

  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

// Resource and scope are rendered once per group and spliced into each signal's object.
std::string Render(const Message& m) {
  JsonOut out;
  out.Message(m);
  return std::string(out.View());
}

struct Emitter {
  const std::function<void(std::string_view)>& emit;
  JsonOut out;

  void Begin(const std::string& resource, const std::string& scope, std::string_view key) {
    out.Reset();
    out.w().StartObject();
    out.Key("resource");
    out.Raw(resource);
    out.Key("scope");
    out.Raw(scope);
    out.Key(key);
  }
  void End() {
    out.w().EndObject();
    emit(out.View());
  }
};

template <typename Points>
void EmitPoints(Emitter& e, const std::string& resource, const std::string& scope,
                const metrics::Metric& m, std::string_view type, const Points& points,
                int temporality, int monotonic) {
  for (const auto& p : points) {
    e.Begin(resource, scope, "metric");
    JsonOut& o = e.out;
    o.w().StartObject();
    o.Key("name");
    o.String(m.name());
    o.Key("description");
    o.String(m.description());
    o.Key("unit");
    o.String(m.unit());
    o.Key("type");
    o.String(type);
    if (temporality >= 0) {
      o.Key("aggregationTemporality");
      o.w().Int(temporality);
    }
    if (monotonic >= 0) {
      o.Key("isMonotonic");
      o.w().Bool(monotonic != 0);
    }
    o.Key("point");
    o.Message(p);
    o.w().EndObject();
    e.End();
  }
}

absl::Status Malformed(const google::protobuf::Descriptor* d, std::string_view body) {
  std::string detail = internal::DiagnoseProtobuf(d, body);
  return absl::InvalidArgumentError(
      absl::StrCat("malformed protobuf ", d->name(), detail.empty() ? "" : ": ", detail));
}

}  // namespace

std::string EncodeJson(const google::protobuf::Message& message) { return Render(message); }

absl::Status ForEachSignalJson(SignalType type, std::string_view request_protobuf,
                               const std::function<void(std::string_view json)>& emit) {
  google::protobuf::Arena arena;
  Message* request = internal::NewRequest(type, &arena);
  if (request == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown signal type ", static_cast<int>(type)));
  }
  if (request_protobuf.size() > static_cast<size_t>(INT32_MAX) ||
      !request->ParseFromArray(request_protobuf.data(),
                               static_cast<int>(request_protobuf.size()))) {
    return Malformed(request->GetDescriptor(), request_protobuf);
  }
  Emitter e{emit, {}};
  switch (type) {
    case SignalType::kTraces: {
      const auto& r =
          static_cast<const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest&>(
              *request);
      for (const auto& rs : r.resource_spans()) {
        const std::string resource = Render(rs.resource());
        for (const auto& ss : rs.scope_spans()) {
          const std::string scope = Render(ss.scope());
          for (const auto& span : ss.spans()) {
            e.Begin(resource, scope, "span");
            e.out.Message(span);
            e.End();
          }
        }
      }
      break;
    }
    case SignalType::kMetrics: {
      const auto& r = static_cast<
          const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest&>(
          *request);
      for (const auto& rm : r.resource_metrics()) {
        const std::string resource = Render(rm.resource());
        for (const auto& sm : rm.scope_metrics()) {
          const std::string scope = Render(sm.scope());
          for (const metrics::Metric& m : sm.metrics()) {
            switch (m.data_case()) {
              case metrics::Metric::kGauge:
                EmitPoints(e, resource, scope, m, "gauge", m.gauge().data_points(), -1, -1);
                break;
              case metrics::Metric::kSum:
                EmitPoints(e, resource, scope, m, "sum", m.sum().data_points(),
                           m.sum().aggregation_temporality(), m.sum().is_monotonic() ? 1 : 0);
                break;
              case metrics::Metric::kHistogram:
                EmitPoints(e, resource, scope, m, "histogram", m.histogram().data_points(),
                           m.histogram().aggregation_temporality(), -1);
                break;
              case metrics::Metric::kExponentialHistogram:
                EmitPoints(e, resource, scope, m, "exponential_histogram",
                           m.exponential_histogram().data_points(),
                           m.exponential_histogram().aggregation_temporality(), -1);
                break;
              case metrics::Metric::kSummary:
                EmitPoints(e, resource, scope, m, "summary", m.summary().data_points(), -1, -1);
                break;
              case metrics::Metric::DATA_NOT_SET:
                break;
            }
          }
        }
      }
      break;
    }
    case SignalType::kLogs: {
      const auto& r =
          static_cast<const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest&>(
              *request);
      for (const auto& rl : r.resource_logs()) {
        const std::string resource = Render(rl.resource());
        for (const auto& sl : rl.scope_logs()) {
          const std::string scope = Render(sl.scope());
          for (const auto& record : sl.log_records()) {
            e.Begin(resource, scope, "logRecord");
            e.out.Message(record);
            e.End();
          }
        }
      }
      break;
    }
    case SignalType::kPrometheus:  // not OTLP (and never reaches here: no descriptor)
      break;
  }
  return absl::OkStatus();
}

}  // namespace observex::otlp
