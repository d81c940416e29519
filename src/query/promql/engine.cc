#include "query/promql/engine.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "query/promql/eval.h"
#include "query/promql/status_macros.h"

namespace observex::query::promql {

using internal::EvalContext;
using internal::Evaluator;
using internal::Matrix;

std::vector<std::string> QueryResult::Warnings() const {
  std::vector<std::string> out;
  for (const auto& a : annotations) {
    if (a.severity == Annotation::Severity::kWarning) out.push_back(a.text);
  }
  return out;
}

std::vector<std::string> QueryResult::Infos() const {
  std::vector<std::string> out;
  for (const auto& a : annotations) {
    if (a.severity == Annotation::Severity::kInfo) out.push_back(a.text);
  }
  return out;
}

Engine::Engine(EngineOptions options) : options_(std::move(options)) {}

namespace {

void SortByLabels(Matrix* m) {
  std::sort(m->begin(), m->end(), [](const internal::Series& a, const internal::Series& b) {
    return CompareLabels(a.metric, b.metric) < 0;
  });
}

std::vector<ResultSeries> ToResult(Matrix m) {
  std::vector<ResultSeries> out;
  out.reserve(m.size());
  for (auto& s : m) {
    ResultSeries r;
    r.labels = std::move(s.metric);
    r.points.reserve(s.points.size());
    for (const auto& p : s.points) r.points.push_back(ResultPoint{p.t, p.f});
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

absl::StatusOr<QueryResult> Engine::InstantQuery(const SeriesSource& source, std::string_view query,
                                                 int64_t time_ms) const {
  OBX_ASSIGN_OR_RETURN(ExprPtr expr, ParseExpr(query, options_.parse));
  return InstantQuery(source, *expr, query, time_ms);
}

absl::StatusOr<QueryResult> Engine::RangeQuery(const SeriesSource& source, std::string_view query,
                                               int64_t start_ms, int64_t end_ms,
                                               int64_t step_ms) const {
  OBX_ASSIGN_OR_RETURN(ExprPtr expr, ParseExpr(query, options_.parse));
  return RangeQuery(source, *expr, query, start_ms, end_ms, step_ms);
}

absl::StatusOr<QueryResult> Engine::InstantQuery(const SeriesSource& source, const Expr& expr,
                                                 std::string_view query, int64_t time_ms) const {
  if (time_ms > kMaxTimestampMs || time_ms < -kMaxTimestampMs) {
    return absl::InvalidArgumentError(absl::StrCat("query time ", time_ms, " is out of range"));
  }
  EvalContext ctx;
  ctx.source = &source;
  ctx.options = &options_;
  ctx.query_start = ctx.query_end = time_ms;
  ctx.query_step = 0;
  ctx.deadline = std::chrono::steady_clock::now() + options_.timeout;
  Evaluator ev(&ctx, time_ms, time_ms, 1);
  OBX_ASSIGN_OR_RETURN(internal::Value v, ev.Eval(&expr));
  QueryResult result;
  if (v.is_string) {
    result.type = ValueType::kString;
    result.string_value = std::move(v.str);
    result.annotations = ctx.annotations.Render(query);
    return result;
  }
  OBX_ASSIGN_OR_RETURN(Matrix m, internal::CleanupMetricLabels(std::move(v.mat)));
  result.type = expr.type();
  switch (result.type) {
    case ValueType::kScalar:
      if (!m.empty() && !m[0].points.empty()) result.scalar = {time_ms, m[0].points[0].f};
      break;
    case ValueType::kVector:
      for (auto& s : m) {
        if (s.points.empty()) continue;
        // The value is reported at the evaluation time, whatever sample it came from.
        s.points.resize(1);
        s.points[0].t = time_ms;
      }
      result.series = ToResult(std::move(m));
      break;
    default:
      SortByLabels(&m);
      result.series = ToResult(std::move(m));
      break;
  }
  result.annotations = ctx.annotations.Render(query);
  return result;
}

absl::StatusOr<QueryResult> Engine::RangeQuery(const SeriesSource& source, const Expr& expr,
                                               std::string_view query, int64_t start_ms,
                                               int64_t end_ms, int64_t step_ms) const {
  if (step_ms <= 0) {
    return absl::InvalidArgumentError(
        "zero or negative query resolution step widths are not accepted. Try a positive "
        "integer");
  }
  if (start_ms > kMaxTimestampMs || start_ms < -kMaxTimestampMs || end_ms > kMaxTimestampMs ||
      end_ms < -kMaxTimestampMs) {
    return absl::InvalidArgumentError("query time range is out of range");
  }
  if (end_ms < start_ms) {
    return absl::InvalidArgumentError("end timestamp must not be before start time");
  }
  if ((end_ms - start_ms) / step_ms > options_.max_points_per_series) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exceeded maximum resolution of ",
        options_.max_points_per_series == 11000 ? "11,000"
                                                : std::to_string(options_.max_points_per_series),
        " points per timeseries. Try decreasing the query resolution (?step=XX)"));
  }
  ValueType t = expr.type();
  if (t != ValueType::kVector && t != ValueType::kScalar) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid expression type \"", std::string(DocumentedType(t)),
                     "\" for range query, must be Scalar or instant Vector"));
  }
  EvalContext ctx;
  ctx.source = &source;
  ctx.options = &options_;
  ctx.query_start = start_ms;
  ctx.query_end = end_ms;
  ctx.query_step = step_ms;
  ctx.deadline = std::chrono::steady_clock::now() + options_.timeout;
  Evaluator ev(&ctx, start_ms, end_ms, step_ms);
  OBX_ASSIGN_OR_RETURN(internal::Value v, ev.Eval(&expr));
  OBX_ASSIGN_OR_RETURN(Matrix m, internal::CleanupMetricLabels(std::move(v.mat)));
  SortByLabels(&m);
  QueryResult result;
  result.type = ValueType::kMatrix;
  result.series = ToResult(std::move(m));
  result.annotations = ctx.annotations.Render(query);
  return result;
}

}  // namespace observex::query::promql
