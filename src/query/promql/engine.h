// PromQL evaluation with Prometheus 3 semantics over any SeriesSource: instant and range
// queries, 5-minute lookback, staleness markers, offset/@, subqueries, extrapolated
// rate/increase/delta, binary operators with vector matching, aggregations, the function
// library (classic histograms only), delayed __name__ removal, and Prometheus's info/warning
// annotations. Native histograms and experimental features the engine does not implement
// fail with kUnimplemented naming the feature, never with a silently different answer.
//
// Limits (EngineOptions): samples held in memory by one query (max_samples, Prometheus's
// "query processing would load too many samples into memory"), points per series of a range
// query (max_points_per_series), and wall-clock time per query (timeout). Each failure uses
// Prometheus's error text.
//
// An Engine is immutable after construction; queries may run concurrently from many threads,
// each with its own SeriesSource reference (which must outlive the call).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "query/labels.h"
#include "query/promql/ast.h"
#include "query/promql/parser.h"
#include "query/series_source.h"

namespace observex::query::promql {

struct EngineOptions {
  int64_t lookback_delta_ms = 5 * 60 * 1000;
  int64_t max_samples = 50'000'000;
  int64_t max_points_per_series = 11'000;
  std::chrono::milliseconds timeout{2 * 60 * 1000};
  // Step of subqueries written without one ("x[1h:]"); Prometheus uses the global
  // evaluation interval, 1m by default.
  int64_t default_subquery_step_ms = 60 * 1000;
  // sum/avg/count/group/min/max/stddev/stdvar of rate/increase/delta over a selector take
  // each series as it is evaluated (one series held at a time, aggregated while the source
  // still decodes) instead of evaluating every series first. Same groups, same order; each
  // group adds its series in the source's order, which for a float sum can change the last
  // bits (as another series order would in Prometheus). Off only to compare the two paths.
  bool stream_aggregations = true;
  ParseOptions parse;
};

struct ResultPoint {
  int64_t t_ms = 0;
  double value = 0;
};

struct ResultSeries {
  Labels labels;
  std::vector<ResultPoint> points;
};

struct Annotation {
  enum class Severity { kWarning, kInfo };
  Severity severity = Severity::kWarning;
  // Rendered as the Prometheus API does: "PromQL warning: ... (1:5)".
  std::string text;
};

struct QueryResult {
  // kScalar, kVector (instant query), kMatrix (range query, or a range vector from an
  // instant query) or kString.
  ValueType type = ValueType::kVector;
  // Vector: one point per series, in evaluation order (sort() and topk() define it).
  // Matrix: sorted by labels.
  std::vector<ResultSeries> series;
  ResultPoint scalar;
  std::string string_value;
  std::vector<Annotation> annotations;

  std::vector<std::string> Warnings() const;
  std::vector<std::string> Infos() const;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});

  absl::StatusOr<QueryResult> InstantQuery(const SeriesSource& source, std::string_view query,
                                           int64_t time_ms) const;
  absl::StatusOr<QueryResult> RangeQuery(const SeriesSource& source, std::string_view query,
                                         int64_t start_ms, int64_t end_ms, int64_t step_ms) const;

  // The same over an already parsed expression; `query` is its text (used for the positions
  // in annotations).
  absl::StatusOr<QueryResult> InstantQuery(const SeriesSource& source, const Expr& expr,
                                           std::string_view query, int64_t time_ms) const;
  absl::StatusOr<QueryResult> RangeQuery(const SeriesSource& source, const Expr& expr,
                                         std::string_view query, int64_t start_ms, int64_t end_ms,
                                         int64_t step_ms) const;

  const EngineOptions& options() const { return options_; }

 private:
  EngineOptions options_;
};

}  // namespace observex::query::promql
