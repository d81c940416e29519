// Number, duration and string formatting with the exact spelling Prometheus uses, so that
// printed queries, label values produced by count_values/histogram_quantiles and error texts
// match what Grafana and PromQL users expect. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace observex::query::promql {

// Shortest round-trip decimal without exponent (Go FormatFloat(f, 'f', -1, 64)); "+Inf",
// "-Inf", "NaN" for the specials.
std::string FormatFloat(double v);
// Go's %g / FormatFloat(f, 'g', -1, 64): shortest digits, exponent form when the decimal
// exponent is < -4 or >= 6 (1e+06, 1e-05).
std::string FormatFloatG(double v);
// Like FormatFloatG but always contains "." or "e" ("1.0", "0.25", "+Inf").
std::string FormatOpenMetricsFloat(double v);

// Prometheus duration text with millisecond resolution ("1h30m", "5m", "0s"); years and
// weeks only when exact. Negative values get a leading "-".
std::string FormatDuration(int64_t ms);
// Parses "1h30m", "90s", "1y2w" (units y w d h m s ms, largest first, each at most once) or
// "0". Result in milliseconds; errors mirror Prometheus ("not a valid duration string: ...").
absl::StatusOr<int64_t> ParseDuration(std::string_view s);

// Removes the quotes of a PromQL string literal ('..', ".." or `..`) and resolves escapes
// (\n, \xNN, \uNNNN, \NNN, ...). Fails on malformed input.
absl::StatusOr<std::string> UnquoteString(std::string_view s);

// "line:col" (1-based) of byte offset `pos` in `query`.
std::string PositionString(std::string_view query, int pos);

}  // namespace observex::query::promql
