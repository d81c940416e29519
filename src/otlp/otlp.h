// OTLP codec: turns an Export{Trace,Metrics,Logs}ServiceRequest body (protobuf, or the
// OTLP/JSON mapping) into the protobuf message, validates it, applies attribute limits,
// renders responses in the request's encoding, and renders stored requests as JSON for
// operators. Every error is InvalidArgument (or ResourceExhausted for size limits) with a
// message naming the offending field path, e.g.
// "resourceSpans[0].scopeSpans[1].spans[3].traceId: must be 16 bytes (32 hex digits), got 5".
// All functions are stateless and safe to call concurrently; a DecodedRequest is owned by one
// thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/message.h"
#include "signal/batch.h"

namespace observex::otlp {

enum class Encoding { kProtobuf, kJson };

// Maps a Content-Type header value (parameters ignored, case-insensitive) to an encoding;
// InvalidArgument naming the accepted types otherwise (the receiver answers 415).
absl::StatusOr<Encoding> EncodingForContentType(std::string_view content_type);
std::string_view ContentTypeFor(Encoding encoding);

struct Limits {
  uint32_t max_attributes = 128;  // per resource/scope/span/event/link/record/point
  uint32_t max_attribute_key_bytes = 256;
  uint32_t max_attribute_value_bytes = 16'384;  // strings and bytes, UTF-8 safe cut
  // Array/kvlist containers nested in one AnyValue: a scalar is 0, an array of scalars 1.
  // Deeper values are rejected by Decode (not cut), since nothing useful can be kept.
  uint32_t max_nesting_depth = 32;
};

// Owner of a request message. Decode builds messages on a protobuf arena (parsing is about
// twice as fast as with heap allocation); the deleter holds that arena, so the message and
// all its memory go together on reset() or destruction. A heap message (for example
// `ptr = std::make_unique<T>()`, which converts) is simply deleted.
class MessageDeleter {
 public:
  MessageDeleter() = default;
  template <typename T>
  MessageDeleter(std::default_delete<T>) {}  // NOLINT: implicit on purpose
  explicit MessageDeleter(std::unique_ptr<google::protobuf::Arena> arena)
      : arena_(std::move(arena)) {}
  void operator()(google::protobuf::Message* m) {
    if (arena_ != nullptr) {
      arena_.reset();  // frees m with everything else on the arena
    } else {
      delete m;
    }
  }

 private:
  std::unique_ptr<google::protobuf::Arena> arena_;
};
using MessagePtr = std::unique_ptr<google::protobuf::Message, MessageDeleter>;

struct DecodedRequest {
  SignalType type = SignalType::kTraces;
  MessagePtr message;         // Export*ServiceRequest
  uint32_t signal_count = 0;  // spans, metric data points, log records
};

// Parses and validates: trace ids empty or 16 bytes and, on spans, not all zero; span ids
// empty or 8 bytes (spans, links, log records, exemplars); AnyValue nesting; JSON types. The
// pre-1.0 instrumentationLibrary* lists are refused. Protobuf input is parsed as is (no
// rewriting), so when ApplyLimits reports nothing the original body can be stored unchanged.
// JSON follows the OTLP/JSON mapping: lowerCamelCase or snake_case keys, hex ids, base64 for
// other bytes, 64-bit integers as numbers or strings, enums by name or number, "NaN" and
// "Infinity" for doubles, null as absent, unknown keys ignored.
absl::StatusOr<DecodedRequest> Decode(SignalType type, Encoding encoding, std::string_view body,
                                      const Limits& limits);

struct LimitReport {
  uint32_t truncated_values = 0;    // keys or values cut to the byte limits
  uint32_t dropped_attributes = 0;  // attributes removed by the count limit
  uint32_t items_affected = 0;      // resources/scopes/spans/events/links/records/points
                                    // that lost something
};
// Applies the limits in place to resources, scopes, spans, span events, span links, log
// records and metric data points, adding to each item's dropped_attributes_count (data points
// have no such field; their drops appear only in the report). Keys and string/bytes values are
// cut at the byte limits, never inside a UTF-8 code point, recursively inside arrays and
// kvlists. Log bodies and exemplar attributes are left alone. Read-only when nothing exceeds.
LimitReport ApplyLimits(const Limits& limits, DecodedRequest& request);

// Export*ServiceResponse in `encoding`; partial_success is set when rejected > 0 or
// `message` is non-empty.
std::string EncodeResponse(SignalType type, Encoding encoding, int64_t rejected,
                           std::string_view message);

// Calls `emit` with one compact JSON object per signal of `request_protobuf`, each carrying
// its resource and scope:
//   {"resource":{...},"scope":{...},"span":{...}}
//   {"resource":{...},"scope":{...},"logRecord":{...}}
//   {"resource":{...},"scope":{...},"metric":{"name":..,"description":..,"unit":..,
//     "type":"gauge|sum|histogram|exponential_histogram|summary",
//     ["aggregationTemporality":N,] ["isMonotonic":b,] "point":{...}}}
// Resource, scope, span, record and point are in the OTLP/JSON mapping, as a client sends
// them: lowerCamelCase keys, default values omitted, ids in lowercase hex, other bytes in
// base64, 64-bit integers as strings, enums as integers, attributes as the OTLP list
// [{"key":"k","value":{"stringValue":"v"}}]. `resource` and `scope` are always present ({}
// when empty). The view passed to `emit` is valid only during the call. InvalidArgument when
// the bytes do not parse as a request of `type`.
absl::Status ForEachSignalJson(SignalType type, std::string_view request_protobuf,
                               const std::function<void(std::string_view json)>& emit);

// Any OTLP message (a whole Export*ServiceRequest, say) in the OTLP/JSON mapping described
// above, as one compact JSON object.
std::string EncodeJson(const google::protobuf::Message& message);

// gzip/deflate decoding that stops with ResourceExhausted once the output would exceed
// `max_output_bytes` (gzip bombs never allocate past the limit); InvalidArgument for a
// corrupt stream.
absl::StatusOr<std::string> Gunzip(std::string_view compressed, size_t max_output_bytes);
std::string Gzip(std::string_view data);

}  // namespace observex::otlp
