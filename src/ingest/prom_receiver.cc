#include "ingest/prom_receiver.h"

#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/strings.h"
#include "ingest/status_mapping.h"
#include "metrics/text_format.h"
#include "snappy.h"
#include "tenant/authorization.h"

namespace observex::ingest {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(ToAbsl(a), ToAbsl(b));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The media type of a Content-Type value, without parameters.
std::string_view MediaType(std::string_view content_type) {
  return Trim(content_type.substr(0, content_type.find(';')));
}

// The value of parameter `name` in a Content-Type value ("" when absent).
std::string_view MediaParameter(std::string_view content_type, std::string_view name) {
  size_t semi = content_type.find(';');
  while (semi != std::string_view::npos) {
    content_type.remove_prefix(semi + 1);
    semi = content_type.find(';');
    std::string_view param = Trim(content_type.substr(0, semi));
    const size_t eq = param.find('=');
    if (eq != std::string_view::npos && IEquals(Trim(param.substr(0, eq)), name)) {
      std::string_view value = Trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return {};
}

http::Response Text(int status, std::string_view message, int retry_seconds = 0) {
  http::Response r = http::Response::Text(status, absl::StrCat(ToAbsl(message), "\n"));
  if (retry_seconds > 0) r.headers.emplace_back("Retry-After", std::to_string(retry_seconds));
  return r;
}

}  // namespace

PromWriteHandler::PromWriteHandler(ReceiverOptions options, tenant::KeyStore* keys,
                                   Pipeline* pipeline, IngestMetrics* metrics)
    : options_(options), keys_(keys), pipeline_(pipeline), metrics_(metrics) {}

void PromWriteHandler::Handle(http::Request req, http::Responder respond) {
  const bool write = req.path == kPromWritePath;
  if (!write && req.path != kPromImportPath) {
    metrics_->HttpRequest("other", 404);
    return std::move(respond)(
        Text(404, absl::StrCat("no Prometheus ingest route ", req.path, "; use ",
                               ToAbsl(kPromWritePath), " or ", ToAbsl(kPromImportPath))));
  }
  const std::string route_name(write ? kPromWritePath : kPromImportPath);
  auto reply = [this, route_name, respond = std::move(respond)](http::Response r) mutable {
    metrics_->HttpRequest(route_name, r.status);
    std::move(respond)(std::move(r));
  };
  if (req.method != "POST") {
    auto r = Text(405, "this endpoint accepts POST only");
    r.headers.emplace_back("Allow", "POST");
    return reply(std::move(r));
  }

  auto key = tenant::KeyFromAuthorization(req.Header("authorization"));
  if (!key.ok()) {
    metrics_->SignalsDropped("", SignalType::kPrometheus, DropReason::kAuth, 1);
    return reply(Text(401, ToStd(key.status().message())));
  }
  auto tenant = keys_->Authenticate(*key);
  if (!tenant.ok()) {
    metrics_->SignalsDropped("", SignalType::kPrometheus, DropReason::kAuth, 1);
    const bool internal = tenant.status().code() != absl::StatusCode::kUnauthenticated;
    return reply(Text(internal ? 503 : 401, ToStd(tenant.status().message()),
                      internal ? options_.retry_after_seconds : 0));
  }

  IngestRequest ingest;
  ingest.type = SignalType::kPrometheus;
  const std::string_view content_type = req.Header("content-type");
  const std::string_view encoding = Trim(req.Header("content-encoding"));
  if (write) {
    const std::string_view media = MediaType(content_type);
    if (!media.empty() && !IEquals(media, "application/x-protobuf")) {
      return reply(Text(415, absl::StrCat("unsupported Content-Type '", ToAbsl(content_type),
                                          "'; remote write sends application/x-protobuf")));
    }
    const std::string_view proto = MediaParameter(content_type, "proto");
    if (!proto.empty() && proto != "prometheus.WriteRequest") {
      return reply(Text(415, absl::StrCat("unsupported remote-write message '", ToAbsl(proto),
                                          "': only remote write 1.0 (prometheus.WriteRequest) "
                                          "is supported")));
    }
    // Remote write 1.0 always compresses; a missing header is read as snappy, as Prometheus does.
    if (!encoding.empty() && !IEquals(encoding, "snappy")) {
      return reply(Text(415, absl::StrCat("unsupported Content-Encoding '", ToAbsl(encoding),
                                          "'; remote write uses snappy")));
    }
    size_t length = 0;
    if (!snappy::GetUncompressedLength(req.body.data(), req.body.size(), &length)) {
      return reply(Text(400,
                        "the body is not snappy-compressed (remote write uses the snappy "
                        "block format)"));
    }
    if (length > options_.max_body_bytes) {
      metrics_->SignalsDropped(tenant->tenant_name, SignalType::kPrometheus, DropReason::kTooLarge,
                               1);
      return reply(
          Text(413, absl::StrCat("decompressed body of ", length, " bytes exceeds the limit of ",
                                 options_.max_body_bytes, " bytes")));
    }
    ingest.snappy = true;
    ingest.prom_format = PromFormat::kRemoteWrite;
  } else {
    if (IEquals(encoding, "gzip") || IEquals(encoding, "x-gzip")) {
      ingest.gzip = true;
    } else if (!encoding.empty() && !IEquals(encoding, "identity")) {
      return reply(Text(415, absl::StrCat("unsupported Content-Encoding '", ToAbsl(encoding),
                                          "'; use gzip or none")));
    }
    ingest.prom_format =
        metrics::TextFormatForContentType(content_type) == metrics::TextFormat::kOpenMetrics
            ? PromFormat::kOpenMetricsText
            : PromFormat::kPrometheusText;
    ingest.received_at_ms = NowUnixNanos() / 1'000'000;
  }

  ingest.tenant = std::move(*tenant);
  ingest.body = std::move(req.body);
  const int retry = options_.retry_after_seconds;
  auto shared_reply = std::make_shared<decltype(reply)>(std::move(reply));
  ingest.done = [shared_reply, retry](IngestResult result) mutable {
    if (result.outcome == Outcome::kAccepted && result.rejected == 0) {
      http::Response r;
      r.status = 204;
      return (*shared_reply)(std::move(r));
    }
    if (result.outcome == Outcome::kAccepted) {
      // Part was refused: a 4xx keeps the sender from retrying what would fail again.
      return (*shared_reply)(Text(400, absl::StrCat(result.message, "; the other ", result.accepted,
                                                    " sample(s) were stored")));
    }
    (*shared_reply)(Text(HttpStatusFor(result.outcome), result.message,
                         ShouldRetry(result.outcome) ? retry : 0));
  };
  absl::Status admitted = pipeline_->Submit(ingest);
  if (!admitted.ok()) {
    const Outcome o = admitted.code() == absl::StatusCode::kResourceExhausted
                          ? Outcome::kOverloaded
                          : Outcome::kUnavailable;
    (*shared_reply)(Text(HttpStatusFor(o), ToStd(admitted.message()), retry));
  }
}

}  // namespace observex::ingest
