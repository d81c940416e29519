// Request builders and result renderers for the metrics model tests.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "metrics/metrics_model.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "query/labels.h"

namespace observex::metrics::testing {

namespace pbc = opentelemetry::proto::common::v1;
namespace pbm = opentelemetry::proto::metrics::v1;
using KeyValues = google::protobuf::RepeatedPtrField<pbc::KeyValue>;
using Attrs = std::vector<std::pair<std::string, std::string>>;

// 2023-11-14T22:13:20Z in nanoseconds, and the same instant in milliseconds.
inline constexpr uint64_t kT0 = 1'700'000'000'000'000'000ULL;
inline constexpr int64_t kT0Ms = 1'700'000'000'000;
inline constexpr uint64_t kSecond = 1'000'000'000ULL;

inline void SetAttrs(KeyValues* kvs, const Attrs& attrs) {
  for (const auto& [k, v] : attrs) {
    pbc::KeyValue* kv = kvs->Add();
    kv->set_key(k);
    kv->mutable_value()->set_string_value(v);
  }
}

// A request with one resource and one scope; Metric() adds to that scope.
class RequestBuilder {
 public:
  RequestBuilder() : RequestBuilder({{"service.name", "checkout"}}) {}
  // An initializer list (not Attrs) so that `RequestBuilder b({{"k", "v"}})` is unambiguous.
  explicit RequestBuilder(std::initializer_list<std::pair<std::string, std::string>> resource,
                          std::string scope_name = "", std::string scope_version = "") {
    pbm::ResourceMetrics* rm = request_.add_resource_metrics();
    SetAttrs(rm->mutable_resource()->mutable_attributes(), Attrs(resource));
    scope_ = rm->add_scope_metrics();
    scope_->mutable_scope()->set_name(std::move(scope_name));
    scope_->mutable_scope()->set_version(std::move(scope_version));
  }

  pbm::ScopeMetrics* scope() { return scope_; }
  MetricsRequest& request() { return request_; }

  pbm::Metric* Metric(std::string name, std::string unit = "") {
    pbm::Metric* m = scope_->add_metrics();
    m->set_name(std::move(name));
    m->set_unit(std::move(unit));
    return m;
  }

  pbm::NumberDataPoint* Gauge(std::string name, double value, const Attrs& attrs = {},
                              uint64_t t = kT0, std::string unit = "") {
    pbm::NumberDataPoint* p =
        Metric(std::move(name), std::move(unit))->mutable_gauge()->add_data_points();
    p->set_time_unix_nano(t);
    p->set_as_double(value);
    SetAttrs(p->mutable_attributes(), attrs);
    return p;
  }

  pbm::NumberDataPoint* Sum(std::string name, double value, bool monotonic,
                            pbm::AggregationTemporality temporality, const Attrs& attrs = {},
                            std::string unit = "") {
    pbm::Metric* m = Metric(std::move(name), std::move(unit));
    m->mutable_sum()->set_is_monotonic(monotonic);
    m->mutable_sum()->set_aggregation_temporality(temporality);
    pbm::NumberDataPoint* p = m->mutable_sum()->add_data_points();
    p->set_time_unix_nano(kT0);
    p->set_start_time_unix_nano(kT0 - 60 * kSecond);
    p->set_as_double(value);
    SetAttrs(p->mutable_attributes(), attrs);
    return p;
  }

  pbm::HistogramDataPoint* Histogram(std::string name, std::vector<double> bounds,
                                     std::vector<uint64_t> counts, const Attrs& attrs = {},
                                     std::string unit = "") {
    pbm::Metric* m = Metric(std::move(name), std::move(unit));
    m->mutable_histogram()->set_aggregation_temporality(pbm::AGGREGATION_TEMPORALITY_CUMULATIVE);
    pbm::HistogramDataPoint* p = m->mutable_histogram()->add_data_points();
    p->set_time_unix_nano(kT0);
    uint64_t count = 0;
    for (uint64_t c : counts) {
      p->add_bucket_counts(c);
      count += c;
    }
    for (double b : bounds) p->add_explicit_bounds(b);
    p->set_count(count);
    SetAttrs(p->mutable_attributes(), attrs);
    return p;
  }

  pbm::ExponentialHistogramDataPoint* Exponential(std::string name, int32_t scale,
                                                  uint64_t zero_count, int32_t offset,
                                                  std::vector<uint64_t> counts,
                                                  const Attrs& attrs = {}, std::string unit = "") {
    pbm::Metric* m = Metric(std::move(name), std::move(unit));
    m->mutable_exponential_histogram()->set_aggregation_temporality(
        pbm::AGGREGATION_TEMPORALITY_CUMULATIVE);
    pbm::ExponentialHistogramDataPoint* p = m->mutable_exponential_histogram()->add_data_points();
    p->set_time_unix_nano(kT0);
    p->set_scale(scale);
    p->set_zero_count(zero_count);
    uint64_t count = zero_count;
    p->mutable_positive()->set_offset(offset);
    for (uint64_t c : counts) {
      p->mutable_positive()->add_bucket_counts(c);
      count += c;
    }
    p->set_count(count);
    SetAttrs(p->mutable_attributes(), attrs);
    return p;
  }

  pbm::SummaryDataPoint* Summary(std::string name, double sum, uint64_t count,
                                 std::vector<std::pair<double, double>> quantiles,
                                 const Attrs& attrs = {}) {
    pbm::SummaryDataPoint* p = Metric(std::move(name))->mutable_summary()->add_data_points();
    p->set_time_unix_nano(kT0);
    p->set_sum(sum);
    p->set_count(count);
    for (auto [q, v] : quantiles) {
      auto* qv = p->add_quantile_values();
      qv->set_quantile(q);
      qv->set_value(v);
    }
    SetAttrs(p->mutable_attributes(), attrs);
    return p;
  }

 private:
  MetricsRequest request_;
  pbm::ScopeMetrics* scope_;
};

inline std::string ValueText(double v) {
  if (std::bit_cast<uint64_t>(v) == query::kStaleNaNBits) return "stale";
  if (std::isnan(v)) return "NaN";
  std::string s = std::to_string(v);
  // Trim "2.500000" to "2.5" and "3.000000" to "3" for readable expectations.
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// One line per sample: `{labels} @t_ms value`, series in batch order.
inline std::vector<std::string> Render(const MetricsBatch& batch) {
  std::vector<std::string> out;
  for (const Series& s : batch.series) {
    for (const query::SamplePoint& p : s.samples) {
      out.push_back(s.labels.String() + " @" + std::to_string(p.t_ms) + " " + ValueText(p.value));
    }
  }
  return out;
}

inline MetricsBatch ConvertOrDie(const MetricsRequest& request,
                                 const ConvertOptions& options = {}) {
  absl::StatusOr<MetricsBatch> b = ConvertMetrics(request, options);
  if (!b.ok()) {
    ADD_FAILURE() << b.status();
    return MetricsBatch{};
  }
  auto by_labels = [](const auto& x, const auto& y) {
    return query::CompareLabels(x.labels, y.labels) < 0;
  };
  std::sort(b->series.begin(), b->series.end(), by_labels);
  std::sort(b->exponential_histograms.begin(), b->exponential_histograms.end(), by_labels);
  return std::move(*b);
}

}  // namespace observex::metrics::testing
