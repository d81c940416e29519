// Aggregation operators: sum, avg, count, min, max, group, stddev, stdvar, quantile, topk,
// bottomk and count_values, with Prometheus's numerics (Kahan summation, direct mean with an
// incremental fallback on overflow, Welford variance, NaN ordering in topk/bottomk).
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "query/promql/eval.h"
#include "query/promql/format.h"
#include "query/promql/functions.h"
#include "query/promql/quantile.h"
#include "query/promql/status_macros.h"

namespace observex::query::promql::internal {
namespace {

std::string GroupKey(const Labels& l, const std::vector<std::string>& grouping, bool without) {
  if (without) {
    std::vector<std::string> names = grouping;
    names.emplace_back(kMetricNameLabel);
    return l.KeyFor(names, false);
  }
  return l.KeyFor(grouping, true);
}

Labels GroupLabels(const Labels& l, const std::vector<std::string>& grouping, bool without) {
  Labels out = l;
  if (without) {
    for (const auto& n : grouping) out.Del(n);
    out.Del(kMetricNameLabel);
    return out;
  }
  if (grouping.empty()) return Labels();
  out.Keep(grouping);
  return out;
}

// Go's container/heap over a slice with a "less" order; replicated so that topk/bottomk pick
// the same elements among ties as Prometheus.
template <typename Less>
void HeapUp(std::vector<Sample>* h, size_t j, Less less) {
  while (j > 0) {
    size_t i = (j - 1) / 2;
    if (!less((*h)[j], (*h)[i])) break;
    std::swap((*h)[i], (*h)[j]);
    j = i;
  }
}

template <typename Less>
bool HeapDown(std::vector<Sample>* h, size_t i0, size_t n, Less less) {
  size_t i = i0;
  while (true) {
    size_t j1 = 2 * i + 1;
    if (j1 >= n) break;
    size_t j = j1;
    if (j1 + 1 < n && less((*h)[j1 + 1], (*h)[j1])) j = j1 + 1;
    if (!less((*h)[j], (*h)[i])) break;
    std::swap((*h)[i], (*h)[j]);
    i = j;
  }
  return i > i0;
}

template <typename Less>
void HeapFix(std::vector<Sample>* h, size_t i, Less less) {
  if (!HeapDown(h, i, h->size(), less)) HeapUp(h, i, less);
}

struct Group {
  bool seen = false;
  double value = 0;
  double mean = 0;
  double kahan_c = 0;
  double count = 0;
  bool incremental = false;
  bool drop_name = false;
  std::vector<double> values;  // quantile
  std::vector<Sample> heap;    // topk/bottomk
};

}  // namespace

namespace {

// Operators whose state per (group, step) is a few numbers: they are computed series after
// series, each series' points in one pass, instead of step after step across every series.
// Each (group, step) cell still sees its inputs in the same order (the input's series order),
// so the results are the same to the bit.
bool SeriesMajor(Tok op) {
  switch (op) {
    case Tok::kSum:
    case Tok::kAvg:
    case Tok::kCount:
    case Tok::kGroup:
    case Tok::kMin:
    case Tok::kMax:
    case Tok::kStddev:
    case Tok::kStdvar:
      return true;
    default:
      return false;
  }
}

// State of one (group, step) cell; the same arithmetic as Group.
struct Cell {
  double value = 0;
  double mean = 0;
  double kahan_c = 0;
  double count = 0;
  bool seen = false;
  bool incremental = false;
  bool drop_name = false;
};

// Prometheus's arithmetic for one (group, step) of sum, avg, count, group, min, max, stddev
// and stdvar (the SeriesMajor operators): adds input f. G is Group or Cell.
template <typename G>
void AddInput(Tok op, double f, bool drop_name, G* g) {
  if (!g->seen) {
    *g = G();
    g->seen = true;
    g->value = f;
    g->mean = f;
    g->count = 1;
    g->drop_name = drop_name;
    if (op == Tok::kStddev || op == Tok::kStdvar) {
      g->value = (std::isnan(f) || std::isinf(f)) ? std::nan("") : 0.0;
    } else if (op == Tok::kGroup) {
      g->value = 1;
    }
    return;
  }
  if (drop_name) g->drop_name = true;
  switch (op) {
    case Tok::kSum:
      g->value = KahanInc(f, g->value, &g->kahan_c);
      break;
    case Tok::kAvg: {
      g->count++;
      if (!g->incremental) {
        double c2 = g->kahan_c;
        double nv = KahanInc(f, g->value, &c2);
        if (!std::isinf(nv)) {
          g->value = nv;
          g->kahan_c = c2;
          break;
        }
        // The running sum would overflow: continue with an incremental mean.
        g->incremental = true;
        g->mean = g->value / (g->count - 1);
        g->kahan_c /= g->count - 1;
      }
      double q = (g->count - 1) / g->count;
      double qc = q * g->kahan_c;
      g->mean = KahanInc(f / g->count, q * g->mean, &qc);
      g->kahan_c = qc;
      break;
    }
    case Tok::kMax:
      if (g->value < f || std::isnan(g->value)) g->value = f;
      break;
    case Tok::kMin:
      if (g->value > f || std::isnan(g->value)) g->value = f;
      break;
    case Tok::kCount:
      g->count++;
      break;
    case Tok::kStddev:
    case Tok::kStdvar: {
      g->count++;
      double delta = f - g->mean;
      g->mean += delta / g->count;
      g->value += delta * (f - g->mean);
      break;
    }
    default:
      break;
  }
}

// The value of a (group, step) that AddInput has seen (max, min, group: the value itself).
template <typename G>
double Result(Tok op, const G& g) {
  switch (op) {
    case Tok::kAvg:
      return g.incremental ? g.mean + g.kahan_c : g.value / g.count + g.kahan_c / g.count;
    case Tok::kCount:
      return g.count;
    case Tok::kStdvar:
      return g.value / g.count;
    case Tok::kStddev:
      return std::sqrt(g.value / g.count);
    case Tok::kSum:
      return g.value + g.kahan_c;
    default:
      return g.value;
  }
}

// Adds one input series (points at steps of the range, increasing) to its group's row of
// cells, one cell per step.
template <typename P>
void AccumulateSeries(Tok op, const P* pts, size_t n, bool drop_name, int64_t start,
                      int64_t interval, size_t nsteps, Cell* row) {
  size_t st = 0;
  int64_t step_t = start;
  for (const P* pt = pts; pt != pts + n; ++pt) {
    // Inputs are evaluated at the steps; a point off the grid ends the series, as the
    // step-by-step cursor would stop there. (A cursor, not a division per point.)
    const int64_t t = TimeOf(*pt);
    while (st < nsteps && step_t < t) {
      step_t += interval;
      ++st;
    }
    if (st >= nsteps || step_t != t) break;
    AddInput(op, ValueOf(*pt), drop_name, &row[st]);
  }
}

// Writes a group's result from its row of cells: a point per step that saw an input.
absl::Status EmitCells(Tok op, const Cell* row, size_t nsteps, int64_t start, int64_t interval,
                       EvalContext* ctx, Series* o) {
  size_t n = 0;
  for (size_t st = 0; st < nsteps; ++st) n += row[st].seen;
  OBX_RETURN_IF_ERROR(ctx->AddSamples(static_cast<int64_t>(n)));
  o->points.reserve(n);
  for (size_t st = 0; st < nsteps; ++st) {
    const Cell& g = row[st];
    if (!g.seen) continue;
    o->points.push_back(Point{start + static_cast<int64_t>(st) * interval, Result(op, g)});
    o->drop_name = g.drop_name;
  }
  return absl::OkStatus();
}

// Groups a range function's series as they come (SeriesSink) and accumulates each into its
// group's cells at once, so that no series is held after it has been added.
class GroupingSink final : public SeriesSink {
 public:
  GroupingSink(Tok op, const std::vector<std::string>& grouping, bool without, int64_t start,
               int64_t interval, size_t nsteps, size_t max_cells, EvalContext* ctx)
      : op_(op),
        grouping_(grouping),
        without_(without),
        start_(start),
        interval_(interval),
        nsteps_(nsteps),
        max_groups_(max_cells / std::max<size_t>(nsteps, 1)),
        ctx_(ctx) {}

  absl::Status Add(const Labels& metric, bool drop_name, absl::Span<const Point> p) override {
    return AddSeries(metric, drop_name, p.data(), p.size());
  }
  absl::Status Add(const Labels& metric, bool drop_name, absl::Span<const SamplePoint> p) override {
    return AddSeries(metric, drop_name, p.data(), p.size());
  }

  // Whether a group was refused (more than max_cells cells): the result is then incomplete.
  // (The caller counts the groups first; series created after that count may still add one.)
  bool overflowed() const { return overflowed_; }

  // The groups in the order the general path makes them: by first appearance in the input
  // sorted by labels, i.e. by each group's smallest input labels.
  absl::StatusOr<Matrix> Finish() {
    std::vector<size_t> order(groups_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return CompareLabels(groups_[a].smallest_input, groups_[b].smallest_input) < 0;
    });
    Matrix out;
    out.reserve(groups_.size());
    for (size_t i : order) {
      Series o;
      o.metric = std::move(groups_[i].labels);
      OBX_RETURN_IF_ERROR(
          EmitCells(op_, groups_[i].cells.data(), nsteps_, start_, interval_, ctx_, &o));
      if (!o.points.empty()) out.push_back(std::move(o));
    }
    return out;
  }

 private:
  struct GroupState {
    Labels labels;
    Labels smallest_input;
    std::vector<Cell> cells;
  };

  template <typename P>
  absl::Status AddSeries(const Labels& metric, bool drop_name, const P* pts, size_t n) {
    if (overflowed_ || n == 0) return absl::OkStatus();
    OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
    std::string key = GroupKey(metric, grouping_, without_);
    auto it = index_.find(key);
    if (it == index_.end()) {
      if (groups_.size() >= max_groups_) {
        overflowed_ = true;
        return absl::OkStatus();
      }
      it = index_.emplace(std::move(key), groups_.size()).first;
      groups_.push_back(
          GroupState{GroupLabels(metric, grouping_, without_), metric, std::vector<Cell>(nsteps_)});
    } else if (CompareLabels(metric, groups_[it->second].smallest_input) < 0) {
      groups_[it->second].smallest_input = metric;
    }
    AccumulateSeries(op_, pts, n, drop_name, start_, interval_, nsteps_,
                     groups_[it->second].cells.data());
    return absl::OkStatus();
  }

  const Tok op_;
  const std::vector<std::string>& grouping_;
  const bool without_;
  const int64_t start_, interval_;
  const size_t nsteps_, max_groups_;
  EvalContext* const ctx_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<GroupState> groups_;
  bool overflowed_ = false;
};

}  // namespace

absl::Status Evaluator::AggregateSeriesMajor(Tok op, const Matrix& in,
                                             const std::vector<size_t>& series_group, Matrix* out) {
  const size_t nsteps = static_cast<size_t>(NumSteps());
  const size_t ngroups = out->size();
  std::vector<Cell> cells(ngroups * nsteps);
  // Accumulates the series of groups [g_lo, g_hi): groups own disjoint cells, so two ranges
  // can run on two threads, each cell still seeing its inputs in series order.
  auto accumulate = [&](size_t g_lo, size_t g_hi) -> absl::Status {
    for (size_t si = 0; si < in.size(); ++si) {
      if (series_group[si] < g_lo || series_group[si] >= g_hi) continue;
      OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
      const Series& ser = in[si];
      AccumulateSeries(op, ser.points.data(), ser.points.size(), ser.drop_name, start_, interval_,
                       nsteps, cells.data() + series_group[si] * nsteps);
    }
    return absl::OkStatus();
  };
  int64_t total_points = 0;
  std::vector<size_t> per_group(ngroups, 0);
  for (size_t si = 0; si < in.size(); ++si) {
    total_points += static_cast<int64_t>(in[si].points.size());
    per_group[series_group[si]] += in[si].points.size();
  }
  if (ngroups < 2 || total_points < kParallelAggregatePoints) {
    OBX_RETURN_IF_ERROR(accumulate(0, ngroups));
  } else {
    // Split the groups where half of the points lie on either side; the upper part runs on
    // a thread owned and joined here.
    size_t split = 1, below = per_group[0];
    while (split + 1 < ngroups && 2 * below < static_cast<size_t>(total_points)) {
      below += per_group[split++];
    }
    absl::Status upper;
    std::thread helper([&] { upper = accumulate(split, ngroups); });
    absl::Status lower = accumulate(0, split);
    helper.join();
    OBX_RETURN_IF_ERROR(lower);
    OBX_RETURN_IF_ERROR(upper);
  }
  for (size_t gi = 0; gi < out->size(); ++gi) {
    OBX_RETURN_IF_ERROR(
        EmitCells(op, cells.data() + gi * nsteps, nsteps, start_, interval_, ctx_, &(*out)[gi]));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Matrix>> Evaluator::AggregateStreamed(
    const AggregateExpr& a, const std::vector<std::string>& grouping) {
  const Expr* e = Unparen(a.expr.get());
  if (!SeriesMajor(a.op) || a.param != nullptr || e->kind != NodeKind::kCall) {
    return std::nullopt;
  }
  const auto& c = *static_cast<const Call*>(e);
  const std::string_view name = c.func->name;
  if (!c.func->implemented || (name != "rate" && name != "increase" && name != "delta") ||
      c.args.size() != 1 || Unparen(c.args[0].get())->kind != NodeKind::kMatrixSelector) {
    return std::nullopt;
  }
  const size_t nsteps = static_cast<size_t>(NumSteps());
  const size_t max_groups = kMaxSeriesMajorCells / nsteps;
  if (max_groups == 0) return std::nullopt;
  if ((!grouping.empty() || a.without) && nsteps > 1) {
    // The groups must fit the cells: counted first from the series' labels (an index
    // look-up, no samples read), since a stream cannot go back once its groups outgrow them.
    const auto& ms = *static_cast<const MatrixSelector*>(Unparen(c.args[0].get()));
    const auto [mint, maxt] = SelectRange(ms);
    OBX_ASSIGN_OR_RETURN(std::vector<Labels> series,
                         ctx_->source->Series(ms.vs->matchers, mint, maxt));
    absl::flat_hash_set<std::string> keys;
    for (const Labels& l : series) {
      keys.insert(GroupKey(l, grouping, a.without));
      if (keys.size() > max_groups) return std::nullopt;
    }
  }
  GroupingSink sink(a.op, grouping, a.without, start_, interval_, nsteps, kMaxSeriesMajorCells,
                    ctx_);
  OBX_RETURN_IF_ERROR(EvalRangeFunction(c, 0, &sink).status());
  if (sink.overflowed()) return std::nullopt;
  return sink.Finish();
}

absl::StatusOr<Matrix> Evaluator::EvalCountValues(const AggregateExpr& a) {
  const std::string& value_label = static_cast<const StringLiteral*>(Unparen(a.param.get()))->val;
  if (!IsValidLabelName(value_label)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid label name ", QuoteGo(value_label)));
  }
  std::vector<std::string> grouping = a.grouping;
  if (!a.without) grouping.push_back(value_label);
  std::sort(grouping.begin(), grouping.end());
  return RangeEval({a.expr.get()}, nullptr,
                   [&](std::vector<Vector>& v, const auto&, int64_t ts) -> absl::StatusOr<Vector> {
                     Vector out;
                     absl::flat_hash_map<std::string, size_t> index;
                     for (const Sample& s : v[0]) {
                       Labels m = s.metric;
                       m.Set(value_label, FormatFloat(s.f));
                       std::string key = GroupKey(m, grouping, a.without);
                       auto it = index.find(key);
                       if (it == index.end()) {
                         index.emplace(key, out.size());
                         out.push_back(Sample{GroupLabels(m, grouping, a.without), 1, ts, false});
                       } else {
                         out[it->second].f += 1;
                       }
                     }
                     return out;
                   });
}

absl::StatusOr<Matrix> Evaluator::EvalAggregate(const AggregateExpr& a) {
  if (a.op == Tok::kCountValues) return EvalCountValues(a);
  std::vector<std::string> grouping = a.grouping;
  std::sort(grouping.begin(), grouping.end());
  const Tok op = a.op;
  const bool k_op = op == Tok::kTopk || op == Tok::kBottomk;

  // Parameter values per step (topk/bottomk k, quantile q).
  std::vector<double> param(NumSteps(), 0.0);
  double pmin = 0, pmax = 0;
  bool any_nan = false;
  if (a.param) {
    const Expr* p = Unparen(a.param.get());
    if (p->kind == NodeKind::kNumberLiteral) {
      double v = static_cast<const NumberLiteral*>(p)->val;
      std::fill(param.begin(), param.end(), v);
      pmin = pmax = v;
      any_nan = std::isnan(v);
    } else {
      OBX_ASSIGN_OR_RETURN(Matrix pm, EvalMatrix(p));
      if (!pm.empty()) {
        pmin = std::numeric_limits<double>::max();
        pmax = -std::numeric_limits<double>::max();
        for (const auto& pt : pm[0].points) {
          int64_t i = (pt.t - start_) / interval_;
          if (i >= 0 && i < static_cast<int64_t>(param.size())) param[i] = pt.f;
          // Go's math.Max/Min: NaN propagates.
          if (std::isnan(pt.f)) any_nan = true;
          pmax = (std::isnan(pmax) || std::isnan(pt.f)) ? std::nan("") : std::max(pmax, pt.f);
          pmin = (std::isnan(pmin) || std::isnan(pt.f)) ? std::nan("") : std::min(pmin, pt.f);
        }
      }
      ctx_->ReleaseSamples(TotalPoints(pm));
    }
  }

  if (SeriesMajor(op) && ctx_->options->stream_aggregations) {
    OBX_ASSIGN_OR_RETURN(std::optional<Matrix> streamed, AggregateStreamed(a, grouping));
    if (streamed.has_value()) return std::move(*streamed);
  }
  OBX_ASSIGN_OR_RETURN(Matrix in, EvalMatrix(a.expr.get()));
  const int64_t in_samples = TotalPoints(in);

  if (k_op) {
    if (pmax < 1) {
      ctx_->ReleaseSamples(in_samples);
      return Matrix{};
    }
    if (any_nan) return absl::InvalidArgumentError("Parameter value is NaN");
    if (pmin <= static_cast<double>(std::numeric_limits<int64_t>::min())) {
      return absl::InvalidArgumentError(
          absl::StrCat("Scalar value ", FormatFloatG(pmin), " underflows int64"));
    }
    if (pmax >= static_cast<double>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("Scalar value ", FormatFloatG(pmax), " overflows int64"));
    }
  }
  if (op == Tok::kQuantile) {
    PosRange pos = a.param->pos();
    if (any_nan) {
      ctx_->annotations.Warn("quantile value should be between 0 and 1, got NaN", pos);
    }
    if (pmax > 1) {
      ctx_->annotations.Warn(
          absl::StrCat("quantile value should be between 0 and 1, got ", FormatFloatG(pmax)), pos);
    }
    if (pmin < 0) {
      ctx_->annotations.Warn(
          absl::StrCat("quantile value should be between 0 and 1, got ", FormatFloatG(pmin)), pos);
    }
  }

  // Map input series to groups.
  std::vector<size_t> series_group(in.size());
  std::vector<Labels> group_labels;
  {
    absl::flat_hash_map<std::string, size_t> index;
    for (size_t i = 0; i < in.size(); ++i) {
      std::string key = GroupKey(in[i].metric, grouping, a.without);
      auto it = index.find(key);
      if (it == index.end()) {
        it = index.emplace(key, group_labels.size()).first;
        group_labels.push_back(k_op ? Labels() : GroupLabels(in[i].metric, grouping, a.without));
      }
      series_group[i] = it->second;
    }
  }
  const size_t ngroups = group_labels.size();
  Matrix out(k_op ? 0 : ngroups);
  for (size_t g = 0; g < out.size(); ++g) out[g].metric = group_labels[g];
  if (SeriesMajor(op) && ngroups * static_cast<size_t>(NumSteps()) <= kMaxSeriesMajorCells) {
    OBX_RETURN_IF_ERROR(AggregateSeriesMajor(op, in, series_group, &out));
    ctx_->ReleaseSamples(in_samples);
    out.erase(
        std::remove_if(out.begin(), out.end(), [](const Series& s) { return s.points.empty(); }),
        out.end());
    return out;
  }
  std::vector<Group> groups(ngroups);
  absl::flat_hash_map<std::string, size_t> k_index;  // topk/bottomk output series (range)
  std::vector<size_t> cursor(in.size(), 0);

  auto top_less = [](const Sample& x, const Sample& y) { return std::isnan(x.f) || x.f < y.f; };
  auto bottom_less = [](const Sample& x, const Sample& y) { return std::isnan(x.f) || x.f > y.f; };

  int64_t step = 0;
  for (int64_t ts = start_; ts <= end_; ts += interval_, ++step) {
    OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
    for (auto& g : groups) g.seen = false;
    const double pv = param[step];
    int64_t k = 0;
    if (k_op) {
      k = std::min(static_cast<int64_t>(pv), static_cast<int64_t>(in.size()));
      if (std::isnan(pv)) k = 0;
    }
    for (size_t si = 0; si < in.size(); ++si) {
      const Series& ser = in[si];
      size_t& c = cursor[si];
      if (c >= ser.points.size() || ser.points[c].t != ts) continue;
      const double f = ser.points[c].f;
      ++c;
      if (k_op && k < 1) continue;
      Group& g = groups[series_group[si]];
      if (k_op) {
        // The sample (and its labels' reference count) is made only when it enters the heap;
        // the heap keeps its buffer from step to step.
        if (!g.seen) {
          g.seen = true;
          g.heap.clear();
          g.heap.push_back(Sample{ser.metric, f, ts, ser.drop_name});
          continue;
        }
        if (static_cast<int64_t>(g.heap.size()) < k) {
          g.heap.push_back(Sample{ser.metric, f, ts, ser.drop_name});
          if (op == Tok::kTopk) {
            HeapUp(&g.heap, g.heap.size() - 1, top_less);
          } else {
            HeapUp(&g.heap, g.heap.size() - 1, bottom_less);
          }
          continue;
        }
        const double top = g.heap[0].f;
        bool replace = op == Tok::kTopk ? (top < f || (std::isnan(top) && !std::isnan(f)))
                                        : (top > f || (std::isnan(top) && !std::isnan(f)));
        if (replace) {
          g.heap[0] = Sample{ser.metric, f, ts, ser.drop_name};
          if (k > 1) {
            if (op == Tok::kTopk) {
              HeapFix(&g.heap, 0, top_less);
            } else {
              HeapFix(&g.heap, 0, bottom_less);
            }
          }
        }
        continue;
      }
      if (op == Tok::kQuantile) {
        if (!g.seen) {
          g = Group();
          g.seen = true;
          g.drop_name = ser.drop_name;
        } else if (ser.drop_name) {
          g.drop_name = true;
        }
        g.values.push_back(f);
        continue;
      }
      if (!SeriesMajor(op)) return absl::InternalError("unexpected aggregation operator");
      AddInput(op, f, ser.drop_name, &g);
    }

    if (k_op) {
      auto add = [&](Sample& s) -> absl::Status {
        OBX_RETURN_IF_ERROR(ctx_->AddSamples(1));
        if (start_ == end_) {
          Series ser;
          ser.metric = std::move(s.metric);
          ser.drop_name = s.drop_name;
          ser.points.push_back(Point{ts, s.f});
          out.push_back(std::move(ser));
          return absl::OkStatus();
        }
        std::string key = s.metric.Key();
        auto it = k_index.find(key);
        if (it == k_index.end()) {
          it = k_index.emplace(key, out.size()).first;
          Series ser;
          ser.metric = s.metric;
          ser.drop_name = s.drop_name;
          out.push_back(std::move(ser));
        }
        out[it->second].points.push_back(Point{ts, s.f});
        return absl::OkStatus();
      };
      for (auto& g : groups) {
        if (!g.seen) continue;
        // Highest first for topk, lowest first for bottomk; NaN last in both.
        const bool desc = op == Tok::kTopk;
        std::stable_sort(g.heap.begin(), g.heap.end(), [desc](const Sample& x, const Sample& y) {
          if (std::isnan(x.f)) return false;
          if (std::isnan(y.f)) return true;
          return desc ? x.f > y.f : x.f < y.f;
        });
        for (auto& s : g.heap) OBX_RETURN_IF_ERROR(add(s));
        g.heap.clear();
      }
      continue;
    }

    for (size_t gi = 0; gi < ngroups; ++gi) {
      Group& g = groups[gi];
      if (!g.seen) continue;
      const double v = op == Tok::kQuantile ? Quantile(pv, &g.values) : Result(op, g);
      OBX_RETURN_IF_ERROR(ctx_->AddSamples(1));
      out[gi].points.push_back(Point{ts, v});
      out[gi].drop_name = g.drop_name;
    }
  }
  ctx_->ReleaseSamples(in_samples);
  out.erase(
      std::remove_if(out.begin(), out.end(), [](const Series& s) { return s.points.empty(); }),
      out.end());
  return out;
}

}  // namespace observex::query::promql::internal
