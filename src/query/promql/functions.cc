#include "query/promql/functions.h"

#include "absl/container/flat_hash_map.h"

namespace observex::query::promql {
namespace {

using VT = ValueType;
constexpr VT kV = VT::kVector;
constexpr VT kM = VT::kMatrix;
constexpr VT kS = VT::kScalar;
constexpr VT kStr = VT::kString;

std::vector<FunctionInfo> Catalogue() {
  std::vector<FunctionInfo> f;
  auto add = [&](std::string_view name, std::vector<VT> args, int variadic, VT ret,
                 bool experimental = false, bool implemented = true) {
    f.push_back(FunctionInfo{name, std::move(args), variadic, ret, experimental, implemented});
  };
  // Instant-vector math.
  for (std::string_view n : {"abs",
                             "ceil",
                             "floor",
                             "exp",
                             "sqrt",
                             "ln",
                             "log2",
                             "log10",
                             "sgn",
                             "sin",
                             "cos",
                             "tan",
                             "asin",
                             "acos",
                             "atan",
                             "sinh",
                             "cosh",
                             "tanh",
                             "asinh",
                             "acosh",
                             "atanh",
                             "rad",
                             "deg",
                             "absent",
                             "sort",
                             "sort_desc",
                             "timestamp",
                             "histogram_avg",
                             "histogram_count",
                             "histogram_sum",
                             "histogram_stddev",
                             "histogram_stdvar"}) {
    add(n, {kV}, 0, kV);
  }
  // Range-vector functions.
  for (std::string_view n :
       {"absent_over_time", "avg_over_time", "changes", "count_over_time", "delta", "deriv",
        "first_over_time", "idelta", "increase", "irate", "last_over_time", "max_over_time",
        "min_over_time", "present_over_time", "rate", "resets", "stddev_over_time",
        "stdvar_over_time", "sum_over_time"}) {
    add(n, {kM}, 0, kV);
  }
  for (std::string_view n : {"mad_over_time", "ts_of_first_over_time", "ts_of_last_over_time",
                             "ts_of_max_over_time", "ts_of_min_over_time"}) {
    add(n, {kM}, 0, kV, /*experimental=*/true);
  }
  // Date functions take an optional vector (default: vector(time())).
  for (std::string_view n : {"days_in_month", "day_of_month", "day_of_week", "day_of_year", "hour",
                             "minute", "month", "year"}) {
    add(n, {kV}, 1, kV);
  }
  add("clamp", {kV, kS, kS}, 0, kV);
  add("clamp_max", {kV, kS}, 0, kV);
  add("clamp_min", {kV, kS}, 0, kV);
  add("round", {kV, kS}, 1, kV);
  add("scalar", {kV}, 0, kS);
  add("vector", {kS}, 0, kV);
  add("time", {}, 0, kS);
  add("pi", {}, 0, kS);
  add("predict_linear", {kM, kS}, 0, kV);
  add("quantile_over_time", {kS, kM}, 0, kV);
  add("histogram_quantile", {kS, kV}, 0, kV);
  add("histogram_fraction", {kS, kS, kV}, 0, kV);
  add("histogram_quantiles", {kV, kStr, kS, kS}, 9, kV, /*experimental=*/true);
  add("double_exponential_smoothing", {kM, kS, kS}, 0, kV, /*experimental=*/true);
  add("label_replace", {kV, kStr, kStr, kStr, kStr}, 0, kV);
  add("label_join", {kV, kStr, kStr, kStr}, -1, kV);
  add("sort_by_label", {kV, kStr}, -1, kV, /*experimental=*/true);
  add("sort_by_label_desc", {kV, kStr}, -1, kV, /*experimental=*/true);
  add("start", {}, 0, kS, /*experimental=*/true);
  add("end", {}, 0, kS, /*experimental=*/true);
  add("step", {}, 0, kS, /*experimental=*/true);
  add("range", {}, 0, kS, /*experimental=*/true);
  add("min_of", {kS, kS}, 0, kS, /*experimental=*/true);
  add("max_of", {kS, kS}, 0, kS, /*experimental=*/true);
  // Experimental functions this engine does not implement: info() needs info-metric joins,
  // start_timestamp() needs per-sample start times the storage does not keep.
  add("info", {kV, kV}, 1, kV, /*experimental=*/true, /*implemented=*/false);
  add("start_timestamp", {kV}, 0, kV, /*experimental=*/true, /*implemented=*/false);
  return f;
}

const absl::flat_hash_map<std::string_view, FunctionInfo>& Table() {
  static const auto* table = [] {
    auto* t = new absl::flat_hash_map<std::string_view, FunctionInfo>();
    for (auto& fi : Catalogue()) {
      std::string_view name = fi.name;
      t->emplace(name, std::move(fi));
    }
    return t;
  }();
  return *table;
}

}  // namespace

const FunctionInfo* FindFunction(std::string_view name) {
  const auto& t = Table();
  auto it = t.find(name);
  return it == t.end() ? nullptr : &it->second;
}

bool IsAtModifierUnsafeFunction(std::string_view name) {
  for (std::string_view n :
       {"days_in_month", "day_of_month", "day_of_week", "day_of_year", "end", "hour", "minute",
        "month", "year", "predict_linear", "range", "start", "step", "time", "timestamp"}) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace observex::query::promql
