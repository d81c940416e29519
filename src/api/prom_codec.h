// The wire format of the Prometheus HTTP API (/prom/api/v1/...), byte for byte as Prometheus
// writes it, so that Grafana, promtool and client libraries read our answers unchanged:
//   - JSON text with Go's escaping (HTML characters as \u003c \u003e \u0026, U+2028/U+2029
//     escaped, invalid UTF-8 replaced by \ufffd);
//   - sample values as JSON strings: shortest round-trip decimal, exponent form below 1e-6
//     and from 1e21 in magnitude, "NaN", "+Inf", "-Inf";
//   - timestamps as JSON numbers in seconds with millisecond digits ("1435781451.781",
//     "1.050"); scalar and string results, which Prometheus encodes differently, as Go's
//     shortest float ("1.05") with the value in plain decimal;
//   - input times as float seconds or RFC 3339, input durations as float seconds or
//     Prometheus duration text, with Prometheus's error messages;
//   - the error envelope and the mapping from absl::Status codes to errorType and HTTP code.
// Pure functions and a value-type writer; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace observex::api::prom {

// Prometheus's bounds for absent start/end parameters (its MinTime/MaxTime), milliseconds.
inline constexpr int64_t kMinTimeMs = -9223309901257974000LL;
inline constexpr int64_t kMaxTimeMs = 9223309901257974999LL;

// Appends JSON with commas placed automatically. Misuse (a value where a key is due) is the
// caller's bug and is not detected.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  // Seconds with millisecond digits, as a JSON number.
  JsonWriter& Timestamp(int64_t ms);
  // A sample value as a JSON string.
  JsonWriter& SampleValue(double value);
  // [<timestamp>, "<value>"] of a vector or matrix sample.
  JsonWriter& Point(int64_t ms, double value);
  // A scalar result: Prometheus encodes it with Go's generic float encoding, so the time has
  // no trailing zeros ("1.05", not "1.050") and the value never uses exponent form.
  JsonWriter& ScalarPoint(int64_t ms, double value);
  // A string result, timed like a scalar.
  JsonWriter& StringPoint(int64_t ms, std::string_view value);
  // {"name":"value",...}
  template <typename LabelRange>
  JsonWriter& LabelObject(const LabelRange& labels) {
    BeginObject();
    for (const auto& l : labels) Key(l.name).String(l.value);
    return EndObject();
  }
  // Already encoded JSON text, as one value.
  JsonWriter& Raw(std::string_view json);
  // A JSON array of strings.
  JsonWriter& StringArray(const std::vector<std::string>& values);

  const std::string& str() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  void BeforeValue();
  std::string out_;
  std::vector<bool> has_items_;  // one per open container
  bool after_key_ = false;
};

void AppendJsonString(std::string* out, std::string_view s);
void AppendTimestamp(std::string* out, int64_t ms);
// Without quotes.
std::string FormatSampleValue(double v);

// Float seconds ("1435781451.781", "1e9") or RFC 3339 ("2015-07-01T20:10:51.781Z",
// "...+02:00"), to milliseconds (sub-millisecond digits are dropped as Prometheus drops
// them). InvalidArgument "cannot parse \"<s>\" to a valid timestamp".
absl::StatusOr<int64_t> ParseTimestamp(std::string_view s);
// Float seconds or a duration ("15s", "1h30m"), to milliseconds (truncated).
// InvalidArgument "cannot parse \"<s>\" to a valid duration".
absl::StatusOr<int64_t> ParseDurationMs(std::string_view s);
// A non-negative decimal limit; "" is 0 (no limit). Errors read like Go's strconv.Atoi.
absl::StatusOr<int64_t> ParseLimit(std::string_view s);

// Label names in URL paths may use Prometheus's value-encoding escape ("U__http_2e_status");
// returns the name unescaped, or `name` unchanged when it is not escaped or malformed.
std::string UnescapeLabelName(std::string_view name);

enum class ErrorType {
  kBadData,      // 400
  kExecution,    // 422
  kTimeout,      // 503
  kCanceled,     // 503
  kInternal,     // 500
  kNotFound,     // 404
  kUnavailable,  // 503
  kUnauthorized  // 401 (Prometheus itself has no authentication)
};
std::string_view ErrorTypeName(ErrorType type);
int HttpStatusFor(ErrorType type);

// The errorType of a failed evaluation or storage look-up (parameter and parse errors are
// bad_data and are classified by the caller): Unimplemented, InvalidArgument (runtime errors
// such as many-to-many matching), ResourceExhausted (the sample limit), FailedPrecondition and
// OutOfRange -> execution; DeadlineExceeded -> timeout; Cancelled -> canceled; Unavailable ->
// unavailable; NotFound -> not_found; Unauthenticated -> unauthorized; anything else ->
// internal.
ErrorType ErrorTypeFor(const absl::Status& status);

// {"status":"error","errorType":"...","error":"..."}
std::string ErrorBody(ErrorType type, std::string_view message);

// Go's strconv.Atoi error text for `s` ("strconv.Atoi: parsing \"x\": invalid syntax").
std::string AtoiError(std::string_view s, bool out_of_range);

}  // namespace observex::api::prom
