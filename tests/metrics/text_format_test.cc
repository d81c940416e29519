// The Prometheus text (0.0.4) and OpenMetrics (1.0) parsers: whole expositions of every
// metric type with their exact series, samples and metadata, the round trip through a
// remote-write request, and the error for each kind of mistake with its line and column.
#include "metrics/text_format.h"

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/fingerprint.h"
#include "metrics/naming.h"
#include "query/series_source.h"

namespace observex::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kNow = 1'700'000'009'000;

std::vector<std::string> Render(const PromBatch& b) {
  std::vector<std::string> out;
  for (const Series& s : b.metrics.series) {
    for (const query::SamplePoint& p : s.samples) {
      out.push_back(s.labels.String() + " @" + std::to_string(p.t_ms) + " " +
                    (query::IsStaleNaN(p.value) ? "stale" : FormatLabelFloat(p.value)));
    }
  }
  return out;
}

PromBatch ParseOrDie(std::string_view text, TextFormat format) {
  auto b = ParseText(text, {format, kNow});
  if (!b.ok()) {
    ADD_FAILURE() << b.status();
    return {};
  }
  return std::move(*b);
}

constexpr std::string_view kPrometheusText =
    "# HELP jobs_processed_total Jobs processed, by queue.\\nSecond line with a \\\\ backslash.\n"
    "# TYPE jobs_processed_total counter\n"
    "jobs_processed_total{queue=\"mail\",result=\"ok\"} 1027 1700000000000\n"
    "jobs_processed_total{queue=\"mail\",result=\"failed\",} 3 1700000000000\n"
    "\t\n"
    "# a free comment\n"
    "files_open{path=\"C:\\\\tmp\\\\x.log\",note=\"say \\\"hi\\\"\\nbye\"} 7\n"
    "temperature_celsius -12.5e0\n"
    "  odd_gauge { kind = \"inf\" } +Inf -1000\n"
    "odd_gauge{kind=\"ninf\"}\t-inf\t1700000000500\r\n"
    "odd_gauge{kind=\"nan\"} NaN 1700000000500\n"
    "# TYPE queue_wait_seconds histogram\n"
    "queue_wait_seconds_bucket{le=\"0.1\"} 10 1700000000000\n"
    "queue_wait_seconds_bucket{le=\"1\"} 15 1700000000000\n"
    "queue_wait_seconds_bucket{le=\"+Inf\"} 16 1700000000000\n"
    "queue_wait_seconds_sum 4.5 1700000000000\n"
    "queue_wait_seconds_count 16 1700000000000\n"
    "# TYPE rpc_seconds SUMMARY\n"
    "rpc_seconds{quantile=\"0.5\"} 0.25\n"
    "rpc_seconds{quantile=\"0.99\"} 1.5\n"
    "rpc_seconds_sum 30\n"
    "rpc_seconds_count 100\n"
    "# TYPE build_info untyped\n"
    "build_info{version=\"1.2.3\",empty=\"\"} 1\n"
    "# EOF is only a comment here\n"
    "# UNIT so is this\n";

TEST(TextFormat, PrometheusExposition) {
  PromBatch b = ParseOrDie(kPrometheusText, TextFormat::kPrometheus);
  const std::string now = std::to_string(kNow);
  EXPECT_THAT(
      Render(b),
      ElementsAre(
          R"({__name__="jobs_processed_total", queue="mail", result="ok"} @1700000000000 1027)",
          R"({__name__="jobs_processed_total", queue="mail", result="failed"} @1700000000000 3)",
          R"({__name__="files_open", note="say \"hi\"\nbye", path="C:\\tmp\\x.log"} @)" + now +
              " 7",
          R"({__name__="temperature_celsius"} @)" + now + " -12.5",
          R"({__name__="odd_gauge", kind="inf"} @-1000 +Inf)",
          R"({__name__="odd_gauge", kind="ninf"} @1700000000500 -Inf)",
          R"({__name__="odd_gauge", kind="nan"} @1700000000500 NaN)",
          R"({__name__="queue_wait_seconds_bucket", le="0.1"} @1700000000000 10)",
          R"({__name__="queue_wait_seconds_bucket", le="1"} @1700000000000 15)",
          R"({__name__="queue_wait_seconds_bucket", le="+Inf"} @1700000000000 16)",
          R"({__name__="queue_wait_seconds_sum"} @1700000000000 4.5)",
          R"({__name__="queue_wait_seconds_count"} @1700000000000 16)",
          R"({__name__="rpc_seconds", quantile="0.5"} @)" + now + " 0.25",
          R"({__name__="rpc_seconds", quantile="0.99"} @)" + now + " 1.5",
          R"({__name__="rpc_seconds_sum"} @)" + now + " 30",
          R"({__name__="rpc_seconds_count"} @)" + now + " 100",
          R"({__name__="build_info", version="1.2.3"} @)" + now + " 1"));
  // A NaN in text is an ordinary NaN, never the staleness marker.
  EXPECT_EQ(std::bit_cast<uint64_t>(b.metrics.series[6].samples[0].value), 0x7ff8000000000001u);
  for (const Series& s : b.metrics.series) EXPECT_EQ(s.fingerprint, Fingerprint(s.labels));
  EXPECT_THAT(
      b.metadata,
      ElementsAre(FamilyMetadata{"jobs_processed_total", MetadataType::kCounter,
                                 "Jobs processed, by queue.\nSecond line with a \\ backslash.", ""},
                  FamilyMetadata{"queue_wait_seconds", MetadataType::kHistogram, "", ""},
                  FamilyMetadata{"rpc_seconds", MetadataType::kSummary, "", ""},
                  FamilyMetadata{"build_info", MetadataType::kUnknown, "", ""}));
  ASSERT_EQ(b.metrics.families.size(), 3u);
  EXPECT_EQ(b.metrics.families[0].name, "jobs_processed_total");
  EXPECT_EQ(b.metrics.families[1].name, "queue_wait_seconds");
  EXPECT_EQ(b.metrics.families[2].name, "rpc_seconds");
  EXPECT_EQ(b.stats.samples_read, 17u);
  EXPECT_EQ(b.stats.series_read, 17u);
}

constexpr std::string_view kOpenMetricsText =
    "# TYPE jobs counter\n"
    "# HELP jobs Jobs processed.\n"
    "jobs_total{queue=\"mail\"} 10 1700000000.5\n"
    "jobs_created{queue=\"mail\"} 1699990000.0 1700000000.5\n"
    "# TYPE request_seconds histogram\n"
    "# UNIT request_seconds seconds\n"
    "# HELP request_seconds Request \\\"latency\\\".\n"
    "request_seconds_bucket{le=\"0.5\"} 3 1700000001\n"
    "request_seconds_bucket{le=\"+Inf\"} 5 # {trace_id=\"abc123\"} 0.7 1700000000.9\n"
    "request_seconds_sum 2.25\n"
    "request_seconds_count 5\n"
    "# TYPE queue_depth gaugehistogram\n"
    "queue_depth_bucket{le=\"10\"} 4\n"
    "queue_depth_bucket{le=\"+Inf\"} 6\n"
    "queue_depth_gcount 6\n"
    "queue_depth_gsum 30\n"
    "# TYPE app info\n"
    "app_info{version=\"2.0\"} 1\n"
    "# TYPE feature stateset\n"
    "feature{feature=\"a\"} 1\n"
    "feature{feature=\"b\"} 0\n"
    "# TYPE room_temperature_celsius gauge\n"
    "# UNIT room_temperature_celsius celsius\n"
    "room_temperature_celsius 21.5 1700000002.001\n"
    "# EOF\n";

TEST(TextFormat, OpenMetricsExposition) {
  PromBatch b = ParseOrDie(kOpenMetricsText, TextFormat::kOpenMetrics);
  const std::string now = std::to_string(kNow);
  EXPECT_THAT(Render(b),
              ElementsAre(R"({__name__="jobs_total", queue="mail"} @1700000000500 10)",
                          R"({__name__="jobs_created", queue="mail"} @1700000000500 1699990000)",
                          R"({__name__="request_seconds_bucket", le="0.5"} @1700000001000 3)",
                          R"({__name__="request_seconds_bucket", le="+Inf"} @)" + now + " 5",
                          R"({__name__="request_seconds_sum"} @)" + now + " 2.25",
                          R"({__name__="request_seconds_count"} @)" + now + " 5",
                          R"({__name__="queue_depth_bucket", le="10"} @)" + now + " 4",
                          R"({__name__="queue_depth_bucket", le="+Inf"} @)" + now + " 6",
                          R"({__name__="queue_depth_gcount"} @)" + now + " 6",
                          R"({__name__="queue_depth_gsum"} @)" + now + " 30",
                          R"({__name__="app_info", version="2.0"} @)" + now + " 1",
                          R"({__name__="feature", feature="a"} @)" + now + " 1",
                          R"({__name__="feature", feature="b"} @)" + now + " 0",
                          R"({__name__="room_temperature_celsius"} @1700000002001 21.5)"));
  EXPECT_THAT(
      b.metadata,
      ElementsAre(FamilyMetadata{"jobs", MetadataType::kCounter, "Jobs processed.", ""},
                  FamilyMetadata{"request_seconds", MetadataType::kHistogram,
                                 "Request \"latency\".", "seconds"},
                  FamilyMetadata{"queue_depth", MetadataType::kGaugeHistogram, "", ""},
                  FamilyMetadata{"app", MetadataType::kInfo, "", ""},
                  FamilyMetadata{"feature", MetadataType::kStateset, "", ""},
                  FamilyMetadata{"room_temperature_celsius", MetadataType::kGauge, "", "celsius"}));
  ASSERT_EQ(b.metrics.families.size(), 3u);
  EXPECT_EQ(b.metrics.families[0].name, "jobs");
  EXPECT_EQ(b.metrics.families[1].name, "request_seconds");
  EXPECT_EQ(b.metrics.families[1].unit, "seconds");
  EXPECT_EQ(b.metrics.families[2].name, "room_temperature_celsius");
}

TEST(TextFormat, RoundTripThroughARemoteWriteRequest) {
  for (auto [text, format] : {std::pair{kPrometheusText, TextFormat::kPrometheus},
                              std::pair{kOpenMetricsText, TextFormat::kOpenMetrics}}) {
    PromBatch parsed = ParseOrDie(text, format);
    auto again = ParseWriteRequest(EncodeWriteRequest(parsed));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(Render(*again), Render(parsed));
    EXPECT_EQ(again->metadata, parsed.metadata);
    ASSERT_EQ(again->metrics.series.size(), parsed.metrics.series.size());
    for (size_t i = 0; i < parsed.metrics.series.size(); ++i) {
      EXPECT_EQ(again->metrics.series[i].fingerprint, parsed.metrics.series[i].fingerprint);
    }
  }
}

TEST(TextFormat, TimestampsSortRepeatsMergeAndConflictsFail) {
  PromBatch b =
      ParseOrDie("m 3 3000\nm 1 1000\nm 2 2000\nm 1 1000\nn 5\nn 5\n", TextFormat::kPrometheus);
  const std::string now = std::to_string(kNow);
  EXPECT_THAT(Render(b),
              ElementsAre(R"({__name__="m"} @1000 1)", R"({__name__="m"} @2000 2)",
                          R"({__name__="m"} @3000 3)", R"({__name__="n"} @)" + now + " 5"));
  EXPECT_EQ(b.stats.duplicate_samples, 2u);
  EXPECT_EQ(b.stats.samples_read, 6u);

  auto conflict = ParseText("m 1 1000\nx 0\nm 2 1000\n", {TextFormat::kPrometheus, kNow});
  EXPECT_EQ(conflict.status().message(),
            "line 3, column 1: series {__name__=\"m\"} has two different values for timestamp "
            "1000 (the other at line 1)");
}

TEST(TextFormat, OpenMetricsTimestampsAreExactSeconds) {
  struct Case {
    std::string ts;
    int64_t ms;
  };
  for (const Case& c : std::vector<Case>{{"1700000002.001", 1700000002001},
                                         {"1700000000.5", 1700000000500},
                                         {"1700000001", 1700000001000},
                                         {"0.0009", 0},
                                         {".25", 250},
                                         {"-1.5", -1500},
                                         {"+2", 2000},
                                         {"1.7e9", 1700000000000}}) {
    PromBatch b = ParseOrDie("m 1 " + c.ts + "\n# EOF", TextFormat::kOpenMetrics);
    ASSERT_EQ(b.metrics.series.size(), 1u) << c.ts;
    EXPECT_EQ(b.metrics.series[0].samples[0].t_ms, c.ms) << c.ts;
  }
}

TEST(TextFormat, EmptyPrometheusTextIsAnEmptyBatch) {
  PromBatch b = ParseOrDie("", TextFormat::kPrometheus);
  EXPECT_THAT(b.metrics.series, IsEmpty());
  EXPECT_THAT(b.metadata, IsEmpty());
  b = ParseOrDie("# just a comment\n\n", TextFormat::kPrometheus);
  EXPECT_THAT(b.metrics.series, IsEmpty());
}

struct ErrorCase {
  TextFormat format;
  std::string text;
  std::string error;
};

class TextFormatErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(TextFormatErrors, NameLineColumnAndWhatWasExpected) {
  const ErrorCase& c = GetParam();
  auto b = ParseText(c.text, {c.format, kNow});
  ASSERT_FALSE(b.ok()) << c.text;
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.status().message(), c.error) << c.text;
}

constexpr TextFormat kProm = TextFormat::kPrometheus;
constexpr TextFormat kOm = TextFormat::kOpenMetrics;

INSTANTIATE_TEST_SUITE_P(
    Prometheus, TextFormatErrors,
    ::testing::Values(
        ErrorCase{kProm, "metric{job=\"a\" 1",
                  "line 1, column 16: expected ',' or '}' after the value of label \"job\", "
                  "found \"1\""},
        ErrorCase{kProm, "metric{job=a} 1",
                  "line 1, column 12: expected '\"' to open the value of label \"job\", found "
                  "\"a\""},
        ErrorCase{kProm, "metric{job} 1",
                  "line 1, column 11: expected '=' after label name \"job\", found \"}\""},
        ErrorCase{kProm, "metric{1job=\"a\"} 1",
                  "line 1, column 8: expected a label name or '}', found \"1job\""},
        ErrorCase{kProm, "metric{job=\"a\\tb\"} 1",
                  "line 1, column 14: invalid escape sequence \"\\\\t\" in the value of label "
                  "\"job\" (use \\\\, \\\" or \\n)"},
        ErrorCase{kProm, "ok 1\nmetric{job=\"abc",
                  "line 2, column 16: unterminated value of label \"job\": expected a closing "
                  "'\"', found the end of the line"},
        ErrorCase{kProm, "metric",
                  "line 1, column 7: expected a sample value, found the end "
                  "of the line"},
        ErrorCase{kProm, "metric abc",
                  "line 1, column 8: expected a sample value (a number, NaN, +Inf or -Inf), "
                  "found \"abc\""},
        ErrorCase{kProm, "metric 0x10",
                  "line 1, column 8: expected a sample value (a number, NaN, +Inf or -Inf), "
                  "found \"0x10\""},
        ErrorCase{kProm, "metric 1e999",
                  "line 1, column 8: expected a sample value (a number, NaN, +Inf or -Inf), "
                  "found \"1e999\""},
        ErrorCase{kProm, "metric 1 2.5",
                  "line 1, column 10: expected a timestamp in milliseconds since the epoch (an "
                  "integer), found \"2.5\""},
        ErrorCase{kProm, "metric 1 2 3",
                  "line 1, column 12: expected the end of the line after the timestamp, found "
                  "\"3\""},
        ErrorCase{kProm, "metric 1 # {a=\"b\"} 1",
                  "line 1, column 10: expected a timestamp in milliseconds since the epoch (an "
                  "integer), found \"#\""},
        ErrorCase{kProm, "metric-x 1",
                  "line 1, column 7: expected '{' or a space after the metric name "
                  "\"metric\", found \"-x\""},
        ErrorCase{kProm, "9metric 1",
                  "line 1, column 1: expected a metric name, found "
                  "\"9metric\""},
        ErrorCase{kProm, "métric 1",
                  "line 1, column 2: expected '{' or a space after the metric name \"m\", "
                  "found \"é\""},
        ErrorCase{kProm, "metric{a=\"1\",a=\"2\"} 1",
                  "line 1, column 14: duplicate label name \"a\""},
        ErrorCase{kProm, "metric{__name__=\"x\"} 1",
                  "line 1, column 8: label name \"__name__\" is reserved: the metric name is "
                  "written before '{'"},
        ErrorCase{kProm, "metric{a=\"1\"}1",
                  "line 1, column 14: expected a space after the labels, found \"1\""},
        ErrorCase{kProm, "m{a=\"\xff\"} 1",
                  "line 1, column 7: value of label \"a\" is not valid UTF-8"},
        ErrorCase{kProm, "# TYPE metric countr",
                  "line 1, column 15: expected a metric type (counter, gauge, histogram, "
                  "summary or untyped), found \"countr\""},
        ErrorCase{kProm, "# TYPE metric",
                  "line 1, column 14: expected a metric type (counter, gauge, histogram, "
                  "summary or untyped), found the end of the line"},
        ErrorCase{kProm, "# TYPE 1metric counter",
                  "line 1, column 8: expected a metric name after TYPE, found \"1metric\""},
        ErrorCase{kProm, "# HELP",
                  "line 1, column 7: expected a metric name after HELP, found the end of the "
                  "line"},
        ErrorCase{kProm, "# TYPE metric counter extra",
                  "line 1, column 23: expected the end of the line after the metric type, "
                  "found \"extra\""},
        ErrorCase{kProm, "# TYPE m counter\n# TYPE m gauge",
                  "line 2, column 10: TYPE gauge for metric \"m\" conflicts with TYPE counter "
                  "at line 1"},
        ErrorCase{kProm, "m 1\n# TYPE m gauge",
                  "line 2, column 8: TYPE line for metric \"m\" comes after its samples; "
                  "declare it before them"},
        ErrorCase{kProm, "# TYPE h histogram\nh_bucket 1",
                  "line 2, column 1: histogram sample \"h_bucket\" needs a label le"},
        ErrorCase{kProm, "# TYPE h histogram\nh_bucket{le=\"x\"} 1",
                  "line 2, column 1: label le=\"x\" of histogram sample \"h_bucket\" is not a "
                  "number"},
        ErrorCase{kProm, "# TYPE s summary\n s 1",
                  "line 2, column 2: summary sample \"s\" needs a label quantile"}));

INSTANTIATE_TEST_SUITE_P(
    OpenMetrics, TextFormatErrors,
    ::testing::Values(
        ErrorCase{kOm, "m 1\n",
                  "line 2, column 1: expected \"# EOF\" (OpenMetrics text ends with it), found "
                  "the end of the input"},
        ErrorCase{kOm, "m 1",
                  "line 1, column 4: expected \"# EOF\" (OpenMetrics text ends with it), found "
                  "the end of the input"},
        ErrorCase{kOm, "",
                  "line 1, column 1: expected \"# EOF\" (OpenMetrics text ends with "
                  "it), found the end of the input"},
        ErrorCase{kOm, "# EOF\nm 1\n",
                  "line 2, column 1: unexpected content after \"# EOF\" (line 1)"},
        ErrorCase{kOm, "# EOF now",
                  "line 1, column 7: expected the end of the line after "
                  "\"# EOF\", found \"now\""},
        ErrorCase{kOm, "# TYPE c counter\nc 1\n# EOF\n",
                  "line 2, column 1: sample \"c\" of counter \"c\" needs one of the suffixes "
                  "_total, _created"},
        ErrorCase{kOm, "# TYPE h histogram\nh 1\n# EOF\n",
                  "line 2, column 1: sample \"h\" of histogram \"h\" needs one of the suffixes "
                  "_created, _bucket, _count, _sum"},
        ErrorCase{kOm, "m 1 abc\n# EOF",
                  "line 1, column 5: expected a timestamp in seconds since the epoch (e.g. "
                  "1700000000.123), found \"abc\""},
        ErrorCase{kOm, "m 1 1.2.3\n# EOF",
                  "line 1, column 5: expected a timestamp in seconds since the epoch (e.g. "
                  "1700000000.123), found \"1.2.3\""},
        ErrorCase{kOm, "# UNIT m seconds\n# EOF",
                  "line 1, column 10: unit \"seconds\" is not the suffix of the metric name "
                  "\"m\" (expected a name ending in _seconds)"},
        ErrorCase{kOm, "# TYPE m Counter\n# EOF",
                  "line 1, column 10: expected a metric type (counter, gauge, histogram, "
                  "gaugehistogram, summary, info, stateset or unknown), found \"Counter\""},
        ErrorCase{kOm, "# TYPE m untyped\n# EOF",
                  "line 1, column 10: expected a metric type (counter, gauge, histogram, "
                  "gaugehistogram, summary, info, stateset or unknown), found \"untyped\""},
        ErrorCase{kOm, "m_total 1 # trace_id=\"x\" 1\n# EOF",
                  "line 1, column 13: expected '{' to open the exemplar's labels, found "
                  "\"trace_id\""},
        ErrorCase{kOm, "m_total 1 #{a=\"b\"} 1\n# EOF",
                  "line 1, column 12: expected a space after '#' before the exemplar, found "
                  "\"{\""},
        ErrorCase{kOm, "m_total 1 # {a=\"b\"}\n# EOF",
                  "line 1, column 20: expected a sample value (a number, NaN, +Inf or -Inf), "
                  "found the end of the line"}));

TEST(TextFormat, ContentTypeSelectsTheFormat) {
  EXPECT_EQ(TextFormatForContentType("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            TextFormat::kOpenMetrics);
  EXPECT_EQ(TextFormatForContentType(" Application/OpenMetrics-Text"), TextFormat::kOpenMetrics);
  EXPECT_EQ(TextFormatForContentType("text/plain; version=0.0.4"), TextFormat::kPrometheus);
  EXPECT_EQ(TextFormatForContentType("application/x-www-form-urlencoded"), TextFormat::kPrometheus);
  EXPECT_EQ(TextFormatForContentType(""), TextFormat::kPrometheus);
}

}  // namespace
}  // namespace observex::metrics
