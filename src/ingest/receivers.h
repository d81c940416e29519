// The OTLP receivers: OTLP/HTTP (`/v1/traces`, `/v1/metrics`, `/v1/logs`) as an
// http::Handler, and OTLP/gRPC (the three Export services) as a gRPC server. Both
// authenticate the API key to a tenant, refuse at admission before decoding, hand the
// request to the Pipeline and answer only after its completion (so a success means the
// signals are fsynced in the WAL). Responses follow the OTLP specification; status codes
// come from status_mapping.h.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "http/http_server.h"
#include "ingest/metrics.h"
#include "ingest/pipeline.h"
#include "tenant/key_store.h"

namespace observex::ingest {

struct ReceiverOptions {
  int retry_after_seconds = 1;        // Retry-After / RetryInfo on 429, 503 and their gRPC twins
  size_t max_body_bytes = 20u << 20;  // decompressed limit, also the gRPC message limit
  size_t grpc_memory_quota_bytes = 256u << 20;  // gRPC transport memory (ResourceQuota)
};

class OtlpHttpHandler : public http::Handler {
 public:
  OtlpHttpHandler(ReceiverOptions options, tenant::KeyStore* keys, Pipeline* pipeline,
                  IngestMetrics* metrics);
  void Handle(http::Request request, http::Responder respond) override;
  // google.rpc.Status in the request's encoding (JSON when it has none we know).
  http::Response ErrorResponse(std::string_view content_type, int status, std::string message,
                               int retry_after_seconds) override;

 private:
  ReceiverOptions options_;
  tenant::KeyStore* keys_;
  Pipeline* pipeline_;
  IngestMetrics* metrics_;
};

class GrpcReceiver {
 public:
  // Starts serving on `address` ("host:port"); Unavailable if it cannot bind.
  static absl::StatusOr<std::unique_ptr<GrpcReceiver>> Start(const std::string& address,
                                                             ReceiverOptions options,
                                                             tenant::KeyStore* keys,
                                                             Pipeline* pipeline,
                                                             IngestMetrics* metrics);
  virtual ~GrpcReceiver() = default;
  virtual int port() const = 0;
  // Stops accepting calls and waits up to `grace` for in-flight ones. Idempotent.
  virtual void Shutdown(absl::Duration grace) = 0;
};

}  // namespace observex::ingest
