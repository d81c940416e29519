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

// rate (is_counter, is_rate), increase (is_counter) and delta over one window, extrapolated to
// its edges. `may_reset` false promises that no value in the window is below its predecessor,
// which saves the scan for counter resets (the result is the same).
std::optional<double> ExtrapolatedRate(const Window& w, bool is_counter, bool is_rate,
                                       bool may_reset = true);

// Labels absent() and absent_over_time() attach: the equality matchers of a selector.
Labels AbsentLabels(const Expr* arg);

// Natural ordering used by sort_by_label: digit runs compare as numbers.
bool NaturalLess(const std::string& a, const std::string& b);

}  // namespace observex::query::promql::internal
