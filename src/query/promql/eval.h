// Internal to the PromQL engine: the evaluator and its value types. An Evaluator evaluates an
// expression at every step of [start, end] (interval apart; an instant query is one step) and
// returns a matrix with at most one point per step per series, like Prometheus's engine. One
// EvalContext per query carries the source, limits, the sample budget and the annotations;
// it is used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "query/labels.h"
#include "query/promql/ast.h"
#include "query/promql/engine.h"
#include "query/series_source.h"

namespace observex::query::promql::internal {

struct Point {
  int64_t t = 0;
  double f = 0;
};

struct Series {
  Labels metric;
  std::vector<Point> points;  // increasing t
  // Delayed __name__ removal: the name is dropped when the result is returned, so that
  // label_replace/label_join and aggregations can still see it.
  bool drop_name = false;
};
using Matrix = std::vector<Series>;

// A point's time and value, for code that reads the evaluator's points and the source's
// samples alike.
inline int64_t TimeOf(const Point& p) { return p.t; }
inline double ValueOf(const Point& p) { return p.f; }
inline int64_t TimeOf(const SamplePoint& p) { return p.t_ms; }
inline double ValueOf(const SamplePoint& p) { return p.value; }

// Takes a range function's result series one at a time instead of as a Matrix, so that an
// aggregation over it holds one series at a time (see Evaluator::EvalRangeFunction). The
// points (at the steps, increasing) are valid during the call only.
class SeriesSink {
 public:
  virtual ~SeriesSink() = default;
  virtual absl::Status Add(const Labels& metric, bool drop_name,
                           absl::Span<const Point> points) = 0;
  virtual absl::Status Add(const Labels& metric, bool drop_name,
                           absl::Span<const SamplePoint> points) = 0;
};

struct Sample {
  Labels metric;
  double f = 0;
  int64_t t = 0;  // sample time for selectors, step time otherwise
  bool drop_name = false;
  int series = -1;  // index of the input series it came from (for per-series caches)
};
using Vector = std::vector<Sample>;

struct Value {
  bool is_string = false;
  std::string str;
  Matrix mat;
};

// Annotation set keyed by message (without position): a later annotation with the same
// message replaces an earlier one, as in Prometheus. The histogram_quantile monotonicity note
// merges its statistics instead.
class Annotations {
 public:
  void Warn(std::string msg, PosRange pos);
  void Info(std::string msg, PosRange pos);
  void MonotonicityInfo(std::string metric_name, PosRange pos, int64_t ts, double min_bucket,
                        double max_bucket, double max_diff);
  std::vector<Annotation> Render(std::string_view query) const;

 private:
  struct Entry {
    Annotation::Severity severity;
    std::string msg;
    PosRange pos;
    bool monotonicity = false;
    int64_t min_ts = 0, max_ts = 0;
    double min_bucket = 0, max_bucket = 0, max_diff = 0;
    int count = 0;
  };
  void Put(Entry e);
  std::vector<Entry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;
};

struct EvalContext {
  const SeriesSource* source = nullptr;
  const EngineOptions* options = nullptr;
  // The query's own range, for @ start()/end() and start()/end()/range()/step().
  int64_t query_start = 0;
  int64_t query_end = 0;
  int64_t query_step = 0;  // 0 for instant queries
  std::chrono::steady_clock::time_point deadline;
  int64_t current_samples = 0;
  Annotations annotations;

  absl::Status CheckDeadline() const;
  // Accounts for samples held in memory; fails with Prometheus's text past the limit.
  absl::Status AddSamples(int64_t n);
  void ReleaseSamples(int64_t n) { current_samples -= n; }
};

int64_t TotalPoints(const Matrix& m);

class Evaluator {
 public:
  Evaluator(EvalContext* ctx, int64_t start, int64_t end, int64_t interval)
      : ctx_(ctx), start_(start), end_(end), interval_(interval) {}

  absl::StatusOr<Value> Eval(const Expr* e);

 private:
  using StepFn = std::function<absl::StatusOr<Vector>(
      std::vector<Vector>& in, const std::vector<std::vector<int>>& sigs, int64_t ts)>;

  int64_t NumSteps() const { return (end_ - start_) / interval_ + 1; }
  // Resolves @ start()/end() against the query range.
  int64_t AtTime(AtKind kind, int64_t at_ms) const;

  absl::StatusOr<Matrix> EvalMatrix(const Expr* e);
  // Evaluates the non-string expressions, then calls fn at every step with the samples
  // present at that step; sigs holds vector-matching signature ordinals when matching != null.
  absl::StatusOr<Matrix> RangeEval(const std::vector<const Expr*>& exprs,
                                   const VectorMatching* matching, const StepFn& fn);
  absl::StatusOr<Matrix> FinishSteps(std::vector<Vector>&& per_step);

  absl::StatusOr<Matrix> EvalNumber(double v);
  absl::StatusOr<Matrix> EvalVectorSelector(const VectorSelector& vs);
  absl::StatusOr<Matrix> EvalMatrixSelectorRaw(const MatrixSelector& ms);
  absl::StatusOr<Matrix> EvalSubquery(const SubqueryExpr& sq);
  absl::StatusOr<Matrix> EvalUnary(const UnaryExpr& u);
  absl::StatusOr<Matrix> EvalBinary(const BinaryExpr& b);
  absl::StatusOr<Matrix> EvalAggregate(const AggregateExpr& a);
  absl::StatusOr<Matrix> EvalCountValues(const AggregateExpr& a);
  // sum, avg, ... (SeriesMajor) of rate/increase/delta over a selector, with the function's
  // series streamed into the groups instead of held as a Matrix; nullopt when the expression
  // has another shape or its groups outgrow kMaxSeriesMajorCells (the caller then takes the
  // general path).
  absl::StatusOr<std::optional<Matrix>> AggregateStreamed(const AggregateExpr& a,
                                                          const std::vector<std::string>& grouping);
  // sum, avg, count, group, min, max, stddev, stdvar over `in`, series after series, into
  // `out` (one series per group, labels set); see eval_aggregate.cc.
  absl::Status AggregateSeriesMajor(Tok op, const Matrix& in,
                                    const std::vector<size_t>& series_group, Matrix* out);
  // Bound on groups x steps for AggregateSeriesMajor's state (~56 bytes a cell).
  static constexpr size_t kMaxSeriesMajorCells = size_t{1} << 20;
  // Input points from which AggregateSeriesMajor splits its groups over two threads.
  static constexpr int64_t kParallelAggregatePoints = int64_t{1} << 18;
  absl::StatusOr<Matrix> EvalCall(const Call& c);
  // The sample range [mint, maxt] a range function reads through `ms` (offset and @ applied).
  std::pair<int64_t, int64_t> SelectRange(const MatrixSelector& ms) const;
  // With a sink, the result series go to it (the returned Matrix is empty).
  absl::StatusOr<Matrix> EvalRangeFunction(const Call& c, size_t matrix_arg,
                                           SeriesSink* sink = nullptr);
  absl::StatusOr<Matrix> EvalTimestampOfSelector(const VectorSelector& vs);
  absl::StatusOr<Matrix> EvalLabelReplace(const Call& c);
  absl::StatusOr<Matrix> EvalLabelJoin(const Call& c);
  // Per-step scalar values of a parameter expression (one value per step).
  absl::StatusOr<std::vector<double>> EvalScalarSteps(const Expr* e);

  // Result labels of binary operations, by (lhs series, rhs series): they do not change from
  // step to step. One entry per matched pair, each of which produced an output sample, so the
  // cache is bounded by the query's sample budget (max_samples).
  using MetricCache = absl::flat_hash_map<std::pair<int, int>, Labels>;
  absl::StatusOr<Vector> VectorBinop(const BinaryExpr& b, const Vector& lhs, const Vector& rhs,
                                     const std::vector<int>& lsig, const std::vector<int>& rsig,
                                     int num_sigs, MetricCache* cache);

  EvalContext* ctx_;
  int64_t start_;
  int64_t end_;
  int64_t interval_;
};

// Merges series that became identical after dropping names; overlapping timestamps are an
// error ("vector cannot contain metrics with the same labelset").
absl::StatusOr<Matrix> MergeSameLabelsets(Matrix m);
// Applies delayed __name__ removal to a finished result.
absl::StatusOr<Matrix> CleanupMetricLabels(Matrix m);

}  // namespace observex::query::promql::internal
