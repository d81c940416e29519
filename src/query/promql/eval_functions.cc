#include "query/promql/eval_functions.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "query/promql/format.h"
#include "query/promql/functions.h"
#include "query/promql/quantile.h"

namespace observex::query::promql::internal {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Go's math.Max/math.Min: NaN wins, and +0 > -0.
double GoMax(double a, double b) {
  if (std::isinf(a) && a > 0) return a;
  if (std::isinf(b) && b > 0) return b;
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  if (a == 0 && b == 0) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
double GoMin(double a, double b) {
  if (std::isinf(a) && a < 0) return a;
  if (std::isinf(b) && b < 0) return b;
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  if (a == 0 && b == 0) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

const std::string& StringArg(const Call& c, size_t i) {
  return static_cast<const StringLiteral*>(Unparen(c.args[i].get()))->val;
}

Vector SimpleFloat(const Vector& in, double (*f)(double)) {
  Vector out;
  out.reserve(in.size());
  for (const Sample& s : in) out.push_back(Sample{s.metric, f(s.f), s.t, true});
  return out;
}

// ---- calendar (UTC, proleptic Gregorian) ----
struct Civil {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
  int hour;
  int minute;
  int weekday;  // 0 = Sunday
  int yday;     // 1..366
};

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = FloorDiv(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

Civil CivilFromUnix(int64_t secs) {
  int64_t days = FloorDiv(secs, 86400);
  int64_t sod = secs % 86400;  // avoids days * 86400, which can overflow near INT64_MIN
  if (sod < 0) sod += 86400;
  int64_t z = days + 719468;
  int64_t era = FloorDiv(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y += m <= 2;
  Civil c;
  c.year = y;
  c.month = m;
  c.day = d;
  c.hour = static_cast<int>(sod / 3600);
  c.minute = static_cast<int>((sod % 3600) / 60);
  c.weekday = static_cast<int>(((days % 7) + 7 + 4) % 7);
  c.yday = static_cast<int>(days - DaysFromCivil(y, 1, 1) + 1);
  return c;
}

int DaysInMonth(int64_t y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2) {
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[m - 1];
}

double DatePart(std::string_view fn, const Civil& c) {
  if (fn == "year") return static_cast<double>(c.year);
  if (fn == "month") return c.month;
  if (fn == "day_of_month") return c.day;
  if (fn == "day_of_week") return c.weekday;
  if (fn == "day_of_year") return c.yday;
  if (fn == "hour") return c.hour;
  if (fn == "minute") return c.minute;
  if (fn == "days_in_month") return DaysInMonth(c.year, c.month);
  return kNaN;
}

// Go's int64(f) on amd64: truncation, with NaN and out-of-range values mapped to MinInt64.
int64_t GoFloatToInt64(double f) {
  if (std::isnan(f) || f >= 9.223372036854775807e18 || f < -9.223372036854775808e18) {
    return std::numeric_limits<int64_t>::min();
  }
  return static_cast<int64_t>(f);
}

// ---- classic histograms ----
struct BucketGroup {
  Labels metric;
  std::vector<Bucket> buckets;
};

// Groups samples by their labels without "le"; warns about missing/malformed "le".
std::vector<BucketGroup> GroupBuckets(const Vector& in, PosRange arg_pos, EvalContext* ctx) {
  std::vector<BucketGroup> groups;
  absl::flat_hash_map<std::string, size_t> index;
  for (const Sample& s : in) {
    std::string le(s.metric.Get(kBucketLabel));
    char* end = nullptr;
    double ub = std::strtod(le.c_str(), &end);
    if (le.empty() || std::isspace(static_cast<unsigned char>(le[0])) ||
        end != le.c_str() + le.size()) {
      std::string msg =
          absl::StrCat("bucket label \"le\" is missing or has a malformed value of ", QuoteGo(le));
      std::string_view name = s.metric.Get(kMetricNameLabel);
      if (!name.empty()) absl::StrAppend(&msg, " for metric name ", QuoteGo(name));
      ctx->annotations.Warn(std::move(msg), arg_pos);
      continue;
    }
    Labels key_labels = s.metric;
    key_labels.Del(kBucketLabel);
    std::string key = key_labels.Key();
    auto it = index.find(key);
    if (it == index.end()) {
      it = index.emplace(key, groups.size()).first;
      groups.push_back(BucketGroup{key_labels, {}});
    }
    groups[it->second].buckets.push_back(Bucket{ub, s.f});
  }
  return groups;
}

void WarnInvalidQuantile(double q, PosRange pos, EvalContext* ctx) {
  if (std::isnan(q) || q < 0 || q > 1) {
    ctx->annotations.Warn(
        absl::StrCat("quantile value should be between 0 and 1, got ", FormatFloatG(q)), pos);
  }
}

// ---- range helpers ----
double LinearRegressionSlope(absl::Span<const Point> pts, int64_t intercept_time,
                             double* intercept) {
  double n = 0, sum_x = 0, cx = 0, sum_y = 0, cy = 0, sum_xy = 0, cxy = 0, sum_x2 = 0, cx2 = 0;
  double init_y = pts[0].f;
  bool const_y = true;
  for (size_t i = 0; i < pts.size(); ++i) {
    if (const_y && i > 0 && pts[i].f != init_y) const_y = false;
    n += 1.0;
    double x = static_cast<double>(pts[i].t - intercept_time) / 1e3;
    sum_x = KahanInc(x, sum_x, &cx);
    sum_y = KahanInc(pts[i].f, sum_y, &cy);
    sum_xy = KahanInc(x * pts[i].f, sum_xy, &cxy);
    sum_x2 = KahanInc(x * x, sum_x2, &cx2);
  }
  if (const_y) {
    if (std::isinf(init_y)) {
      *intercept = kNaN;
      return kNaN;
    }
    *intercept = init_y;
    return 0;
  }
  sum_x += cx;
  sum_y += cy;
  sum_xy += cxy;
  sum_x2 += cx2;
  double cov_xy = sum_xy - sum_x * sum_y / n;
  double var_x = sum_x2 - sum_x * sum_x / n;
  double slope = cov_xy / var_x;
  *intercept = sum_y / n - slope * sum_x / n;
  return slope;
}

}  // namespace

std::optional<double> ExtrapolatedRate(const Window& w, bool is_counter, bool is_rate,
                                       bool may_reset) {
  const auto& p = w.points;
  if (p.size() < 2) return std::nullopt;
  double result = p.back().f - p.front().f;
  if (is_counter && may_reset) {
    for (size_t i = 1; i < p.size(); ++i) {
      if (p[i].f < p[i - 1].f) result += p[i - 1].f;
    }
  }
  return Extrapolate(result, p.front().t, p.front().f, p.back().t, p.size(), w.range_start,
                     w.range_end, static_cast<double>(w.range_ms) / 1000.0, is_counter, is_rate);
}

namespace {

std::optional<double> InstantValue(const Window& w, bool is_rate) {
  const auto& p = w.points;
  if (p.size() < 2) return std::nullopt;
  const Point& prev = p[p.size() - 2];
  const Point& last = p.back();
  int64_t interval = last.t - prev.t;
  if (interval == 0) return std::nullopt;
  double result = last.f;
  if (!is_rate || !(last.f < prev.f)) result = last.f - prev.f;
  if (is_rate) result /= static_cast<double>(interval) / 1000;
  return result;
}

double AvgOverTime(absl::Span<const Point> p) {
  double sum = p[0].f, count = 1, mean = 0, c = 0;
  bool incremental = false;
  for (size_t i = 1; i < p.size(); ++i) {
    count = static_cast<double>(i + 1);
    if (!incremental) {
      double cc = c;
      double ns = KahanInc(p[i].f, sum, &cc);
      if (!std::isinf(ns)) {
        sum = ns;
        c = cc;
        continue;
      }
      incremental = true;
      mean = sum / (count - 1);
      c /= count - 1;
    }
    double q = (count - 1) / count;
    double qc = q * c;
    mean = KahanInc(p[i].f / count, q * mean, &qc);
    c = qc;
  }
  if (incremental) return mean + c;
  return sum / count + c / count;
}

double Variance(absl::Span<const Point> p) {
  double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
  for (const Point& x : p) {
    count++;
    double delta = x.f - (mean + c_mean);
    mean = KahanInc(delta / count, mean, &c_mean);
    aux = KahanInc(delta * (x.f - (mean + c_mean)), aux, &c_aux);
  }
  return (aux + c_aux) / count;
}

double CompareOverTime(absl::Span<const Point> p, bool want_max, bool or_equal, bool return_ts) {
  double best = p[0].f;
  int64_t best_t = p[0].t;
  for (const Point& x : p) {
    bool better;
    if (want_max) {
      better = (or_equal ? x.f >= best : x.f > best) || std::isnan(best);
    } else {
      better = (or_equal ? x.f <= best : x.f < best) || std::isnan(best);
    }
    if (better) {
      best = x.f;
      best_t = x.t;
    }
  }
  return return_ts ? static_cast<double>(best_t) / 1000 : best;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::vector<std::string> NatChunks(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    bool digit = IsDigit(s[i]);
    while (j < s.size() && IsDigit(s[j]) == digit) ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool ParseChunkInt(const std::string& s, int64_t* v) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  *v = std::stoll(s);
  return true;
}

}  // namespace

bool NaturalLess(const std::string& a, const std::string& b) {
  std::vector<std::string> ca = NatChunks(a);
  std::vector<std::string> cb = NatChunks(b);
  for (size_t i = 0; i < ca.size(); ++i) {
    if (i >= cb.size()) return false;
    int64_t ia, ib;
    if (ParseChunkInt(ca[i], &ia) && ParseChunkInt(cb[i], &ib)) {
      if (ia == ib) {
        if (i == ca.size() - 1) return true;
        if (i == cb.size() - 1) return false;
        continue;
      }
      return ia < ib;
    }
    if (ca[i] == cb[i]) {
      if (i == ca.size() - 1) return true;
      if (i == cb.size() - 1) return false;
      continue;
    }
    return ca[i] < cb[i];
  }
  return false;
}

Labels AbsentLabels(const Expr* arg) {
  arg = Unparen(arg);
  const VectorSelector* vs = nullptr;
  if (arg->kind == NodeKind::kVectorSelector) vs = static_cast<const VectorSelector*>(arg);
  if (arg->kind == NodeKind::kMatrixSelector)
    vs = static_cast<const MatrixSelector*>(arg)->vs.get();
  if (vs == nullptr) return Labels();
  Labels out;
  std::vector<std::string> seen;
  for (const auto& m : vs->matchers) {
    if (m.name() == kMetricNameLabel) continue;
    bool was_seen = std::find(seen.begin(), seen.end(), m.name()) != seen.end();
    if (m.type() == LabelMatcher::Type::kEqual && !was_seen) {
      out.Set(m.name(), m.value());
      seen.push_back(m.name());
    } else {
      out.Del(m.name());
    }
  }
  return out;
}

absl::StatusOr<Vector> CallInstantFunction(const Call& c, std::vector<Vector>& args, int64_t ts,
                                           EvalContext* ctx) {
  const std::string_view fn = c.func->name;
  Vector out;
  if (fn == "abs") return SimpleFloat(args[0], [](double x) { return std::fabs(x); });
  if (fn == "ceil") return SimpleFloat(args[0], [](double x) { return std::ceil(x); });
  if (fn == "floor") return SimpleFloat(args[0], [](double x) { return std::floor(x); });
  if (fn == "exp") return SimpleFloat(args[0], [](double x) { return std::exp(x); });
  if (fn == "sqrt") return SimpleFloat(args[0], [](double x) { return std::sqrt(x); });
  if (fn == "ln") return SimpleFloat(args[0], [](double x) { return std::log(x); });
  if (fn == "log2") return SimpleFloat(args[0], [](double x) { return std::log2(x); });
  if (fn == "log10") return SimpleFloat(args[0], [](double x) { return std::log10(x); });
  if (fn == "sin") return SimpleFloat(args[0], [](double x) { return std::sin(x); });
  if (fn == "cos") return SimpleFloat(args[0], [](double x) { return std::cos(x); });
  if (fn == "tan") return SimpleFloat(args[0], [](double x) { return std::tan(x); });
  if (fn == "asin") return SimpleFloat(args[0], [](double x) { return std::asin(x); });
  if (fn == "acos") return SimpleFloat(args[0], [](double x) { return std::acos(x); });
  if (fn == "atan") return SimpleFloat(args[0], [](double x) { return std::atan(x); });
  if (fn == "sinh") return SimpleFloat(args[0], [](double x) { return std::sinh(x); });
  if (fn == "cosh") return SimpleFloat(args[0], [](double x) { return std::cosh(x); });
  if (fn == "tanh") return SimpleFloat(args[0], [](double x) { return std::tanh(x); });
  if (fn == "asinh") return SimpleFloat(args[0], [](double x) { return std::asinh(x); });
  if (fn == "acosh") return SimpleFloat(args[0], [](double x) { return std::acosh(x); });
  if (fn == "atanh") return SimpleFloat(args[0], [](double x) { return std::atanh(x); });
  if (fn == "rad") return SimpleFloat(args[0], [](double x) { return x * M_PI / 180; });
  if (fn == "deg") return SimpleFloat(args[0], [](double x) { return x * 180 / M_PI; });
  if (fn == "sgn") {
    return SimpleFloat(args[0], [](double x) { return x < 0 ? -1.0 : (x > 0 ? 1.0 : x); });
  }
  if (fn == "round") {
    double to_nearest = args.size() >= 2 ? args[1][0].f : 1.0;
    double inv = 1.0 / to_nearest;
    for (const Sample& s : args[0]) {
      out.push_back(Sample{s.metric, std::floor(s.f * inv + 0.5) / inv, s.t, true});
    }
    return out;
  }
  if (fn == "clamp" || fn == "clamp_min" || fn == "clamp_max") {
    double lo = -kInf, hi = kInf;
    if (fn == "clamp") {
      lo = args[1][0].f;
      hi = args[2][0].f;
    } else if (fn == "clamp_min") {
      lo = args[1][0].f;
    } else {
      hi = args[1][0].f;
    }
    if (hi < lo) return out;
    for (const Sample& s : args[0]) {
      out.push_back(Sample{s.metric, GoMax(lo, GoMin(hi, s.f)), s.t, true});
    }
    return out;
  }
  if (fn == "scalar") {
    double v = kNaN;
    if (args[0].size() == 1) v = args[0][0].f;
    out.push_back(Sample{Labels(), v, ts, false});
    return out;
  }
  if (fn == "vector") {
    out.push_back(Sample{Labels(), args[0][0].f, ts, false});
    return out;
  }
  if (fn == "time") {
    out.push_back(Sample{Labels(), static_cast<double>(ts) / 1000.0, ts, false});
    return out;
  }
  if (fn == "pi") {
    out.push_back(Sample{Labels(), M_PI, ts, false});
    return out;
  }
  if (fn == "min_of" || fn == "max_of") {
    double a = args[0][0].f, b = args[1][0].f;
    out.push_back(Sample{Labels(), fn == "min_of" ? GoMin(a, b) : GoMax(a, b), ts, false});
    return out;
  }
  if (fn == "timestamp") {
    for (const Sample& s : args[0]) {
      out.push_back(Sample{s.metric, static_cast<double>(s.t) / 1000.0, s.t, true});
    }
    return out;
  }
  if (fn == "sort" || fn == "sort_desc") {
    out = args[0];
    const bool desc = fn == "sort_desc";
    std::stable_sort(out.begin(), out.end(), [desc](const Sample& a, const Sample& b) {
      // NaN always sorts last.
      if (std::isnan(a.f)) return false;
      if (std::isnan(b.f)) return true;
      return desc ? a.f > b.f : a.f < b.f;
    });
    return out;
  }
  if (fn == "sort_by_label" || fn == "sort_by_label_desc") {
    out = args[0];
    std::vector<std::string> names;
    for (size_t i = 1; i < c.args.size(); ++i) names.push_back(StringArg(c, i));
    const bool desc = fn == "sort_by_label_desc";
    std::stable_sort(out.begin(), out.end(), [&](const Sample& a, const Sample& b) {
      for (const auto& n : names) {
        std::string va(a.metric.Get(n));
        std::string vb(b.metric.Get(n));
        if (va == vb) continue;
        bool less = NaturalLess(va, vb);
        return desc ? !less : less;
      }
      int cmp = CompareLabels(a.metric, b.metric);
      return desc ? cmp > 0 : cmp < 0;
    });
    return out;
  }
  if (fn == "absent") {
    if (!args[0].empty()) return out;
    out.push_back(Sample{AbsentLabels(c.args[0].get()), 1, ts, false});
    return out;
  }
  if (fn == "days_in_month" || fn == "day_of_month" || fn == "day_of_week" || fn == "day_of_year" ||
      fn == "hour" || fn == "minute" || fn == "month" || fn == "year") {
    if (c.args.empty()) {
      Civil civ = CivilFromUnix(ts / 1000);
      out.push_back(Sample{Labels(), DatePart(fn, civ), ts, false});
      return out;
    }
    for (const Sample& s : args[0]) {
      Civil civ = CivilFromUnix(GoFloatToInt64(s.f));
      out.push_back(Sample{s.metric, DatePart(fn, civ), s.t, true});
    }
    return out;
  }
  if (fn == "histogram_count" || fn == "histogram_sum" || fn == "histogram_avg" ||
      fn == "histogram_stddev" || fn == "histogram_stdvar") {
    // These read native histograms only; float samples are ignored, as in Prometheus. This
    // engine has no native histograms, so the result is always empty.
    return out;
  }
  if (fn == "histogram_quantile") {
    double q = args[0].empty() ? kNaN : args[0][0].f;
    if (args[0].empty()) return out;
    WarnInvalidQuantile(q, c.args[0]->pos(), ctx);
    for (BucketGroup& g : GroupBuckets(args[1], c.args[1]->pos(), ctx)) {
      BucketQuantileResult r = BucketQuantile(q, &g.buckets);
      if (r.forced_monotonic) {
        ctx->annotations.MonotonicityInfo(std::string(g.metric.Get(kMetricNameLabel)),
                                          c.args[1]->pos(), ts, r.min_bucket, r.max_bucket,
                                          r.max_diff);
      }
      out.push_back(Sample{g.metric, r.value, ts, true});
    }
    return out;
  }
  if (fn == "histogram_quantiles") {
    const std::string& label = StringArg(c, 1);
    std::vector<double> qs;
    for (size_t i = 2; i < args.size(); ++i) {
      double q = args[i][0].f;
      WarnInvalidQuantile(q, c.args[i]->pos(), ctx);
      qs.push_back(q);
    }
    std::vector<BucketGroup> groups = GroupBuckets(args[0], c.args[0]->pos(), ctx);
    for (double q : qs) {
      for (const BucketGroup& g : groups) {
        std::vector<Bucket> buckets = g.buckets;
        BucketQuantileResult r = BucketQuantile(q, &buckets);
        if (r.forced_monotonic) {
          ctx->annotations.MonotonicityInfo(std::string(g.metric.Get(kMetricNameLabel)),
                                            c.args[0]->pos(), ts, r.min_bucket, r.max_bucket,
                                            r.max_diff);
        }
        Labels l = g.metric;
        l.Set(label, FormatOpenMetricsFloat(q));
        out.push_back(Sample{std::move(l), r.value, ts, true});
      }
    }
    return out;
  }
  if (fn == "histogram_fraction") {
    if (args[0].empty() || args[1].empty()) return out;
    double lower = args[0][0].f, upper = args[1][0].f;
    for (BucketGroup& g : GroupBuckets(args[2], c.args[2]->pos(), ctx)) {
      out.push_back(Sample{g.metric, BucketFraction(lower, upper, &g.buckets), ts, true});
    }
    return out;
  }
  return absl::UnimplementedError(absl::StrCat("function ", QuoteGo(fn), " is not supported"));
}

absl::StatusOr<std::optional<double>> CallRangeFunction(const Call& c, const Window& w,
                                                        const std::vector<double>& scalars,
                                                        EvalContext* ctx) {
  const std::string_view fn = c.func->name;
  const auto& p = w.points;
  if (fn == "rate") return ExtrapolatedRate(w, true, true);
  if (fn == "increase") return ExtrapolatedRate(w, true, false);
  if (fn == "delta") return ExtrapolatedRate(w, false, false);
  if (fn == "irate") return InstantValue(w, true);
  if (fn == "idelta") return InstantValue(w, false);
  if (fn == "count_over_time") return static_cast<double>(p.size());
  if (fn == "present_over_time") return 1.0;
  if (fn == "last_over_time") return p.back().f;
  if (fn == "first_over_time") return p.front().f;
  if (fn == "ts_of_last_over_time") return static_cast<double>(p.back().t) / 1000;
  if (fn == "ts_of_first_over_time") return static_cast<double>(p.front().t) / 1000;
  if (fn == "sum_over_time") {
    double sum = 0, comp = 0;
    for (const Point& x : p) sum = KahanInc(x.f, sum, &comp);
    if (std::isinf(sum)) return sum;
    return sum + comp;
  }
  if (fn == "avg_over_time") return AvgOverTime(p);
  if (fn == "max_over_time") return CompareOverTime(p, true, false, false);
  if (fn == "min_over_time") return CompareOverTime(p, false, false, false);
  if (fn == "ts_of_max_over_time") return CompareOverTime(p, true, true, true);
  if (fn == "ts_of_min_over_time") return CompareOverTime(p, false, true, true);
  if (fn == "stdvar_over_time") return Variance(p);
  if (fn == "stddev_over_time") return std::sqrt(Variance(p));
  if (fn == "quantile_over_time") {
    double q = scalars[0];
    WarnInvalidQuantile(q, c.args[0]->pos(), ctx);
    std::vector<double> values;
    values.reserve(p.size());
    for (const Point& x : p) values.push_back(x.f);
    return Quantile(q, &values);
  }
  if (fn == "mad_over_time") {
    std::vector<double> values;
    for (const Point& x : p) {
      if (std::isnan(x.f)) return kNaN;
      values.push_back(x.f);
    }
    double median = Quantile(0.5, &values);
    for (double& v : values) v = std::fabs(v - median);
    return Quantile(0.5, &values);
  }
  if (fn == "changes") {
    int changes = 0;
    for (size_t i = 1; i < p.size(); ++i) {
      if (p[i].f != p[i - 1].f && !(std::isnan(p[i].f) && std::isnan(p[i - 1].f))) ++changes;
    }
    return static_cast<double>(changes);
  }
  if (fn == "resets") {
    int resets = 0;
    for (size_t i = 1; i < p.size(); ++i) {
      if (p[i].f < p[i - 1].f) ++resets;
    }
    return static_cast<double>(resets);
  }
  if (fn == "deriv") {
    if (p.size() < 2) return std::nullopt;
    double intercept;
    return LinearRegressionSlope(p, p[0].t, &intercept);
  }
  if (fn == "predict_linear") {
    if (p.size() < 2) return std::nullopt;
    double intercept;
    double slope = LinearRegressionSlope(p, w.ts, &intercept);
    return slope * scalars[0] + intercept;
  }
  if (fn == "double_exponential_smoothing") {
    double sf = scalars[0], tf = scalars[1];
    char buf[128];
    if (sf <= 0 || sf >= 1 || std::isnan(sf)) {
      std::snprintf(buf, sizeof(buf), "invalid smoothing factor. Expected: 0 < sf < 1, got: %f",
                    sf);
      return absl::InvalidArgumentError(buf);
    }
    if (tf <= 0 || tf >= 1 || std::isnan(tf)) {
      std::snprintf(buf, sizeof(buf), "invalid trend factor. Expected: 0 < tf < 1, got: %f", tf);
      return absl::InvalidArgumentError(buf);
    }
    if (p.size() < 2) return std::nullopt;
    double s0 = 0, s1 = p[0].f, b = p[1].f - p[0].f;
    for (size_t i = 1; i < p.size(); ++i) {
      double x = sf * p[i].f;
      // Trend at this point (the raw first difference at the start).
      if (i - 1 != 0) b = tf * (s1 - s0) + (1 - tf) * b;
      double y = (1 - sf) * (s1 + b);
      s0 = s1;
      s1 = x + y;
    }
    return s1;
  }
  return absl::UnimplementedError(absl::StrCat("function ", QuoteGo(fn), " is not supported"));
}

}  // namespace observex::query::promql::internal
