// Internal to the PromQL engine: implementations of the function library. Instant-vector
// functions see one step at a time; range-vector functions see one series' window at a time.
#pragma once

#include <cstddef>
#include <cstdint>
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

// The extrapolation of rate/increase/delta: `result` is the window's last value minus its
// first (plus the values before counter resets), over n >= 2 samples from first_t to last_t
// inside (range_start, range_end]. Inline: the evaluator calls it at every step of every
// series.
// `range_seconds` is the range in ms / 1000.0, computed once by the caller.
inline double Extrapolate(double result, int64_t first_t, double first_f, int64_t last_t, size_t n,
                          int64_t range_start, int64_t range_end, double range_seconds,
                          bool is_counter, bool is_rate) {
  double duration_to_start = static_cast<double>(first_t - range_start) / 1000;
  double duration_to_end = static_cast<double>(range_end - last_t) / 1000;
  double sampled = static_cast<double>(last_t - first_t) / 1000;
  double avg = sampled / static_cast<double>(n - 1);
  double threshold = avg * 1.1;
  if (duration_to_start >= threshold) duration_to_start = avg / 2;
  if (is_counter) {
    // A counter cannot go below zero: do not extrapolate past the zero point.
    // duration_to_start is below 1.1 * sampled here, so when first_f exceeds 1.2 * result
    // the zero point lies further back and the division can be skipped (same result).
    if (result > 0 && first_f >= 0 && !(sampled > 0 && first_f > 1.2 * result)) {
      const double duration_to_zero = sampled * (first_f / result);
      if (duration_to_zero < duration_to_start) duration_to_start = duration_to_zero;
    }
  }
  if (duration_to_end >= threshold) duration_to_end = avg / 2;
  double factor = 1.0;
  if (sampled != 0) factor = (sampled + duration_to_start + duration_to_end) / sampled;
  if (is_rate) factor /= range_seconds;
  return result * factor;
}

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
