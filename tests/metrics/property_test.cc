// Random OTLP metrics (awkward names, units, keys and values; every metric kind; invalid
// points; repeated timestamps) never produce an invalid label name or value, an unsorted or
// duplicated series, or unordered samples, and conversion is deterministic.
#include <array>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "builders.h"
#include "gtest/gtest.h"
#include "metrics/fingerprint.h"
#include "metrics/metrics_model.h"

namespace observex::metrics {
namespace {

using namespace observex::metrics::testing;

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  MetricsRequest Request() {
    MetricsRequest r;
    for (int i = Int(1, 3); i > 0; --i) {
      pbm::ResourceMetrics* rm = r.add_resource_metrics();
      Attributes(rm->mutable_resource()->mutable_attributes(), true);
      for (int j = Int(1, 2); j > 0; --j) {
        pbm::ScopeMetrics* sm = rm->add_scope_metrics();
        if (Chance(0.7)) sm->mutable_scope()->set_name(Pick(kStrings));
        if (Chance(0.5)) sm->mutable_scope()->set_version(Pick(kStrings));
        if (Chance(0.3)) sm->set_schema_url(Pick(kStrings));
        Attributes(sm->mutable_scope()->mutable_attributes(), false);
        for (int k = Int(1, 5); k > 0; --k) Metric(sm->add_metrics());
      }
    }
    return r;
  }

 private:
  static constexpr const char* kNames[] = {"http.server.duration",
                                           "a.b",
                                           "a_b",
                                           "",
                                           "...",
                                           "日本",
                                           "requêsts",
                                           "1abc",
                                           "__x__",
                                           "total",
                                           "x.total",
                                           "\xff",
                                           "ratio",
                                           "le",
                                           "a b",
                                           "z",
                                           "cpu_seconds_total"};
  static constexpr const char* kUnits[] = {"",     "1",         "s",       "ms", "By",
                                           "By/s", "{req}",     "{req}/s", "/",  "%",
                                           "m/s",  "\xff/\xfe", "a b/c d"};
  static constexpr const char* kKeys[] = {"",
                                          "a.b",
                                          "a_b",
                                          "a-b",
                                          "le",
                                          "quantile",
                                          "job",
                                          "instance",
                                          "__name__",
                                          "__x",
                                          "_y",
                                          "1d",
                                          "ü",
                                          "otel_scope_name",
                                          "service.name",
                                          "service.namespace",
                                          "service.instance.id",
                                          "k",
                                          "\xff",
                                          "host.name"};
  static constexpr const char* kStrings[] = {"",  "v",     "ü",   "\xff\xfe", "a;b",
                                             "w", "\"q\"", "lib", "1.0"};

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <size_t N>
  const char* Pick(const char* const (&arr)[N]) {
    return arr[static_cast<size_t>(Int(0, static_cast<int>(N) - 1))];
  }

  double Double() {
    switch (Int(0, 6)) {
      case 0:
        return std::nan("");
      case 1:
        return std::numeric_limits<double>::infinity();
      case 2:
        return -1.5;
      case 3:
        return 0;
      default:
        return Int(0, 1000) / 8.0;
    }
  }

  void Value(pbc::AnyValue* v, int depth) {
    switch (Int(0, depth > 1 ? 5 : 7)) {
      case 0:
        break;  // empty
      case 1:
        v->set_int_value(Int(-5, 5));
        break;
      case 2:
        v->set_bool_value(Chance(0.5));
        break;
      case 3:
        v->set_double_value(Double());
        break;
      case 4:
        v->set_bytes_value(std::string("\x00\xff", 2));
        break;
      case 5:
        v->set_string_value(Pick(kStrings));
        break;
      case 6:
        for (int i = Int(0, 2); i > 0; --i)
          Value(v->mutable_array_value()->add_values(), depth + 1);
        break;
      default:
        for (int i = Int(0, 2); i > 0; --i) {
          pbc::KeyValue* kv = v->mutable_kvlist_value()->add_values();
          kv->set_key(Pick(kKeys));
          Value(kv->mutable_value(), depth + 1);
        }
    }
  }

  void Attributes(KeyValues* kvs, bool resource) {
    for (int i = Int(0, resource ? 5 : 3); i > 0; --i) {
      pbc::KeyValue* kv = kvs->Add();
      kv->set_key(Pick(kKeys));
      Value(kv->mutable_value(), 0);
    }
  }

  uint64_t Time() {
    const uint64_t times[] = {0, kT0, kT0 + kSecond, kT0 + 1'000'000, kT0 + 900 * kSecond};
    return times[Int(0, 4)] + (Chance(0.1) ? 1 : 0);  // sub-millisecond differences collide
  }

  pbm::AggregationTemporality Temporality() {
    return Chance(0.8) ? pbm::AGGREGATION_TEMPORALITY_CUMULATIVE
                       : static_cast<pbm::AggregationTemporality>(Int(0, 2));
  }

  template <typename P>
  void Common(P* p) {
    p->set_time_unix_nano(Time());
    if (Chance(0.5)) p->set_start_time_unix_nano(kT0 - kSecond);
    if (Chance(0.1)) p->set_flags(1);
    Attributes(p->mutable_attributes(), false);
  }

  void Number(pbm::NumberDataPoint* p) {
    Common(p);
    if (Chance(0.5)) {
      p->set_as_double(Double());
    } else if (Chance(0.9)) {
      p->set_as_int(Int(-100, 100));
    }
  }

  void Metric(pbm::Metric* m) {
    m->set_name(Pick(kNames));
    m->set_unit(Pick(kUnits));
    m->set_description(Pick(kStrings));
    const int points = Int(0, 4);
    switch (Int(0, 5)) {
      case 0:
        for (int i = 0; i < points; ++i) Number(m->mutable_gauge()->add_data_points());
        break;
      case 1:
        m->mutable_sum()->set_is_monotonic(Chance(0.5));
        m->mutable_sum()->set_aggregation_temporality(Temporality());
        for (int i = 0; i < points; ++i) Number(m->mutable_sum()->add_data_points());
        break;
      case 2:
        m->mutable_histogram()->set_aggregation_temporality(Temporality());
        for (int i = 0; i < points; ++i) {
          pbm::HistogramDataPoint* p = m->mutable_histogram()->add_data_points();
          Common(p);
          double bound = Int(-3, 3);
          const int n = Int(0, 5);
          uint64_t count = 0;
          for (int b = 0; b < n; ++b) {
            p->add_explicit_bounds(Chance(0.05) ? Double() : bound);
            bound += Int(0, 4) / 2.0;  // sometimes repeated
          }
          if (Chance(0.8)) {
            for (int b = 0; b <= n; ++b) {
              p->add_bucket_counts(static_cast<uint64_t>(Int(0, 3)));
              count += p->bucket_counts(b);
            }
          }
          p->set_count(Chance(0.9) ? count : count + 1);
          if (Chance(0.7)) p->set_sum(Double());
        }
        break;
      case 3:
        m->mutable_exponential_histogram()->set_aggregation_temporality(Temporality());
        for (int i = 0; i < points; ++i) {
          pbm::ExponentialHistogramDataPoint* p =
              m->mutable_exponential_histogram()->add_data_points();
          Common(p);
          p->set_scale(Int(-12, 22));
          p->set_zero_count(static_cast<uint64_t>(Int(0, 2)));
          if (Chance(0.3)) p->set_zero_threshold(Chance(0.1) ? -1 : Int(0, 4) / 4.0);
          uint64_t count = p->zero_count();
          for (auto* b : {p->mutable_positive(), p->mutable_negative()}) {
            b->set_offset(Int(-50, 50));
            for (int n = Int(0, 6); n > 0; --n) {
              b->add_bucket_counts(static_cast<uint64_t>(Int(0, 3)));
              count += b->bucket_counts(b->bucket_counts_size() - 1);
            }
          }
          p->set_count(Chance(0.9) ? count : count + 2);
          if (Chance(0.7)) p->set_sum(Double());
        }
        break;
      case 4:
        for (int i = 0; i < points; ++i) {
          pbm::SummaryDataPoint* p = m->mutable_summary()->add_data_points();
          Common(p);
          p->set_sum(Double());
          p->set_count(static_cast<uint64_t>(Int(0, 9)));
          for (int q = Int(0, 3); q > 0; --q) {
            auto* qv = p->add_quantile_values();
            qv->set_quantile(Chance(0.1) ? Double() : Int(0, 4) / 4.0);
            qv->set_value(Double());
          }
        }
        break;
      default:
        break;  // no data
    }
  }

  std::mt19937_64 rng_;
};

bool IsMetricName(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == ':')) {
      return false;
    }
  }
  return true;
}

template <typename S>
void CheckSeries(const std::vector<S>& series, const std::string& ctx) {
  std::set<std::string> keys;
  for (size_t i = 0; i < series.size(); ++i) {
    const S& s = series[i];
    EXPECT_TRUE(keys.insert(s.labels.Key()).second) << ctx << " duplicate " << s.labels.String();
    ASSERT_FALSE(s.labels.empty()) << ctx;
    EXPECT_EQ(s.fingerprint, Fingerprint(s.labels)) << ctx;
    EXPECT_TRUE(IsMetricName(s.labels.Get("__name__"))) << ctx << " " << s.labels.String();
    for (const query::Label& l : s.labels.items()) {
      EXPECT_TRUE(query::IsLegacyLabelName(l.name)) << ctx << " " << s.labels.String();
      EXPECT_FALSE(l.value.empty()) << ctx;
      EXPECT_TRUE(query::IsValidUtf8(l.value)) << ctx << " " << s.labels.String();
      if (l.name.starts_with("__")) {
        EXPECT_EQ(l.name, "__name__") << ctx;
      }
    }
  }
}

TEST(MetricsProperty, RandomRequestsGiveValidUniqueSeries) {
  // Totals over all seeds, to show the generator reaches every path.
  size_t series = 0, exponential = 0, collisions = 0, dropped = 0, duplicates = 0;
  std::array<uint64_t, kRejectReasonCount> rejected{};
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    const std::string ctx = "seed " + std::to_string(seed);
    MetricsRequest request = Generator(seed).Request();
    ConvertOptions options;
    options.promote_resource_attributes = {"host.name", "a.b", "a_b", "\xff"};
    options.classic_max_scale = static_cast<int32_t>(seed % 7) - 2;
    absl::StatusOr<MetricsBatch> batch = ConvertMetrics(request, options);
    ASSERT_TRUE(batch.ok()) << ctx << ": " << batch.status();

    CheckSeries(batch->series, ctx);
    CheckSeries(batch->exponential_histograms, ctx);
    for (const Series& s : batch->series) {
      ASSERT_FALSE(s.samples.empty()) << ctx;
      for (size_t i = 1; i < s.samples.size(); ++i) {
        EXPECT_LT(s.samples[i - 1].t_ms, s.samples[i].t_ms) << ctx;
      }
      const std::string_view le = s.labels.Get("le");
      if (s.labels.Get("__name__").ends_with("_bucket") && !le.empty() && le != "+Inf") {
        // Every bucket bound the model writes reads back as a finite number.
        EXPECT_TRUE(std::isfinite(std::strtod(std::string(le).c_str(), nullptr)))
            << ctx << " " << le;
      }
    }
    for (const ExponentialHistogramSeries& s : batch->exponential_histograms) {
      for (size_t i = 1; i < s.points.size(); ++i) {
        EXPECT_LT(s.points[i - 1].t_ms, s.points[i].t_ms) << ctx;
      }
    }
    for (size_t i = 1; i < batch->families.size(); ++i) {
      EXPECT_LT(batch->families[i - 1].name, batch->families[i].name) << ctx;
    }
    const ConversionStats& st = batch->stats;
    EXPECT_LE(st.rejected_data_points(), st.data_points) << ctx;
    EXPECT_EQ(st.rejected_data_points() > 0, !st.first_rejection.empty()) << ctx;

    series += batch->series.size();
    exponential += batch->exponential_histograms.size();
    collisions += st.label_collisions;
    dropped += st.dropped_attributes;
    duplicates += st.duplicate_samples;
    for (size_t r = 0; r < kRejectReasonCount; ++r) rejected[r] += st.rejected[r];

    // Deterministic: the same request converts to the same batch.
    absl::StatusOr<MetricsBatch> again = ConvertMetrics(request, options);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(Render(*again), Render(*batch)) << ctx;
  }
  EXPECT_GT(series, 3000u);
  EXPECT_GT(exponential, 50u);
  EXPECT_GT(collisions, 0u);
  EXPECT_GT(dropped, 0u);
  EXPECT_GT(duplicates, 0u);
  for (size_t r = 0; r < kRejectReasonCount; ++r) {
    EXPECT_GT(rejected[r], 0u) << RejectReasonName(static_cast<RejectReason>(r));
  }
}

}  // namespace
}  // namespace observex::metrics
