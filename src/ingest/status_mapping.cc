#include "ingest/status_mapping.h"

#include <cstdint>

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace observex::ingest {
namespace {

constexpr char kRetryInfoType[] = "type.googleapis.com/google.rpc.RetryInfo";

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, int field, int wire_type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

void PutBytes(std::string& out, int field, std::string_view bytes) {
  PutTag(out, field, 2);
  PutVarint(out, bytes.size());
  out.append(bytes);
}

}  // namespace

int HttpStatusFor(Outcome outcome) {
  switch (outcome) {
    case Outcome::kAccepted:
      return 200;
    case Outcome::kBadRequest:
      return 400;
    case Outcome::kTooLarge:
      return 413;
    case Outcome::kOverloaded:
      return 429;
    case Outcome::kUnavailable:
      return 503;
  }
  return 500;
}

grpc::StatusCode GrpcCodeFor(Outcome outcome) {
  switch (outcome) {
    case Outcome::kAccepted:
      return grpc::StatusCode::OK;
    case Outcome::kBadRequest:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case Outcome::kTooLarge:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Outcome::kOverloaded:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Outcome::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
  }
  return grpc::StatusCode::INTERNAL;
}

bool ShouldRetry(Outcome outcome) {
  return outcome == Outcome::kOverloaded || outcome == Outcome::kUnavailable;
}

std::string_view GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    default:
      return "UNKNOWN";
  }
}

std::string EncodeRpcStatusProto(grpc::StatusCode code, std::string_view message,
                                 int retry_seconds) {
  std::string out;
  if (code != grpc::StatusCode::OK) {
    PutTag(out, 1, 0);
    PutVarint(out, static_cast<uint64_t>(code));
  }
  if (!message.empty()) PutBytes(out, 2, message);
  if (retry_seconds > 0) {
    std::string duration;  // google.protobuf.Duration{seconds=1}
    PutTag(duration, 1, 0);
    PutVarint(duration, static_cast<uint64_t>(retry_seconds));
    std::string retry_info;  // google.rpc.RetryInfo{retry_delay=1}
    PutBytes(retry_info, 1, duration);
    std::string any;  // google.protobuf.Any{type_url=1, value=2}
    PutBytes(any, 1, kRetryInfoType);
    PutBytes(any, 2, retry_info);
    PutBytes(out, 3, any);
  }
  return out;
}

std::string EncodeRpcStatusJson(grpc::StatusCode code, std::string_view message,
                                int retry_seconds) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("code");
  w.Int(static_cast<int>(code));
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  if (retry_seconds > 0) {
    w.Key("details");
    w.StartArray();
    w.StartObject();
    w.Key("@type");
    w.String(kRetryInfoType);
    w.Key("retryDelay");
    std::string d = std::to_string(retry_seconds) + "s";
    w.String(d.c_str());
    w.EndObject();
    w.EndArray();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

grpc::Status MakeGrpcStatus(grpc::StatusCode code, std::string_view message, int retry_seconds) {
  if (retry_seconds <= 0) return grpc::Status(code, std::string(message));
  return grpc::Status(code, std::string(message),
                      EncodeRpcStatusProto(code, message, retry_seconds));
}

}  // namespace observex::ingest
