#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "metrics/fingerprint.h"
#include "metrics/metrics_model.h"
#include "metrics/naming.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

namespace observex::metrics {
namespace {

namespace pb_common = opentelemetry::proto::common::v1;
namespace pb_metrics = opentelemetry::proto::metrics::v1;
using KeyValues = google::protobuf::RepeatedPtrField<pb_common::KeyValue>;

constexpr uint32_t kNoRecordedValueFlag = 1;  // DataPointFlags.FLAG_NO_RECORDED_VALUE
// The NaN every other NaN becomes, so no sender can forge a staleness marker (Prometheus's
// "normal NaN").
constexpr uint64_t kNormalNaNBits = 0x7ff8000000000001ULL;

constexpr std::string_view kServiceName = "service.name";
constexpr std::string_view kServiceNamespace = "service.namespace";
constexpr std::string_view kServiceInstanceId = "service.instance.id";

double SampleValue(double v) { return std::isnan(v) ? std::bit_cast<double>(kNormalNaNBits) : v; }

int64_t NanosToMillis(uint64_t ns) { return static_cast<int64_t>(ns / 1'000'000); }

// Label set construction --------------------------------------------------------------------

// Turns attributes into labels sorted by name with unique names. Keys are sanitised (with
// `name_prefix` in front, for scope attributes); empty values are absent labels; keys that
// collide after sanitising have their values joined with ';' in key order. `skip` returns true
// for keys that are mapped elsewhere.
template <typename Skip>
std::vector<query::Label> AttributeLabels(const KeyValues& kvs, std::string_view name_prefix,
                                          Skip skip, ConversionStats* stats) {
  std::vector<std::pair<std::string_view, std::string>> raw;  // key, value
  raw.reserve(kvs.size());
  for (const pb_common::KeyValue& kv : kvs) {
    std::string_view key = kv.key();
    if (key.empty()) {
      ++stats->dropped_attributes;
      continue;
    }
    // __name__ comes from the metric name only.
    if (key == query::kMetricNameLabel || skip(key)) continue;
    std::string value = AttributeValueString(kv.value());
    if (value.empty()) continue;
    raw.emplace_back(key, std::move(value));
  }
  std::stable_sort(raw.begin(), raw.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<query::Label> labels;
  labels.reserve(raw.size());
  for (auto& [key, value] : raw) {
    std::string name =
        name_prefix.empty()
            ? SanitizeLabelName(key)
            : SanitizeLabelName(absl::StrCat(std::string(name_prefix), std::string(key)));
    labels.push_back(query::Label{std::move(name), std::move(value)});
  }
  // Stable, so values of colliding names stay in attribute key order.
  std::stable_sort(labels.begin(), labels.end(),
                   [](const query::Label& a, const query::Label& b) { return a.name < b.name; });
  std::vector<query::Label> out;
  out.reserve(labels.size());
  for (query::Label& l : labels) {
    if (!out.empty() && out.back().name == l.name) {
      ++stats->label_collisions;
      out.back().value += ';';
      out.back().value += l.value;
    } else {
      out.push_back(std::move(l));
    }
  }
  return out;
}

const pb_common::AnyValue* FindAttribute(const KeyValues& kvs, std::string_view key) {
  const pb_common::AnyValue* found = nullptr;
  for (const pb_common::KeyValue& kv : kvs) {
    if (kv.key() == key) found = &kv.value();  // the last duplicate wins
  }
  return found;
}

bool IsIdentifyingAttribute(std::string_view key) {
  return key == kServiceName || key == kServiceNamespace || key == kServiceInstanceId;
}

// Labels every series of one resource gets.
struct ResourceContext {
  std::string job;
  std::string instance;
  std::vector<query::Label> promoted;  // sorted, unique names
  std::vector<int64_t> sample_times;   // of accepted data points, for target_info
};

// Labels every series of one scope gets; empty values delete (as in Prometheus, where a scope
// without a version removes an otel_scope_version attribute).
struct ScopeContext {
  std::vector<query::Label> labels;
};

// Series accumulation -----------------------------------------------------------------------

template <typename S>
class SeriesTable {
 public:
  S& Get(query::Labels labels) { return series_[Index(std::move(labels))]; }
  S& at(uint32_t index) { return series_[index]; }

  // The position of the series with `labels`, added when new.
  uint32_t Index(query::Labels labels) {
    scratch_.clear();
    AppendLabelsKey(labels, &scratch_);
    const uint64_t fp = Hash64(scratch_);
    auto [it, inserted] = first_.try_emplace(fp, static_cast<uint32_t>(series_.size()));
    if (!inserted) {
      for (uint32_t i = it->second; i != kNone; i = next_[i]) {
        if (series_[i].labels == labels) return i;
      }
      // A fingerprint collision: chain the new series behind the existing ones.
      uint32_t last = it->second;
      while (next_[last] != kNone) last = next_[last];
      next_[last] = static_cast<uint32_t>(series_.size());
    }
    next_.push_back(kNone);
    S& s = series_.emplace_back();
    s.labels = std::move(labels);
    s.fingerprint = fp;
    return static_cast<uint32_t>(series_.size() - 1);
  }

  std::vector<S> Take() && { return std::move(series_); }

 private:
  static constexpr uint32_t kNone = ~uint32_t{0};
  std::string scratch_;
  absl::flat_hash_map<uint64_t, uint32_t> first_;
  std::vector<uint32_t> next_;
  std::vector<S> series_;
};

bool SamePoint(const query::SamplePoint& a, const query::SamplePoint& b) {
  return std::bit_cast<uint64_t>(a.value) == std::bit_cast<uint64_t>(b.value);
}
bool SamePoint(const ExponentialHistogramPoint& a, const ExponentialHistogramPoint& b) {
  return a == b;
}

// Sorts by time and keeps the last of equal timestamps (stable sort: "last" is arrival order),
// counting those that replaced a different value.
template <typename P>
void SortAndDedup(std::vector<P>* points, uint64_t* conflicts) {
  // The common case (one sample per series per request, or samples already in order) costs
  // one pass.
  if (std::adjacent_find(points->begin(), points->end(), [](const P& a, const P& b) {
        return a.t_ms >= b.t_ms;
      }) == points->end()) {
    return;
  }
  std::stable_sort(points->begin(), points->end(),
                   [](const P& a, const P& b) { return a.t_ms < b.t_ms; });
  size_t out = 0;
  for (size_t i = 0; i < points->size(); ++i) {
    P& p = (*points)[i];
    if (out > 0 && (*points)[out - 1].t_ms == p.t_ms) {
      if (!SamePoint((*points)[out - 1], p)) ++*conflicts;
      (*points)[out - 1] = std::move(p);
    } else {
      if (out != i) (*points)[out] = std::move(p);
      ++out;
    }
  }
  points->resize(out);
}

// Conversion --------------------------------------------------------------------------------

class Converter {
 public:
  Converter(const ConvertOptions& options, ConversionTrace* trace)
      : options_(options), trace_(trace) {}

  MetricsBatch Run(const MetricsRequest& request) {
    for (int r = 0; r < request.resource_metrics_size(); ++r) {
      const pb_metrics::ResourceMetrics& rm = request.resource_metrics(r);
      ResourceContext resource = MakeResourceContext(rm.resource().attributes());
      for (int s = 0; s < rm.scope_metrics_size(); ++s) {
        const pb_metrics::ScopeMetrics& sm = rm.scope_metrics(s);
        ScopeContext scope = MakeScopeContext(sm);
        for (int m = 0; m < sm.metrics_size(); ++m) {
          path_ = {r, s, m};
          ConvertMetric(sm.metrics(m), resource, scope);
        }
      }
      uint32_t target = ConversionTrace::kNone;
      if (resource.sample_times.empty()) {
        target = ConversionTrace::kUndecided;
      } else if (options_.target_info) {
        target = AddTargetInfo(rm.resource().attributes(), &resource);
      }
      if (trace_) trace_->target_info.push_back(target);
    }
    return Finish();
  }

 private:
  struct Path {
    int resource = 0, scope = 0, metric = 0;
  };

  ResourceContext MakeResourceContext(const KeyValues& attrs) {
    ResourceContext rc;
    if (const pb_common::AnyValue* name = FindAttribute(attrs, kServiceName)) {
      rc.job = AttributeValueString(*name);
      if (const pb_common::AnyValue* ns = FindAttribute(attrs, kServiceNamespace)) {
        rc.job = absl::StrCat(AttributeValueString(*ns), "/", rc.job);
      }
    }
    if (const pb_common::AnyValue* id = FindAttribute(attrs, kServiceInstanceId)) {
      rc.instance = AttributeValueString(*id);
    }
    if (!options_.promote_resource_attributes.empty()) {
      const auto& promote = options_.promote_resource_attributes;
      // Empty keys and collisions among resource attributes are counted once per resource,
      // by target_info; not again here.
      ConversionStats scratch;
      rc.promoted = AttributeLabels(
          attrs, "",
          [&](std::string_view key) {
            return std::find(promote.begin(), promote.end(), key) == promote.end();
          },
          &scratch);
    }
    return rc;
  }

  ScopeContext MakeScopeContext(const pb_metrics::ScopeMetrics& sm) {
    ScopeContext sc;
    if (!options_.promote_scope_metadata || sm.scope().name().empty()) return sc;
    sc.labels = AttributeLabels(
        sm.scope().attributes(), "otel_scope_", [](std::string_view) { return false; }, &stats_);
    sc.labels.push_back({std::string(kScopeNameLabel), ToValidUtf8(sm.scope().name())});
    sc.labels.push_back({std::string(kScopeVersionLabel), ToValidUtf8(sm.scope().version())});
    sc.labels.push_back({std::string(kScopeSchemaUrlLabel), ToValidUtf8(sm.schema_url())});
    return sc;
  }

  // Data point attributes, then promoted resource attributes the point does not have, then
  // job/instance and the scope labels, which override attributes of the same name.
  query::Labels BaseLabels(const KeyValues& attrs, const ResourceContext& resource,
                           const ScopeContext& scope) {
    std::vector<query::Label> labels = AttributeLabels(
        attrs, "", [](std::string_view) { return false; }, &stats_);
    const size_t own = labels.size();
    for (const query::Label& p : resource.promoted) {
      auto end = labels.begin() + static_cast<std::ptrdiff_t>(own);
      auto it =
          std::lower_bound(labels.begin(), end, p.name,
                           [](const query::Label& l, const std::string& n) { return l.name < n; });
      if (it == end || it->name != p.name) labels.push_back(p);
    }
    if (!resource.job.empty()) labels.push_back({std::string(kJobLabel), resource.job});
    if (!resource.instance.empty()) {
      labels.push_back({std::string(kInstanceLabel), resource.instance});
    }
    labels.insert(labels.end(), scope.labels.begin(), scope.labels.end());
    return query::Labels(std::move(labels));  // later entries win, empty values vanish
  }

  void Reject(RejectReason reason, uint64_t points, const pb_metrics::Metric& metric,
              std::string_view detail) {
    if (points == 0) return;
    stats_.rejected[static_cast<size_t>(reason)] += points;
    if (stats_.first_rejection.empty()) {
      // The message goes to logs and responses: a huge name is cut.
      constexpr size_t kMaxName = 200;
      std::string_view name = metric.name();
      std::string shown = query::QuoteGo(name.substr(0, kMaxName));
      if (name.size() > kMaxName) shown += "...";
      stats_.first_rejection =
          absl::StrCat("resourceMetrics[", path_.resource, "].scopeMetrics[", path_.scope,
                       "].metrics[", path_.metric, "] ", shown, ": ", std::string(detail));
    }
  }

  void RejectPoint(RejectReason reason, const pb_metrics::Metric& metric, int point,
                   std::string_view detail) {
    Reject(reason, 1, metric, absl::StrCat("dataPoints[", point, "]: ", std::string(detail)));
  }

  // Checks the temporality of a sum or histogram; false (with all points rejected) when it
  // is not cumulative.
  bool CheckTemporality(pb_metrics::AggregationTemporality t, const pb_metrics::Metric& metric,
                        int points) {
    if (t == pb_metrics::AGGREGATION_TEMPORALITY_CUMULATIVE) return true;
    if (t == pb_metrics::AGGREGATION_TEMPORALITY_DELTA) {
      Reject(RejectReason::kDeltaTemporality, points, metric,
             "delta temporality is not supported (send cumulative)");
    } else {
      Reject(RejectReason::kUnspecifiedTemporality, points, metric,
             absl::StrCat("aggregation temporality ", static_cast<int>(t), " is not cumulative"));
    }
    return false;
  }

  void ConvertMetric(const pb_metrics::Metric& metric, ResourceContext& resource,
                     const ScopeContext& scope) {
    OtlpKind kind;
    MetricType type;
    int points = 0;
    // Sums and histograms carry a temporality; gauges and summaries do not.
    std::optional<pb_metrics::AggregationTemporality> temporality;
    switch (metric.data_case()) {
      case pb_metrics::Metric::kGauge:
        kind = OtlpKind::kGauge;
        type = MetricType::kGauge;
        points = metric.gauge().data_points_size();
        break;
      case pb_metrics::Metric::kSum:
        kind = metric.sum().is_monotonic() ? OtlpKind::kMonotonicSum : OtlpKind::kNonMonotonicSum;
        type = metric.sum().is_monotonic() ? MetricType::kCounter : MetricType::kGauge;
        points = metric.sum().data_points_size();
        temporality = metric.sum().aggregation_temporality();
        break;
      case pb_metrics::Metric::kHistogram:
        kind = OtlpKind::kHistogram;
        type = MetricType::kHistogram;
        points = metric.histogram().data_points_size();
        temporality = metric.histogram().aggregation_temporality();
        break;
      case pb_metrics::Metric::kExponentialHistogram:
        kind = OtlpKind::kExponentialHistogram;
        type = MetricType::kExponentialHistogram;
        points = metric.exponential_histogram().data_points_size();
        temporality = metric.exponential_histogram().aggregation_temporality();
        break;
      case pb_metrics::Metric::kSummary:
        kind = OtlpKind::kSummary;
        type = MetricType::kSummary;
        points = metric.summary().data_points_size();
        break;
      case pb_metrics::Metric::DATA_NOT_SET:
      default:
        ++stats_.data_points;
        Reject(RejectReason::kNoDataType, 1, metric, "metric has no data (no gauge, sum, ...)");
        return;
    }
    stats_.data_points += static_cast<uint64_t>(points);
    if (points == 0) return;
    const bool number = metric.data_case() == pb_metrics::Metric::kGauge ||
                        metric.data_case() == pb_metrics::Metric::kSum;
    const auto reject_all = [&] {
      if (trace_ && number) {
        trace_->number_points.insert(trace_->number_points.end(), static_cast<size_t>(points),
                                     ConversionTrace::kNone);
      }
    };
    if (temporality.has_value() && !CheckTemporality(*temporality, metric, points)) {
      reject_all();
      return;
    }

    std::string name = NormalizeMetricName(metric.name(), metric.unit(), kind);
    if (name.empty()) {
      Reject(RejectReason::kInvalidMetricName, points, metric,
             "the metric name has no character usable in a Prometheus name");
      reject_all();
      return;
    }

    size_t accepted = 0;
    switch (metric.data_case()) {
      case pb_metrics::Metric::kGauge:
        accepted = ConvertNumbers(metric, metric.gauge().data_points(), name, resource, scope);
        break;
      case pb_metrics::Metric::kSum:
        accepted = ConvertNumbers(metric, metric.sum().data_points(), name, resource, scope);
        break;
      case pb_metrics::Metric::kHistogram:
        accepted = ConvertHistograms(metric, name, resource, scope);
        break;
      case pb_metrics::Metric::kExponentialHistogram:
        accepted = ConvertExponentialHistograms(metric, name, resource, scope);
        break;
      case pb_metrics::Metric::kSummary:
        accepted = ConvertSummaries(metric, name, resource, scope);
        break;
      default:
        break;
    }
    if (accepted > 0 && !families_.contains(name)) {
      families_.emplace(name, MetricFamily{name, type, PrometheusUnit(metric.unit()),
                                           ToValidUtf8(metric.description())});
    }
  }

  uint32_t AddSample(query::Labels labels, int64_t t_ms, double value) {
    const uint32_t index = series_.Index(std::move(labels));
    series_.at(index).samples.push_back(query::SamplePoint{t_ms, value});
    return index;
  }

  static query::Labels WithName(const query::Labels& base, const std::string& name) {
    query::Labels l = base;
    l.Set(query::kMetricNameLabel, name);
    return l;
  }
  static query::Labels WithNameAnd(const query::Labels& base, const std::string& name,
                                   std::string_view label, std::string_view value) {
    query::Labels l = base;
    l.Set(query::kMetricNameLabel, name);
    l.Set(label, value);
    return l;
  }

  // Common checks of every data point; false when it was rejected.
  template <typename Point>
  bool CheckPoint(const pb_metrics::Metric& metric, const Point& p, int index) {
    if (p.time_unix_nano() == 0) {
      RejectPoint(RejectReason::kMissingTimestamp, metric, index, "timeUnixNano is 0");
      return false;
    }
    return true;
  }

  size_t ConvertNumbers(const pb_metrics::Metric& metric,
                        const google::protobuf::RepeatedPtrField<pb_metrics::NumberDataPoint>& pts,
                        const std::string& name, ResourceContext& resource,
                        const ScopeContext& scope) {
    size_t accepted = 0;
    for (int i = 0; i < pts.size(); ++i) {
      const pb_metrics::NumberDataPoint& p = pts[i];
      if (trace_) trace_->number_points.push_back(ConversionTrace::kNone);
      if (!CheckPoint(metric, p, i)) continue;
      double v;
      if (p.flags() & kNoRecordedValueFlag) {
        v = query::StaleNaN();
      } else if (p.value_case() == pb_metrics::NumberDataPoint::kAsInt) {
        v = static_cast<double>(p.as_int());
      } else if (p.value_case() == pb_metrics::NumberDataPoint::kAsDouble) {
        v = SampleValue(p.as_double());
      } else {
        RejectPoint(RejectReason::kMissingValue, metric, i, "neither asInt nor asDouble is set");
        continue;
      }
      const int64_t t = NanosToMillis(p.time_unix_nano());
      const uint32_t index =
          AddSample(WithName(BaseLabels(p.attributes(), resource, scope), name), t, v);
      if (trace_) trace_->number_points.back() = index;
      resource.sample_times.push_back(t);
      ++accepted;
    }
    return accepted;
  }

  size_t ConvertHistograms(const pb_metrics::Metric& metric, const std::string& name,
                           ResourceContext& resource, const ScopeContext& scope) {
    const auto& pts = metric.histogram().data_points();
    const std::string bucket_name = name + "_bucket";
    const std::string sum_name = name + "_sum";
    const std::string count_name = name + "_count";
    size_t accepted = 0;
    for (int i = 0; i < pts.size(); ++i) {
      const pb_metrics::HistogramDataPoint& p = pts[i];
      if (!CheckPoint(metric, p, i)) continue;
      const bool stale = p.flags() & kNoRecordedValueFlag;
      if (std::string problem = HistogramProblem(p, stale); !problem.empty()) {
        RejectPoint(RejectReason::kInvalidHistogram, metric, i, problem);
        continue;
      }
      auto value = [&](double v) { return stale ? query::StaleNaN() : SampleValue(v); };
      const int64_t t = NanosToMillis(p.time_unix_nano());
      const query::Labels base = BaseLabels(p.attributes(), resource, scope);
      if (p.has_sum()) AddSample(WithName(base, sum_name), t, value(p.sum()));
      AddSample(WithName(base, count_name), t, value(static_cast<double>(p.count())));
      if (p.bucket_counts_size() > 0) {
        uint64_t cumulative = 0;
        for (int b = 0; b < p.explicit_bounds_size(); ++b) {
          cumulative += p.bucket_counts(b);
          AddSample(WithNameAnd(base, bucket_name, query::kBucketLabel,
                                FormatLabelFloat(p.explicit_bounds(b))),
                    t, value(static_cast<double>(cumulative)));
        }
      }
      AddSample(WithNameAnd(base, bucket_name, query::kBucketLabel, "+Inf"), t,
                value(static_cast<double>(p.count())));
      resource.sample_times.push_back(t);
      ++accepted;
    }
    return accepted;
  }

  // "" when the histogram point can be converted, else what is wrong with it.
  static std::string HistogramProblem(const pb_metrics::HistogramDataPoint& p, bool stale) {
    for (int b = 0; b < p.explicit_bounds_size(); ++b) {
      const double bound = p.explicit_bounds(b);
      if (!std::isfinite(bound)) {
        return absl::StrCat("explicitBounds[", b, "] is ", FormatLabelFloat(bound),
                            " (bounds must be finite)");
      }
      if (b > 0 && !(bound > p.explicit_bounds(b - 1))) {
        return absl::StrCat("explicitBounds[", b, "] = ", FormatLabelFloat(bound),
                            " does not exceed the previous bound (bounds must increase)");
      }
    }
    if (stale || p.bucket_counts_size() == 0) return "";
    if (p.bucket_counts_size() != p.explicit_bounds_size() + 1) {
      return absl::StrCat(p.bucket_counts_size(), " bucketCounts for ", p.explicit_bounds_size(),
                          " explicitBounds (want one more count than bounds)");
    }
    uint64_t total = 0;
    for (uint64_t c : p.bucket_counts()) {
      if (__builtin_add_overflow(total, c, &total)) return "bucketCounts overflow 64 bits";
    }
    if (total != p.count()) {
      return absl::StrCat("bucketCounts add up to ", total, " but count is ", p.count());
    }
    return "";
  }

  static std::string ExponentialProblem(const pb_metrics::ExponentialHistogramDataPoint& p,
                                        bool stale) {
    if (p.scale() < kMinExponentialScale || p.scale() > kMaxExponentialScale) {
      return absl::StrCat("scale ", p.scale(), " is outside [", kMinExponentialScale, ", ",
                          kMaxExponentialScale, "]");
    }
    if (!(p.zero_threshold() >= 0) || std::isinf(p.zero_threshold())) {
      return absl::StrCat("zeroThreshold ", FormatLabelFloat(p.zero_threshold()),
                          " is not a finite non-negative number");
    }
    if (stale) return "";
    uint64_t total = p.zero_count();
    for (const auto* buckets : {&p.positive(), &p.negative()}) {
      for (uint64_t c : buckets->bucket_counts()) {
        if (__builtin_add_overflow(total, c, &total)) return "bucket counts overflow 64 bits";
      }
    }
    if (total != p.count()) {
      return absl::StrCat("zeroCount and bucket counts add up to ", total, " but count is ",
                          p.count());
    }
    return "";
  }

  size_t ConvertExponentialHistograms(const pb_metrics::Metric& metric, const std::string& name,
                                      ResourceContext& resource, const ScopeContext& scope) {
    const auto& pts = metric.exponential_histogram().data_points();
    const std::string bucket_name = name + "_bucket";
    const std::string sum_name = name + "_sum";
    const std::string count_name = name + "_count";
    size_t accepted = 0;
    for (int i = 0; i < pts.size(); ++i) {
      const pb_metrics::ExponentialHistogramDataPoint& p = pts[i];
      if (!CheckPoint(metric, p, i)) continue;
      const bool stale = p.flags() & kNoRecordedValueFlag;
      if (std::string problem = ExponentialProblem(p, stale); !problem.empty()) {
        RejectPoint(RejectReason::kInvalidExponentialHistogram, metric, i, problem);
        continue;
      }
      ExponentialHistogramPoint point;
      point.t_ms = NanosToMillis(p.time_unix_nano());
      point.start_t_ms = NanosToMillis(p.start_time_unix_nano());
      point.stale = stale;
      point.scale = p.scale();
      point.count = p.count();
      if (p.has_sum()) point.sum = p.sum();
      if (p.has_min()) point.min = p.min();
      if (p.has_max()) point.max = p.max();
      point.zero_threshold = p.zero_threshold();
      point.zero_count = p.zero_count();
      point.positive.offset = p.positive().offset();
      point.positive.counts.assign(p.positive().bucket_counts().begin(),
                                   p.positive().bucket_counts().end());
      point.negative.offset = p.negative().offset();
      point.negative.counts.assign(p.negative().bucket_counts().begin(),
                                   p.negative().bucket_counts().end());

      auto value = [&](double v) { return stale ? query::StaleNaN() : SampleValue(v); };
      const int64_t t = point.t_ms;
      const query::Labels base = BaseLabels(p.attributes(), resource, scope);
      if (p.has_sum()) AddSample(WithName(base, sum_name), t, value(p.sum()));
      AddSample(WithName(base, count_name), t, value(static_cast<double>(p.count())));
      for (const ClassicBucket& b : ToClassicBuckets(point, options_.classic_max_scale)) {
        AddSample(
            WithNameAnd(base, bucket_name, query::kBucketLabel, FormatLabelFloat(b.upper_bound)), t,
            value(static_cast<double>(b.cumulative_count)));
      }
      exponential_.Get(WithName(base, name)).points.push_back(std::move(point));
      resource.sample_times.push_back(t);
      ++accepted;
    }
    return accepted;
  }

  size_t ConvertSummaries(const pb_metrics::Metric& metric, const std::string& name,
                          ResourceContext& resource, const ScopeContext& scope) {
    const auto& pts = metric.summary().data_points();
    const std::string sum_name = name + "_sum";
    const std::string count_name = name + "_count";
    size_t accepted = 0;
    std::vector<std::string> quantiles;
    for (int i = 0; i < pts.size(); ++i) {
      const pb_metrics::SummaryDataPoint& p = pts[i];
      if (!CheckPoint(metric, p, i)) continue;
      quantiles.clear();
      std::string problem;
      for (int q = 0; q < p.quantile_values_size() && problem.empty(); ++q) {
        const double quantile = p.quantile_values(q).quantile();
        if (!(quantile >= 0 && quantile <= 1)) {
          problem = absl::StrCat("quantileValues[", q, "].quantile ", FormatLabelFloat(quantile),
                                 " is outside [0, 1]");
        } else {
          std::string text = FormatLabelFloat(quantile);
          if (std::find(quantiles.begin(), quantiles.end(), text) != quantiles.end()) {
            problem = absl::StrCat("quantile ", text, " appears twice");
          }
          quantiles.push_back(std::move(text));
        }
      }
      if (!problem.empty()) {
        RejectPoint(RejectReason::kInvalidSummary, metric, i, problem);
        continue;
      }
      const bool stale = p.flags() & kNoRecordedValueFlag;
      auto value = [&](double v) { return stale ? query::StaleNaN() : SampleValue(v); };
      const int64_t t = NanosToMillis(p.time_unix_nano());
      const query::Labels base = BaseLabels(p.attributes(), resource, scope);
      AddSample(WithName(base, sum_name), t, value(p.sum()));
      AddSample(WithName(base, count_name), t, value(static_cast<double>(p.count())));
      for (int q = 0; q < p.quantile_values_size(); ++q) {
        AddSample(WithNameAnd(base, name, kQuantileLabel, quantiles[static_cast<size_t>(q)]), t,
                  value(p.quantile_values(q).value()));
      }
      resource.sample_times.push_back(t);
      ++accepted;
    }
    return accepted;
  }

  // target_info{job, instance, <non-identifying resource attributes>} = 1 at the resource's
  // data point times, thinned to one per target_info_interval_ms, plus the latest.
  // Returns the index of the target_info series, ConversionTrace::kNone when there is none.
  uint32_t AddTargetInfo(const KeyValues& attrs, ResourceContext* resource) {
    if (resource->sample_times.empty()) return ConversionTrace::kNone;
    std::vector<query::Label> labels = AttributeLabels(attrs, "", IsIdentifyingAttribute, &stats_);
    if (labels.empty()) return ConversionTrace::kNone;  // job and instance alone say nothing new
    if (resource->job.empty() && resource->instance.empty()) {
      return ConversionTrace::kNone;  // nothing to join on
    }
    if (!resource->job.empty()) labels.push_back({std::string(kJobLabel), resource->job});
    if (!resource->instance.empty()) {
      labels.push_back({std::string(kInstanceLabel), resource->instance});
    }
    labels.push_back({std::string(query::kMetricNameLabel), std::string(kTargetInfoName)});
    query::Labels target(std::move(labels));

    std::vector<int64_t>& times = resource->sample_times;
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    const uint32_t index = series_.Index(std::move(target));
    Series& series = series_.at(index);
    int64_t last = 0;
    for (size_t i = 0; i < times.size(); ++i) {
      if (i == 0 || i + 1 == times.size() || times[i] - last >= options_.target_info_interval_ms) {
        // Equal samples from another resource with the same labels merge in Finish().
        series.samples.push_back(query::SamplePoint{times[i], 1.0});
        last = times[i];
      }
    }
    if (!families_.contains(std::string(kTargetInfoName))) {
      families_.emplace(kTargetInfoName, MetricFamily{std::string(kTargetInfoName),
                                                      MetricType::kGauge, "", "Target metadata"});
    }
    return index;
  }

  MetricsBatch Finish() {
    MetricsBatch out;
    // Series stay in order of first appearance: deterministic, and sorting by labels would
    // cost about a quarter of the conversion time for an order storage does not need.
    out.series = std::move(series_).Take();
    for (Series& s : out.series) SortAndDedup(&s.samples, &stats_.duplicate_samples);
    out.exponential_histograms = std::move(exponential_).Take();
    for (ExponentialHistogramSeries& s : out.exponential_histograms) {
      SortAndDedup(&s.points, &stats_.duplicate_samples);
    }
    out.families.reserve(families_.size());
    for (auto& [name, family] : families_) out.families.push_back(std::move(family));
    out.stats = std::move(stats_);
    return out;
  }

  const ConvertOptions& options_;
  ConversionTrace* const trace_;  // may be null
  Path path_;
  ConversionStats stats_;
  SeriesTable<Series> series_;
  SeriesTable<ExponentialHistogramSeries> exponential_;
  std::map<std::string, MetricFamily> families_;  // sorted by name
};

}  // namespace

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kDeltaTemporality:
      return "delta_temporality";
    case RejectReason::kUnspecifiedTemporality:
      return "unspecified_temporality";
    case RejectReason::kInvalidMetricName:
      return "invalid_metric_name";
    case RejectReason::kNoDataType:
      return "no_data_type";
    case RejectReason::kMissingTimestamp:
      return "missing_timestamp";
    case RejectReason::kMissingValue:
      return "missing_value";
    case RejectReason::kInvalidHistogram:
      return "invalid_histogram";
    case RejectReason::kInvalidExponentialHistogram:
      return "invalid_exponential_histogram";
    case RejectReason::kInvalidSummary:
      return "invalid_summary";
  }
  return "unknown";
}

std::string_view PrometheusTypeName(MetricType type) {
  switch (type) {
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kCounter:
      return "counter";
    case MetricType::kHistogram:
    case MetricType::kExponentialHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
  }
  return "unknown";
}

uint64_t ConversionStats::rejected_data_points() const {
  uint64_t n = 0;
  for (uint64_t r : rejected) n += r;
  return n;
}

size_t MetricsBatch::sample_count() const {
  size_t n = 0;
  for (const Series& s : series) n += s.samples.size();
  return n;
}

absl::Status ValidateOptions(const ConvertOptions& options) {
  if (options.classic_max_scale < kMinExponentialScale ||
      options.classic_max_scale > kMaxExponentialScale) {
    return absl::InvalidArgumentError(absl::StrCat("classic_max_scale ", options.classic_max_scale,
                                                   " is outside [", kMinExponentialScale, ", ",
                                                   kMaxExponentialScale, "]"));
  }
  if (options.target_info_interval_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target_info_interval_ms ", options.target_info_interval_ms, " must be positive"));
  }
  for (const std::string& key : options.promote_resource_attributes) {
    if (key.empty()) {
      return absl::InvalidArgumentError("promote_resource_attributes: empty attribute key");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<MetricsBatch> ConvertMetrics(const MetricsRequest& request,
                                            const ConvertOptions& options, ConversionTrace* trace) {
  if (absl::Status st = ValidateOptions(options); !st.ok()) return st;
  if (trace) *trace = ConversionTrace();
  return Converter(options, trace).Run(request);
}

MetricType MetricTypeOf(OtlpKind kind) {
  switch (kind) {
    case OtlpKind::kGauge:
    case OtlpKind::kNonMonotonicSum:
      return MetricType::kGauge;
    case OtlpKind::kMonotonicSum:
      return MetricType::kCounter;
    case OtlpKind::kHistogram:
      return MetricType::kHistogram;
    case OtlpKind::kExponentialHistogram:
      return MetricType::kExponentialHistogram;
    case OtlpKind::kSummary:
      return MetricType::kSummary;
  }
  return MetricType::kGauge;
}

absl::StatusOr<MetricsBatch> ConvertMetricsProtobuf(std::string_view request,
                                                    const ConvertOptions& options) {
  google::protobuf::Arena arena;
  auto* message = google::protobuf::Arena::CreateMessage<MetricsRequest>(&arena);
  if (request.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !message->ParseFromArray(request.data(), static_cast<int>(request.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics request of ", request.size(), " bytes does not parse as protobuf"));
  }
  return ConvertMetrics(*message, options);
}

}  // namespace observex::metrics
