#include "writer/metrics_cache.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>

#include "metrics/naming.h"
#include "query/series_source.h"

namespace observex::writer {
namespace {

constexpr int32_t kCumulative = 2;            // AGGREGATION_TEMPORALITY_CUMULATIVE
constexpr uint32_t kNoRecordedValueFlag = 1;  // DataPointFlags.FLAG_NO_RECORDED_VALUE
// metrics/convert.cc's normal NaN: every NaN a sender writes becomes this one.
constexpr uint64_t kNormalNaNBits = 0x7ff8000000000001ULL;

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out->append(b, 4);
}
void PutBytes(std::string* out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s.data(), s.size());
}

bool IsSum(metrics::OtlpKind kind) {
  return kind == metrics::OtlpKind::kMonotonicSum || kind == metrics::OtlpKind::kNonMonotonicSum;
}

// The sample value the full conversion gives a number point; false when it has none.
bool PointValue(const metrics::WireNumberPoint& p, double* v) {
  if (p.flags & kNoRecordedValueFlag) {
    *v = query::StaleNaN();
  } else if (p.value == metrics::WireNumberPoint::Value::kInt) {
    *v = static_cast<double>(p.as_int);
  } else if (p.value == metrics::WireNumberPoint::Value::kDouble) {
    *v = std::isnan(p.as_double) ? std::bit_cast<double>(kNormalNaNBits) : p.as_double;
  } else {
    return false;
  }
  return true;
}

int64_t NanosToMillis(uint64_t ns) { return static_cast<int64_t>(ns / 1'000'000); }

}  // namespace

// One TryConvert: the walk's visitor.
class FastConverter final : public metrics::WirePointVisitor {
 public:
  FastConverter(MetricsSeriesCache& cache, int64_t tenant, storage::ColumnBatch* rows)
      : c_(cache),
        tenant_(tenant),
        sid_(std::get<0>(rows->columns[0])),
        time_(std::get<0>(rows->columns[1])),
        value_(std::get<1>(rows->columns[2])) {}

  bool OnResource(std::string_view resource) override {
    resource_ = c_.ResourceIndex(tenant_, resource, false);
    times_.clear();
    return resource_ != MetricsSeriesCache::kNone;
  }
  bool OnScope(std::string_view scope, std::string_view schema_url) override {
    scope_ = c_.ScopeIndex(scope, schema_url, false);
    return scope_ != MetricsSeriesCache::kNone;
  }
  bool OnMetric(const metrics::WireMetric& m) override {
    if (m.points == 0) return true;  // nothing converted, nothing rejected
    if (IsSum(m.kind) && static_cast<int32_t>(m.temporality) != kCumulative) return false;
    metric_ = c_.MetricIndex(m);
    if (metric_ == MetricsSeriesCache::kNone) return false;
    if (c_.metric_info_[metric_].name.empty()) return false;  // rejected: no usable name
    used_metrics_.push_back(metric_);
    key_ = std::string(c_.PointKey(resource_, scope_, metric_, {}));  // the points' prefix
    prefix_ = key_.size();
    return true;
  }
  bool OnPoint(const metrics::WireNumberPoint& p) override {
    if (p.time_unix_nano == 0) return false;
    double v;
    if (!PointValue(p, &v)) return false;
    key_.resize(prefix_);
    key_.append(p.attributes.data(), p.attributes.size());
    auto it = c_.points_.find(absl::string_view(key_));
    if (it == c_.points_.end()) return false;
    const int64_t t = NanosToMillis(p.time_unix_nano);
    Add(it->second, t, v);
    times_.push_back(t);
    return true;
  }
  bool OnResourceEnd() override {
    if (times_.empty()) return true;
    const uint32_t target = c_.resource_target_[resource_];
    if (target == MetricsSeriesCache::kUndecided) return false;
    if (target == MetricsSeriesCache::kNone) return true;
    // As the full conversion does: the distinct times, at least target_info_interval_ms
    // apart, plus the latest.
    std::sort(times_.begin(), times_.end());
    times_.erase(std::unique(times_.begin(), times_.end()), times_.end());
    int64_t last = 0;
    for (size_t i = 0; i < times_.size(); ++i) {
      if (i == 0 || i + 1 == times_.size() ||
          times_[i] - last >= c_.options_.target_info_interval_ms) {
        Add(target, times_[i], 1.0);
        last = times_[i];
      }
    }
    used_metrics_.push_back(MetricsSeriesCache::kNone);  // target_info's family, in its place
    return true;
  }

  void Add(uint32_t slot, int64_t t, double v) {
    MetricsSeriesCache::Slot& s = c_.slots_[slot];
    repeats_ |= s.stamp == c_.stamp_;
    s.stamp = c_.stamp_;
    sid_.push_back(s.id);
    time_.push_back(t);
    value_.push_back(v);
  }

  // Keeps the last sample of equal (series, time), as the full conversion does.
  void Dedup() {
    if (!repeats_) return;
    const size_t n = sid_.size();
    std::vector<uint32_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0u);
    std::stable_sort(perm.begin(), perm.end(), [&](uint32_t a, uint32_t b) {
      return sid_[a] != sid_[b] ? sid_[a] < sid_[b] : time_[a] < time_[b];
    });
    std::vector<int64_t> sid, time;
    std::vector<double> value;
    sid.reserve(n);
    time.reserve(n);
    value.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t r = perm[i];
      if (!sid.empty() && sid.back() == sid_[r] && time.back() == time_[r]) {
        value.back() = value_[r];
        continue;
      }
      sid.push_back(sid_[r]);
      time.push_back(time_[r]);
      value.push_back(value_[r]);
    }
    sid_.swap(sid);
    time_.swap(time);
    value_.swap(value);
  }

  void Families(std::vector<metrics::MetricFamily>* out) const {
    for (uint32_t m : used_metrics_) {
      if (m != MetricsSeriesCache::kNone) {
        out->push_back(c_.metric_info_[m].family);
      } else {
        out->push_back(metrics::MetricFamily{std::string(metrics::kTargetInfoName),
                                             metrics::MetricType::kGauge, "", "Target metadata"});
      }
    }
    // Sorted by name, the first of a name kept (stable), as MetricsBatch::families.
    std::stable_sort(out->begin(), out->end(),
                     [](const auto& a, const auto& b) { return a.name < b.name; });
    out->erase(std::unique(out->begin(), out->end(),
                           [](const auto& a, const auto& b) { return a.name == b.name; }),
               out->end());
  }

 private:
  MetricsSeriesCache& c_;
  const int64_t tenant_;
  std::vector<int64_t>& sid_;
  std::vector<int64_t>& time_;
  std::vector<double>& value_;
  uint32_t resource_ = 0, scope_ = 0, metric_ = 0;
  std::string key_;  // of the current point
  size_t prefix_ = 0;
  std::vector<int64_t> times_;  // accepted sample times of the current resource
  // Metrics with samples in request order; kNone for a resource's target_info.
  std::vector<uint32_t> used_metrics_;
  bool repeats_ = false;
};

// One Learn: walks the request in the order the trace was written.
class Learner final : public metrics::WirePointVisitor {
 public:
  Learner(MetricsSeriesCache& cache, int64_t tenant, const metrics::ConversionTrace& trace,
          absl::Span<const int64_t> ids)
      : c_(cache), tenant_(tenant), trace_(trace), ids_(ids) {}

  bool OnResource(std::string_view resource) override {
    if (resources_ >= trace_.target_info.size()) return false;
    resource_ = c_.ResourceIndex(tenant_, resource, true);
    if (resource_ == MetricsSeriesCache::kNone) return false;
    const uint32_t t = trace_.target_info[resources_++];
    uint32_t& target = c_.resource_target_[resource_];
    if (t == MetricsSeriesCache::kNone) {
      target = MetricsSeriesCache::kNone;
    } else if (t != MetricsSeriesCache::kUndecided) {
      if (t >= ids_.size()) return false;
      target = c_.SlotFor(tenant_, ids_[t]);
    }
    return true;
  }
  bool OnScope(std::string_view scope, std::string_view schema_url) override {
    scope_ = c_.ScopeIndex(scope, schema_url, true);
    return scope_ != MetricsSeriesCache::kNone;
  }
  bool OnMetric(const metrics::WireMetric& m) override {
    metric_ = c_.MetricIndex(m);
    return metric_ != MetricsSeriesCache::kNone;
  }
  bool OnPoint(const metrics::WireNumberPoint& p) override {
    if (points_ >= trace_.number_points.size()) return false;
    const uint32_t series = trace_.number_points[points_++];
    if (series == MetricsSeriesCache::kNone) return true;
    if (series >= ids_.size() || c_.Full()) return false;
    const uint32_t slot = c_.SlotFor(tenant_, ids_[series]);
    c_.points_.try_emplace(c_.PointKey(resource_, scope_, metric_, p.attributes), slot);
    return true;
  }
  bool OnResourceEnd() override { return true; }

 private:
  MetricsSeriesCache& c_;
  const int64_t tenant_;
  const metrics::ConversionTrace& trace_;
  const absl::Span<const int64_t> ids_;
  size_t resources_ = 0, points_ = 0;
  uint32_t resource_ = 0, scope_ = 0, metric_ = 0;
};

MetricsSeriesCache::MetricsSeriesCache(const metrics::ConvertOptions& options, size_t max_points)
    : options_(options), max_points_(max_points) {}

void MetricsSeriesCache::Clear() {
  resources_.clear();
  resource_target_.clear();
  scopes_.clear();
  metrics_.clear();
  metric_info_.clear();
  points_.clear();
  slot_of_id_.clear();
  slots_.clear();
}

bool MetricsSeriesCache::Full() const {
  return points_.size() >= max_points_ || resources_.size() >= max_points_ ||
         scopes_.size() >= max_points_ || metrics_.size() >= max_points_;
}

uint32_t MetricsSeriesCache::ResourceIndex(int64_t tenant, std::string_view resource, bool add) {
  scratch_.clear();
  scratch_.append(reinterpret_cast<const char*>(&tenant), sizeof tenant);
  scratch_.append(resource.data(), resource.size());
  if (auto it = resources_.find(scratch_); it != resources_.end()) return it->second;
  if (!add || Full()) return kNone;
  const auto index = static_cast<uint32_t>(resource_target_.size());
  resources_.emplace(scratch_, index);
  resource_target_.push_back(kUndecided);
  return index;
}

uint32_t MetricsSeriesCache::ScopeIndex(std::string_view scope, std::string_view schema_url,
                                        bool add) {
  scratch_.clear();
  PutBytes(&scratch_, scope);
  scratch_.append(schema_url.data(), schema_url.size());
  if (auto it = scopes_.find(scratch_); it != scopes_.end()) return it->second;
  if (!add || Full()) return kNone;
  const auto index = static_cast<uint32_t>(scopes_.size());
  scopes_.emplace(scratch_, index);
  return index;
}

uint32_t MetricsSeriesCache::MetricIndex(const metrics::WireMetric& m) {
  scratch_.clear();
  scratch_.push_back(static_cast<char>(m.kind));
  PutBytes(&scratch_, m.name);
  PutBytes(&scratch_, m.unit);
  scratch_.append(m.description.data(), m.description.size());
  if (auto it = metrics_.find(scratch_); it != metrics_.end()) return it->second;
  // Pure functions of the bytes: computed here, not learned.
  if (Full()) return kNone;
  const auto index = static_cast<uint32_t>(metric_info_.size());
  metrics_.emplace(scratch_, index);
  MetricInfo& info = metric_info_.emplace_back();
  info.name = metrics::NormalizeMetricName(m.name, m.unit, m.kind);
  info.family =
      metrics::MetricFamily{info.name, metrics::MetricTypeOf(m.kind),
                            metrics::PrometheusUnit(m.unit), metrics::ToValidUtf8(m.description)};
  return index;
}

uint32_t MetricsSeriesCache::SlotFor(int64_t tenant, int64_t id) {
  auto [it, inserted] =
      slot_of_id_.try_emplace(std::make_pair(tenant, id), static_cast<uint32_t>(slots_.size()));
  if (inserted) slots_.push_back(Slot{id, 0});
  return it->second;
}

absl::string_view MetricsSeriesCache::PointKey(uint32_t resource, uint32_t scope, uint32_t metric,
                                               std::string_view attributes) {
  scratch_.clear();
  PutU32(&scratch_, resource);
  PutU32(&scratch_, scope);
  PutU32(&scratch_, metric);
  scratch_.append(attributes.data(), attributes.size());
  return scratch_;
}

bool MetricsSeriesCache::TryConvert(int64_t tenant, std::string_view request,
                                    storage::ColumnBatch* rows,
                                    std::vector<metrics::MetricFamily>* families) {
  if (points_.empty()) return false;
  if (++stamp_ == 0) {  // wrapped: no slot may look as if this request had used it
    for (Slot& s : slots_) s.stamp = 0;
    stamp_ = 1;
  }
  // A number point takes at least ~20 bytes of the request: room for most requests at once.
  const size_t expect = request.size() / 20;
  std::get<0>(rows->columns[0]).reserve(expect);
  std::get<0>(rows->columns[1]).reserve(expect);
  std::get<1>(rows->columns[2]).reserve(expect);
  FastConverter conv(*this, tenant, rows);
  if (metrics::ScanNumberPoints(request, conv) != metrics::WireScan::kDone) return false;
  conv.Dedup();
  conv.Families(families);
  return true;
}

void MetricsSeriesCache::Learn(int64_t tenant, std::string_view request,
                               const metrics::ConversionTrace& trace,
                               absl::Span<const int64_t> ids) {
  if (Full()) Clear();
  Learner learner(*this, tenant, trace, ids);
  (void)metrics::ScanNumberPoints(request, learner);
}

}  // namespace observex::writer
