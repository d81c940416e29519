// The naming half of the OpenTelemetry-to-Prometheus mapping: metric names with unit and type
// suffixes, Prometheus unit names, attribute keys made into label names, attribute values made
// into label values, and float formatting for `le`/`quantile`. The rules follow what Prometheus
// applies to OTLP with its default "underscore escaping with suffixes" strategy;
// docs/metrics-model.md lists each rule and the few places where ObserveX chooses differently.
// Every function is pure and safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace opentelemetry::proto::common::v1 {
class AnyValue;
}

namespace observex::metrics {

// The OTLP instrument shape, which decides the type suffixes of a name.
enum class OtlpKind : uint8_t {
  kGauge,
  kMonotonicSum,     // a counter: gets `_total`
  kNonMonotonicSum,  // stored as a gauge, but named like a sum (no `_ratio`)
  kHistogram,
  kExponentialHistogram,
  kSummary,
};

// Prometheus metric family name for an OTLP metric, e.g. ("http.server.duration", "ms",
// kHistogram) -> "http_server_duration_milliseconds". Characters outside [a-zA-Z0-9:] separate
// words (so runs of them, and underscores, collapse to one `_`); the unit suffix is appended
// unless the name already contains it; counters end in `_total` and gauges with unit "1" in
// `_ratio` (moved to the end if they appear elsewhere); a leading digit gets a `_` prefix.
// Returns "" when the name itself has no character in [a-zA-Z0-9:] (the metric cannot be named;
// suffixes alone do not make a name).
std::string NormalizeMetricName(std::string_view name, std::string_view unit, OtlpKind kind);

// Prometheus unit name for an OTLP (UCUM) unit: "ms" -> "milliseconds", "By/s" ->
// "bytes_per_second", "1" -> "", "{request}" -> "", "{packet}/s" -> "per_second". Unknown units
// are kept, with invalid characters replaced.
std::string PrometheusUnit(std::string_view unit);

// Label name for an attribute key: characters other than [a-zA-Z0-9] become `_` (one per
// UTF-8 character), a leading digit gets the prefix `key_`, and a leading `_` the prefix `key`
// (so no attribute can produce a reserved `__` name). Returns "" only for an empty key. The
// result always matches [a-zA-Z_][a-zA-Z0-9_]*.
std::string SanitizeLabelName(std::string_view key);

// The label value for an attribute: strings as they are (invalid UTF-8 replaced by U+FFFD),
// booleans "true"/"false", integers in decimal, doubles like JavaScript's Number#toString
// ("1.5", "1e-7", "NaN", "+Inf"), bytes in standard base64, arrays and key/value lists as
// compact JSON (keys sorted, the last of duplicate keys kept), an empty value as "".
std::string AttributeValueString(const opentelemetry::proto::common::v1::AnyValue& value);

// Shortest decimal that reads back as `v`, never in exponent form (Go's
// strconv.FormatFloat(v, 'f', -1, 64)): 0.005, 1, 1e21 -> "1000000000000000000000"; "+Inf",
// "-Inf", "NaN"; -0 is written "0". Used for `le` and `quantile` values.
std::string FormatLabelFloat(double v);

// `s` with every invalid UTF-8 sequence replaced by U+FFFD (one per maximal invalid prefix
// byte), so label values are always valid UTF-8.
std::string ToValidUtf8(std::string_view s);

}  // namespace observex::metrics
