// Each conversion rule with the exact label sets and values it must produce, and the
// rejections (with their counted reasons) for what cannot be represented.
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "builders.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/fingerprint.h"
#include "metrics/metrics_model.h"

namespace observex::metrics {
namespace {

using namespace observex::metrics::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kT = std::to_string(kT0Ms);

TEST(Convert, GaugeWithJobInstanceAndSanitisedAttributes) {
  RequestBuilder b({{"service.namespace", "shop"},
                    {"service.name", "checkout"},
                    {"service.instance.id", "pod-1"}});
  b.Gauge("queue.depth", 3, {{"http.method", "GET"}, {"123", "x"}, {"_p", "y"}}, kT0, "{item}");
  pbm::NumberDataPoint* p = b.Gauge("temperature", 0, {{"room", "a"}}, kT0 + kSecond, "Cel");
  p->set_as_int(-4);
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(
      Render(batch),
      ElementsAre(
          R"({__name__="queue_depth", http_method="GET", instance="pod-1", job="shop/checkout", key_123="x", key_p="y"} @)" +
              kT + " 3",
          R"({__name__="temperature_celsius", instance="pod-1", job="shop/checkout", room="a"} @)" +
              std::to_string(kT0Ms + 1000) + " -4"));
  EXPECT_EQ(batch.stats.data_points, 2u);
  EXPECT_EQ(batch.stats.rejected_data_points(), 0u);
  EXPECT_EQ(batch.stats.first_rejection, "");
}

TEST(Convert, JobFromServiceNameAloneAndNoJobWithoutIt) {
  RequestBuilder a({{"service.name", "api"}});
  a.Gauge("g", 1);
  EXPECT_THAT(Render(ConvertOrDie(a.request())),
              ElementsAre(R"({__name__="g", job="api"} @)" + kT + " 1"));

  RequestBuilder b({{"service.instance.id", "i-1"}, {"service.namespace", "ignored-alone"}});
  b.Gauge("g", 1);
  EXPECT_THAT(Render(ConvertOrDie(b.request())),
              ElementsAre(R"({__name__="g", instance="i-1"} @)" + kT + " 1"));
}

TEST(Convert, ResourceJobAndInstanceOverrideDataPointAttributes) {
  RequestBuilder b({{"service.name", "api"}});
  b.Gauge("g", 1, {{"job", "mine"}, {"instance", "kept"}});
  EXPECT_THAT(Render(ConvertOrDie(b.request())),
              ElementsAre(R"({__name__="g", instance="kept", job="api"} @)" + kT + " 1"));
}

TEST(Convert, MonotonicCumulativeSumIsACounter) {
  RequestBuilder b({{"service.name", "api"}});
  b.Sum("http.server.requests", 42, true, pbm::AGGREGATION_TEMPORALITY_CUMULATIVE,
        {{"code", "200"}}, "{request}");
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(Render(batch),
              ElementsAre(R"({__name__="http_server_requests_total", code="200", job="api"} @)" +
                          kT + " 42"));
  ASSERT_EQ(batch.families.size(), 1u);
  EXPECT_EQ(batch.families[0].name, "http_server_requests_total");
  EXPECT_EQ(batch.families[0].type, MetricType::kCounter);
  EXPECT_EQ(PrometheusTypeName(batch.families[0].type), "counter");
}

TEST(Convert, NonMonotonicSumIsAGauge) {
  RequestBuilder b({{"service.name", "api"}});
  b.Sum("db.connections", 7, false, pbm::AGGREGATION_TEMPORALITY_CUMULATIVE, {}, "{connection}");
  b.Sum("pool.usage", 0.5, false, pbm::AGGREGATION_TEMPORALITY_CUMULATIVE, {}, "1");
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(Render(batch), ElementsAre(R"({__name__="db_connections", job="api"} @)" + kT + " 7",
                                         R"({__name__="pool_usage", job="api"} @)" + kT + " 0.5"));
  ASSERT_EQ(batch.families.size(), 2u);
  EXPECT_EQ(batch.families[0].type, MetricType::kGauge);
  EXPECT_EQ(batch.families[1].type, MetricType::kGauge);
}

TEST(Convert, DeltaAndUnspecifiedTemporalityAreRejectedAndCounted) {
  RequestBuilder b({{"service.name", "api"}});
  pbm::NumberDataPoint* p = b.Sum("requests", 1, true, pbm::AGGREGATION_TEMPORALITY_DELTA);
  *b.scope()->mutable_metrics(0)->mutable_sum()->add_data_points() = *p;  // two points
  b.Sum("inflight", 1, false, pbm::AGGREGATION_TEMPORALITY_DELTA);
  b.Histogram("latency", {1}, {1, 1});
  b.scope()->mutable_metrics(2)->mutable_histogram()->set_aggregation_temporality(
      pbm::AGGREGATION_TEMPORALITY_DELTA);
  b.Exponential("sizes", 0, 0, 0, {1});
  b.scope()->mutable_metrics(3)->mutable_exponential_histogram()->set_aggregation_temporality(
      pbm::AGGREGATION_TEMPORALITY_DELTA);
  b.Sum("odd", 1, true, pbm::AGGREGATION_TEMPORALITY_UNSPECIFIED);
  b.Gauge("ok", 1);
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(Render(batch), ElementsAre(R"({__name__="ok", job="api"} @)" + kT + " 1"));
  EXPECT_TRUE(batch.exponential_histograms.empty());
  EXPECT_EQ(batch.stats.data_points, 7u);
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kDeltaTemporality), 5u);
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kUnspecifiedTemporality), 1u);
  EXPECT_EQ(batch.stats.rejected_data_points(), 6u);
  EXPECT_EQ(
      batch.stats.first_rejection,
      R"(resourceMetrics[0].scopeMetrics[0].metrics[0] "requests": delta temporality is not supported (send cumulative))");
  EXPECT_EQ(RejectReasonName(RejectReason::kDeltaTemporality), "delta_temporality");
  ASSERT_EQ(batch.families.size(), 1u);  // rejected metrics have no family
}

TEST(Convert, NoRecordedValueIsTheStalenessMarker) {
  RequestBuilder b;
  b.Gauge("g", 5)->set_flags(1);
  b.Gauge("nan", std::nan(""));
  b.Gauge("forged", std::bit_cast<double>(query::kStaleNaNBits));
  MetricsBatch batch = ConvertOrDie(b.request());
  ASSERT_EQ(batch.series.size(), 3u);
  EXPECT_EQ(batch.series[0].labels.Get("__name__"), "forged");
  EXPECT_EQ(batch.series[1].labels.Get("__name__"), "g");
  EXPECT_EQ(batch.series[2].labels.Get("__name__"), "nan");
  EXPECT_EQ(std::bit_cast<uint64_t>(batch.series[1].samples[0].value), 0x7ff0000000000002ULL);
  // Only the flag makes a staleness marker: NaN values from the sender stay ordinary NaNs.
  EXPECT_TRUE(std::isnan(batch.series[0].samples[0].value));
  EXPECT_FALSE(query::IsStaleNaN(batch.series[0].samples[0].value));
  EXPECT_TRUE(std::isnan(batch.series[2].samples[0].value));
  EXPECT_FALSE(query::IsStaleNaN(batch.series[2].samples[0].value));
}

TEST(Convert, HistogramBucketsSumAndCount) {
  RequestBuilder b({{"service.name", "api"}});
  pbm::HistogramDataPoint* p =
      b.Histogram("http.server.duration", {0.005, 0.1, 1}, {2, 3, 0, 1}, {{"route", "/a"}}, "s");
  p->set_sum(1.75);
  MetricsBatch batch = ConvertOrDie(b.request());
  const std::string l = R"(job="api", route="/a"})";
  EXPECT_THAT(
      Render(batch),
      ElementsAre(
          R"({__name__="http_server_duration_seconds_bucket", job="api", le="+Inf", route="/a"} @)" +
              kT + " 6",
          R"({__name__="http_server_duration_seconds_bucket", job="api", le="0.005", route="/a"} @)" +
              kT + " 2",
          R"({__name__="http_server_duration_seconds_bucket", job="api", le="0.1", route="/a"} @)" +
              kT + " 5",
          R"({__name__="http_server_duration_seconds_bucket", job="api", le="1", route="/a"} @)" +
              kT + " 5",
          R"({__name__="http_server_duration_seconds_count", )" + l + " @" + kT + " 6",
          R"({__name__="http_server_duration_seconds_sum", )" + l + " @" + kT + " 1.75"));
  ASSERT_EQ(batch.families.size(), 1u);
  EXPECT_EQ(batch.families[0].name, "http_server_duration_seconds");
  EXPECT_EQ(batch.families[0].type, MetricType::kHistogram);
  EXPECT_EQ(batch.families[0].unit, "seconds");
}

TEST(Convert, HistogramWithoutSumOrBuckets) {
  RequestBuilder b;
  pbm::HistogramDataPoint* p = b.Histogram("h", {}, {});
  p->set_count(4);
  EXPECT_THAT(Render(ConvertOrDie(b.request())),
              ElementsAre(R"({__name__="h_bucket", job="checkout", le="+Inf"} @)" + kT + " 4",
                          R"({__name__="h_count", job="checkout"} @)" + kT + " 4"));
}

TEST(Convert, StaleHistogramMarksEverySeries) {
  RequestBuilder b;
  pbm::HistogramDataPoint* p = b.Histogram("h", {1}, {1, 1});
  p->set_sum(3);
  p->set_flags(1);
  MetricsBatch batch = ConvertOrDie(b.request());
  ASSERT_EQ(batch.series.size(), 4u);
  for (const Series& s : batch.series) {
    EXPECT_TRUE(query::IsStaleNaN(s.samples[0].value)) << s.labels.String();
  }
}

TEST(Convert, InvalidHistogramsAreRejected) {
  RequestBuilder b;
  b.Histogram("unsorted", {2, 1}, {1, 1, 1});
  b.Histogram("infinite", {1, std::numeric_limits<double>::infinity()}, {1, 1, 1});
  b.Histogram("nan", {std::nan("")}, {1, 1});
  b.Histogram("short", {1, 2}, {1, 1});
  b.Histogram("miscounted", {1}, {1, 1})->set_count(3);
  b.Histogram("fine", {1}, {1, 1});
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kInvalidHistogram), 5u);
  EXPECT_EQ(
      batch.stats.first_rejection,
      R"(resourceMetrics[0].scopeMetrics[0].metrics[0] "unsorted": dataPoints[0]: explicitBounds[1] = 1 does not exceed the previous bound (bounds must increase))");
  ASSERT_EQ(batch.series.size(), 3u);
  EXPECT_EQ(batch.series[0].labels.Get("__name__"), "fine_bucket");
}

TEST(Convert, SummaryQuantilesSumAndCount) {
  RequestBuilder b;
  b.Summary("rpc.duration", 12.5, 10, {{0.5, 1}, {0.99, 4.5}, {1, 6}}, {{"method", "Get"}});
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(
      Render(batch),
      ElementsAre(
          R"({__name__="rpc_duration", job="checkout", method="Get", quantile="0.5"} @)" + kT +
              " 1",
          R"({__name__="rpc_duration", job="checkout", method="Get", quantile="0.99"} @)" + kT +
              " 4.5",
          R"({__name__="rpc_duration", job="checkout", method="Get", quantile="1"} @)" + kT + " 6",
          R"({__name__="rpc_duration_count", job="checkout", method="Get"} @)" + kT + " 10",
          R"({__name__="rpc_duration_sum", job="checkout", method="Get"} @)" + kT + " 12.5"));
  EXPECT_EQ(batch.families[0].type, MetricType::kSummary);
}

TEST(Convert, InvalidSummariesAreRejected) {
  RequestBuilder b;
  b.Summary("above_one", 1, 1, {{1.5, 1}});
  b.Summary("negative", 1, 1, {{-0.1, 1}});
  b.Summary("nan", 1, 1, {{std::nan(""), 1}});
  b.Summary("twice", 1, 1, {{0.5, 1}, {0.5, 2}});
  b.Summary("fine", 1, 1, {});
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kInvalidSummary), 4u);
  EXPECT_THAT(Render(batch), ElementsAre(R"({__name__="fine_count", job="checkout"} @)" + kT + " 1",
                                         R"({__name__="fine_sum", job="checkout"} @)" + kT + " 1"));
}

TEST(Convert, ExponentialHistogramIsKeptAndConvertedToClassicBuckets) {
  RequestBuilder b({{"service.name", "api"}});
  pbm::ExponentialHistogramDataPoint* p =
      b.Exponential("payload.size", 0, 1, 1, {0, 2}, {{"op", "put"}}, "By");
  p->set_sum(10);
  p->set_min(0);
  p->set_max(5);
  p->set_start_time_unix_nano(kT0 - 10 * kSecond);
  MetricsBatch batch = ConvertOrDie(b.request());
  const std::string n = R"({__name__="payload_size_bytes)";
  EXPECT_THAT(Render(batch),
              ElementsAre(n + R"(_bucket", job="api", le="+Inf", op="put"} @)" + kT + " 3",
                          n + R"(_bucket", job="api", le="0", op="put"} @)" + kT + " 1",
                          n + R"(_bucket", job="api", le="4", op="put"} @)" + kT + " 1",
                          n + R"(_bucket", job="api", le="8", op="put"} @)" + kT + " 3",
                          n + R"(_count", job="api", op="put"} @)" + kT + " 3",
                          n + R"(_sum", job="api", op="put"} @)" + kT + " 10"));
  ASSERT_EQ(batch.exponential_histograms.size(), 1u);
  const ExponentialHistogramSeries& s = batch.exponential_histograms[0];
  EXPECT_EQ(s.labels.String(), R"({__name__="payload_size_bytes", job="api", op="put"})");
  EXPECT_EQ(s.fingerprint, Fingerprint(s.labels));
  ASSERT_EQ(s.points.size(), 1u);
  ExponentialHistogramPoint want;
  want.t_ms = kT0Ms;
  want.start_t_ms = kT0Ms - 10'000;
  want.scale = 0;
  want.count = 3;
  want.sum = 10;
  want.min = 0;
  want.max = 5;
  want.zero_count = 1;
  want.positive = {1, {0, 2}};
  EXPECT_EQ(s.points[0], want);
  EXPECT_EQ(batch.families[0].type, MetricType::kExponentialHistogram);
  EXPECT_EQ(PrometheusTypeName(MetricType::kExponentialHistogram), "histogram");
}

TEST(Convert, ExponentialHistogramClassicScaleIsCapped) {
  RequestBuilder b;
  b.Exponential("e", 5, 0, 0, std::vector<uint64_t>(32, 1));  // (1, 2] in 32 buckets
  ConvertOptions opts;
  opts.classic_max_scale = 0;
  MetricsBatch batch = ConvertOrDie(b.request(), opts);
  EXPECT_THAT(Render(batch),
              ElementsAre(R"({__name__="e_bucket", job="checkout", le="+Inf"} @)" + kT + " 32",
                          R"({__name__="e_bucket", job="checkout", le="2"} @)" + kT + " 32",
                          R"({__name__="e_count", job="checkout"} @)" + kT + " 32"));
  // Storage keeps the full resolution.
  EXPECT_EQ(batch.exponential_histograms[0].points[0].scale, 5);
  EXPECT_EQ(batch.exponential_histograms[0].points[0].positive.counts.size(), 32u);
}

TEST(Convert, InvalidExponentialHistogramsAreRejected) {
  RequestBuilder b;
  b.Exponential("scale_high", 21, 0, 0, {1});
  b.Exponential("scale_low", -11, 0, 0, {1});
  b.Exponential("miscounted", 0, 0, 0, {1})->set_count(2);
  b.Exponential("bad_zero", 0, 1, 0, {1})->set_zero_threshold(-1);
  b.Exponential("fine", 0, 0, 0, {1});
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kInvalidExponentialHistogram), 4u);
  ASSERT_EQ(batch.exponential_histograms.size(), 1u);
  EXPECT_EQ(batch.exponential_histograms[0].labels.Get("__name__"), "fine");
}

TEST(Convert, TargetInfoCarriesTheOtherResourceAttributes) {
  RequestBuilder b({{"service.name", "api"},
                    {"service.namespace", "shop"},
                    {"service.instance.id", "i-1"},
                    {"host.name", "h1"},
                    {"k8s.pod.name", "p"}});
  b.Gauge("g", 1);
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(
      Render(batch),
      ElementsAre(
          R"({__name__="g", instance="i-1", job="shop/api"} @)" + kT + " 1",
          R"({__name__="target_info", host_name="h1", instance="i-1", job="shop/api", k8s_pod_name="p"} @)" +
              kT + " 1"));
  ASSERT_EQ(batch.families.size(), 2u);
  EXPECT_EQ(batch.families[1].name, "target_info");
  EXPECT_EQ(batch.families[1].help, "Target metadata");

  ConvertOptions off;
  off.target_info = false;
  EXPECT_EQ(ConvertOrDie(b.request(), off).series.size(), 1u);
}

TEST(Convert, NoTargetInfoWithoutExtraAttributesOrIdentity) {
  RequestBuilder only_ids({{"service.name", "api"}, {"service.instance.id", "i"}});
  only_ids.Gauge("g", 1);
  EXPECT_EQ(ConvertOrDie(only_ids.request()).series.size(), 1u);

  RequestBuilder no_job({{"host.name", "h1"}});
  no_job.Gauge("g", 1);
  EXPECT_THAT(Render(ConvertOrDie(no_job.request())),
              ElementsAre(R"({__name__="g"} @)" + kT + " 1"));

  RequestBuilder no_data({{"service.name", "api"}, {"host.name", "h1"}});
  no_data.Histogram("h", {1}, {1, 1})->set_count(5);  // rejected
  EXPECT_TRUE(ConvertOrDie(no_data.request()).series.empty());
}

TEST(Convert, TargetInfoSamplesFollowTheDataAtTheInterval) {
  RequestBuilder b({{"service.name", "api"}, {"host.name", "h1"}});
  pbm::Metric* m = b.Metric("g");
  // Points at 0, 60, 120, 180, 240 and 600 s.
  for (uint64_t s : {0, 60, 120, 180, 240, 600}) {
    pbm::NumberDataPoint* p = m->mutable_gauge()->add_data_points();
    p->set_time_unix_nano(kT0 + s * kSecond);
    p->set_as_double(1);
  }
  MetricsBatch batch = ConvertOrDie(b.request());
  ASSERT_EQ(batch.series.size(), 2u);
  const Series& info = batch.series[1];
  EXPECT_EQ(info.labels.Get("__name__"), "target_info");
  std::vector<int64_t> times;
  for (const query::SamplePoint& p : info.samples) times.push_back((p.t_ms - kT0Ms) / 1000);
  // 0, then the first at least 150 s later (180), then 600 (the latest).
  EXPECT_THAT(times, ElementsAre(0, 180, 600));
}

TEST(Convert, PromotedResourceAttributes) {
  RequestBuilder b({{"service.name", "api"},
                    {"k8s.namespace.name", "prod"},
                    {"cloud.region", "eu"},
                    {"host.name", "h1"}});
  b.Gauge("g", 1, {{"cloud_region", "from-point"}});
  ConvertOptions opts;
  opts.promote_resource_attributes = {"k8s.namespace.name", "cloud.region", "absent"};
  opts.target_info = false;
  EXPECT_THAT(
      Render(ConvertOrDie(b.request(), opts)),
      ElementsAre(
          R"({__name__="g", cloud_region="from-point", job="api", k8s_namespace_name="prod"} @)" +
          kT + " 1"));
  opts.promote_resource_attributes.push_back("");
  EXPECT_FALSE(ConvertMetrics(b.request(), opts).ok());
}

TEST(Convert, ScopeLabels) {
  RequestBuilder b({{"service.name", "api"}}, "io.opentelemetry.http", "1.2.0");
  b.scope()->set_schema_url("https://opentelemetry.io/schemas/1.24.0");
  SetAttrs(b.scope()->mutable_scope()->mutable_attributes(), {{"library.lang", "go"}});
  b.Gauge("g", 1);
  EXPECT_THAT(
      Render(ConvertOrDie(b.request())),
      ElementsAre(
          R"({__name__="g", job="api", otel_scope_library_lang="go", otel_scope_name="io.opentelemetry.http", otel_scope_schema_url="https://opentelemetry.io/schemas/1.24.0", otel_scope_version="1.2.0"} @)" +
          kT + " 1"));

  ConvertOptions off;
  off.promote_scope_metadata = false;
  EXPECT_THAT(Render(ConvertOrDie(b.request(), off)),
              ElementsAre(R"({__name__="g", job="api"} @)" + kT + " 1"));

  // No scope name: no scope labels at all. A scope without a version removes a point's
  // otel_scope_version attribute (the scope's labels win, and empty means absent).
  RequestBuilder unnamed({{"service.name", "api"}});
  SetAttrs(unnamed.scope()->mutable_scope()->mutable_attributes(), {{"x", "y"}});
  unnamed.Gauge("g", 1, {{"otel_scope_version", "9"}});
  EXPECT_THAT(Render(ConvertOrDie(unnamed.request())),
              ElementsAre(R"({__name__="g", job="api", otel_scope_version="9"} @)" + kT + " 1"));
  RequestBuilder versionless({{"service.name", "api"}}, "lib");
  versionless.Gauge("g", 1, {{"otel_scope_version", "9"}});
  EXPECT_THAT(Render(ConvertOrDie(versionless.request())),
              ElementsAre(R"({__name__="g", job="api", otel_scope_name="lib"} @)" + kT + " 1"));
}

TEST(Convert, CollidingLabelNamesAreJoinedInKeyOrder) {
  RequestBuilder b({{"service.name", "api"}});
  b.Gauge("g", 1, {{"a_b", "second"}, {"a.b", "first"}, {"a-b", "zeroth"}});
  MetricsBatch batch = ConvertOrDie(b.request());
  // Keys sort "a-b" < "a.b" < "a_b".
  EXPECT_THAT(Render(batch),
              ElementsAre(R"({__name__="g", a_b="zeroth;first;second", job="api"} @)" + kT + " 1"));
  EXPECT_EQ(batch.stats.label_collisions, 2u);
}

TEST(Convert, SpecialAttributes) {
  RequestBuilder b({{"service.name", "api"}});
  pbm::NumberDataPoint* p =
      b.Gauge("g", 1, {{"", "no key"}, {"empty", ""}, {"__name__", "forged"}, {"ü", "u"}});
  pbc::KeyValue* n = p->add_attributes();
  n->set_key("n");
  n->mutable_value()->set_int_value(7);
  pbc::KeyValue* f = p->add_attributes();
  f->set_key("ok");
  f->mutable_value()->set_bool_value(true);
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(
      Render(batch),
      ElementsAre(R"({__name__="g", job="api", key_="u", n="7", ok="true"} @)" + kT + " 1"));
  EXPECT_EQ(batch.stats.dropped_attributes, 1u);
}

TEST(Convert, LeAttributeIsReplacedOnBucketsOnly) {
  RequestBuilder b;
  b.Histogram("h", {1}, {1, 0}, {{"le", "attr"}});
  EXPECT_THAT(Render(ConvertOrDie(b.request())),
              ElementsAre(R"({__name__="h_bucket", job="checkout", le="+Inf"} @)" + kT + " 1",
                          R"({__name__="h_bucket", job="checkout", le="1"} @)" + kT + " 1",
                          R"({__name__="h_count", job="checkout", le="attr"} @)" + kT + " 1"));
}

TEST(Convert, DuplicateSamplesKeepTheLastAndCountConflicts) {
  RequestBuilder b;
  b.Gauge("g", 1, {{"a", "x"}});
  b.Gauge("g", 2, {{"a", "x"}});                 // same series and time: replaces
  b.Gauge("g", 2, {{"a", "x"}});                 // identical: merges without a count
  b.Gauge("g", 0, {{"a", "x"}}, kT0 - kSecond);  // earlier, arrives late
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(Render(batch), ElementsAre(R"({__name__="g", a="x", job="checkout"} @)" +
                                             std::to_string(kT0Ms - 1000) + " 0",
                                         R"({__name__="g", a="x", job="checkout"} @)" + kT + " 2"));
  EXPECT_EQ(batch.stats.duplicate_samples, 1u);
}

TEST(Convert, MetricsThatNormaliseToOneNameShareSeries) {
  RequestBuilder b;
  b.Gauge("a.b", 1);
  b.Gauge("a_b", 2, {}, kT0 + kSecond);
  MetricsBatch batch = ConvertOrDie(b.request());
  ASSERT_EQ(batch.series.size(), 1u);
  EXPECT_EQ(batch.series[0].samples.size(), 2u);
}

TEST(Convert, PointsWithoutTimeOrValueAndUnnamableMetricsAreRejected) {
  RequestBuilder b;
  b.Gauge("no_time", 1, {}, 0);
  b.Gauge("no_value", 1)->clear_value();
  b.Gauge("...", 1);
  b.Gauge("日本", 1);
  b.Metric("no_data");
  b.Metric("empty")->mutable_gauge();  // no points: nothing to count
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_THAT(Render(batch), IsEmpty());
  EXPECT_EQ(batch.stats.data_points, 5u);
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kMissingTimestamp), 1u);
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kMissingValue), 1u);
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kInvalidMetricName), 2u);
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kNoDataType), 1u);
  EXPECT_THAT(batch.stats.first_rejection, HasSubstr(R"("no_time": dataPoints[0]: timeUnixNano)"));
  EXPECT_TRUE(batch.families.empty());
}

TEST(Convert, RejectionMessageCutsHugeNames) {
  RequestBuilder b;
  b.Gauge(std::string(5000, '.'), 1);
  MetricsBatch batch = ConvertOrDie(b.request());
  EXPECT_EQ(batch.stats.rejected_for(RejectReason::kInvalidMetricName), 1u);
  EXPECT_LT(batch.stats.first_rejection.size(), 400u);
  EXPECT_THAT(batch.stats.first_rejection,
              HasSubstr(std::string(200, '.') + "\"...: the metric name"));
}

TEST(Convert, StaleNumberWithoutValueIsAccepted) {
  RequestBuilder b;
  pbm::NumberDataPoint* p = b.Gauge("g", 1);
  p->clear_value();
  p->set_flags(1);
  MetricsBatch batch = ConvertOrDie(b.request());
  ASSERT_EQ(batch.series.size(), 1u);
  EXPECT_TRUE(query::IsStaleNaN(batch.series[0].samples[0].value));
}

TEST(Convert, SeriesComeInFirstAppearanceOrderWithFingerprints) {
  RequestBuilder b;
  for (const char* v : {"c", "a", "b", "a"}) b.Gauge("z", 1, {{"k", v}});
  b.Gauge("a", 1);
  absl::StatusOr<MetricsBatch> batch = ConvertMetrics(b.request(), ConvertOptions{});
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->series.size(), 4u);
  EXPECT_EQ(batch->series[0].labels.Get("k"), "c");
  EXPECT_EQ(batch->series[1].labels.Get("k"), "a");
  EXPECT_EQ(batch->series[2].labels.Get("k"), "b");
  EXPECT_EQ(batch->series[3].labels.Get("__name__"), "a");
  for (const Series& s : batch->series) EXPECT_EQ(s.fingerprint, Fingerprint(s.labels));
  EXPECT_EQ(batch->sample_count(), 4u);  // the repeated z{k="a"} merged
}

TEST(Convert, OptionsAreValidated) {
  MetricsRequest empty;
  ConvertOptions o;
  EXPECT_TRUE(ConvertMetrics(empty, o).ok());
  o.classic_max_scale = 21;
  EXPECT_THAT(std::string(ValidateOptions(o).message()), HasSubstr("classic_max_scale 21"));
  o = {};
  o.target_info_interval_ms = 0;
  EXPECT_FALSE(ConvertMetrics(empty, o).ok());
}

TEST(Convert, FromProtobufBytes) {
  RequestBuilder b;
  b.Gauge("g", 1);
  absl::StatusOr<MetricsBatch> batch =
      ConvertMetricsProtobuf(b.request().SerializeAsString(), ConvertOptions{});
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_THAT(Render(*batch), ElementsAre(R"({__name__="g", job="checkout"} @)" + kT + " 1"));
  absl::StatusOr<MetricsBatch> bad = ConvertMetricsProtobuf("\xff\xff\xff", ConvertOptions{});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("3 bytes"));
}

}  // namespace
}  // namespace observex::metrics
