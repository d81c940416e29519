#include "query/promql/eval.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "query/promql/eval_functions.h"
#include "query/promql/format.h"
#include "query/promql/functions.h"
#include "query/promql/quantile.h"
#include "query/promql/status_macros.h"
#include "re2/re2.h"

namespace observex::query::promql::internal {
namespace {

constexpr std::string_view kSameLabelset = "vector cannot contain metrics with the same labelset";

bool ChangesMetricSchema(Tok op) {
  switch (op) {
    case Tok::kAdd:
    case Tok::kSub:
    case Tok::kDiv:
    case Tok::kMul:
    case Tok::kPow:
    case Tok::kMod:
    case Tok::kAtan2:
      return true;
    default:
      return false;
  }
}

double Btos(bool b) { return b ? 1.0 : 0.0; }

// Float arithmetic of one operator; for comparisons *keep says whether the pair passes.
double ApplyOp(Tok op, double l, double r, bool* keep) {
  *keep = true;
  switch (op) {
    case Tok::kAdd:
      return l + r;
    case Tok::kSub:
      return l - r;
    case Tok::kMul:
      return l * r;
    case Tok::kDiv:
      return l / r;
    case Tok::kPow:
      return std::pow(l, r);
    case Tok::kMod:
      return std::fmod(l, r);
    case Tok::kAtan2:
      return std::atan2(l, r);
    case Tok::kEqlc:
      *keep = l == r;
      return l;
    case Tok::kNeq:
      *keep = l != r;
      return l;
    case Tok::kGtr:
      *keep = l > r;
      return l;
    case Tok::kLss:
      *keep = l < r;
      return l;
    case Tok::kGte:
      *keep = l >= r;
      return l;
    case Tok::kLte:
      *keep = l <= r;
      return l;
    default:
      *keep = false;
      return 0;
  }
}

// Signature of a series for vector matching.
std::string MatchSignature(const Labels& l, const VectorMatching& m) {
  if (m.on) return l.KeyFor(m.matching_labels, true);
  std::vector<std::string> names = m.matching_labels;
  names.emplace_back(kMetricNameLabel);
  return l.KeyFor(names, false);
}

// Labels of the match group shown in "found duplicate series" errors.
Labels MatchedLabels(const Labels& l, const VectorMatching& m) {
  std::vector<Label> out;
  for (const auto& x : l.items()) {
    bool listed = std::find(m.matching_labels.begin(), m.matching_labels.end(), x.name) !=
                  m.matching_labels.end();
    if (listed == m.on && (m.on || x.name != kMetricNameLabel)) out.push_back(x);
  }
  return Labels(std::move(out));
}

// First multiple of `step` strictly greater than `t`.
int64_t FirstAlignedAfter(int64_t t, int64_t step) {
  int64_t q = t / step;
  if (t < 0 && t % step != 0) --q;  // floor division
  return (q + 1) * step;
}

// Go's regexp.Expand: $1, ${1}, $name, ${name} (longest run of word characters), $$ for a
// literal $; unknown or unmatched groups expand to "".
std::string ExpandTemplate(const std::string& tmpl, const std::vector<re2::StringPiece>& groups,
                           const std::map<std::string, int>& named) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '$') {
      out += tmpl[i];
      continue;
    }
    if (i + 1 < tmpl.size() && tmpl[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    std::string name;
    size_t next = i + 1;
    if (next < tmpl.size() && tmpl[next] == '{') {
      size_t j = next + 1;
      while (j < tmpl.size() && word(tmpl[j])) ++j;
      if (j < tmpl.size() && tmpl[j] == '}' && j > next + 1) {
        name = tmpl.substr(next + 1, j - next - 1);
        next = j + 1;
      }
    } else {
      size_t j = next;
      while (j < tmpl.size() && word(tmpl[j])) ++j;
      name = tmpl.substr(next, j - next);
      next = j;
    }
    if (name.empty()) {
      out += '$';  // malformed reference: the $ is literal text
      continue;
    }
    int group = -1;
    if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      if (name.size() < 9) group = std::stoi(name);
    } else {
      auto it = named.find(name);
      if (it != named.end()) group = it->second;
    }
    if (group >= 0 && group < static_cast<int>(groups.size()) && groups[group].data() != nullptr) {
      out.append(groups[group].data(), groups[group].size());
    }
    i = next - 1;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Annotations and context.

void Annotations::Put(Entry e) {
  auto it = index_.find(e.msg);
  if (it == index_.end()) {
    index_.emplace(e.msg, entries_.size());
    entries_.push_back(std::move(e));
    return;
  }
  Entry& old = entries_[it->second];
  if (e.monotonicity && old.monotonicity) {
    e.min_ts = std::min(e.min_ts, old.min_ts);
    e.max_ts = std::max(e.max_ts, old.max_ts);
    e.min_bucket = std::min(e.min_bucket, old.min_bucket);
    e.max_bucket = std::max(e.max_bucket, old.max_bucket);
    e.max_diff = std::max(e.max_diff, old.max_diff);
    e.count = old.count + e.count + 1;
  }
  old = std::move(e);
}

void Annotations::Warn(std::string msg, PosRange pos) {
  Put(Entry{Annotation::Severity::kWarning, "PromQL warning: " + std::move(msg), pos});
}

void Annotations::Info(std::string msg, PosRange pos) {
  Put(Entry{Annotation::Severity::kInfo, "PromQL info: " + std::move(msg), pos});
}

void Annotations::MonotonicityInfo(std::string metric_name, PosRange pos, int64_t ts,
                                   double min_bucket, double max_bucket, double max_diff) {
  std::string msg =
      "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see "
      "https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)";
  if (!metric_name.empty()) absl::StrAppend(&msg, " for metric name ", QuoteGo(metric_name));
  Entry e{Annotation::Severity::kInfo, std::move(msg), pos};
  e.monotonicity = true;
  e.min_ts = e.max_ts = ts;
  e.min_bucket = min_bucket;
  e.max_bucket = max_bucket;
  e.max_diff = max_diff;
  Put(std::move(e));
}

namespace {
std::string Rfc3339(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms < 0 && ms % 1000 != 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatG2(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2g", v);
  return buf;
}
}  // namespace

std::vector<Annotation> Annotations::Render(std::string_view query) const {
  std::vector<Annotation> out;
  for (const auto& e : entries_) {
    std::string text = e.msg;
    if (e.monotonicity) {
      absl::StrAppend(&text, ", from buckets ", FormatFloatG(e.min_bucket), " to ",
                      FormatFloatG(e.max_bucket), ", with a max diff of ", FormatG2(e.max_diff),
                      ", over ", e.count + 1, " samples from ", Rfc3339(e.min_ts), " to ",
                      Rfc3339(e.max_ts));
    }
    absl::StrAppend(&text, " (", PositionString(query, e.pos.start), ")");
    out.push_back(Annotation{e.severity, std::move(text)});
  }
  return out;
}

absl::Status EvalContext::CheckDeadline() const {
  if (std::chrono::steady_clock::now() > deadline) {
    return absl::DeadlineExceededError("query timed out in expression evaluation");
  }
  return absl::OkStatus();
}

absl::Status EvalContext::AddSamples(int64_t n) {
  current_samples += n;
  if (current_samples > options->max_samples) {
    return absl::ResourceExhaustedError(
        "query processing would load too many samples into memory in query execution");
  }
  return absl::OkStatus();
}

int64_t TotalPoints(const Matrix& m) {
  int64_t n = 0;
  for (const auto& s : m) n += static_cast<int64_t>(s.points.size());
  return n;
}

// ---------------------------------------------------------------------------------------------
// Result post-processing.

absl::StatusOr<Matrix> MergeSameLabelsets(Matrix m) {
  if (m.size() <= 1) return m;
  absl::flat_hash_map<std::string, size_t> first;
  bool dup = false;
  for (size_t i = 0; i < m.size(); ++i) {
    if (!first.emplace(m[i].metric.Key(), i).second) dup = true;
  }
  if (!dup) return m;
  Matrix out;
  absl::flat_hash_map<std::string, size_t> where;
  for (auto& s : m) {
    std::string key = s.metric.Key();
    auto it = where.find(key);
    if (it == where.end()) {
      where.emplace(key, out.size());
      out.push_back(std::move(s));
      continue;
    }
    Series& base = out[it->second];
    base.points.insert(base.points.end(), s.points.begin(), s.points.end());
  }
  for (auto& s : out) {
    std::stable_sort(s.points.begin(), s.points.end(),
                     [](const Point& a, const Point& b) { return a.t < b.t; });
    for (size_t i = 1; i < s.points.size(); ++i) {
      if (s.points[i].t == s.points[i - 1].t) {
        return absl::InvalidArgumentError(std::string(kSameLabelset));
      }
    }
  }
  return out;
}

absl::StatusOr<Matrix> CleanupMetricLabels(Matrix m) {
  for (auto& s : m) {
    if (s.drop_name) s.metric.DropMetricName();
  }
  return MergeSameLabelsets(std::move(m));
}

// ---------------------------------------------------------------------------------------------
// Evaluator.

int64_t Evaluator::AtTime(AtKind kind, int64_t at_ms) const {
  switch (kind) {
    case AtKind::kStart:
      return ctx_->query_start;
    case AtKind::kEnd:
      return ctx_->query_end;
    default:
      return at_ms;
  }
}

absl::StatusOr<Value> Evaluator::Eval(const Expr* e) {
  OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
  Value v;
  if (end_ < start_) return v;
  switch (e->kind) {
    case NodeKind::kStringLiteral:
      v.is_string = true;
      v.str = static_cast<const StringLiteral*>(e)->val;
      return v;
    case NodeKind::kNumberLiteral: {
      OBX_ASSIGN_OR_RETURN(v.mat, EvalNumber(static_cast<const NumberLiteral*>(e)->val));
      return v;
    }
    case NodeKind::kParen:
      return Eval(static_cast<const ParenExpr*>(e)->expr.get());
    case NodeKind::kVectorSelector: {
      OBX_ASSIGN_OR_RETURN(v.mat, EvalVectorSelector(*static_cast<const VectorSelector*>(e)));
      return v;
    }
    case NodeKind::kMatrixSelector: {
      if (start_ != end_) {
        return absl::InternalError("cannot do range evaluation of matrix selector");
      }
      OBX_ASSIGN_OR_RETURN(v.mat, EvalMatrixSelectorRaw(*static_cast<const MatrixSelector*>(e)));
      return v;
    }
    case NodeKind::kSubquery: {
      OBX_ASSIGN_OR_RETURN(v.mat, EvalSubquery(*static_cast<const SubqueryExpr*>(e)));
      return v;
    }
    case NodeKind::kUnary: {
      OBX_ASSIGN_OR_RETURN(v.mat, EvalUnary(*static_cast<const UnaryExpr*>(e)));
      return v;
    }
    case NodeKind::kBinary: {
      OBX_ASSIGN_OR_RETURN(v.mat, EvalBinary(*static_cast<const BinaryExpr*>(e)));
      return v;
    }
    case NodeKind::kAggregate: {
      OBX_ASSIGN_OR_RETURN(v.mat, EvalAggregate(*static_cast<const AggregateExpr*>(e)));
      return v;
    }
    case NodeKind::kCall: {
      OBX_ASSIGN_OR_RETURN(v.mat, EvalCall(*static_cast<const Call*>(e)));
      return v;
    }
  }
  return absl::InternalError("unhandled expression");
}

absl::StatusOr<Matrix> Evaluator::EvalMatrix(const Expr* e) {
  OBX_ASSIGN_OR_RETURN(Value v, Eval(e));
  if (v.is_string) return absl::InternalError("string where a vector was expected");
  return std::move(v.mat);
}

absl::StatusOr<Matrix> Evaluator::EvalNumber(double v) {
  OBX_RETURN_IF_ERROR(ctx_->AddSamples(NumSteps()));
  Series s;
  s.points.reserve(NumSteps());
  for (int64_t ts = start_; ts <= end_; ts += interval_) s.points.push_back(Point{ts, v});
  Matrix m;
  m.push_back(std::move(s));
  return m;
}

absl::StatusOr<Matrix> Evaluator::RangeEval(const std::vector<const Expr*>& exprs,
                                            const VectorMatching* matching, const StepFn& fn) {
  std::vector<Matrix> inputs(exprs.size());
  int64_t input_samples = 0;
  for (size_t i = 0; i < exprs.size(); ++i) {
    if (exprs[i] == nullptr || exprs[i]->type() == ValueType::kString) continue;
    OBX_ASSIGN_OR_RETURN(inputs[i], EvalMatrix(exprs[i]));
    input_samples += TotalPoints(inputs[i]);
  }

  // Signature ordinals for vector matching, shared between both sides.
  std::vector<std::vector<int>> series_sig(exprs.size());
  if (matching != nullptr) {
    absl::flat_hash_map<std::string, int> ordinal;
    for (size_t i = 0; i < inputs.size(); ++i) {
      for (const auto& s : inputs[i]) {
        std::string sig = MatchSignature(s.metric, *matching);
        auto [it, inserted] = ordinal.emplace(sig, static_cast<int>(ordinal.size()));
        series_sig[i].push_back(it->second);
      }
    }
  }

  std::vector<std::vector<size_t>> cursor(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) cursor[i].assign(inputs[i].size(), 0);

  std::vector<Vector> vecs(inputs.size());
  std::vector<std::vector<int>> sigs(inputs.size());
  const bool instant = start_ == end_;
  Matrix out;
  // Output series: slots[i] = (position in out, last step written).
  std::vector<std::pair<size_t, int64_t>> slots;
  absl::flat_hash_map<std::string, size_t> index;  // labels key -> slot
  absl::flat_hash_map<const void*, size_t> by_id;  // label array identity -> slot

  for (int64_t ts = start_; ts <= end_; ts += interval_) {
    OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
    for (size_t i = 0; i < inputs.size(); ++i) {
      vecs[i].clear();
      sigs[i].clear();
      for (size_t s = 0; s < inputs[i].size(); ++s) {
        const Series& ser = inputs[i][s];
        size_t& c = cursor[i][s];
        if (c < ser.points.size() && ser.points[c].t == ts) {
          vecs[i].push_back(
              Sample{ser.metric, ser.points[c].f, ts, ser.drop_name, static_cast<int>(s)});
          if (matching != nullptr) sigs[i].push_back(series_sig[i][s]);
          ++c;
        }
      }
    }
    OBX_ASSIGN_OR_RETURN(Vector result, fn(vecs, sigs, ts));
    OBX_RETURN_IF_ERROR(ctx_->AddSamples(static_cast<int64_t>(result.size())));
    if (instant) {
      for (auto& smp : result) {
        Series s;
        s.metric = std::move(smp.metric);
        s.drop_name = smp.drop_name;
        s.points.push_back(Point{ts, smp.f});
        out.push_back(std::move(s));
      }
      break;
    }
    for (auto& smp : result) {
      // Most outputs reuse the label arrays of earlier steps; look those up without hashing
      // the labels.
      auto fast = by_id.find(smp.metric.id());
      if (fast != by_id.end() && smp.metric.id() != nullptr) {
        auto& slot = slots[fast->second];
        if (slot.second == ts) return absl::InvalidArgumentError(std::string(kSameLabelset));
        slot.second = ts;
        out[slot.first].points.push_back(Point{ts, smp.f});
        continue;
      }
      std::string key = smp.metric.Key();
      auto it = index.find(key);
      if (it == index.end()) {
        by_id.emplace(smp.metric.id(), slots.size());
        slots.emplace_back(out.size(), ts);
        index.emplace(key, slots.size() - 1);
        Series s;
        s.metric = std::move(smp.metric);
        s.drop_name = smp.drop_name;
        s.points.push_back(Point{ts, smp.f});
        out.push_back(std::move(s));
        continue;
      }
      // Only the label arrays kept alive by `out` may key by_id (a freed array's address can
      // be reused by different labels).
      auto& slot = slots[it->second];
      if (slot.second == ts) return absl::InvalidArgumentError(std::string(kSameLabelset));
      slot.second = ts;
      out[slot.first].points.push_back(Point{ts, smp.f});
    }
  }
  ctx_->ReleaseSamples(input_samples);
  return out;
}

absl::StatusOr<Matrix> Evaluator::EvalVectorSelector(const VectorSelector& vs) {
  const int64_t lookback = ctx_->options->lookback_delta_ms;
  const bool fixed = vs.at != AtKind::kNone;
  const int64_t at = AtTime(vs.at, vs.at_ms);
  auto ref_of = [&](int64_t ts) { return (fixed ? at : ts) - vs.offset_ms; };
  int64_t first_ref = ref_of(start_);
  int64_t last_ref = ref_of(end_);
  OBX_ASSIGN_OR_RETURN(auto set,
                       ctx_->source->Select(vs.matchers, first_ref - lookback + 1, last_ref));
  Matrix out;
  while (set->Next()) {
    OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
    auto samples = set->samples();
    Series s;
    s.metric = set->labels();
    size_t idx = 0;  // first sample with t > ref
    for (int64_t ts = start_; ts <= end_; ts += interval_) {
      int64_t ref = ref_of(ts);
      while (idx < samples.size() && samples[idx].t_ms <= ref) ++idx;
      if (idx == 0) continue;
      const SamplePoint& p = samples[idx - 1];
      if (p.t_ms <= ref - lookback || IsStaleNaN(p.value)) continue;
      s.points.push_back(Point{ts, p.value});
    }
    if (!s.points.empty()) {
      OBX_RETURN_IF_ERROR(ctx_->AddSamples(static_cast<int64_t>(s.points.size())));
      out.push_back(std::move(s));
    }
  }
  OBX_RETURN_IF_ERROR(set->status());
  std::sort(out.begin(), out.end(),
            [](const Series& a, const Series& b) { return CompareLabels(a.metric, b.metric) < 0; });
  return out;
}

absl::StatusOr<Matrix> Evaluator::EvalMatrixSelectorRaw(const MatrixSelector& ms) {
  const VectorSelector& vs = *ms.vs;
  int64_t ref = (vs.at != AtKind::kNone ? AtTime(vs.at, vs.at_ms) : start_) - vs.offset_ms;
  int64_t mint = ref - ms.range_ms;
  OBX_ASSIGN_OR_RETURN(auto set, ctx_->source->Select(vs.matchers, mint + 1, ref));
  Matrix out;
  while (set->Next()) {
    OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
    Series s;
    s.metric = set->labels();
    for (const auto& p : set->samples()) {
      if (p.t_ms <= mint || p.t_ms > ref || IsStaleNaN(p.value)) continue;
      s.points.push_back(Point{p.t_ms, p.value});
    }
    if (!s.points.empty()) {
      OBX_RETURN_IF_ERROR(ctx_->AddSamples(static_cast<int64_t>(s.points.size())));
      out.push_back(std::move(s));
    }
  }
  OBX_RETURN_IF_ERROR(set->status());
  std::sort(out.begin(), out.end(),
            [](const Series& a, const Series& b) { return CompareLabels(a.metric, b.metric) < 0; });
  return out;
}

absl::StatusOr<Matrix> Evaluator::EvalSubquery(const SubqueryExpr& sq) {
  int64_t step = sq.step_ms != 0 ? sq.step_ms : ctx_->options->default_subquery_step_ms;
  if (step <= 0) step = 60 * 1000;
  int64_t first_ref;
  int64_t last_ref;
  if (sq.at != AtKind::kNone) {
    first_ref = last_ref = AtTime(sq.at, sq.at_ms) - sq.offset_ms;
  } else {
    first_ref = start_ - sq.offset_ms;
    // The outer loop never goes past its last aligned step.
    last_ref = start_ + ((end_ - start_) / interval_) * interval_ - sq.offset_ms;
  }
  int64_t sub_start = FirstAlignedAfter(first_ref - sq.range_ms, step);
  // Every step of a subquery can hold a sample per series; a subquery with more steps than
  // the sample budget cannot be evaluated within it (and would allocate per-step state).
  if (last_ref >= sub_start && (last_ref - sub_start) / step >= ctx_->options->max_samples) {
    return absl::ResourceExhaustedError(
        "query processing would load too many samples into memory in query execution");
  }
  Evaluator child(ctx_, sub_start, last_ref, step);
  return child.EvalMatrix(sq.expr.get());
}

absl::StatusOr<Matrix> Evaluator::EvalUnary(const UnaryExpr& u) {
  OBX_ASSIGN_OR_RETURN(Matrix m, EvalMatrix(u.expr.get()));
  if (u.op == Tok::kSub) {
    for (auto& s : m) {
      s.drop_name = true;
      for (auto& p : s.points) p.f = -p.f;
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Binary operators.

absl::StatusOr<Vector> Evaluator::VectorBinop(const BinaryExpr& b, const Vector& lhs_in,
                                              const Vector& rhs_in, const std::vector<int>& lsig_in,
                                              const std::vector<int>& rsig_in, int num_sigs,
                                              MetricCache* cache) {
  const VectorMatching& m = *b.matching;
  Vector out;
  if (lhs_in.empty() || rhs_in.empty()) return out;
  const bool swap = m.card == Cardinality::kOneToMany;
  const Vector& lhs = swap ? rhs_in : lhs_in;
  const Vector& rhs = swap ? lhs_in : rhs_in;
  const std::vector<int>& lsig = swap ? rsig_in : lsig_in;
  const std::vector<int>& rsig = swap ? lsig_in : rsig_in;

  std::vector<const Sample*> right(num_sigs, nullptr);
  for (size_t i = 0; i < rhs.size(); ++i) {
    int sig = rsig[i];
    if (right[sig] != nullptr) {
      std::string a = rhs[i].metric.String();
      std::string c = right[sig]->metric.String();
      if (a > c) std::swap(a, c);
      return absl::InvalidArgumentError(absl::StrCat(
          "found duplicate series for the match group ", MatchedLabels(rhs[i].metric, m).String(),
          " on the ", swap ? "left" : "right", " hand-side of the operation: [", a, ", ", c,
          "];many-to-many matching not allowed: matching labels must be unique on one side"));
    }
    right[sig] = &rhs[i];
  }

  std::vector<bool> matched_one(num_sigs, false);
  std::vector<absl::flat_hash_map<std::string, bool>> matched_many;
  if (m.card != Cardinality::kOneToOne) matched_many.resize(num_sigs);

  for (size_t i = 0; i < lhs.size(); ++i) {
    int sig = lsig[i];
    const Sample* rs = right[sig];
    if (rs == nullptr) continue;
    const Sample& ls = lhs[i];
    double fl = ls.f;
    double fr = rs->f;
    if (swap) std::swap(fl, fr);
    bool keep = false;
    double value = ApplyOp(b.op, fl, fr, &keep);
    if (b.return_bool) {
      value = Btos(keep);
    }
    // Result labels come from the "many" side (lhs after the swap).
    Labels metric;
    auto cached = ls.series >= 0 && rs->series >= 0
                      ? cache->find(std::make_pair(ls.series, rs->series))
                      : cache->end();
    if (cached != cache->end()) {
      metric = cached->second;
    } else {
      metric = ls.metric;
      if (ChangesMetricSchema(b.op)) metric.DropMetricName();
      if (m.card == Cardinality::kOneToOne) {
        if (m.on) {
          metric.Keep(m.matching_labels);
        } else {
          for (const auto& n : m.matching_labels) metric.Del(n);
        }
      }
      for (const auto& n : m.include) {
        metric.Set(n, rs->metric.Get(n));
      }
      if (ls.series >= 0 && rs->series >= 0) {
        cache->emplace(std::make_pair(ls.series, rs->series), metric);
      }
    }
    if (m.card == Cardinality::kOneToOne) {
      if (matched_one[sig]) {
        return absl::InvalidArgumentError(
            "multiple matches for labels: many-to-one matching must be explicit "
            "(group_left/group_right)");
      }
      matched_one[sig] = true;
    } else {
      if (!matched_many[sig].emplace(metric.Key(), true).second) {
        return absl::InvalidArgumentError(
            "multiple matches for labels: grouping labels must ensure unique matches");
      }
    }
    if (!keep && !b.return_bool) continue;
    out.push_back(Sample{std::move(metric), value, 0, b.return_bool});
  }
  return out;
}

absl::StatusOr<Matrix> Evaluator::EvalBinary(const BinaryExpr& b) {
  ValueType lt = b.lhs->type();
  ValueType rt = b.rhs->type();
  const Tok op = b.op;
  if (lt == ValueType::kScalar && rt == ValueType::kScalar) {
    return RangeEval({b.lhs.get(), b.rhs.get()}, nullptr,
                     [&](std::vector<Vector>& v, const auto&, int64_t) -> absl::StatusOr<Vector> {
                       bool keep;
                       double r = ApplyOp(op, v[0][0].f, v[1][0].f, &keep);
                       if (IsComparisonTok(op)) r = Btos(keep);
                       return Vector{Sample{Labels(), r, 0, false}};
                     });
  }
  if (lt == ValueType::kVector && rt == ValueType::kVector) {
    const VectorMatching* m = &*b.matching;
    MetricCache cache;
    return RangeEval({b.lhs.get(), b.rhs.get()}, m,
                     [&](std::vector<Vector>& v, const std::vector<std::vector<int>>& sigs,
                         int64_t) -> absl::StatusOr<Vector> {
                       int num_sigs = 0;
                       for (const auto& s : sigs) {
                         for (int x : s) num_sigs = std::max(num_sigs, x + 1);
                       }
                       Vector out;
                       switch (op) {
                         case Tok::kLand: {
                           if (v[0].empty() || v[1].empty()) return out;
                           std::vector<bool> present(num_sigs, false);
                           for (int s : sigs[1]) present[s] = true;
                           for (size_t i = 0; i < v[0].size(); ++i) {
                             if (present[sigs[0][i]]) out.push_back(v[0][i]);
                           }
                           return out;
                         }
                         case Tok::kLor: {
                           std::vector<bool> present(num_sigs, false);
                           for (size_t i = 0; i < v[0].size(); ++i) {
                             present[sigs[0][i]] = true;
                             out.push_back(v[0][i]);
                           }
                           for (size_t i = 0; i < v[1].size(); ++i) {
                             if (!present[sigs[1][i]]) out.push_back(v[1][i]);
                           }
                           return out;
                         }
                         case Tok::kLunless: {
                           std::vector<bool> present(num_sigs, false);
                           for (int s : sigs[1]) present[s] = true;
                           for (size_t i = 0; i < v[0].size(); ++i) {
                             if (!present[sigs[0][i]]) out.push_back(v[0][i]);
                           }
                           return out;
                         }
                         default:
                           return VectorBinop(b, v[0], v[1], sigs[0], sigs[1], num_sigs, &cache);
                       }
                     });
  }
  // Vector and scalar, in either order.
  const bool scalar_left = lt == ValueType::kScalar;
  return RangeEval({b.lhs.get(), b.rhs.get()}, nullptr,
                   [&](std::vector<Vector>& v, const auto&, int64_t) -> absl::StatusOr<Vector> {
                     const Vector& vec = scalar_left ? v[1] : v[0];
                     double scalar = scalar_left ? v[0][0].f : v[1][0].f;
                     Vector out;
                     for (const Sample& s : vec) {
                       double l = scalar_left ? scalar : s.f;
                       double r = scalar_left ? s.f : scalar;
                       bool keep;
                       double value = ApplyOp(op, l, r, &keep);
                       // Comparisons keep the vector element's value even when it is on the right.
                       if (IsComparisonTok(op) && scalar_left) value = r;
                       if (b.return_bool) {
                         value = Btos(keep);
                         keep = true;
                       }
                       if (!keep) continue;
                       Sample o = s;
                       o.f = value;
                       if (ChangesMetricSchema(op) || b.return_bool) o.drop_name = true;
                       out.push_back(std::move(o));
                     }
                     return out;
                   });
}

// ---------------------------------------------------------------------------------------------
// Function calls.

absl::StatusOr<std::vector<double>> Evaluator::EvalScalarSteps(const Expr* e) {
  OBX_ASSIGN_OR_RETURN(Matrix m, EvalMatrix(e));
  std::vector<double> out(NumSteps(), 0.0);
  if (!m.empty()) {
    for (const auto& p : m[0].points) {
      int64_t i = (p.t - start_) / interval_;
      if (i >= 0 && i < static_cast<int64_t>(out.size())) out[i] = p.f;
    }
  }
  ctx_->ReleaseSamples(TotalPoints(m));
  return out;
}

absl::StatusOr<Matrix> Evaluator::EvalCall(const Call& c) {
  const std::string_view name = c.func->name;
  if (!c.func->implemented) {
    return absl::UnimplementedError(absl::StrCat("function ", QuoteGo(name), " is not supported"));
  }
  // Query-context functions are constants of the query.
  if (name == "start" || name == "end" || name == "range" || name == "step") {
    double v = 0;
    if (name == "start") v = static_cast<double>(ctx_->query_start) / 1000.0;
    if (name == "end") v = static_cast<double>(ctx_->query_end) / 1000.0;
    if (name == "range") v = static_cast<double>(ctx_->query_end - ctx_->query_start) / 1000.0;
    if (name == "step") v = static_cast<double>(ctx_->query_step) / 1000.0;
    return EvalNumber(v);
  }
  if (name == "timestamp") {
    const Expr* arg = Unparen(c.args[0].get());
    if (arg->kind == NodeKind::kVectorSelector) {
      return EvalTimestampOfSelector(*static_cast<const VectorSelector*>(arg));
    }
  }
  for (size_t i = 0; i < c.args.size(); ++i) {
    const Expr* a = Unparen(c.args[i].get());
    if (a->kind == NodeKind::kMatrixSelector || a->kind == NodeKind::kSubquery) {
      return EvalRangeFunction(c, i);
    }
  }
  if (name == "label_replace") return EvalLabelReplace(c);
  if (name == "label_join") return EvalLabelJoin(c);
  if ((name == "sort" || name == "sort_desc" || name == "sort_by_label" ||
       name == "sort_by_label_desc") &&
      start_ != end_) {
    ctx_->annotations.Warn(
        "sort is ineffective for range queries since results are always ordered by labels",
        c.pos());
  }
  std::vector<const Expr*> args;
  for (const auto& a : c.args) args.push_back(Unparen(a.get()));
  return RangeEval(args, nullptr, [&](std::vector<Vector>& v, const auto&, int64_t ts) {
    return CallInstantFunction(c, v, ts, ctx_);
  });
}

absl::StatusOr<Matrix> Evaluator::EvalTimestampOfSelector(const VectorSelector& vs) {
  const int64_t lookback = ctx_->options->lookback_delta_ms;
  const bool fixed = vs.at != AtKind::kNone;
  const int64_t at = AtTime(vs.at, vs.at_ms);
  auto ref_of = [&](int64_t ts) { return (fixed ? at : ts) - vs.offset_ms; };
  OBX_ASSIGN_OR_RETURN(
      auto set, ctx_->source->Select(vs.matchers, ref_of(start_) - lookback + 1, ref_of(end_)));
  Matrix out;
  while (set->Next()) {
    OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
    auto samples = set->samples();
    Series s;
    s.metric = set->labels();
    s.drop_name = true;
    size_t idx = 0;
    for (int64_t ts = start_; ts <= end_; ts += interval_) {
      int64_t ref = ref_of(ts);
      while (idx < samples.size() && samples[idx].t_ms <= ref) ++idx;
      if (idx == 0) continue;
      const SamplePoint& p = samples[idx - 1];
      if (p.t_ms <= ref - lookback || IsStaleNaN(p.value)) continue;
      s.points.push_back(Point{ts, static_cast<double>(p.t_ms) / 1000.0});
    }
    if (!s.points.empty()) {
      OBX_RETURN_IF_ERROR(ctx_->AddSamples(static_cast<int64_t>(s.points.size())));
      out.push_back(std::move(s));
    }
  }
  OBX_RETURN_IF_ERROR(set->status());
  std::sort(out.begin(), out.end(),
            [](const Series& a, const Series& b) { return CompareLabels(a.metric, b.metric) < 0; });
  return out;
}

namespace {
// rate/increase/delta of one series at a run of steps: slides the window over the series'
// points and writes a point per step whose window holds two samples or more. The same code
// serves the evaluator's own loop and the sources that evaluate ahead (RateAhead), so both
// give bit-identical results.
struct ExtrapolatedWindows {
  int64_t start = 0, interval = 0, range = 0, offset = 0, at = 0;
  bool at_fixed = false, counter_check = false, is_rate = false;
  double range_seconds = 0;
  // The window [lo, hi) of the last step; last_drop is the last index i < hi whose value is
  // below its predecessor's (0: none yet), so a window holds a counter reset when it is
  // above lo.
  size_t lo = 0, hi = 0, last_drop = 0;

  // Steps [step_begin, step_end), in order, continuing from the previous call. Returns the
  // number of points written to out.
  template <typename P, typename O>
  size_t Run(const P* pts, size_t n, int64_t step_begin, int64_t step_end, O* out) {
    size_t written = 0;
    // Locals, so the compiler keeps them in registers across the stores of the step loop.
    const int64_t range_l = range, offset_l = offset, at_l = at, interval_l = interval;
    const bool fixed_l = at_fixed, counter_l = counter_check, rate_l = is_rate;
    const double range_seconds_l = range_seconds;
    size_t lo_l = lo, hi_l = hi, drop_l = last_drop;
    int64_t ts = start + step_begin * interval_l;
    for (int64_t step = step_begin; step < step_end; ++step, ts += interval_l) {
      const int64_t ref = (fixed_l ? at_l : ts) - offset_l;
      const int64_t mint = ref - range_l;
      while (lo_l < n && TimeOf(pts[lo_l]) <= mint) ++lo_l;
      if (hi_l < lo_l) hi_l = lo_l;
      while (hi_l < n && TimeOf(pts[hi_l]) <= ref) {
        if (counter_l && hi_l > 0 && ValueOf(pts[hi_l]) < ValueOf(pts[hi_l - 1])) drop_l = hi_l;
        ++hi_l;
      }
      if (hi_l - lo_l < 2) continue;
      const P& first = pts[lo_l];
      const P& last = pts[hi_l - 1];
      double result = ValueOf(last) - ValueOf(first);
      if (counter_l && drop_l > lo_l) {
        for (size_t i = lo_l + 1; i < hi_l; ++i) {
          if (ValueOf(pts[i]) < ValueOf(pts[i - 1])) result += ValueOf(pts[i - 1]);
        }
      }
      const double v = Extrapolate(result, TimeOf(first), ValueOf(first), TimeOf(last), hi_l - lo_l,
                                   mint, ref, range_seconds_l, counter_l, rate_l);
      out[written++] = O{ts, v};
    }
    lo = lo_l;
    hi = hi_l;
    last_drop = drop_l;
    return written;
  }
};

// rate/increase/delta evaluated by the source as it decodes (SeriesSet::ApplyAhead): a
// point per step with a result, staleness markers dropped first as the evaluator does.
class RateAhead final : public SeriesTransform {
 public:
  RateAhead(const ExtrapolatedWindows& params, int64_t steps) : params_(params), steps_(steps) {}

  void Apply(absl::Span<const SamplePoint> samples, bool may_have_stale_markers,
             std::vector<SamplePoint>* scratch, std::vector<SamplePoint>* out) const override {
    if (may_have_stale_markers) {
      scratch->resize(samples.size());
      size_t n = 0;
      for (const SamplePoint& p : samples) {
        (*scratch)[n] = p;
        n += IsStaleNaN(p.value) ? 0 : 1;
      }
      samples = absl::MakeConstSpan(scratch->data(), n);
    }
    if (samples.empty()) return;
    ExtrapolatedWindows w = params_;
    const size_t at = out->size();
    out->resize(at + static_cast<size_t>(steps_));
    out->resize(at + w.Run(samples.data(), samples.size(), 0, steps_, out->data() + at));
  }

 private:
  const ExtrapolatedWindows params_;
  const int64_t steps_;
};
}  // namespace

std::pair<int64_t, int64_t> Evaluator::SelectRange(const MatrixSelector& ms) const {
  const VectorSelector& vs = *ms.vs;
  const bool fixed = vs.at != AtKind::kNone;
  const int64_t at = AtTime(vs.at, vs.at_ms);
  const int64_t first_ref = (fixed ? at : start_) - vs.offset_ms;
  const int64_t last_ref = (fixed ? at : end_) - vs.offset_ms;
  return {first_ref - ms.range_ms + 1, last_ref};
}

absl::StatusOr<Matrix> Evaluator::EvalRangeFunction(const Call& c, size_t matrix_arg,
                                                    SeriesSink* sink) {
  const std::string_view name = c.func->name;
  const Expr* arg = Unparen(c.args[matrix_arg].get());

  // Scalar arguments, one value per step.
  std::vector<std::vector<double>> scalar_steps;
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (i == matrix_arg) continue;
    OBX_ASSIGN_OR_RETURN(auto steps, EvalScalarSteps(Unparen(c.args[i].get())));
    scalar_steps.push_back(std::move(steps));
  }

  const bool keeps_name = name == "last_over_time" || name == "first_over_time";
  const bool absent_over_time = name == "absent_over_time";
  const bool counter_check = name == "rate" || name == "increase";
  // rate/increase/delta take the direct path: no dispatch by name per step, and the counter
  // resets of a window are noticed while its end advances instead of by a scan per step.
  const bool extrapolated = counter_check || name == "delta";
  const bool is_rate = name == "rate";
  Matrix out;
  std::vector<bool> step_present(absent_over_time ? NumSteps() : 0, false);
  std::vector<double> scalars(scalar_steps.size());
  int64_t range_ms = 0;
  int64_t offset_ms = 0;
  bool fixed = false;
  int64_t at = 0;

  // Notes a series' name that is not a counter's.
  auto check_counter_name = [&](const Labels& metric) {
    if (counter_check) {
      std::string_view metric_name = metric.Get(kMetricNameLabel);
      auto ends_with = [&](std::string_view suffix) {
        return metric_name.size() >= suffix.size() &&
               metric_name.substr(metric_name.size() - suffix.size()) == suffix;
      };
      if (!metric_name.empty() && !ends_with("_total") && !ends_with("_sum") &&
          !ends_with("_count") && !ends_with("_bucket")) {
        ctx_->annotations.Info(absl::StrCat("metric might not be a counter, name does not end in "
                                            "_total/_sum/_count/_bucket: ",
                                            QuoteGo(metric_name)),
                               c.args[0]->pos());
      }
    }
  };
  // Passes one series' result to the sink: its points are counted while the sink holds them.
  auto to_sink = [&](const Labels& metric, bool drop_name, auto points) -> absl::Status {
    if (points.empty()) return absl::OkStatus();
    const auto n = static_cast<int64_t>(points.size());
    OBX_RETURN_IF_ERROR(ctx_->AddSamples(n));
    check_counter_name(metric);
    const absl::Status added = sink->Add(metric, drop_name, points);
    ctx_->ReleaseSamples(n);
    return added;
  };
  // Keeps one series' result (or passes it to the sink): accounts for its points and notes a
  // name that is not a counter's.
  auto finish = [&](Series s) -> absl::Status {
    if (sink != nullptr) return to_sink(s.metric, s.drop_name, absl::Span<const Point>(s.points));
    if (s.points.empty()) return absl::OkStatus();
    OBX_RETURN_IF_ERROR(ctx_->AddSamples(static_cast<int64_t>(s.points.size())));
    check_counter_name(s.metric);
    out.push_back(std::move(s));
    return absl::OkStatus();
  };
  // The direct path's parameters, once the selector's are known.
  auto windows_of = [&] {
    ExtrapolatedWindows w;
    w.start = start_;
    w.interval = interval_;
    w.range = range_ms;
    w.offset = offset_ms;
    w.at = at;
    w.at_fixed = fixed;
    w.counter_check = counter_check;
    w.is_rate = is_rate;
    w.range_seconds = static_cast<double>(range_ms) / 1000.0;
    return w;
  };

  // Slides the window over one series' points step by step and applies the function.
  // `points` is a span of Point, or of the source's SamplePoint when the direct path reads
  // a series without staleness markers straight from the source.
  auto process = [&](const Labels& metric, auto points, bool input_drop_name) -> absl::Status {
    using P = typename decltype(points)::value_type;
    constexpr bool kPoints = std::is_same_v<P, Point>;
    Series s;
    s.metric = metric;
    s.drop_name = !keeps_name || input_drop_name;
    size_t lo = 0;
    size_t hi = 0;
    int64_t step = 0;
    const size_t n = points.size();
    const P* pts = points.data();
    // Locals, so the compiler keeps them in registers across the stores of the step loop.
    const int64_t range = range_ms, offset = offset_ms, at_ms = at;
    const bool at_fixed = fixed;
    const double range_seconds = static_cast<double>(range) / 1000.0;
    // The last index i < hi whose value is below its predecessor's (0: none yet): a window
    // [lo, hi) holds a counter reset when it is above lo.
    size_t last_drop = 0;
    // The direct path writes its points by index into room for every step (no capacity
    // check per step), then trims.
    const bool direct = extrapolated && n > 0 && NumSteps() <= (1 << 16);
    size_t written = 0;
    if (direct) {
      s.points.resize(static_cast<size_t>(NumSteps()));
      ExtrapolatedWindows w = windows_of();
      for (int64_t from = 0; from < NumSteps(); from += 1024) {
        if (from > 0) OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
        written += w.Run(pts, n, from, std::min<int64_t>(from + 1024, NumSteps()),
                         s.points.data() + written);
      }
    }
    for (int64_t ts = start_; !direct && ts <= end_; ts += interval_, ++step) {
      if ((step & 1023) == 1023) OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
      int64_t ref = (at_fixed ? at_ms : ts) - offset;
      int64_t mint = ref - range;
      while (lo < n && TimeOf(pts[lo]) <= mint) ++lo;
      if (hi < lo) hi = lo;
      while (hi < n && TimeOf(pts[hi]) <= ref) {
        if (counter_check && hi > 0 && ValueOf(pts[hi]) < ValueOf(pts[hi - 1])) last_drop = hi;
        ++hi;
      }
      if (hi == lo) continue;
      if (absent_over_time) {
        step_present[step] = true;
        continue;
      }
      if (extrapolated) {
        if (hi - lo < 2) continue;
        const P& first = pts[lo];
        const P& last = pts[hi - 1];
        double result = ValueOf(last) - ValueOf(first);
        if (counter_check && last_drop > lo) {
          for (size_t i = lo + 1; i < hi; ++i) {
            if (ValueOf(pts[i]) < ValueOf(pts[i - 1])) result += ValueOf(pts[i - 1]);
          }
        }
        const double v = Extrapolate(result, TimeOf(first), ValueOf(first), TimeOf(last), hi - lo,
                                     mint, ref, range_seconds, counter_check, is_rate);
        s.points.push_back(Point{ts, v});
        continue;
      }
      if constexpr (kPoints) {
        Window w;
        w.points = points.subspan(lo, hi - lo);
        w.range_start = mint;
        w.range_end = ref;
        w.range_ms = range_ms;
        w.ts = ts;
        w.metric = &metric;
        for (size_t i = 0; i < scalar_steps.size(); ++i) scalars[i] = scalar_steps[i][step];
        OBX_ASSIGN_OR_RETURN(std::optional<double> v, CallRangeFunction(c, w, scalars, ctx_));
        if (v.has_value()) s.points.push_back(Point{ts, *v});
      } else {
        return absl::InternalError("range function over raw samples");
      }
    }
    if (direct) {
      const bool sparse = written * 2 < s.points.size();
      s.points.resize(written);
      if (sparse) s.points.shrink_to_fit();  // hold no more than the sample budget counts
    }
    return finish(std::move(s));
  };

  if (arg->kind == NodeKind::kMatrixSelector) {
    const auto* ms = static_cast<const MatrixSelector*>(arg);
    const VectorSelector& vs = *ms->vs;
    range_ms = ms->range_ms;
    offset_ms = vs.offset_ms;
    fixed = vs.at != AtKind::kNone;
    at = AtTime(vs.at, vs.at_ms);
    const auto [mint, maxt] = SelectRange(*ms);
    OBX_ASSIGN_OR_RETURN(auto set, ctx_->source->Select(vs.matchers, mint, maxt));
    // rate/increase/delta are offered to the source, which may evaluate them on its decoding
    // threads; the reader then only collects each series' points (same code, same results).
    const bool ahead = extrapolated && NumSteps() <= (1 << 16) &&
                       set->ApplyAhead(std::make_shared<const RateAhead>(windows_of(), NumSteps()));
    // One series at a time: only its samples are held (and counted) while it is processed.
    std::vector<Point> points;
    while (set->Next()) {
      OBX_RETURN_IF_ERROR(ctx_->CheckDeadline());
      if (ahead) {
        // Accounted as if evaluated here: the samples without staleness markers, held while
        // the series' points are taken.
        const auto samples = set->samples();
        int64_t held = static_cast<int64_t>(samples.size());
        if (set->MayHaveStaleMarkers()) {
          held = std::count_if(samples.begin(), samples.end(),
                               [](const SamplePoint& p) { return !IsStaleNaN(p.value); });
        }
        OBX_RETURN_IF_ERROR(ctx_->AddSamples(held));
        const auto result = set->transformed();
        if (sink != nullptr) {
          // Straight from the source's buffer: no copy of the points.
          const absl::Status added = to_sink(set->labels(), true, result);
          ctx_->ReleaseSamples(held);
          OBX_RETURN_IF_ERROR(added);
          continue;
        }
        Series s;
        s.metric = set->labels();
        s.drop_name = true;
        s.points.resize(result.size());
        for (size_t i = 0; i < result.size(); ++i) s.points[i] = {result[i].t_ms, result[i].value};
        OBX_RETURN_IF_ERROR(finish(std::move(s)));
        ctx_->ReleaseSamples(held);
        continue;
      }
      if (extrapolated && !set->MayHaveStaleMarkers()) {
        // Nothing to filter: evaluated on the source's samples without a copy.
        const auto samples = set->samples();
        const int64_t held = static_cast<int64_t>(samples.size());
        OBX_RETURN_IF_ERROR(ctx_->AddSamples(held));
        OBX_RETURN_IF_ERROR(process(set->labels(), samples, false));
        ctx_->ReleaseSamples(held);
        continue;
      }
      // Copies without staleness markers; written without push_back's capacity check per
      // sample, since this loop touches every sample the query reads.
      const auto samples = set->samples();
      points.resize(samples.size());
      size_t n = 0;
      for (const auto& p : samples) {
        points[n] = Point{p.t_ms, p.value};
        n += IsStaleNaN(p.value) ? 0 : 1;
      }
      points.resize(n);
      const int64_t held = static_cast<int64_t>(points.size());
      OBX_RETURN_IF_ERROR(ctx_->AddSamples(held));
      OBX_RETURN_IF_ERROR(process(set->labels(), absl::Span<const Point>(points), false));
      ctx_->ReleaseSamples(held);
    }
    OBX_RETURN_IF_ERROR(set->status());
    std::sort(out.begin(), out.end(), [](const Series& a, const Series& b) {
      return CompareLabels(a.metric, b.metric) < 0;
    });
  } else {
    const auto* sq = static_cast<const SubqueryExpr*>(arg);
    range_ms = sq->range_ms;
    offset_ms = sq->offset_ms;
    fixed = sq->at != AtKind::kNone;
    at = AtTime(sq->at, sq->at_ms);
    OBX_ASSIGN_OR_RETURN(Matrix m, EvalSubquery(*sq));
    for (const auto& ser : m) {
      OBX_RETURN_IF_ERROR(process(ser.metric, absl::Span<const Point>(ser.points), ser.drop_name));
    }
    ctx_->ReleaseSamples(TotalPoints(m));
  }

  if (absent_over_time) {
    Matrix result;
    Series s;
    s.metric = AbsentLabels(arg);
    s.drop_name = true;
    int64_t step = 0;
    for (int64_t ts = start_; ts <= end_; ts += interval_, ++step) {
      if (!step_present[step]) s.points.push_back(Point{ts, 1});
    }
    OBX_RETURN_IF_ERROR(ctx_->AddSamples(static_cast<int64_t>(s.points.size())));
    if (!s.points.empty()) result.push_back(std::move(s));
    return result;
  }
  return out;
}

absl::StatusOr<Matrix> Evaluator::EvalLabelReplace(const Call& c) {
  auto str = [&](size_t i) {
    return static_cast<const StringLiteral*>(Unparen(c.args[i].get()))->val;
  };
  std::string dst = str(1), repl = str(2), src = str(3), regex = str(4);
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_dot_nl(true);
  RE2 re("^(?:" + regex + ")$", opts);
  if (!re.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid regular expression in label_replace(): ", regex));
  }
  if (!IsValidLabelName(dst)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid destination label name in label_replace(): ", dst));
  }
  OBX_ASSIGN_OR_RETURN(Matrix m, EvalMatrix(Unparen(c.args[0].get())));
  const int ngroups = re.NumberOfCapturingGroups();
  const auto& named = re.NamedCapturingGroups();
  std::vector<re2::StringPiece> groups(ngroups + 1);
  for (auto& s : m) {
    std::string src_val(s.metric.Get(src));
    if (!re.Match(src_val, 0, src_val.size(), RE2::UNANCHORED, groups.data(), ngroups + 1)) {
      continue;
    }
    s.metric.Set(dst, ExpandTemplate(repl, groups, named));
    if (dst == kMetricNameLabel) s.drop_name = false;
  }
  return MergeSameLabelsets(std::move(m));
}

absl::StatusOr<Matrix> Evaluator::EvalLabelJoin(const Call& c) {
  auto str = [&](size_t i) {
    return static_cast<const StringLiteral*>(Unparen(c.args[i].get()))->val;
  };
  std::string dst = str(1), sep = str(2);
  std::vector<std::string> srcs;
  for (size_t i = 3; i < c.args.size(); ++i) {
    std::string s = str(i);
    if (!IsValidLabelName(s)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid source label name in label_join(): ", s));
    }
    srcs.push_back(std::move(s));
  }
  if (!IsValidLabelName(dst)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid destination label name in label_join(): ", dst));
  }
  OBX_ASSIGN_OR_RETURN(Matrix m, EvalMatrix(Unparen(c.args[0].get())));
  for (auto& s : m) {
    std::string joined;
    for (size_t i = 0; i < srcs.size(); ++i) {
      if (i > 0) joined += sep;
      joined += s.metric.Get(srcs[i]);
    }
    s.metric.Set(dst, joined);
    if (dst == kMetricNameLabel) s.drop_name = false;
  }
  return MergeSameLabelsets(std::move(m));
}

}  // namespace observex::query::promql::internal
