// The official OTLP/JSON metrics example (read from the shared conformance folder) through
// otlp::Decode and the metrics model, with every expected series; then the converted series
// queried with PromQL.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "builders.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metrics_model.h"
#include "otlp/otlp.h"
#include "query/memory_series_source.h"
#include "query/promql/engine.h"

namespace observex::metrics {
namespace {

using namespace observex::metrics::testing;
using ::testing::ElementsAre;

const std::string kFile = std::string(OBX_CONFORMANCE_DIR) + "/otlp/metrics.json";

class MetricsConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kFile)) {
      GTEST_SKIP() << "OTLP conformance example not found at " << kFile
                   << " (the shared conformance folder is absent)";
    }
    std::ifstream in(kFile, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    body_ = ss.str();
    absl::StatusOr<otlp::DecodedRequest> d =
        otlp::Decode(SignalType::kMetrics, otlp::Encoding::kJson, body_, otlp::Limits{});
    ASSERT_TRUE(d.ok()) << d.status();
    decoded_ = std::move(*d);
  }

  MetricsRequest& request() { return static_cast<MetricsRequest&>(*decoded_.message); }

  // The example's sum and histograms are delta; switching them to cumulative exercises every
  // conversion with the example's own values.
  void MakeCumulative() {
    for (auto& rm : *request().mutable_resource_metrics()) {
      for (auto& sm : *rm.mutable_scope_metrics()) {
        for (auto& m : *sm.mutable_metrics()) {
          const auto c = pbm::AGGREGATION_TEMPORALITY_CUMULATIVE;
          if (m.has_sum()) m.mutable_sum()->set_aggregation_temporality(c);
          if (m.has_histogram()) m.mutable_histogram()->set_aggregation_temporality(c);
          if (m.has_exponential_histogram()) {
            m.mutable_exponential_histogram()->set_aggregation_temporality(c);
          }
        }
      }
    }
  }

  std::string body_;
  otlp::DecodedRequest decoded_;
};

// `{__name__="<name>", job="my.service", [le="<le>", ]<attr>="some value", <scope labels>}`:
// the example's labels, in sorted order.
std::string Line(const std::string& name, const std::string& attr, const std::string& value,
                 const std::string& le = "") {
  std::string out = R"({__name__=")" + name + R"(", job="my.service", )";
  if (!le.empty()) out += R"(le=")" + le + R"(", )";
  out += attr + R"(="some value", otel_scope_my_scope_attribute="some scope attribute", )";
  out += R"(otel_scope_name="my.library", otel_scope_version="1.0.0"} @1544712660300 )";
  return out + value;
}

TEST_F(MetricsConformance, AsSentOnlyTheGaugeIsCumulative) {
  MetricsBatch batch = ConvertOrDie(request());
  EXPECT_THAT(Render(batch), ElementsAre(Line("my_gauge_ratio", "my_gauge_attr", "10")));
  EXPECT_EQ(batch.stats.data_points, 4u);
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kDeltaTemporality), 3u);
  EXPECT_EQ(
      batch.stats.first_rejection,
      R"(resourceMetrics[0].scopeMetrics[0].metrics[0] "my.counter": delta temporality is not supported (send cumulative))");
}

TEST_F(MetricsConformance, EveryKindWhenCumulative) {
  MakeCumulative();
  MetricsBatch batch = ConvertOrDie(request());
  const std::string e = "my_exponential_histogram";
  const std::string ea = "my_exponential_histogram_attr";
  EXPECT_THAT(Render(batch),
              ElementsAre(Line("my_counter_total", "my_counter_attr", "5"),
                          Line(e + "_bucket", ea, "3", "+Inf"), Line(e + "_bucket", ea, "1", "0"),
                          Line(e + "_bucket", ea, "1", "4"), Line(e + "_bucket", ea, "3", "8"),
                          Line(e + "_count", ea, "3"), Line(e + "_sum", ea, "10"),
                          Line("my_gauge_ratio", "my_gauge_attr", "10"),
                          Line("my_histogram_bucket", "my_histogram_attr", "2", "+Inf"),
                          Line("my_histogram_bucket", "my_histogram_attr", "1", "1"),
                          Line("my_histogram_count", "my_histogram_attr", "2"),
                          Line("my_histogram_sum", "my_histogram_attr", "2")));
  EXPECT_EQ(batch.stats.rejected_data_points(), 0u);
  // Only service.name on the resource: no target_info.
  EXPECT_EQ(batch.series.size(), 12u);

  ASSERT_EQ(batch.exponential_histograms.size(), 1u);
  std::string stored = Line(e, ea, "");
  stored.resize(stored.find(" @"));
  EXPECT_EQ(batch.exponential_histograms[0].labels.String(), stored);
  const ExponentialHistogramPoint& p = batch.exponential_histograms[0].points[0];
  EXPECT_EQ(p.t_ms, 1544712660300);
  EXPECT_EQ(p.start_t_ms, 1544712660300);
  EXPECT_EQ(p.scale, 0);
  EXPECT_EQ(p.count, 3u);
  EXPECT_EQ(p.sum, 10.0);
  EXPECT_EQ(p.zero_count, 1u);
  EXPECT_EQ(p.zero_threshold, 0.0);
  EXPECT_EQ(p.positive, (ExponentialBuckets{1, {0, 2}}));
  EXPECT_TRUE(p.negative.counts.empty());
  EXPECT_EQ(p.min, 0.0);
  EXPECT_EQ(p.max, 5.0);

  ASSERT_EQ(batch.families.size(), 4u);
  EXPECT_EQ(batch.families[0].name, "my_counter_total");
  EXPECT_EQ(batch.families[0].help, "I am a Counter");
  EXPECT_EQ(batch.families[1].name, "my_exponential_histogram");
  EXPECT_EQ(batch.families[2].name, "my_gauge_ratio");
  EXPECT_EQ(batch.families[3].name, "my_histogram");
}

TEST_F(MetricsConformance, ConvertedSeriesAnswerPromQL) {
  MakeCumulative();
  MetricsBatch batch = ConvertOrDie(request());
  query::InMemorySeriesSource source;
  for (const Series& s : batch.series) {
    for (const query::SamplePoint& p : s.samples) {
      ASSERT_TRUE(source.Add(s.labels, p.t_ms, p.value).ok());
    }
  }
  query::promql::Engine engine;
  auto scalar = [&](std::string_view q) {
    absl::StatusOr<query::promql::QueryResult> r =
        engine.InstantQuery(source, q, 1544712660300 + 1000);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status();
    if (!r.ok() || r->series.size() != 1) {
      ADD_FAILURE() << q << " did not return one series";
      return -1.0;
    }
    return r->series[0].points[0].value;
  };
  // One of two observations is <= 1.
  EXPECT_DOUBLE_EQ(scalar("histogram_quantile(0.5, my_histogram_bucket)"), 1.0);
  // Exponential: zero bucket 1, (4, 8] holds 2 -> the median lies in (4, 8].
  EXPECT_DOUBLE_EQ(scalar("histogram_quantile(0.5, my_exponential_histogram_bucket)"), 5.0);
  EXPECT_DOUBLE_EQ(scalar(R"(my_counter_total{job="my.service"})"), 5.0);
  EXPECT_DOUBLE_EQ(
      scalar("sum(my_exponential_histogram_sum) / sum(my_exponential_histogram_count)"), 10.0 / 3);
}

}  // namespace
}  // namespace observex::metrics
