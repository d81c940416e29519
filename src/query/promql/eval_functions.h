// Internal to the PromQL engine: implementations of the function library. Instant-vector
// functions see one step at a time; range-vector functions see one series' window at a time.
#pragma once

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "query/promql/ast.h"
#include "query/promql/eval.h"

namespace observex::query::promql::internal {

// Evaluates a function whose arguments are all instant vectors, scalars (one-sample vectors)
// or strings (read from the call's literals) at step `ts`.
absl::StatusOr<Vector> CallInstantFunction(const Call& call, std::vector<Vector>& args, int64_t ts,
                                           EvalContext* ctx);

// The samples of one series inside (range_start, range_end] at evaluation step ts.
struct Window {
  absl::Span<const Point> points;
  int64_t range_start = 0;  // exclusive
  int64_t range_end = 0;    // inclusive
  int64_t range_ms = 0;
  int64_t ts = 0;
  const Labels* metric = nullptr;
};

// Evaluates a range-vector function over one window; nullopt when it yields no sample.
// `scalars` holds the values of the other (scalar) arguments at this step, in order.
absl::StatusOr<std::optional<double>> CallRangeFunction(const Call& call, const Window& w,
                                                        const std::vector<double>& scalars,
                                                        EvalContext* ctx);

// Labels absent() and absent_over_time() attach: the equality matchers of a selector.
Labels AbsentLabels(const Expr* arg);

// Natural ordering used by sort_by_label: digit runs compare as numbers.
bool NaturalLess(const std::string& a, const std::string& b);

}  // namespace observex::query::promql::internal
