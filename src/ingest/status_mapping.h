// The one mapping from a pipeline Outcome to what a client sees: HTTP status codes, gRPC
// codes, and the google.rpc.Status error body (with a google.rpc.RetryInfo detail when
// the client should retry, without which OTLP clients drop the data instead). Written
// once here; receivers never re-derive it.
#pragma once

#include <string>
#include <string_view>

#include "grpcpp/support/status.h"
#include "ingest/pipeline.h"
#include "otlp/otlp.h"

namespace observex::ingest {

int HttpStatusFor(Outcome outcome);
grpc::StatusCode GrpcCodeFor(Outcome outcome);
bool ShouldRetry(Outcome outcome);
std::string_view GrpcCodeName(grpc::StatusCode code);

// google.rpc.Status{code, message, details=[RetryInfo{retry_delay}] when retry_seconds > 0},
// as protobuf bytes.
std::string EncodeRpcStatusProto(grpc::StatusCode code, std::string_view message,
                                 int retry_seconds);
// The same as JSON ({"code":8,"message":"...","details":[{"@type":...,"retryDelay":"1s"}]}).
std::string EncodeRpcStatusJson(grpc::StatusCode code, std::string_view message, int retry_seconds);

// A grpc::Status carrying the RetryInfo detail (grpc-status-details-bin) when asked.
grpc::Status MakeGrpcStatus(grpc::StatusCode code, std::string_view message, int retry_seconds);

}  // namespace observex::ingest
