// Entry points: content types, Decode, responses, and the small helpers shared by the other
// translation units of the codec.
#include <algorithm>
#include <climits>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/internal.h"
#include "otlp/otlp.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace observex::otlp {

namespace collector_trace = opentelemetry::proto::collector::trace::v1;
namespace collector_metrics = opentelemetry::proto::collector::metrics::v1;
namespace collector_logs = opentelemetry::proto::collector::logs::v1;

namespace internal {

std::string FieldPath::ToString() const {
  std::string out;
  for (const Step& s : steps_) {
    if (!out.empty()) out.push_back('.');
    out.append(s.name.data(), s.name.size());
    if (s.index >= 0) absl::StrAppend(&out, "[", s.index, "]");
  }
  return out;
}

absl::Status PathError(const FieldPath& path, std::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(std::string(what));
  return absl::InvalidArgumentError(
      absl::StrCat(path.ToString(), ": ", absl::string_view(what.data(), what.size())));
}

bool IsHexIdField(const google::protobuf::FieldDescriptor* f) {
  if (f->type() != google::protobuf::FieldDescriptor::TYPE_BYTES) return false;
  const std::string& n = f->name();
  return n == "trace_id" || n == "span_id" || n == "parent_span_id";
}

const google::protobuf::Descriptor* RequestDescriptor(SignalType type) {
  switch (type) {
    case SignalType::kTraces:
      return collector_trace::ExportTraceServiceRequest::descriptor();
    case SignalType::kMetrics:
      return collector_metrics::ExportMetricsServiceRequest::descriptor();
    case SignalType::kLogs:
      return collector_logs::ExportLogsServiceRequest::descriptor();
    case SignalType::kPrometheus:  // not OTLP
      break;
  }
  return nullptr;
}

google::protobuf::Message* NewRequest(SignalType type, google::protobuf::Arena* arena) {
  using google::protobuf::Arena;
  switch (type) {
    case SignalType::kTraces:
      return Arena::CreateMessage<collector_trace::ExportTraceServiceRequest>(arena);
    case SignalType::kMetrics:
      return Arena::CreateMessage<collector_metrics::ExportMetricsServiceRequest>(arena);
    case SignalType::kLogs:
      return Arena::CreateMessage<collector_logs::ExportLogsServiceRequest>(arena);
    case SignalType::kPrometheus:  // not OTLP
      break;
  }
  return nullptr;
}

}  // namespace internal

absl::StatusOr<Encoding> EncodingForContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  absl::string_view trimmed =
      absl::StripAsciiWhitespace(absl::string_view(media.data(), media.size()));
  if (absl::EqualsIgnoreCase(trimmed, "application/x-protobuf") ||
      absl::EqualsIgnoreCase(trimmed, "application/protobuf")) {
    return Encoding::kProtobuf;
  }
  if (absl::EqualsIgnoreCase(trimmed, "application/json")) return Encoding::kJson;
  // The header is client input: show a bounded, escaped excerpt.
  constexpr size_t kShown = 64;
  const absl::string_view shown(content_type.data(), std::min(content_type.size(), kShown));
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported Content-Type '", absl::CHexEscape(shown),
                   content_type.size() > kShown ? "..." : "",
                   "'; use application/x-protobuf or application/json"));
}

std::string_view ContentTypeFor(Encoding encoding) {
  return encoding == Encoding::kJson ? "application/json" : "application/x-protobuf";
}

absl::StatusOr<DecodedRequest> Decode(SignalType type, Encoding encoding, std::string_view body,
                                      const Limits& limits) {
  const google::protobuf::Descriptor* descriptor = internal::RequestDescriptor(type);
  if (descriptor == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown signal type ", static_cast<int>(type)));
  }
  DecodedRequest request;
  request.type = type;
  auto arena = std::make_unique<google::protobuf::Arena>();
  google::protobuf::Message* message = internal::NewRequest(type, arena.get());
  request.message = MessagePtr(message, MessageDeleter(std::move(arena)));
  if (encoding == Encoding::kProtobuf) {
    if (body.size() > static_cast<size_t>(INT_MAX)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("protobuf body of ", body.size(), " bytes exceeds 2 GiB"));
    }
    if (!request.message->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      std::string detail = internal::DiagnoseProtobuf(descriptor, body);
      return absl::InvalidArgumentError(absl::StrCat("malformed protobuf ", descriptor->name(),
                                                     detail.empty() ? "" : ": ", detail));
    }
  } else {
    absl::Status st = internal::ParseJsonRequest(body, limits, *request.message);
    if (!st.ok()) return st;
  }
  absl::Status st = internal::Validate(limits, request);
  if (!st.ok()) return st;
  return request;
}

std::string EncodeResponse(SignalType type, Encoding encoding, int64_t rejected,
                           std::string_view message) {
  const bool partial = rejected > 0 || !message.empty();
  // The message usually quotes client input; never let it make the response unparseable.
  std::string error_message(message);
  if (!internal::IsValidUtf8(error_message)) error_message = "(error message was not valid UTF-8)";
  if (encoding == Encoding::kJson) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartObject();
    if (partial) {
      const char* key = type == SignalType::kTraces    ? "rejectedSpans"
                        : type == SignalType::kMetrics ? "rejectedDataPoints"
                                                       : "rejectedLogRecords";
      writer.Key("partialSuccess");
      writer.StartObject();
      // proto3 JSON: int64 as a string, default values omitted.
      if (rejected != 0) {
        writer.Key(key);
        std::string n = std::to_string(rejected);
        writer.String(n.data(), static_cast<rapidjson::SizeType>(n.size()));
      }
      if (!message.empty()) {
        writer.Key("errorMessage");
        writer.String(error_message.data(), static_cast<rapidjson::SizeType>(error_message.size()));
      }
      writer.EndObject();
    }
    writer.EndObject();
    return std::string(buffer.GetString(), buffer.GetSize());
  }
  switch (type) {
    case SignalType::kTraces: {
      collector_trace::ExportTraceServiceResponse r;
      if (partial) {
        r.mutable_partial_success()->set_rejected_spans(rejected);
        r.mutable_partial_success()->set_error_message(error_message);
      }
      return r.SerializeAsString();
    }
    case SignalType::kMetrics: {
      collector_metrics::ExportMetricsServiceResponse r;
      if (partial) {
        r.mutable_partial_success()->set_rejected_data_points(rejected);
        r.mutable_partial_success()->set_error_message(error_message);
      }
      return r.SerializeAsString();
    }
    case SignalType::kLogs: {
      collector_logs::ExportLogsServiceResponse r;
      if (partial) {
        r.mutable_partial_success()->set_rejected_log_records(rejected);
        r.mutable_partial_success()->set_error_message(error_message);
      }
      return r.SerializeAsString();
    }
    case SignalType::kPrometheus:  // not OTLP
      break;
  }
  return std::string();
}

}  // namespace observex::otlp
