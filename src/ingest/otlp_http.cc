#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "ingest/receivers.h"
#include "ingest/status_mapping.h"
#include "tenant/authorization.h"

namespace observex::ingest {
namespace {

struct Route {
  std::string_view path;
  SignalType type;
};
constexpr Route kRoutes[] = {{"/v1/traces", SignalType::kTraces},
                             {"/v1/metrics", SignalType::kMetrics},
                             {"/v1/logs", SignalType::kLogs}};

http::Response StatusResponse(otlp::Encoding encoding, int http_status, grpc::StatusCode code,
                              std::string_view message, int retry_seconds) {
  http::Response r;
  r.status = http_status;
  if (encoding == otlp::Encoding::kJson) {
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = EncodeRpcStatusJson(code, message, retry_seconds);
  } else {
    r.headers.emplace_back("Content-Type", "application/x-protobuf");
    r.body = EncodeRpcStatusProto(code, message, retry_seconds);
  }
  if (retry_seconds > 0) r.headers.emplace_back("Retry-After", std::to_string(retry_seconds));
  return r;
}

}  // namespace

http::Response OtlpHttpHandler::ErrorResponse(std::string_view content_type, int status,
                                              std::string message, int retry_after_seconds) {
  auto encoding = otlp::EncodingForContentType(content_type);
  grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
  if (status == 429) code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  if (status == 413) code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  if (status == 503) code = grpc::StatusCode::UNAVAILABLE;
  return StatusResponse(encoding.ok() ? *encoding : otlp::Encoding::kJson, status, code, message,
                        retry_after_seconds);
}

OtlpHttpHandler::OtlpHttpHandler(ReceiverOptions options, tenant::KeyStore* keys,
                                 Pipeline* pipeline, IngestMetrics* metrics)
    : options_(options), keys_(keys), pipeline_(pipeline), metrics_(metrics) {}

void OtlpHttpHandler::Handle(http::Request req, http::Responder respond) {
  const Route* route = nullptr;
  for (const auto& r : kRoutes) {
    if (req.path == r.path) route = &r;
  }
  if (route == nullptr) {
    metrics_->HttpRequest("other", 404);
    return std::move(respond)(http::Response::Text(
        404,
        absl::StrCat("no OTLP route ", req.path, "; use /v1/traces, /v1/metrics or /v1/logs\n")));
  }
  const std::string route_name(route->path);
  auto reply = [this, route_name, respond = std::move(respond)](http::Response r) mutable {
    metrics_->HttpRequest(route_name, r.status);
    std::move(respond)(std::move(r));
  };
  if (req.method != "POST") {
    auto r = http::Response::Text(405, "OTLP endpoints accept POST only\n");
    r.headers.emplace_back("Allow", "POST");
    return reply(std::move(r));
  }

  // The content type decides the error encoding too; an unknown one is answered in JSON.
  auto encoding = otlp::EncodingForContentType(req.Header("content-type"));
  const otlp::Encoding reply_encoding = encoding.ok() ? *encoding : otlp::Encoding::kJson;

  auto key = tenant::KeyFromAuthorization(req.Header("authorization"));
  if (!key.ok()) {
    metrics_->SignalsDropped("", route->type, DropReason::kAuth, 1);
    return reply(StatusResponse(reply_encoding, 401, grpc::StatusCode::UNAUTHENTICATED,
                                ToStd(key.status().message()), 0));
  }
  auto tenant = keys_->Authenticate(*key);
  if (!tenant.ok()) {
    metrics_->SignalsDropped("", route->type, DropReason::kAuth, 1);
    const bool internal = tenant.status().code() != absl::StatusCode::kUnauthenticated;
    return reply(
        StatusResponse(reply_encoding, internal ? 503 : 401,
                       internal ? grpc::StatusCode::UNAVAILABLE : grpc::StatusCode::UNAUTHENTICATED,
                       ToStd(tenant.status().message()), internal ? 1 : 0));
  }
  if (!encoding.ok()) {
    return reply(StatusResponse(reply_encoding, 415, grpc::StatusCode::INVALID_ARGUMENT,
                                ToStd(encoding.status().message()), 0));
  }
  bool gzip = false;
  const std::string_view ce = req.Header("content-encoding");
  if (absl::EqualsIgnoreCase(absl::string_view(ce.data(), ce.size()), "gzip") ||
      absl::EqualsIgnoreCase(absl::string_view(ce.data(), ce.size()), "x-gzip")) {
    gzip = true;
  } else if (!ce.empty() &&
             !absl::EqualsIgnoreCase(absl::string_view(ce.data(), ce.size()), "identity")) {
    return reply(StatusResponse(
        reply_encoding, 415, grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("unsupported Content-Encoding '", std::string(ce), "'; use gzip or none"), 0));
  }

  IngestRequest ingest;
  ingest.tenant = std::move(*tenant);
  ingest.type = route->type;
  ingest.encoding = *encoding;
  ingest.gzip = gzip;
  ingest.body = std::move(req.body);
  const int retry = options_.retry_after_seconds;
  const SignalType type = route->type;
  auto shared_reply = std::make_shared<decltype(reply)>(std::move(reply));
  ingest.done = [shared_reply, type, enc = *encoding, retry](IngestResult result) mutable {
    if (result.outcome == Outcome::kAccepted) {
      http::Response r;
      r.status = 200;
      r.headers.emplace_back("Content-Type", std::string(otlp::ContentTypeFor(enc)));
      r.body = otlp::EncodeResponse(type, enc, result.rejected, result.message);
      return (*shared_reply)(std::move(r));
    }
    (*shared_reply)(StatusResponse(enc, HttpStatusFor(result.outcome), GrpcCodeFor(result.outcome),
                                   result.message, ShouldRetry(result.outcome) ? retry : 0));
  };
  absl::Status admitted = pipeline_->Submit(ingest);
  if (!admitted.ok()) {
    const Outcome o = admitted.code() == absl::StatusCode::kResourceExhausted
                          ? Outcome::kOverloaded
                          : Outcome::kUnavailable;
    (*shared_reply)(StatusResponse(*encoding, HttpStatusFor(o), GrpcCodeFor(o),
                                   ToStd(admitted.message()), retry));
  }
}

}  // namespace observex::ingest
