// OTLP codec: turns an Export{Trace,Metrics,Logs}ServiceRequest body (protobuf, or the
// OTLP/JSON mapping) into the protobuf message, validates it, applies attribute limits,
// renders responses in the request's encoding, and renders stored requests as JSON for
// operators. Every error is InvalidArgument (or ResourceExhausted for size limits) with a
// message naming the offending field path, e.g.
// "resourceSpans[0].scopeSpans[1].spans[3].traceId: must be 16 bytes (32 hex digits), got 5".
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "signal/batch.h"

namespace observex::otlp {

enum class Encoding { kProtobuf, kJson };

// Maps a Content-Type header value (parameters ignored, case-insensitive) to an encoding;
// InvalidArgument naming the accepted types otherwise (the receiver answers 415).
absl::StatusOr<Encoding> EncodingForContentType(std::string_view content_type);
std::string_view ContentTypeFor(Encoding encoding);

struct Limits {
  uint32_t max_attributes = 128;           // per resource/scope/span/event/link/record/point
  uint32_t max_attribute_key_bytes = 256;
  uint32_t max_attribute_value_bytes = 16'384;  // strings and bytes, UTF-8 safe cut
  uint32_t max_nesting_depth = 32;         // array/kvlist nesting in AnyValue
};

struct DecodedRequest {
  SignalType type = SignalType::kTraces;
  std::unique_ptr<google::protobuf::Message> message;  // Export*ServiceRequest
  uint32_t signal_count = 0;  // spans, metric data points, log records
};

// Parses and validates (trace/span id lengths, JSON types, nesting depth).
absl::StatusOr<DecodedRequest> Decode(SignalType type, Encoding encoding, std::string_view body,
                                      const Limits& limits);

struct LimitReport {
  uint32_t truncated_values = 0;    // keys or values cut to the byte limits
  uint32_t dropped_attributes = 0;  // attributes removed by the count limit
  uint32_t items_affected = 0;      // spans/records/points that lost something
};
// Applies the limits in place, adding to each item's dropped_attributes_count.
LimitReport ApplyLimits(const Limits& limits, DecodedRequest& request);

// Export*ServiceResponse in `encoding`; partial_success is set when rejected > 0 or
// `message` is non-empty.
std::string EncodeResponse(SignalType type, Encoding encoding, int64_t rejected,
                           std::string_view message);

// Calls `emit` with one JSON object per signal of `request_protobuf`, each carrying its
// resource and scope, e.g. {"resource":{...},"scope":{...},"span":{...}}; ids in hex.
absl::Status ForEachSignalJson(SignalType type, std::string_view request_protobuf,
                               const std::function<void(std::string_view json)>& emit);

// gzip/deflate decoding that stops with ResourceExhausted once the output would exceed
// `max_output_bytes` (gzip bombs never allocate past the limit); InvalidArgument for a
// corrupt stream.
absl::StatusOr<std::string> Gunzip(std::string_view compressed, size_t max_output_bytes);
std::string Gzip(std::string_view data);

}  // namespace observex::otlp
