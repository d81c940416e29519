// Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text, parsed into the same
// validated form as a remote-write request (PromBatch), so the text import stores what remote
// write stores. Both formats: `# HELP`, `# TYPE` (and `# UNIT` in OpenMetrics), metric names
// [a-zA-Z_:][a-zA-Z0-9_:]*, label values with the escapes \\ \" \n, sample values as numbers,
// NaN, +Inf and -Inf (case-insensitive), an optional timestamp: integer milliseconds in
// Prometheus text, seconds with an optional fraction in OpenMetrics (exact to the
// millisecond). OpenMetrics text must end with `# EOF` and may carry exemplars (`# {...} v`),
// which are checked and ignored.
//
// What is checked: every token (the first error fails the whole text, naming the line, the
// column and what was expected); a TYPE that conflicts with an earlier one for the same
// metric, or comes after the metric's samples; `le` on histogram buckets and `quantile` on
// summary samples, as numbers; the suffixes OpenMetrics requires (counters `_total`/`_created`,
// histograms `_bucket`/`_count`/`_sum`/`_created`, ...); a unit that is not the metric name's
// suffix; two different values for one series and timestamp. Repeated identical HELP/TYPE
// lines are accepted, so concatenated expositions import as one.
//
// Samples without a timestamp take `default_timestamp_ms`. Each series' samples are sorted by
// time (exact repeats merged); `_created` samples are kept as series of their own. Pure
// functions; safe to call from any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "metrics/remote_write.h"

namespace observex::metrics {

enum class TextFormat : uint8_t {
  kPrometheus,   // text/plain; version=0.0.4
  kOpenMetrics,  // application/openmetrics-text; version=1.0.0
};

// kOpenMetrics for an `application/openmetrics-text` content type (any parameters, any case),
// kPrometheus for anything else.
TextFormat TextFormatForContentType(std::string_view content_type);

struct TextParseOptions {
  TextFormat format = TextFormat::kPrometheus;
  int64_t default_timestamp_ms = 0;  // for samples written without a timestamp
};

// InvalidArgument "line 3, column 14: expected '=' after label name \"job\", found '}'" for the
// first problem.
absl::StatusOr<PromBatch> ParseText(std::string_view text, const TextParseOptions& options);

}  // namespace observex::metrics
