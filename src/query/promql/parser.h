// PromQL parser: hand-written recursive descent over the full Prometheus 3 grammar, followed
// by the same type checks Prometheus applies (function arity and argument types, operand types
// of binary operators, vector matching rules). Errors are absl::Status whose message reads
// like Prometheus's, "<line>:<col>: parse error: <what>", naming what was unexpected and what
// was expected. Experimental syntax that this engine does not implement (duration arithmetic,
// anchored/smoothed selectors, fill modifiers, limitk/limit_ratio, info(), start_timestamp())
// fails with kUnimplemented and a message that names the feature and says "not supported".
// Stateless; thread-safe.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "query/promql/ast.h"

namespace observex::query::promql {

struct ParseOptions {
  // Accept the experimental functions this engine implements (sort_by_label,
  // double_exponential_smoothing, mad_over_time, ts_of_*_over_time, histogram_quantiles,
  // start/end/step/range, min_of/max_of). When false they fail like unknown features.
  bool experimental_functions = true;
};

// Input larger than this is rejected before lexing; trees deeper than kMaxParseDepth (nesting
// plus operator chains) too, which bounds every recursive walk over a parsed tree.
inline constexpr size_t kMaxQueryBytes = 1 << 20;
inline constexpr int kMaxParseDepth = 512;

absl::StatusOr<ExprPtr> ParseExpr(std::string_view query, const ParseOptions& options = {});

// Parses a bare series selector such as `up{job="api"}` (used by the HTTP API's match[]).
absl::StatusOr<std::vector<LabelMatcher>> ParseMetricSelector(std::string_view selector);

}  // namespace observex::query::promql
